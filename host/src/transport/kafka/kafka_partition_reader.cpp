#include "transport/kafka/kafka_partition_reader.h"

#include <spdlog/spdlog.h>

#include "transport/kafka/kafka_group_consumer.h"

namespace faust {

std::map<std::string, std::string> group_free_reader_settings(std::map<std::string, std::string> client_settings,
                                                              const std::string& topic, const std::string& group_id) {
  client_settings["group.id"] = group_id.empty() ? topic + "-reader" : group_id;
  client_settings["enable.auto.commit"] = "false";
  client_settings["enable.auto.offset.store"] = "false";
  client_settings["isolation.level"] = "read_committed";
  client_settings["enable.partition.eof"] = "true";  // at the last stable offset, as read_committed
  client_settings["auto.offset.reset"] = "earliest";
  return client_settings;
}

KafkaPartitionReader::KafkaPartitionReader(TopicPartition partition, std::unique_ptr<KafkaClientEvents> events)
    : partition_(std::move(partition)), events_(std::move(events)) {}

KafkaPartitionReader::~KafkaPartitionReader() {
  if (consumer_) consumer_->close();
}

Result<std::unique_ptr<PartitionReader>> KafkaPartitionReader::open(
    std::map<std::string, std::string> client_settings, const std::map<std::string, std::string>& properties,
    std::atomic<BrokerState>& broker_state, const TopicPartition& partition, const std::string& group_id,
    std::chrono::milliseconds timeout) {
  std::unique_ptr<KafkaPartitionReader> reader(
      new KafkaPartitionReader(partition, std::make_unique<KafkaClientEvents>(broker_state)));
  client_settings = group_free_reader_settings(std::move(client_settings), partition.topic, group_id);
  // An empty partition's fetch would otherwise wait out the broker's 500 ms before it answers
  // with the end: a new leader's restore sits on the failover's path.
  client_settings["fetch.wait.max.ms"] = "10";
  auto conf = make_kafka_conf(client_settings, properties, *reader->events_);
  if (!conf) return conf.error();
  std::string error;
  reader->consumer_.reset(RdKafka::KafkaConsumer::create(conf->get(), error));
  if (!reader->consumer_) return Error{ExitCode::kFailure, "kafka: cannot create a partition reader: " + error};

  std::unique_ptr<RdKafka::TopicPartition> start(RdKafka::TopicPartition::create(partition.topic, partition.partition));
  start->set_offset(RdKafka::Topic::OFFSET_BEGINNING);
  if (!group_id.empty()) {
    std::vector<RdKafka::TopicPartition*> committed{start.get()};
    const auto err = reader->consumer_->committed(committed, static_cast<int>(timeout.count()));
    if (err != RdKafka::ERR_NO_ERROR) {
      return Error{ExitCode::kBrokerUnreachable,
                   "kafka: committed offset of group '" + group_id + "' on " + partition.topic + ": " + describe(err)};
    }
    if (start->offset() < 0) start->set_offset(RdKafka::Topic::OFFSET_BEGINNING);
  }
  spdlog::debug("kafka: reading {}[{}] from offset {}{}", partition.topic, partition.partition, start->offset(),
                group_id.empty() ? std::string() : " (committed by group '" + group_id + "')");
  // An assigned partition's offset lookup starts at once; if its leader is not known yet, the
  // lookup is retried 500 ms after it is ("migrating to new broker", rdkafka_partition.c): half a
  // second on every new leader's restore. Knowing the leader first costs one round trip.
  learn_topic(*reader->consumer_, partition.topic, timeout);
  std::vector<RdKafka::TopicPartition*> assignment{start.get()};
  if (const auto err = reader->consumer_->assign(assignment); err != RdKafka::ERR_NO_ERROR) {
    return Error{ExitCode::kFailure, "kafka: cannot read " + partition.topic + ": " + describe(err)};
  }
  return std::unique_ptr<PartitionReader>(std::move(reader));
}

Result<std::vector<ConsumedMessage>> KafkaPartitionReader::poll(std::chrono::milliseconds timeout) {
  constexpr std::size_t kMaxBatch = 500;
  std::vector<ConsumedMessage> batch;
  int wait_ms = static_cast<int>(timeout.count());
  while (batch.size() < kMaxBatch) {
    std::unique_ptr<RdKafka::Message> message(consumer_->consume(wait_ms));
    wait_ms = 0;  // the first waits; the rest take only what is already there
    switch (message->err()) {
      case RdKafka::ERR_NO_ERROR: {
        ConsumedMessage& out = batch.emplace_back();
        fill_consumed(*message->c_ptr(), out);
        out.source.topic = partition_.topic;
        at_end_ = false;
        break;
      }
      case RdKafka::ERR__PARTITION_EOF:
        at_end_ = true;
        return batch;
      case RdKafka::ERR__TIMED_OUT:
        return batch;
      default:
        return Error{ExitCode::kBrokerUnreachable, "kafka: reading " + partition_.topic + ": " + message->errstr()};
    }
  }
  return batch;
}

}  // namespace faust
