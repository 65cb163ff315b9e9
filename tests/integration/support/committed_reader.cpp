#include "committed_reader.h"

#include <gtest/gtest.h>
#include <librdkafka/rdkafkacpp.h>

#include <map>
#include <vector>

#include "../broker_env.h"

namespace faust::testing {
namespace {

// A consumer with `settings` and auto-commit off; null (and a test failure) when it cannot be made.
std::unique_ptr<RdKafka::KafkaConsumer> make_consumer(std::map<std::string, std::string> settings,
                                                      const std::string& what) {
  settings.emplace("enable.auto.commit", "false");
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string error;
  for (const auto& [key, value] : settings) {
    if (conf->set(key, value, error) != RdKafka::Conf::CONF_OK) {
      ADD_FAILURE() << key << "=" << value << ": " << error;
    }
  }
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(RdKafka::KafkaConsumer::create(conf.get(), error));
  if (!consumer) ADD_FAILURE() << "cannot create " << what << ": " << error;
  return consumer;
}

}  // namespace

CommittedReader::CommittedReader(const std::string& broker, const std::string& topic, std::int32_t partition,
                                 std::map<std::string, std::string> settings)
    : topic_(topic), partition_(partition) {
  settings.insert({
      {"bootstrap.servers", broker},
      // Required by the KafkaConsumer API; the reader is assigned its partition, it joins no group.
      {"group.id", unique_name("it-committed-reader")},
      // Also makes the broker answer "latest offset" with the last stable offset.
      {"isolation.level", "read_committed"},
  });
  consumer_ = make_consumer(std::move(settings), "a read_committed consumer");
  if (!consumer_) return;
  std::unique_ptr<RdKafka::TopicPartition> start(
      RdKafka::TopicPartition::create(topic, partition, RdKafka::Topic::OFFSET_BEGINNING));
  const std::vector<RdKafka::TopicPartition*> assignment{start.get()};
  if (const auto code = consumer_->assign(assignment); code != RdKafka::ERR_NO_ERROR) {
    ADD_FAILURE() << "cannot assign " << topic << " [" << partition << "]: " << RdKafka::err2str(code);
  }
}

CommittedReader::~CommittedReader() {
  if (consumer_) consumer_->close();
}

std::optional<CommittedReader::Record> CommittedReader::next(std::chrono::milliseconds timeout) {
  if (!consumer_) return std::nullopt;
  const std::unique_ptr<RdKafka::Message> message(consumer_->consume(static_cast<int>(timeout.count())));
  if (message->err() == RdKafka::ERR__TIMED_OUT) return std::nullopt;
  if (message->err() != RdKafka::ERR_NO_ERROR) {
    ADD_FAILURE() << "read_committed consumer: " << message->errstr();
    return std::nullopt;
  }
  Record record{message->offset(), std::string(static_cast<const char*>(message->payload()), message->len()),
                std::nullopt, {}, message->timestamp().timestamp};
  if (message->key() != nullptr) record.key = *message->key();
  if (const RdKafka::Headers* headers = message->headers()) {
    for (const auto& header : headers->get_all()) {
      const char* value = static_cast<const char*>(header.value());
      record.headers.emplace_back(header.key(),
                                  value == nullptr ? std::string() : std::string(value, header.value_size()));
    }
  }
  return record;
}

std::optional<std::int64_t> CommittedReader::last_stable_offset(std::chrono::milliseconds timeout) {
  if (!consumer_) return std::nullopt;
  std::int64_t low = 0;
  std::int64_t high = 0;
  const auto code =
      consumer_->query_watermark_offsets(topic_, partition_, &low, &high, static_cast<int>(timeout.count()));
  if (code != RdKafka::ERR_NO_ERROR) return std::nullopt;
  return high;
}

GroupOffsetReader::GroupOffsetReader(const std::string& broker, const std::string& group)
    : consumer_(
          make_consumer({{"bootstrap.servers", broker}, {"group.id", group}}, "a group offset reader")) {}

GroupOffsetReader::~GroupOffsetReader() {
  if (consumer_) consumer_->close();
}

std::optional<std::int64_t> GroupOffsetReader::committed(const std::string& topic, std::int32_t partition,
                                                         std::chrono::milliseconds timeout) {
  if (!consumer_) return std::nullopt;
  std::vector<RdKafka::TopicPartition*> partitions{RdKafka::TopicPartition::create(topic, partition)};
  const auto code = consumer_->committed(partitions, static_cast<int>(timeout.count()));
  std::optional<std::int64_t> offset;
  if (code == RdKafka::ERR_NO_ERROR && partitions[0]->err() == RdKafka::ERR_NO_ERROR) {
    offset = partitions[0]->offset() < 0 ? -1 : partitions[0]->offset();
  }
  RdKafka::TopicPartition::destroy(partitions);
  return offset;
}

}  // namespace faust::testing
