// The agent runtime on the real broker, where librdkafka's own behaviour matters: what survives a
// rebalance, and how long a rebalance may wait for a handler.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "broker_env.h"
#include "runtime/agents/agent_runner.h"
#include "support/worker_process.h"
#include "transport/kafka/kafka_transport.h"

namespace faust {
namespace {

using namespace std::chrono_literals;
using testing::eventually;
using Clock = std::chrono::steady_clock;

class QuietEvents final : public RuntimeEvents {
 public:
  void agent_handled(const std::string&, std::chrono::nanoseconds, const Status&) override {}
  void timer_fired(const std::string&, std::chrono::nanoseconds, const Status&) override {}
  void timer_skipped(const std::string&, std::uint64_t) override {}
  void leadership_changed(bool, std::int32_t) override {}
  void rebalanced() override {}
  void consumer_lag(const TopicPartition&, std::int64_t) override {}
  void fatal(const Error&) override {}
};

// A member that only takes part in the group.
class Bystander final : public GroupListener {
 public:
  void on_assigned(const GroupEvent& event) override {
    std::lock_guard lock(mutex_);
    assigned_ += static_cast<int>(event.partitions.size());
  }
  void on_revoked(const GroupEvent&) override {}
  void on_messages(std::vector<ConsumedMessage>&) override {}
  int assigned() {
    std::lock_guard lock(mutex_);
    return assigned_;
  }

 private:
  std::mutex mutex_;
  int assigned_ = 0;
};

class AgentRunnerKafkaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string broker = testing::broker_address();
    ASSERT_FALSE(broker.empty()) << testing::kBrokerMissingMessage;
    auto transport = KafkaTransport::create(KafkaSettings{broker, {}, "unused-leader", {}, "runner-test", {}});
    ASSERT_TRUE(transport) << transport.error().message;
    transport_ = std::move(transport).value();
    const auto stamp = std::to_string(Clock::now().time_since_epoch().count());
    topic_ = "runner-" + stamp;
    group_ = "runner-group-" + stamp;
  }

  GroupOptions group(const std::string& client_id) const {
    GroupOptions options;
    options.group_id = group_;
    options.client_id = client_id;
    options.session_timeout = 6s;
    options.heartbeat_interval = 500ms;
    options.topics = {topic_};
    return options;
  }

  void produce(int count, const std::string& prefix) {
    for (int i = 0; i < count; ++i) {
      ASSERT_TRUE(transport_->send(ProducedRecord{topic_, "k", prefix + std::to_string(i), {}}, 10s));
    }
  }

  // Joins the group as a second member until `assigned` holds, then leaves it again.
  std::unique_ptr<GroupConsumer> join_bystander(Bystander& bystander) {
    auto consumer = transport_->join_group(group("zz-bystander"), bystander);
    EXPECT_TRUE(consumer);
    return consumer ? std::move(consumer).value() : nullptr;
  }

  std::unique_ptr<KafkaTransport> transport_;
  std::string topic_;
  std::string group_;
  QuietEvents events_;
};

// librdkafka keeps an application's pause across unassign and assign: a partition paused for
// backpressure must still fetch again after the group gives it back.
TEST_F(AgentRunnerKafkaTest, APartitionPausedForBackpressureFetchesAgainAfterARebalance) {
  ASSERT_TRUE(transport_->ensure_topics({TopicSpec{topic_, 1, 1}}, 30s));
  produce(40, "before-");
  std::mutex mutex;
  std::set<std::string> handled;
  AgentRunner runner(*transport_, group("aa-runner"),
                     {AgentBinding{"slow", topic_, OnError::kSkip, 0, {[&](const ConsumedMessage& message) {
                                     std::this_thread::sleep_for(20ms);
                                     std::lock_guard lock(mutex);
                                     handled.insert(message.value);
                                     return ok_status();
                                   }}}},
                     events_, AgentRunnerOptions{.pause_above = 5});
  auto count = [&] {
    std::lock_guard lock(mutex);
    return handled.size();
  };
  ASSERT_TRUE(runner.start());
  ASSERT_TRUE(eventually(30s, [&] { return count() >= 1; }));  // fetched 40: the lane pauses

  // A second member joins and leaves: two rebalances; the runner keeps (gets back) partition 0.
  Bystander bystander;
  auto second = join_bystander(bystander);
  ASSERT_TRUE(second);
  ASSERT_TRUE(eventually(30s, [&] {
    second->poll(100ms);
    return !runner.assignment().empty() && runner.assigned();
  }));
  second->close();
  second.reset();

  produce(10, "after-");
  EXPECT_TRUE(eventually(30s, [&] { return count() == 50; }))
      << count() << " of 50 handled: the partition stayed paused after the rebalance";
  runner.stop();
}

// A handler that does not return must not hold a rebalance past the group's rebalance timeout:
// the other members would wait for it, and the member be evicted.
TEST_F(AgentRunnerKafkaTest, ARebalanceDoesNotWaitForAStuckHandler) {
  ASSERT_TRUE(transport_->ensure_topics({TopicSpec{topic_, 2, 1}}, 30s));
  produce(4, "m-");
  std::mutex mutex;
  std::condition_variable released_cv;
  bool released = false;
  std::atomic<int> started{0};
  AgentRunner runner(*transport_, group("aa-runner"),
                     {AgentBinding{"stuck", topic_, OnError::kSkip, 0, {[&](const ConsumedMessage&) {
                                     ++started;
                                     std::unique_lock lock(mutex);
                                     released_cv.wait(lock, [&] { return released; });
                                     return ok_status();
                                   }}}},
                     events_, AgentRunnerOptions{.revoke_wait = 1000ms});
  ASSERT_TRUE(runner.start());
  ASSERT_TRUE(eventually(30s, [&] { return started.load() >= 1; }));

  Bystander bystander;
  auto second = join_bystander(bystander);
  ASSERT_TRUE(second);
  const auto joined = Clock::now();
  const bool assigned = eventually(15s, [&] {
    second->poll(100ms);
    return bystander.assigned() > 0;
  });
  const auto waited = std::chrono::duration<double>(Clock::now() - joined).count();
  {
    std::lock_guard lock(mutex);
    released = true;
  }
  released_cv.notify_all();
  EXPECT_TRUE(assigned) << "the second member got no partition while a handler was stuck";
  std::cout << "[ report ] second member assigned after " << waited << " s\n";
  second->close();
  runner.stop();
}

}  // namespace
}  // namespace faust
