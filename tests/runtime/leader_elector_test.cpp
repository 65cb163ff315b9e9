#include "runtime/leadership/leader_elector.h"

#include <algorithm>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include "../integration/support/worker_process.h"
#include "forwarding_transport.h"
#include "recording_events.h"
#include "transport/memory/memory_transport.h"

namespace faust {
namespace {

using namespace std::chrono_literals;
using testing::eventually;
using testing::ForwardingTransport;
using testing::RecordingEvents;

constexpr const char* kLeaderTopic = "app-__assignor-__leader";

// The memory transport, but the leader group is the test's: its consumer hands the elector the
// incremental events a test queues, as librdkafka does under cooperative-sticky, and its close()
// revokes what the member owns, as librdkafka's does.
class IncrementalGroup final : public ForwardingTransport {
 public:
  explicit IncrementalGroup(MemoryTransport& memory) : ForwardingTransport(memory) {}

  void assign(std::vector<std::int32_t> partitions, std::int32_t generation) {
    queue(GroupEvent{topic_partitions(partitions), generation, "member-1", false, true}, true);
  }
  void revoke(std::vector<std::int32_t> partitions, std::int32_t generation) {
    queue(GroupEvent{topic_partitions(partitions), generation, "member-1", false, true}, false);
  }
  // What the elector asked for when it joined.
  bool incremental_rebalance() const {
    std::lock_guard lock(mutex_);
    return incremental_rebalance_;
  }

  Result<std::unique_ptr<GroupConsumer>> join_group(const GroupOptions& options, GroupListener& listener) override {
    std::lock_guard lock(mutex_);
    incremental_rebalance_ = options.incremental_rebalance;
    return std::unique_ptr<GroupConsumer>(std::make_unique<Consumer>(*this, listener));
  }

 private:
  struct Pending {
    GroupEvent event;
    bool assigned;
  };

  class Consumer final : public GroupConsumer {
   public:
    Consumer(IncrementalGroup& group, GroupListener& listener) : group_(group), listener_(listener) {}
    void poll(std::chrono::milliseconds timeout) override {
      std::optional<Pending> next = group_.take();
      if (!next) {
        std::this_thread::sleep_for(std::min(timeout, std::chrono::milliseconds(5)));
        return;
      }
      if (next->assigned) {
        listener_.on_assigned(next->event);
      } else {
        listener_.on_revoked(next->event);
      }
    }
    Status commit(const std::vector<std::pair<TopicPartition, std::int64_t>>&, bool) override { return ok_status(); }
    void pause(const std::vector<TopicPartition>&) override {}
    void resume(const std::vector<TopicPartition>&) override {}
    Status rewind(const std::vector<TopicPartition>&) override { return ok_status(); }
    void close() override {
      if (std::exchange(closed_, true)) return;
      const GroupEvent leaving{group_.owned_partitions(), -1, "member-1", false, true};
      if (!leaving.partitions.empty()) listener_.on_revoked(leaving);
    }

   private:
    IncrementalGroup& group_;
    GroupListener& listener_;
    bool closed_ = false;
  };

  static std::vector<TopicPartition> topic_partitions(const std::vector<std::int32_t>& partitions) {
    std::vector<TopicPartition> out;
    for (const std::int32_t p : partitions) out.push_back(TopicPartition{kLeaderTopic, p});
    return out;
  }
  void queue(GroupEvent event, bool assigned) {
    std::lock_guard lock(mutex_);
    pending_.push_back(Pending{std::move(event), assigned});
  }
  // The next event, with the member's partitions updated as librdkafka's incremental (un)assign does.
  std::optional<Pending> take() {
    std::lock_guard lock(mutex_);
    if (pending_.empty()) return std::nullopt;
    Pending next = std::move(pending_.front());
    pending_.pop_front();
    for (const auto& p : next.event.partitions) {
      if (next.assigned) {
        owned_.insert(p.partition);
      } else {
        owned_.erase(p.partition);
      }
    }
    return next;
  }
  std::vector<TopicPartition> owned_partitions() const {
    std::lock_guard lock(mutex_);
    return topic_partitions(std::vector<std::int32_t>(owned_.begin(), owned_.end()));
  }

