#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace faust::testing {

// Creates topics and fills them from outside the workers, for tests that need a topic with its
// messages in place before the first worker starts.
class TopicSeeder {
 public:
  // `settings`: more client properties (a secured broker's security.protocol, sasl.*, ssl.*).
  explicit TopicSeeder(std::string broker, std::map<std::string, std::string> settings = {})
      : broker_(std::move(broker)), settings_(std::move(settings)) {}

  // Creates each topic (name → partitions, replication 1) in one request and waits for the
  // broker's answer; empty on success, else the first reason the broker gave.
  std::string create_topics(const std::map<std::string, int>& partitions_by_topic) const;

  // The topic's configuration as the broker describes it (name → value); a test failure when it
  // cannot be read.
  std::map<std::string, std::string> topic_config(const std::string& topic) const;

  // Produces `count` messages to `topic`, the n-th (from 0) with key and value numbered_value(n),
  // spread over the partitions by key; returns once every one is acknowledged. Messages
  // delivered per partition; empty (and a test failure) when any was not.
  std::map<std::int32_t, std::int64_t> produce_numbered(const std::string& topic, std::int64_t count) const;

  // Produces `values` (key = value) to one partition of `topic`, in order, the n-th (from 0) at
  // start + n × `interval`: with an interval, each is acknowledged before the next is due, so
  // they reach the broker spread out. Returns how many were acknowledged (a test failure when
  // not all).
  std::int64_t produce_spaced(const std::string& topic, std::int32_t partition, const std::vector<std::string>& values,
                              std::chrono::milliseconds interval) const;

 private:
  std::string broker_;
  std::map<std::string, std::string> settings_;
};

// n as six or more digits with leading zeros ("000042"): sorts and reads back as the number.
std::string numbered_value(std::int64_t number);

}  // namespace faust::testing
