// Proves the test broker and the librdkafka on this system work together for everything the
// host relies on: topic creation through the admin API, keyed produce with delivery reports,
// a consumer group that reads every message and commits, and transactions (commit and abort).
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "broker_env.h"

namespace faust {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr int kOperationTimeoutMs = 30'000;
constexpr auto kConsumeDeadline = std::chrono::seconds(60);

// Builds a librdkafka C++ configuration; a bad key or value fails the test with its message.
std::unique_ptr<RdKafka::Conf> make_conf(const std::map<std::string, std::string>& settings) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string error;
  for (const auto& [key, value] : settings) {
    if (conf->set(key, value, error) != RdKafka::Conf::CONF_OK) {
      ADD_FAILURE() << "config " << key << "=" << value << ": " << error;
    }
  }
  return conf;
}

// Creates a topic through the C admin API (the C++ API has none in librdkafka 2.0) and waits
// for the broker's answer. Returns an empty string on success, else the broker's reason.
std::string create_topic(const std::string& broker, const std::string& topic, int partitions) {
  std::array<char, 512> error{};
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", broker.c_str(), error.data(), error.size()) !=
      RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    return error.data();
  }
  // rd_kafka_new takes ownership of conf only when it succeeds.
  std::unique_ptr<rd_kafka_t, decltype(&rd_kafka_destroy)> admin(
      rd_kafka_new(RD_KAFKA_PRODUCER, conf, error.data(), error.size()), &rd_kafka_destroy);
  if (!admin) {
    rd_kafka_conf_destroy(conf);
    return error.data();
  }
  std::unique_ptr<rd_kafka_NewTopic_t, decltype(&rd_kafka_NewTopic_destroy)> new_topic(
      rd_kafka_NewTopic_new(topic.c_str(), partitions, 1, error.data(), error.size()),
      &rd_kafka_NewTopic_destroy);
  if (!new_topic) {
    return error.data();
  }
  std::unique_ptr<rd_kafka_AdminOptions_t, decltype(&rd_kafka_AdminOptions_destroy)> options(
      rd_kafka_AdminOptions_new(admin.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS), &rd_kafka_AdminOptions_destroy);
  rd_kafka_AdminOptions_set_operation_timeout(options.get(), kOperationTimeoutMs, error.data(), error.size());
  rd_kafka_AdminOptions_set_request_timeout(options.get(), kOperationTimeoutMs, error.data(), error.size());
  std::unique_ptr<rd_kafka_queue_t, decltype(&rd_kafka_queue_destroy)> queue(rd_kafka_queue_new(admin.get()),
                                                                             &rd_kafka_queue_destroy);

  rd_kafka_NewTopic_t* topics[] = {new_topic.get()};
  rd_kafka_CreateTopics(admin.get(), topics, 1, options.get(), queue.get());
  std::unique_ptr<rd_kafka_event_t, decltype(&rd_kafka_event_destroy)> event(
      rd_kafka_queue_poll(queue.get(), kOperationTimeoutMs + 5'000), &rd_kafka_event_destroy);
  if (!event) {
    return "no CreateTopics result within the deadline";
  }
  if (rd_kafka_event_error(event.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return rd_kafka_event_error_string(event.get());
  }
  const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event.get());
  size_t count = 0;
  const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(result, &count);
  if (count != 1) {
    return "CreateTopics answered for " + std::to_string(count) + " topics";
  }
  if (rd_kafka_topic_result_error(results[0]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return rd_kafka_topic_result_error_string(results[0]);
  }
  return {};
}

// Counts delivery reports; librdkafka calls it from producer->poll()/flush() on this thread.
class DeliveryReports : public RdKafka::DeliveryReportCb {
 public:
  void dr_cb(RdKafka::Message& message) override {
    if (message.err() != RdKafka::ERR_NO_ERROR) {
      ++failed_;
      first_error_ = first_error_.empty() ? message.errstr() : first_error_;
      return;
    }
    ++delivered_;
    partitions_.insert(message.partition());
  }

  int delivered() const { return delivered_; }
  int failed() const { return failed_; }
  const std::string& first_error() const { return first_error_; }
  const std::set<int32_t>& partitions() const { return partitions_; }

 private:
  int delivered_ = 0;
  int failed_ = 0;
  std::string first_error_;
  std::set<int32_t> partitions_;
};

std::unique_ptr<RdKafka::Producer> make_producer(std::map<std::string, std::string> settings,
                                                 DeliveryReports* reports) {
  std::unique_ptr<RdKafka::Conf> conf = make_conf(settings);
  std::string error;
  if (conf->set("dr_cb", reports, error) != RdKafka::Conf::CONF_OK) {
    ADD_FAILURE() << "dr_cb: " << error;
  }
  std::unique_ptr<RdKafka::Producer> producer(RdKafka::Producer::create(conf.get(), error));
  EXPECT_NE(producer, nullptr) << error;
  return producer;
}

RdKafka::ErrorCode produce(RdKafka::Producer& producer, const std::string& topic, const std::string& key,
                           const std::string& value) {
  for (;;) {
    RdKafka::ErrorCode code =
        producer.produce(topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
                         const_cast<char*>(value.data()), value.size(), key.data(), key.size(), 0, nullptr);
    if (code != RdKafka::ERR__QUEUE_FULL) {
      return code;
    }
    producer.poll(100);  // Serve delivery reports so the local queue drains.
  }
}

std::unique_ptr<RdKafka::KafkaConsumer> make_consumer(const std::map<std::string, std::string>& settings) {
  std::unique_ptr<RdKafka::Conf> conf = make_conf(settings);
  std::string error;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(RdKafka::KafkaConsumer::create(conf.get(), error));
  EXPECT_NE(consumer, nullptr) << error;
  return consumer;
}

std::string payload_of(const RdKafka::Message& message) {
  return std::string(static_cast<const char*>(message.payload()), message.len());
}

// Takes ownership of an RdKafka::Error* and turns it into a printable result.
std::string error_text(RdKafka::Error* raw) {
  std::unique_ptr<RdKafka::Error> error(raw);
  return error ? error->name() + ": " + error->str() : std::string();
}

TEST(KafkaRoundtripTest, EveryKeyedMessageComesBackExactlyOnceAndTheGroupCommits) {
  const std::string broker = testing::broker_address();
  ASSERT_FALSE(broker.empty());
  const std::string topic = testing::unique_name("faust-it-roundtrip");
  constexpr int kPartitions = 3;
  constexpr int kMessages = 1000;

  ASSERT_EQ(create_topic(broker, topic, kPartitions), "");

  DeliveryReports reports;
  std::unique_ptr<RdKafka::Producer> producer =
      make_producer({{"bootstrap.servers", broker}, {"linger.ms", "5"}}, &reports);
  ASSERT_NE(producer, nullptr);
  std::map<std::string, std::string> sent;
  for (int i = 0; i < kMessages; ++i) {
    const std::string key = "key-" + std::to_string(i);
    const std::string value = "value-" + std::to_string(i) + "-of-" + topic;
    ASSERT_EQ(produce(*producer, topic, key, value), RdKafka::ERR_NO_ERROR) << key;
    sent.emplace(key, value);
  }
  ASSERT_EQ(producer->flush(kOperationTimeoutMs), RdKafka::ERR_NO_ERROR);
  EXPECT_EQ(reports.failed(), 0) << reports.first_error();
  ASSERT_EQ(reports.delivered(), kMessages);
  // 1000 distinct keys hash onto every partition; all three taking part shows keyed routing.
  EXPECT_EQ(reports.partitions(), (std::set<int32_t>{0, 1, 2}));

  std::unique_ptr<RdKafka::KafkaConsumer> consumer =
      make_consumer({{"bootstrap.servers", broker},
                     {"group.id", testing::unique_name("faust-it-group")},
                     {"auto.offset.reset", "earliest"},
                     {"enable.auto.commit", "false"}});
  ASSERT_NE(consumer, nullptr);
  ASSERT_EQ(consumer->subscribe({topic}), RdKafka::ERR_NO_ERROR);

  std::map<std::string, std::string> received;
  int duplicates = 0;
  const auto deadline = Clock::now() + kConsumeDeadline;
  while (received.size() + static_cast<size_t>(duplicates) < sent.size() && Clock::now() < deadline) {
    std::unique_ptr<RdKafka::Message> message(consumer->consume(200));
    if (message->err() == RdKafka::ERR__TIMED_OUT || message->err() == RdKafka::ERR__PARTITION_EOF) {
      continue;
    }
    ASSERT_EQ(message->err(), RdKafka::ERR_NO_ERROR) << message->errstr();
    ASSERT_NE(message->key(), nullptr);
    if (!received.emplace(*message->key(), payload_of(*message)).second) {
      ++duplicates;
    }
  }
  EXPECT_EQ(duplicates, 0);
  EXPECT_EQ(received, sent);

  ASSERT_EQ(consumer->commitSync(), RdKafka::ERR_NO_ERROR);
  std::vector<RdKafka::TopicPartition*> assigned;
  ASSERT_EQ(consumer->assignment(assigned), RdKafka::ERR_NO_ERROR);
  EXPECT_EQ(assigned.size(), static_cast<size_t>(kPartitions));
  ASSERT_EQ(consumer->committed(assigned, kOperationTimeoutMs), RdKafka::ERR_NO_ERROR);
  // Each committed offset is "next to read" = messages read from that partition (from 0).
  int64_t committed_total = 0;
  for (const RdKafka::TopicPartition* partition : assigned) {
    EXPECT_EQ(partition->err(), RdKafka::ERR_NO_ERROR) << partition->partition();
    committed_total += partition->offset();
  }
  RdKafka::TopicPartition::destroy(assigned);
  EXPECT_EQ(committed_total, kMessages);
  EXPECT_EQ(consumer->close(), RdKafka::ERR_NO_ERROR);
}

TEST(KafkaRoundtripTest, ReadCommittedConsumerSeesCommittedTransactionsOnly) {
  const std::string broker = testing::broker_address();
  ASSERT_FALSE(broker.empty());
  const std::string topic = testing::unique_name("faust-it-transactions");
  ASSERT_EQ(create_topic(broker, topic, 1), "");

  DeliveryReports reports;
  std::unique_ptr<RdKafka::Producer> producer =
      make_producer({{"bootstrap.servers", broker},
                     {"transactional.id", testing::unique_name("faust-it-transactional-id")}},
                    &reports);
  ASSERT_NE(producer, nullptr);
  ASSERT_EQ(error_text(producer->init_transactions(kOperationTimeoutMs)), "");

  std::vector<std::string> committed;
  ASSERT_EQ(error_text(producer->begin_transaction()), "");
  for (int i = 0; i < 10; ++i) {
    committed.push_back("committed-" + std::to_string(i));
    ASSERT_EQ(produce(*producer, topic, "k", committed.back()), RdKafka::ERR_NO_ERROR);
  }
  ASSERT_EQ(error_text(producer->commit_transaction(kOperationTimeoutMs)), "");

  ASSERT_EQ(error_text(producer->begin_transaction()), "");
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(produce(*producer, topic, "k", "aborted-" + std::to_string(i)), RdKafka::ERR_NO_ERROR);
  }
  // Flushed first so the aborted messages are really in the log and the reader must skip them.
  ASSERT_EQ(producer->flush(kOperationTimeoutMs), RdKafka::ERR_NO_ERROR);
  ASSERT_EQ(error_text(producer->abort_transaction(kOperationTimeoutMs)), "");

  // A last committed message marks the end, so the reader knows when it has seen everything.
  ASSERT_EQ(error_text(producer->begin_transaction()), "");
  committed.emplace_back("end");
  ASSERT_EQ(produce(*producer, topic, "k", committed.back()), RdKafka::ERR_NO_ERROR);
  ASSERT_EQ(error_text(producer->commit_transaction(kOperationTimeoutMs)), "");
  EXPECT_EQ(reports.failed(), 0) << reports.first_error();
  EXPECT_EQ(reports.delivered(), 16);

  std::unique_ptr<RdKafka::KafkaConsumer> consumer =
      make_consumer({{"bootstrap.servers", broker},
                     {"group.id", testing::unique_name("faust-it-read-committed")},
                     {"auto.offset.reset", "earliest"},
                     {"isolation.level", "read_committed"}});
  ASSERT_NE(consumer, nullptr);
  ASSERT_EQ(consumer->subscribe({topic}), RdKafka::ERR_NO_ERROR);
  std::vector<std::string> seen;
  const auto deadline = Clock::now() + kConsumeDeadline;
  while ((seen.empty() || seen.back() != "end") && Clock::now() < deadline) {
    std::unique_ptr<RdKafka::Message> message(consumer->consume(200));
    if (message->err() == RdKafka::ERR__TIMED_OUT || message->err() == RdKafka::ERR__PARTITION_EOF) {
      continue;
    }
    ASSERT_EQ(message->err(), RdKafka::ERR_NO_ERROR) << message->errstr();
    seen.push_back(payload_of(*message));
  }
  EXPECT_EQ(seen, committed);
  EXPECT_EQ(consumer->close(), RdKafka::ERR_NO_ERROR);
}

// Split-brain protection rests on this: a producer that starts with the same transactional.id
// fences the older one at the broker, and the older one learns it as a fatal error.
TEST(KafkaRoundtripTest, NewProducerWithTheSameTransactionalIdFencesTheOldOne) {
  const std::string broker = testing::broker_address();
  ASSERT_FALSE(broker.empty());
  const std::string topic = testing::unique_name("faust-it-fencing");
  ASSERT_EQ(create_topic(broker, topic, 1), "");
  const std::string transactional_id = testing::unique_name("faust-it-fenced-id");
  const std::map<std::string, std::string> settings = {{"bootstrap.servers", broker},
                                                       {"transactional.id", transactional_id}};

  DeliveryReports old_reports;
  std::unique_ptr<RdKafka::Producer> old_producer = make_producer(settings, &old_reports);
  ASSERT_NE(old_producer, nullptr);
  ASSERT_EQ(error_text(old_producer->init_transactions(kOperationTimeoutMs)), "");
  ASSERT_EQ(error_text(old_producer->begin_transaction()), "");
  ASSERT_EQ(produce(*old_producer, topic, "k", "before-fence"), RdKafka::ERR_NO_ERROR);
  ASSERT_EQ(error_text(old_producer->commit_transaction(kOperationTimeoutMs)), "");

  DeliveryReports new_reports;
  std::unique_ptr<RdKafka::Producer> new_producer = make_producer(settings, &new_reports);
  ASSERT_NE(new_producer, nullptr);
  ASSERT_EQ(error_text(new_producer->init_transactions(kOperationTimeoutMs)), "");

  ASSERT_EQ(error_text(old_producer->begin_transaction()), "");
  ASSERT_EQ(produce(*old_producer, topic, "k", "after-fence"), RdKafka::ERR_NO_ERROR);
  std::unique_ptr<RdKafka::Error> commit_error(old_producer->commit_transaction(kOperationTimeoutMs));
  ASSERT_NE(commit_error, nullptr);
  EXPECT_TRUE(commit_error->is_fatal()) << commit_error->str();
  std::string fatal_reason;
  EXPECT_EQ(old_producer->fatal_error(fatal_reason), RdKafka::ERR__FENCED) << fatal_reason;

  ASSERT_EQ(error_text(new_producer->begin_transaction()), "");
  ASSERT_EQ(produce(*new_producer, topic, "k", "from-new-producer"), RdKafka::ERR_NO_ERROR);
  ASSERT_EQ(error_text(new_producer->commit_transaction(kOperationTimeoutMs)), "");
}

}  // namespace
}  // namespace faust
