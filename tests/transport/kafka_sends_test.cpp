// The Kafka producer's send paths on librdkafka's mock cluster: records to several topics (each
// through its own cached topic handle) and a topic name librdkafka refuses. The real broker's
// send paths (outages, refusals, transactions) are tested in tests/integration.
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "transport/kafka/kafka_transport.h"

namespace faust {
namespace {

using namespace std::chrono_literals;

std::unique_ptr<KafkaTransport> mock_cluster_transport() {
  KafkaSettings settings;
  settings.bootstrap_servers = "127.0.0.1:1";  // replaced by the mock cluster's
  settings.properties = {{"test.mock.num.brokers", "1"}};
  settings.client_id = "kafka-sends-test";
  auto transport = KafkaTransport::create(settings);
  EXPECT_TRUE(transport) << transport.error().message;
  return transport ? std::move(transport).value() : nullptr;
}

ProducedRecord record_to(std::string topic) {
  ProducedRecord record;
  record.topic = std::move(topic);
  record.key = "k";
  record.value = "v";
  record.headers = {{"h", "1"}};
  return record;
}

// A pipelined send's report, awaited by the test.
struct Report {
  std::mutex mutex;
  std::condition_variable done;
  std::optional<Status> status;

  std::optional<Status> await(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex);
    done.wait_for(lock, timeout, [&] { return status.has_value(); });
    return status;
  }
};

class ReportedSend final : public Transport::PipelinedSend {
 public:
  explicit ReportedSend(std::shared_ptr<Report> report) : report_(std::move(report)) {}
  void delivered(const Status& delivered) override {
    std::lock_guard lock(report_->mutex);
    report_->status = delivered;
    report_->done.notify_all();
  }

 private:
  std::shared_ptr<Report> report_;
};

TEST(KafkaSendsTest, RecordsToSeveralTopicsAreAcknowledgedOnBothSendPaths) {
  auto transport = mock_cluster_transport();
  ASSERT_NE(transport, nullptr);
  for (const char* topic : {"alpha", "beta", "alpha"}) {
    EXPECT_TRUE(transport->send(record_to(topic), 20s)) << topic;
    auto report = std::make_shared<Report>();
    ASSERT_TRUE(transport->send_async(record_to(topic), std::make_unique<ReportedSend>(report)));
    const auto delivered = report->await(20s);
    ASSERT_TRUE(delivered.has_value()) << topic;
    EXPECT_TRUE(*delivered) << topic << ": " << delivered->error().message;
  }
  ProducedRecord tombstone = record_to("beta");
  tombstone.tombstone = true;
  EXPECT_TRUE(transport->send(tombstone, 20s));
}

// Sends of one group, each of which says which it is, and the calls that told them.
struct GroupLog {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<int> told;  // ids, in the order told
  int together_calls = 0;
};

class GroupedSend final : public Transport::PipelinedSend {
 public:
  GroupedSend(int id, std::shared_ptr<GroupLog> log) : id_(id), log_(std::move(log)) {}
  void delivered(const Status& delivered) override {
    std::lock_guard lock(log_->mutex);
    log_->told.push_back(delivered ? id_ : -id_);
    log_->changed.notify_all();
  }
  const void* group() const override { return log_.get(); }
  void acknowledged_together(std::span<const std::unique_ptr<Transport::PipelinedSend>> sends) override {
    std::lock_guard lock(log_->mutex);
    ++log_->together_calls;
    for (const auto& send : sends) log_->told.push_back(static_cast<const GroupedSend&>(*send).id_);
    log_->changed.notify_all();
  }

 private:
  const int id_;
  const std::shared_ptr<GroupLog> log_;
};

TEST(KafkaSendsTest, AGroupsAcknowledgementsAreToldTogetherEachOnceInOrder) {
  auto transport = mock_cluster_transport();
  ASSERT_NE(transport, nullptr);
  auto log = std::make_shared<GroupLog>();
  constexpr int kSends = 2000;
  for (int id = 1; id <= kSends; ++id) {
    ProducedRecord record = record_to("grouped");
    record.key = "one-partition";  // one partition: the broker acknowledges them in order
    ASSERT_TRUE(transport->send_async(record, std::make_unique<GroupedSend>(id, log)));
  }
  std::unique_lock lock(log->mutex);
  ASSERT_TRUE(log->changed.wait_for(lock, 30s, [&] { return log->told.size() >= kSends; }))
      << log->told.size() << " of " << kSends << " told";
  std::vector<int> in_order(kSends);
  for (int id = 1; id <= kSends; ++id) in_order[id - 1] = id;
  EXPECT_EQ(log->told, in_order);
  // Told in rounds of reports (one or a few a produce request), not one call a record.
  EXPECT_GE(log->together_calls, 1);
  EXPECT_LT(log->together_calls, kSends / 10);
}

TEST(KafkaSendsTest, ATopicNameLibrdkafkaRefusesFailsThatSendAloneAndNamesTheTopic) {
  auto transport = mock_cluster_transport();
  ASSERT_NE(transport, nullptr);
  const std::string refused(600, 'x');  // librdkafka takes names of at most 512 characters
  const Status awaited = transport->send(record_to(refused), 5s);
  ASSERT_FALSE(awaited);
  EXPECT_NE(awaited.error().message.find("send to topic '" + refused + "' failed"), std::string::npos)
      << awaited.error().message;
  const Status pipelined =
      transport->send_async(record_to(refused), std::make_unique<ReportedSend>(std::make_shared<Report>()));
  EXPECT_FALSE(pipelined);
  EXPECT_TRUE(transport->send(record_to("gamma"), 20s));  // the producer goes on
}

}  // namespace
}  // namespace faust
