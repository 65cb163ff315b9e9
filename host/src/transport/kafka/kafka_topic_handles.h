#pragma once

#include <shared_mutex>
#include <string>
#include <unordered_map>

#include <librdkafka/rdkafka.h>

namespace RdKafka {
class Producer;
}

namespace faust {

// A producer's handle of each topic it sends to, made at its first record. A record that names
// its topic instead has librdkafka look the topic up under its client-wide write lock, which its
// broker threads take too (and the C++ API copy the name): a lock per message on an agent's
// sending path. Must be destroyed before its producer.
class KafkaTopicHandles {
 public:
  explicit KafkaTopicHandles(RdKafka::Producer& producer);
  ~KafkaTopicHandles();
  KafkaTopicHandles(const KafkaTopicHandles&) = delete;
  KafkaTopicHandles& operator=(const KafkaTopicHandles&) = delete;

  RdKafka::Producer& producer() const { return producer_; }
  // Safe from any thread. Null when librdkafka refuses the name (e.g. over 512 characters).
  rd_kafka_topic_t* get(const std::string& topic);

 private:
  RdKafka::Producer& producer_;
  std::shared_mutex mutex_;
  std::unordered_map<std::string, rd_kafka_topic_t*> handles_;
};

}  // namespace faust
