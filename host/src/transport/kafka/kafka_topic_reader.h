#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <librdkafka/rdkafkacpp.h>

#include "transport/kafka/kafka_client_events.h"
#include "transport/transport.h"

namespace faust {

// A TopicReader over a consumer that never joins its group: it assigns itself the partitions,
// reads them read_committed, and commits as a group with no members (the group id only names
// where positions are stored).
class KafkaTopicReader final : public TopicReader {
 public:
  // What to read of one partition: from `start` (kFromGroup: the group's committed offset, the
  // partition's start when it has none) up to `end`, the partition's end when the reader opened.
  struct Range {
    std::int32_t partition = 0;
    std::int64_t start = kFromGroup;
    std::int64_t end = 0;
  };
  static constexpr std::int64_t kFromGroup = -1;

  static Result<std::unique_ptr<TopicReader>> open(std::map<std::string, std::string> client_settings,
                                                   const std::map<std::string, std::string>& properties,
                                                   std::atomic<BrokerState>& broker_state,
                                                   const std::string& topic, const std::string& group_id,
                                                   const std::vector<Range>& ranges,
                                                   std::chrono::milliseconds timeout);
  ~KafkaTopicReader() override;

  Result<std::vector<ConsumedMessage>> poll(std::chrono::milliseconds timeout) override;
  bool at_end() const override { return ends_.empty(); }
  Status commit(const TopicPartition& partition, std::int64_t next_offset) override;

 private:
  KafkaTopicReader(std::string topic, std::string group_id, std::unique_ptr<KafkaClientEvents> events);

  const std::string topic_;
  const std::string group_id_;
  std::unique_ptr<KafkaClientEvents> events_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  std::map<std::int32_t, std::int64_t> ends_;  // partitions not read to their end yet
};

}  // namespace faust
