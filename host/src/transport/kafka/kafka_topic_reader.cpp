#include "transport/kafka/kafka_topic_reader.h"

#include <spdlog/spdlog.h>

#include "transport/kafka/kafka_group_consumer.h"
#include "transport/kafka/kafka_partition_reader.h"

namespace faust {
namespace {

using PartitionList = std::vector<std::unique_ptr<RdKafka::TopicPartition>>;

std::vector<RdKafka::TopicPartition*> pointers(const PartitionList& list) {
  std::vector<RdKafka::TopicPartition*> out;
  for (const auto& partition : list) out.push_back(partition.get());
  return out;
}

}  // namespace

KafkaTopicReader::KafkaTopicReader(std::string topic, std::string group_id,
                                   std::unique_ptr<KafkaClientEvents> events)
    : topic_(std::move(topic)), group_id_(std::move(group_id)), events_(std::move(events)) {}

KafkaTopicReader::~KafkaTopicReader() {
  if (consumer_) consumer_->close();
}

Result<std::unique_ptr<TopicReader>> KafkaTopicReader::open(
    std::map<std::string, std::string> client_settings, const std::map<std::string, std::string>& properties,
    std::atomic<BrokerState>& broker_state, const std::string& topic, const std::string& group_id,
    const std::vector<Range>& ranges, std::chrono::milliseconds timeout) {
  std::unique_ptr<KafkaTopicReader> reader(
      new KafkaTopicReader(topic, group_id, std::make_unique<KafkaClientEvents>(broker_state)));
  auto conf = make_kafka_conf(group_free_reader_settings(std::move(client_settings), topic, group_id), properties,
                              *reader->events_);
  if (!conf) return conf.error();
  std::string error;
  reader->consumer_.reset(RdKafka::KafkaConsumer::create(conf->get(), error));
  if (!reader->consumer_) return Error{ExitCode::kFailure, "kafka: cannot create a topic reader: " + error};

  PartitionList starts;
  for (const Range& range : ranges) {
    starts.emplace_back(RdKafka::TopicPartition::create(topic, range.partition, range.start));
  }
  PartitionList from_group;
  for (const auto& start : starts) {
    if (start->offset() == kFromGroup) {
      from_group.emplace_back(RdKafka::TopicPartition::create(topic, start->partition()));
    }
  }
  if (!from_group.empty()) {
    auto list = pointers(from_group);
    const auto err = reader->consumer_->committed(list, static_cast<int>(timeout.count()));
    if (err != RdKafka::ERR_NO_ERROR) {
      return Error{ExitCode::kBrokerUnreachable,
                   "kafka: committed offsets of group '" + group_id + "' on " + topic + ": " + describe(err)};
    }
    std::map<std::int32_t, std::int64_t> committed;
    for (const auto& partition : from_group) committed[partition->partition()] = partition->offset();
    for (auto& start : starts) {
      if (start->offset() != kFromGroup) continue;
      const std::int64_t offset = committed[start->partition()];
      start->set_offset(offset < 0 ? RdKafka::Topic::OFFSET_BEGINNING : offset);
    }
  }
  PartitionList assignment;
  for (std::size_t i = 0; i < starts.size(); ++i) {
    const std::int64_t start = starts[i]->offset();
    if (start >= ranges[i].end) continue;  // nothing new in it
    reader->ends_[ranges[i].partition] = ranges[i].end;
    spdlog::debug("kafka: reading {}[{}] from offset {} to {}", topic, ranges[i].partition, start,
                  ranges[i].end);
    assignment.push_back(std::move(starts[i]));
  }
  if (!assignment.empty()) {
    if (const auto err = reader->consumer_->assign(pointers(assignment)); err != RdKafka::ERR_NO_ERROR) {
      return Error{ExitCode::kFailure, "kafka: cannot read " + topic + ": " + describe(err)};
    }
  }
  return std::unique_ptr<TopicReader>(std::move(reader));
}

Result<std::vector<ConsumedMessage>> KafkaTopicReader::poll(std::chrono::milliseconds timeout) {
  constexpr std::size_t kMaxBatch = 500;
  std::vector<ConsumedMessage> batch;
  int wait_ms = static_cast<int>(timeout.count());
  while (!ends_.empty() && batch.size() < kMaxBatch) {
    std::unique_ptr<RdKafka::Message> message(consumer_->consume(wait_ms));
    wait_ms = 0;  // the first waits; the rest take only what is already there
    const auto end = ends_.find(message->partition());
    switch (message->err()) {
      case RdKafka::ERR_NO_ERROR:
        if (end == ends_.end() || message->offset() >= end->second) continue;  // past the end it had
        fill_consumed(*message->c_ptr(), batch.emplace_back());
        batch.back().source.topic = topic_;
        if (message->offset() + 1 >= end->second) ends_.erase(end);
        break;
      case RdKafka::ERR__PARTITION_EOF:
        // The last stable offset: below the end only when a transaction is still open there.
        if (end != ends_.end()) ends_.erase(end);
        break;
      case RdKafka::ERR__TIMED_OUT:
        return batch;
      default:
        return Error{ExitCode::kBrokerUnreachable, "kafka: reading " + topic_ + ": " + message->errstr()};
    }
  }
  return batch;
}

Status KafkaTopicReader::commit(const TopicPartition& partition, std::int64_t next_offset) {
  std::unique_ptr<RdKafka::TopicPartition> position(
      RdKafka::TopicPartition::create(partition.topic, partition.partition, next_offset));
  std::vector<RdKafka::TopicPartition*> list{position.get()};
  auto err = consumer_->commitSync(list);
  if (err == RdKafka::ERR_NO_ERROR) err = position->err();
  if (err == RdKafka::ERR_NO_ERROR) return ok_status();
  const bool unreachable = err == RdKafka::ERR__TIMED_OUT || err == RdKafka::ERR__TRANSPORT ||
                           err == RdKafka::ERR__ALL_BROKERS_DOWN || err == RdKafka::ERR_REQUEST_TIMED_OUT ||
                           err == RdKafka::ERR_COORDINATOR_NOT_AVAILABLE ||
                           err == RdKafka::ERR_NOT_COORDINATOR;
  return Error{unreachable ? ExitCode::kBrokerUnreachable : ExitCode::kFailure,
               "kafka: commit of group '" + group_id_ + "' at " + partition.topic + "[" +
                   std::to_string(partition.partition) + "]@" + std::to_string(next_offset) + ": " +
                   describe(err)};
}

}  // namespace faust