  mutable std::mutex mutex_;
  std::deque<Pending> pending_;
  std::set<std::int32_t> owned_;
  bool incremental_rebalance_ = false;
};

GroupOptions leader_group() {
  GroupOptions options;
  options.group_id = "app-__leader";
  options.topics = {kLeaderTopic};
  return options;
}

// The default logger writes into a ring buffer for the test's lifetime.
class CapturedLog {
 public:
  CapturedLog() : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(256)), previous_(spdlog::default_logger()) {
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("elector-test", sink_));
  }
  ~CapturedLog() { spdlog::set_default_logger(previous_); }
  CapturedLog(const CapturedLog&) = delete;
  CapturedLog& operator=(const CapturedLog&) = delete;

  bool has(const std::string& text) const {
    const auto lines = sink_->last_formatted();
    return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) { return l.find(text) != std::string::npos; });
  }

 private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
  std::shared_ptr<spdlog::logger> previous_;
};

// An elector on the test's incremental leader group, with the log captured.
class LeaderElectorIncrementalTest : public ::testing::Test {
 protected:
  CapturedLog log;
  MemoryTransport memory;
  IncrementalGroup group{memory};
  RecordingEvents events;
  LeaderElector elector{group, "app", leader_group(), events};
};

// Whatever the worker's options say, the leader group rebalances incrementally, and a rebalance
// that leaves partition 0 where it is (an empty incremental assignment) keeps the term.
TEST_F(LeaderElectorIncrementalTest, UnderCooperativeStickyTheLeaderKeepsItsTermUntilThePartitionMoves) {
  ASSERT_TRUE(elector.start().ok());
  EXPECT_TRUE(group.incremental_rebalance()) << "the leader group must use the cooperative-sticky assignor";

  group.assign({0}, 1);
  ASSERT_TRUE(eventually(5s, [&] { return elector.term().established(); }));
  group.assign({}, 2);  // a worker joined: nothing moves
  ASSERT_TRUE(eventually(5s, [&] { return elector.snapshot().generation == 2; }));
  EXPECT_TRUE(elector.term().established());
  EXPECT_EQ(elector.term().snapshot().generation, 1) << "the term keeps its number";
  EXPECT_EQ(elector.term().snapshot().terms, 1u) << "no new term";
  EXPECT_TRUE(log.has("leader term (generation 1) goes on in the leader group's generation 2"));

  group.revoke({0}, 3);  // the partition moves to another member
  ASSERT_TRUE(eventually(5s, [&] { return !elector.is_leader(); }));
  EXPECT_TRUE(eventually(5s, [&] { return events.leadership().size() == 2; }));
  EXPECT_EQ(events.leadership(), (std::vector<bool>{true, false}));
  EXPECT_TRUE(log.has("this worker lost leadership (generation 3)"));
  elector.stop();
  EXPECT_EQ(events.leadership(), (std::vector<bool>{true, false})) << "announced once";
}

// close() revokes partition 0 on the way out of the group: that is a release, not a loss.
TEST_F(LeaderElectorIncrementalTest, LeavingTheGroupReleasesLeadershipRatherThanLosingIt) {
  ASSERT_TRUE(elector.start().ok());
  group.assign({0}, 1);
  ASSERT_TRUE(eventually(5s, [&] { return events.leadership() == std::vector<bool>{true}; }));
  elector.stop();
  EXPECT_EQ(events.leadership(), (std::vector<bool>{true, false}));
  EXPECT_TRUE(log.has("leadership released: left the group"));
  EXPECT_FALSE(log.has("lost leadership"));
}

}  // namespace
}  // namespace faust
