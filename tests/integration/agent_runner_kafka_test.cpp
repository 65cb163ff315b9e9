// The agent runtime on the real broker, where librdkafka's own behaviour matters: what survives a
// rebalance, and how long a rebalance may wait for a handler.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "../runtime/forwarding_transport.h"
#include "broker_env.h"
#include "runtime/agents/agent_runner.h"
#include "support/worker_process.h"
#include "transport/kafka/kafka_transport.h"
#include "transport/memory/memory_transport.h"

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

// Incremental rebalancing (cooperative-sticky): when a member joins, the partitions the first
// member keeps never stop; only those that move do. Under eager rebalancing every partition stops.
struct PartitionGaps {
  std::mutex mutex;
  std::map<std::int32_t, Clock::time_point> last;
  std::map<std::int32_t, Clock::duration> longest;  // since `since`
  Clock::time_point since = Clock::now();

  void handled(std::int32_t partition) {
    std::lock_guard lock(mutex);
    const auto now = Clock::now();
    if (const auto it = last.find(partition); it != last.end() && it->second >= since) {
      longest[partition] = std::max(longest[partition], now - it->second);
    }
    last[partition] = now;
  }
  void restart() {
    std::lock_guard lock(mutex);
    longest.clear();
    since = Clock::now();
  }
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

  // Counts the transactional producers started through it.
  class ProducerCounter final : public testing::ForwardingTransport {
   public:
    using ForwardingTransport::ForwardingTransport;
    std::atomic<int> started{0};

   private:
    std::unique_ptr<TransactionalProducer> wrap(std::unique_ptr<TransactionalProducer> producer) override {
      ++started;
      return producer;
    }
  };

  struct JoinSeenByFirst {
    double longest_gap = 0;     // seconds: the longest stop of a partition the first member kept
    std::uint64_t revoked = 0;  // partitions revoked from the first member
    int producers_started = 0;  // exactly_once: by the first member while the second joined
  };
  // A pipelined send whose outcome nobody waits for.
  struct Unheeded final : Transport::PipelinedSend {
    void delivered(const Status&) override {}
  };

