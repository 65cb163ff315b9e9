#include "topic_seeder.h"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>

#include <array>
#include <cstdio>
#include <memory>
#include <thread>

namespace faust::testing {
namespace {

constexpr int kCreateTimeoutMs = 30'000;
constexpr int kFlushTimeoutMs = 60'000;

template <typename T, void (*Destroy)(T*)>
struct Deleter {
  void operator()(T* object) const { Destroy(object); }
};
template <typename T, void (*Destroy)(T*)>
using Owned = std::unique_ptr<T, Deleter<T, Destroy>>;

// Counts acknowledged messages per partition and keeps the first failure; librdkafka calls it
// from poll() and flush() on the producing thread.
class DeliveryTally : public RdKafka::DeliveryReportCb {
 public:
  void dr_cb(RdKafka::Message& message) override {
    if (message.err() != RdKafka::ERR_NO_ERROR) {
      if (first_error.empty()) first_error = message.errstr();
      return;
    }
    ++delivered[message.partition()];
  }
  std::map<std::int32_t, std::int64_t> delivered;
  std::string first_error;
};

}  // namespace

std::string numbered_value(std::int64_t number) {
  std::array<char, 32> text{};
  std::snprintf(text.data(), text.size(), "%06lld", static_cast<long long>(number));
  return text.data();
}

namespace {

// An admin client for `broker` with `settings`; null with `why` filled when it cannot be made.
Owned<rd_kafka_t, rd_kafka_destroy> make_admin(const std::string& broker, const std::map<std::string, std::string>& settings,
                                               std::string& why) {
  std::array<char, 512> error{};
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", broker.c_str(), error.data(), error.size());
  for (const auto& [key, value] : settings) {
    if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), error.data(), error.size()) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      why = key + ": " + error.data();
      return nullptr;
    }
  }
  Owned<rd_kafka_t, rd_kafka_destroy> admin(rd_kafka_new(RD_KAFKA_PRODUCER, conf, error.data(), error.size()));
  if (!admin) {
    rd_kafka_conf_destroy(conf);  // rd_kafka_new owns conf only once it succeeded
    why = "cannot create an admin client: " + std::string(error.data());
  }
  return admin;
}

}  // namespace

std::string TopicSeeder::create_topics(const std::map<std::string, int>& partitions_by_topic) const {
  std::array<char, 512> error{};
  std::string why;
  auto admin = make_admin(broker_, settings_, why);
  if (!admin) return why;
  std::vector<Owned<rd_kafka_NewTopic_t, rd_kafka_NewTopic_destroy>> new_topics;
  std::vector<rd_kafka_NewTopic_t*> requested;
  for (const auto& [topic, partitions] : partitions_by_topic) {
    new_topics.emplace_back(rd_kafka_NewTopic_new(topic.c_str(), partitions, 1, error.data(), error.size()));
    if (!new_topics.back()) return topic + ": " + error.data();
    requested.push_back(new_topics.back().get());
  }
  Owned<rd_kafka_queue_t, rd_kafka_queue_destroy> answers(rd_kafka_queue_new(admin.get()));
  rd_kafka_CreateTopics(admin.get(), requested.data(), requested.size(), nullptr, answers.get());
  Owned<rd_kafka_event_t, rd_kafka_event_destroy> answer(rd_kafka_queue_poll(answers.get(), kCreateTimeoutMs));
  if (!answer) return "no answer to CreateTopics within " + std::to_string(kCreateTimeoutMs) + " ms";
  if (rd_kafka_event_error(answer.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) return rd_kafka_event_error_string(answer.get());
  std::size_t count = 0;
  const rd_kafka_topic_result_t** results =
      rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(answer.get()), &count);
  for (std::size_t i = 0; i < count; ++i) {
    if (rd_kafka_topic_result_error(results[i]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return std::string(rd_kafka_topic_result_name(results[i])) + ": " + rd_kafka_topic_result_error_string(results[i]);
    }
  }
  return count == requested.size() ? std::string() : "CreateTopics answered for " + std::to_string(count) + " topics";
}

namespace {

// A producer whose delivery reports go to `tally`; null (and a test failure) when it cannot be made.
std::unique_ptr<RdKafka::Producer> make_producer(const std::string& broker,
                                                 std::map<std::string, std::string> settings, DeliveryTally& tally,
                                                 const std::string& linger_ms) {
  std::string error;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  settings.insert({{"bootstrap.servers", broker}, {"linger.ms", linger_ms}, {"enable.idempotence", "true"}});
  for (const auto& [key, value] : settings) {
    if (conf->set(key, value, error) != RdKafka::Conf::CONF_OK) ADD_FAILURE() << key << ": " << error;
  }
  if (conf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(&tally), error) != RdKafka::Conf::CONF_OK) {
    ADD_FAILURE() << "dr_cb: " << error;
  }
  std::unique_ptr<RdKafka::Producer> producer(RdKafka::Producer::create(conf.get(), error));
  if (!producer) ADD_FAILURE() << "cannot create a producer: " << error;
  return producer;
}

// Queues `text` (key = value), waiting for room in the local queue; false (and a test failure)
// when the producer refuses it.
bool queue_message(RdKafka::Producer& producer, const std::string& topic, std::int32_t partition,
                   const std::string& text) {
  while (true) {
    const auto queued = producer.produce(topic, partition, RdKafka::Producer::RK_MSG_COPY, const_cast<char*>(text.data()),
                                         text.size(), text.data(), text.size(), 0, nullptr);
    if (queued == RdKafka::ERR_NO_ERROR) return true;
    if (queued != RdKafka::ERR__QUEUE_FULL) {
      ADD_FAILURE() << "producing " << text << " to " << topic << ": " << RdKafka::err2str(queued);
      return false;
    }
    producer.poll(10);  // delivery reports free room in the local queue
  }
}

std::int64_t delivered_total(const DeliveryTally& tally) {
  std::int64_t delivered = 0;
  for (const auto& [partition, messages] : tally.delivered) delivered += messages;
  return delivered;
}

}  // namespace

