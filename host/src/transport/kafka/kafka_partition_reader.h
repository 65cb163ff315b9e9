#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>

#include <librdkafka/rdkafkacpp.h>

#include "transport/kafka/kafka_client_events.h"
#include "transport/transport.h"

namespace faust {

// Settings of a consumer that reads outside group membership: read_committed, no automatic
// commits, end-of-partition events, from the start where `group_id` (empty: "<topic>-reader")
// has no committed offset.
std::map<std::string, std::string> group_free_reader_settings(std::map<std::string, std::string> client_settings,
                                                              const std::string& topic, const std::string& group_id);

// One partition read read_committed by a consumer that never joins its group: the group id only
// names where its committed offset is (the start, when it has none or is empty).
class KafkaPartitionReader final : public PartitionReader {
 public:
  static Result<std::unique_ptr<PartitionReader>> open(std::map<std::string, std::string> client_settings,
                                                       const std::map<std::string, std::string>& properties,
                                                       std::atomic<BrokerState>& broker_state,
                                                       const TopicPartition& partition, const std::string& group_id,
                                                       std::chrono::milliseconds timeout);
  ~KafkaPartitionReader() override;

  Result<std::vector<ConsumedMessage>> poll(std::chrono::milliseconds timeout) override;
  bool at_end() const override { return at_end_; }

 private:
  KafkaPartitionReader(TopicPartition partition, std::unique_ptr<KafkaClientEvents> events);

  const TopicPartition partition_;
  std::unique_ptr<KafkaClientEvents> events_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  bool at_end_ = false;
};

}  // namespace faust
