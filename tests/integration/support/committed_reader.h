#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace RdKafka {
class KafkaConsumer;
}

namespace faust::testing {

// Reads one partition of a topic from its beginning as the agents read it: read_committed, so
// it gets the messages of committed transactions only. Not in a consumer group; commits nothing.
class CommittedReader {
 public:
  struct Record {
    std::int64_t offset = 0;
    std::string value;
    std::optional<std::string> key;
    std::vector<std::pair<std::string, std::string>> headers;  // in order
    std::int64_t timestamp_ms = 0;
  };

  // Fails the test (ADD_FAILURE) when the consumer cannot be created. `settings`: more client
  // properties (a secured broker's security.protocol, sasl.*, ssl.*).
  CommittedReader(const std::string& broker, const std::string& topic, std::int32_t partition = 0,
                  std::map<std::string, std::string> settings = {});
  ~CommittedReader();
  CommittedReader(const CommittedReader&) = delete;
  CommittedReader& operator=(const CommittedReader&) = delete;

  // The next message, in offset order; nullopt when none came within `timeout`.
  std::optional<Record> next(std::chrono::milliseconds timeout);
  // The partition's last stable offset, asked of the broker now: every message below it that a
  // read_committed reader will ever get is readable at this moment, and nothing above it is.
  std::optional<std::int64_t> last_stable_offset(std::chrono::milliseconds timeout);

 private:
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  std::string topic_;
  std::int32_t partition_;
};

// What a consumer group has committed, asked of its coordinator as the group's next owner would
// ask it. It joins no group and commits nothing, so the group's members never notice it.
class GroupOffsetReader {
 public:
  // Fails the test (ADD_FAILURE) when the consumer cannot be created.
  GroupOffsetReader(const std::string& broker, const std::string& group);
  ~GroupOffsetReader();
  GroupOffsetReader(const GroupOffsetReader&) = delete;
  GroupOffsetReader& operator=(const GroupOffsetReader&) = delete;

  // The group's committed offset of one partition (the next offset it will handle), -1 when it
  // committed none; nullopt when the broker did not answer within `timeout`.
  std::optional<std::int64_t> committed(const std::string& topic, std::int32_t partition,
                                        std::chrono::milliseconds timeout);

 private:
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
};

}  // namespace faust::testing
