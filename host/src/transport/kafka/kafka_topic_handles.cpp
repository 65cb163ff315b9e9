#include "transport/kafka/kafka_topic_handles.h"

#include <mutex>

#include <librdkafka/rdkafkacpp.h>

namespace faust {

KafkaTopicHandles::KafkaTopicHandles(RdKafka::Producer& producer) : producer_(producer) {}

KafkaTopicHandles::~KafkaTopicHandles() {
  for (const auto& [name, handle] : handles_) rd_kafka_topic_destroy(handle);
}

rd_kafka_topic_t* KafkaTopicHandles::get(const std::string& topic) {
  {
    std::shared_lock lock(mutex_);
    if (auto found = handles_.find(topic); found != handles_.end()) return found->second;
  }
  std::lock_guard lock(mutex_);
  auto [entry, made] = handles_.try_emplace(topic, nullptr);
  if (!made) return entry->second;
  // The producer's default topic configuration, as for a record that names its topic.
  rd_kafka_topic_t* handle = rd_kafka_topic_new(producer_.c_ptr(), topic.c_str(), nullptr);
  if (handle == nullptr) {
    handles_.erase(entry);
  } else {
    entry->second = handle;
  }
  return handle;
}

}  // namespace faust