  // Keeps 8 partitions busy (a record each every 5 ms) while a second member joins a first one.
  JoinSeenByFirst second_member_joins(bool incremental,
                                      ProcessingGuarantee guarantee = ProcessingGuarantee::kAtLeastOnce) {
    constexpr int kPartitions = 8;
    EXPECT_TRUE(transport_->ensure_topics({TopicSpec{topic_, kPartitions, 1}}, 30s));
    std::vector<std::string> keys(kPartitions);
    for (int key = 0, found = 0; found < kPartitions; ++key) {
      const auto partition = static_cast<std::size_t>(partition_for_key(std::to_string(key), kPartitions));
      if (keys[partition].empty()) {
        keys[partition] = std::to_string(key);
        ++found;
      }
    }
    std::atomic<bool> producing{true};
    std::thread producer([&] {
      while (producing) {
        for (const auto& key : keys) (void)transport_->send_async(ProducedRecord{topic_, key, "v", {}}, std::make_unique<Unheeded>());
        std::this_thread::sleep_for(5ms);
      }
    });
    PartitionGaps gaps;
    const auto record = [&](const ConsumedMessage& message) {
      gaps.handled(message.source.partition);
      return ok_status();
    };
    AgentBinding binding{"flow", topic_, OnError::kSkip, 0, {record}};
    binding.guarantee = guarantee;
    binding.transactional_id = [this](const std::string& instance, std::size_t lane) {
      return group_ + "-" + instance + "-" + std::to_string(lane);
    };
    ProducerCounter first_transport(*transport_);
    GroupOptions first_group = group("aa-first");
    first_group.incremental_rebalance = incremental;
    // What the rebalance itself moves, without a periodic offset commit during the join: one sent
    // as the join completes goes out with the generation the group left, and librdkafka 2.0.2,
    // refused, drops the member's whole assignment (a stop of 1-2 s; README, Rebalances).
    AgentRunner first(first_transport, first_group, {binding}, events_, AgentRunnerOptions{.commit_interval = 60s});
    EXPECT_TRUE(first.start());
    EXPECT_TRUE(eventually(30s, [&] { return first.assignment()[topic_].size() == kPartitions; }));
    EXPECT_TRUE(eventually(10s, [&] {
      std::lock_guard lock(gaps.mutex);
      return gaps.last.size() == kPartitions;
    }));
    std::this_thread::sleep_for(500ms);
    gaps.restart();
    const int producers_before = first_transport.started;

    GroupOptions second_group = group("zz-second");
    second_group.incremental_rebalance = incremental;
    AgentRunner second(*transport_, second_group, {binding}, events_);
    EXPECT_TRUE(second.start());
    EXPECT_TRUE(eventually(30s, [&] {
      return !second.assignment().empty() && first.assigned() && second.assigned() &&
             first.assignment()[topic_].size() + second.assignment()[topic_].size() == kPartitions;
    }));
    std::this_thread::sleep_for(1s);  // the kept partitions go on
    producing = false;
    producer.join();
    const auto kept = first.assignment()[topic_];
    JoinSeenByFirst seen;
    seen.revoked = first.partitions_revoked();
    seen.producers_started = first_transport.started - producers_before;
    {
      std::lock_guard lock(gaps.mutex);
      for (const auto partition : kept) {
        seen.longest_gap = std::max(seen.longest_gap, std::chrono::duration<double>(gaps.longest[partition]).count());
      }
    }
    second.stop();
    first.stop();
    EXPECT_FALSE(kept.empty());
    return seen;
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


TEST_F(AgentRunnerKafkaTest, PartitionsThatDoNotMoveKeepFlowingWhenAMemberJoins) {
  const JoinSeenByFirst incremental = second_member_joins(true);
  SetUp();  // a new topic and group
  const JoinSeenByFirst eager = second_member_joins(false);
  std::cout << "[ report ] a second member joined: longest stop of a partition the first kept: incremental "
            << incremental.longest_gap * 1000 << " ms, eager " << eager.longest_gap * 1000
            << " ms; partitions revoked from the first: incremental " << incremental.revoked << ", eager "
            << eager.revoked << "\n";
  EXPECT_EQ(incremental.revoked, 4u) << "only the partitions that moved were revoked";
  EXPECT_EQ(eager.revoked, 8u) << "an eager rebalance revokes every partition";
  // Tens of milliseconds on a quiet machine; the bound leaves room for a loaded one (a sanitizer
  // build, a busy CI host) while still catching a stop of the kept partitions.
  EXPECT_LT(incremental.longest_gap, 1.0) << "a partition that did not move stopped while a member joined";
}

TEST_F(AgentRunnerKafkaTest, ExactlyOncePartitionsThatDoNotMoveKeepFlowingAndTheirProducerWhenAMemberJoins) {
  const JoinSeenByFirst joined = second_member_joins(true, ProcessingGuarantee::kExactlyOnce);
  std::cout << "[ report ] exactly once, a second member joined: longest stop of a partition the first kept "
            << joined.longest_gap * 1000 << " ms; transactional producers it started meanwhile "
            << joined.producers_started << "\n";
  EXPECT_EQ(joined.revoked, 4u) << "only the partitions that moved were revoked";
  EXPECT_EQ(joined.producers_started, 0) << "the lane kept its transactional producer";
  // Usually about 0.1 s (the revoked partitions' share of the open transaction commits first). A
  // periodic commit sent as the group moves to its next generation is refused (KIP-447): it
  // aborts, and its partitions are read again once the rebalance has completed, about a second
  // later. Never the session timeout's 6 s.
  EXPECT_LT(joined.longest_gap, 5.0) << "a partition that did not move stopped while a member joined";
}

}  // namespace
}  // namespace faust