std::map<std::int32_t, std::int64_t> TopicSeeder::produce_numbered(const std::string& topic,
                                                                   std::int64_t count) const {
  DeliveryTally tally;
  // Batches of many small messages: 100,000 of them take about a second.
  const std::unique_ptr<RdKafka::Producer> producer = make_producer(broker_, settings_, tally, "20");
  if (!producer) return {};
  for (std::int64_t n = 0; n < count; ++n) {
    if (!queue_message(*producer, topic, RdKafka::Topic::PARTITION_UA, numbered_value(n))) return {};
  }
  producer->flush(kFlushTimeoutMs);
  const std::int64_t delivered = delivered_total(tally);
  if (delivered != count) {
    ADD_FAILURE() << delivered << " of " << count << " messages to " << topic << " acknowledged within "
                  << kFlushTimeoutMs << " ms; first error: " << tally.first_error;
    return {};
  }
  return tally.delivered;
}

std::int64_t TopicSeeder::produce_spaced(const std::string& topic, std::int32_t partition,
                                         const std::vector<std::string>& values,
                                         std::chrono::milliseconds interval) const {
  DeliveryTally tally;
  const std::unique_ptr<RdKafka::Producer> producer = make_producer(broker_, settings_, tally, "0");
  if (!producer) return 0;
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t n = 0; n < values.size(); ++n) {
    std::this_thread::sleep_until(start + interval * static_cast<std::int64_t>(n));
    if (!queue_message(*producer, topic, partition, values[n])) break;
    if (interval.count() > 0) producer->flush(kFlushTimeoutMs);
  }
  producer->flush(kFlushTimeoutMs);
  const std::int64_t delivered = delivered_total(tally);
  if (delivered != static_cast<std::int64_t>(values.size())) {
    ADD_FAILURE() << delivered << " of " << values.size() << " messages to " << topic << "[" << partition
                  << "] acknowledged; first error: " << tally.first_error;
  }
  return delivered;
}

std::map<std::string, std::string> TopicSeeder::topic_config(const std::string& topic) const {
  std::map<std::string, std::string> config;
  std::string why;
  auto admin = make_admin(broker_, settings_, why);
  if (!admin) {
    ADD_FAILURE() << why;
    return config;
  }
  Owned<rd_kafka_ConfigResource_t, rd_kafka_ConfigResource_destroy> resource(
      rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str()));
  rd_kafka_ConfigResource_t* requested = resource.get();
  Owned<rd_kafka_queue_t, rd_kafka_queue_destroy> answers(rd_kafka_queue_new(admin.get()));
  rd_kafka_DescribeConfigs(admin.get(), &requested, 1, nullptr, answers.get());
  Owned<rd_kafka_event_t, rd_kafka_event_destroy> answer(rd_kafka_queue_poll(answers.get(), kCreateTimeoutMs));
  if (!answer || rd_kafka_event_error(answer.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    ADD_FAILURE() << "describe configs of " << topic << ": "
                  << (answer ? rd_kafka_event_error_string(answer.get()) : "no answer");
    return config;
  }
  std::size_t resources = 0;
  const rd_kafka_ConfigResource_t** described =
      rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(answer.get()), &resources);
  for (std::size_t i = 0; i < resources; ++i) {
    std::size_t entries = 0;
    const rd_kafka_ConfigEntry_t** entry = rd_kafka_ConfigResource_configs(described[i], &entries);
    for (std::size_t j = 0; j < entries; ++j) {
      const char* value = rd_kafka_ConfigEntry_value(entry[j]);
      config[rd_kafka_ConfigEntry_name(entry[j])] = value ? value : "";
    }
  }
  return config;
}

}  // namespace faust::testing
