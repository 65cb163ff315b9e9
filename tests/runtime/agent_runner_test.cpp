#include "runtime/agents/agent_runner.h"

#include <unistd.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "../integration/support/worker_process.h"
#include "forwarding_transport.h"
#include "recording_events.h"
#include "runtime/leadership/leader_elector.h"
#include "transport/memory/memory_transport.h"

namespace faust {
namespace {

using namespace std::chrono_literals;
using testing::eventually;
using testing::RecordingEvents;

constexpr int kPartitions = 4;
const std::string kTopic = "app-agent";

struct Seen {
  std::int32_t partition;
  std::int64_t offset;
  std::string value;
};

class AgentRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(transport_.ensure_topics({TopicSpec{kTopic, kPartitions, 1}}, 1s).ok());
  }

  void send(int count, const std::string& prefix = "m") {
    for (int i = 0; i < count; ++i) {
      ProducedRecord record{kTopic, "key-" + std::to_string(i % 16), prefix + std::to_string(i), {}};
      ASSERT_TRUE(transport_.send(record, 1s).ok());
    }
  }

  GroupOptions group() const {
    GroupOptions options;
    options.group_id = "app";
    options.client_id = "app-test";
    return options;
  }

  // A handler that records every message it is given, as lane `lane`.
  MessageHandler recorder() {
    return [this](const ConsumedMessage& message) {
      std::lock_guard lock(mutex_);
      seen_.push_back(Seen{message.source.partition, message.offset, message.value});
      return ok_status();
    };
  }

  std::vector<Seen> seen() {
    std::lock_guard lock(mutex_);
    return seen_;
  }

  MemoryTransport transport_;
  RecordingEvents events_;
  std::mutex mutex_;
  std::vector<Seen> seen_;
};

TEST_F(AgentRunnerTest, EveryMessageIsHandledOnceAndEachPartitionStaysInOrder) {
  send(400);
  AgentRunner runner(transport_, group(), {AgentBinding{"agent", kTopic, OnError::kSkip, 3, {recorder(), recorder(), recorder()}}},
                     events_);
  ASSERT_TRUE(runner.start().ok());
  ASSERT_TRUE(eventually(10s, [&] { return seen().size() >= 400; }));
  runner.stop();
  std::map<std::int32_t, std::int64_t> last;
  std::set<std::string> values;
  for (const auto& s : seen()) {
    if (last.count(s.partition) > 0) {
      EXPECT_EQ(s.offset, last[s.partition] + 1) << "partition " << s.partition;
    }
    last[s.partition] = s.offset;
    EXPECT_TRUE(values.insert(s.value).second) << s.value << " handled twice";
  }
  EXPECT_EQ(values.size(), 400u);
  EXPECT_EQ(runner.snapshot().front().handled, 400u);
}

TEST_F(AgentRunnerTest, OffsetsAreCommittedOnlyUpToTheLastHandledMessage) {
  send(40);
  // on_error: stop at the 5th message of partition 0: nothing from it on may be committed.
  std::int64_t failed_offset = -1;
  MessageHandler stop_at_fifth = [&](const ConsumedMessage& message) -> Status {
    if (message.source.partition == 0 && message.offset == 4) {
      failed_offset = message.offset;
      return Error{ExitCode::kFailure, "bad message"};
    }
    return ok_status();
  };
  {
    AgentRunner runner(transport_, group(), {AgentBinding{"agent", kTopic, OnError::kStop, 0, {stop_at_fifth}}}, events_);
    ASSERT_TRUE(runner.start().ok());
    ASSERT_TRUE(eventually(10s, [&] { return !events_.fatal_errors().empty(); }));
    EXPECT_EQ(events_.fatal_errors().front().code, ExitCode::kHandlerStopped);
    runner.stop();
  }
  ASSERT_EQ(failed_offset, 4);
  // The group's next member starts partition 0 exactly at the failed message.
  AgentRunner next(transport_, group(), {AgentBinding{"agent", kTopic, OnError::kSkip, 0, {recorder()}}}, events_);
  ASSERT_TRUE(next.start().ok());
  ASSERT_TRUE(eventually(10s, [&] {
    for (const auto& s : seen()) {
      if (s.partition == 0) return true;
    }
    return false;
  }));
  next.stop();
  for (const auto& s : seen()) {
    if (s.partition == 0) {
      EXPECT_EQ(s.offset, 4) << "the first redelivered message of partition 0";
      break;
    }
  }
}

TEST_F(AgentRunnerTest, RetryTriesAgainThenSkipsAndSkipGoesOn) {
  send(8);
  std::mutex attempts_mutex;
  std::map<std::string, int> attempts;
  MessageHandler flaky = [&](const ConsumedMessage& message) -> Status {
    std::lock_guard lock(attempts_mutex);
    const int attempt = ++attempts[message.value];
    if (message.value == "m1" && attempt < 3) return Error{ExitCode::kFailure, "transient"};
    if (message.value == "m2") return Error{ExitCode::kFailure, "permanent"};
    return ok_status();
  };
  AgentRunner runner(transport_, group(), {AgentBinding{"agent", kTopic, OnError::kRetry, 2, {flaky}}}, events_);
  ASSERT_TRUE(runner.start().ok());
  ASSERT_TRUE(eventually(20s, [&] {
    std::lock_guard lock(attempts_mutex);
    return attempts.size() == 8 && attempts["m2"] == 3;
  }));
  ASSERT_TRUE(eventually(5s, [&] { return runner.snapshot().front().handled == 7; }));
  runner.stop();
  std::lock_guard lock(attempts_mutex);
  EXPECT_EQ(attempts["m1"], 3);  // failed twice, then succeeded
  EXPECT_EQ(attempts["m2"], 3);  // first try plus max_retries, then skipped
  EXPECT_EQ(attempts["m0"], 1);
  const auto snapshot = runner.snapshot().front();
  EXPECT_EQ(snapshot.errors, 5u);
  EXPECT_TRUE(snapshot.last_error == "permanent" || snapshot.last_error == "transient") << snapshot.last_error;
  EXPECT_TRUE(events_.fatal_errors().empty());
}

TEST_F(AgentRunnerTest, StopFinishesTheMessageInHandAndCommitsIt) {
  send(4);
  std::atomic<bool> in_handler{false};
  std::atomic<bool> release{false};
  std::atomic<int> finished{0};
  MessageHandler slow = [&](const ConsumedMessage&) {
    in_handler = true;
    while (!release) std::this_thread::sleep_for(1ms);
    ++finished;
    return ok_status();
  };
  AgentRunner runner(transport_, group(), {AgentBinding{"agent", kTopic, OnError::kSkip, 0, {slow}}}, events_);
  ASSERT_TRUE(runner.start().ok());
  ASSERT_TRUE(eventually(5s, [&] { return in_handler.load(); }));
  std::thread stopper([&] { runner.stop(); });
  std::this_thread::sleep_for(50ms);
  release = true;
  stopper.join();
  EXPECT_EQ(finished.load(), 1) << "only the message in hand is finished; the rest wait for the next member";

  AgentRunner next(transport_, group(), {AgentBinding{"agent", kTopic, OnError::kSkip, 0, {recorder()}}}, events_);
  ASSERT_TRUE(next.start().ok());
  ASSERT_TRUE(eventually(5s, [&] { return seen().size() == 3; }));
  next.stop();
  EXPECT_EQ(seen().size(), 3u) << "the finished message was committed, the other three redelivered";
}

TEST(LeaderElectorTest, TheOnlyMemberLeadsAndAnnouncesLeavingTheGroup) {
  MemoryTransport transport;
  ASSERT_TRUE(transport.ensure_topics({TopicSpec{"app-__assignor-__leader", 1, 1}}, 1s).ok());
  RecordingEvents events;
  GroupOptions options;
  options.group_id = "app-__leader";
  options.topics = {"app-__assignor-__leader"};
  LeaderElector elector(transport, "app", options, events);
  ASSERT_TRUE(elector.start().ok());
  ASSERT_TRUE(eventually(5s, [&] { return elector.is_leader(); }));
  const auto snapshot = elector.snapshot();
  EXPECT_TRUE(snapshot.joined);
  EXPECT_TRUE(snapshot.leader);
  elector.stop();
  EXPECT_FALSE(elector.is_leader());
  EXPECT_EQ(events.leadership(), (std::vector<bool>{true, false}));
}

TEST(LeaderElectorTest, ClientIdsNameTheAppTheTimeOfJoiningAndThePid) {
  const std::string id = worker_client_id("app");
  ASSERT_EQ(id.rfind("app-", 0), 0u);
  EXPECT_EQ(id.find_first_not_of("0123456789", 4), 17u) << id;
  EXPECT_EQ(id.substr(18), std::to_string(::getpid()));
}

}  // namespace
}  // namespace faust

namespace faust {
namespace {

// A memory:// transport whose group consumers report every commit they are asked for, as if
// the broker had refused each asynchronous one.
class CommitRecordingTransport final : public testing::ForwardingTransport {
 public:
  struct Commit {
    std::vector<std::pair<TopicPartition, std::int64_t>> offsets;
    bool wait = false;
  };

  CommitRecordingTransport() : ForwardingTransport(memory_) {}

  Result<std::unique_ptr<GroupConsumer>> join_group(const GroupOptions& options, GroupListener& listener) override {
    auto consumer = memory_.join_group(options, listener);
    if (!consumer) return consumer.error();
    return std::unique_ptr<GroupConsumer>(std::make_unique<Recording>(std::move(consumer).value(), *this));
  }

  std::vector<Commit> commits() {
    std::lock_guard lock(mutex_);
    return commits_;
  }

 private:
  class Recording final : public testing::ForwardingConsumer {
   public:
    Recording(std::unique_ptr<GroupConsumer> inner, CommitRecordingTransport& owner)
        : ForwardingConsumer(std::move(inner)), owner_(owner) {}
    Status commit(const std::vector<std::pair<TopicPartition, std::int64_t>>& offsets, bool wait) override {
      std::lock_guard lock(owner_.mutex_);
      owner_.commits_.push_back(Commit{offsets, wait});
      return ok_status();  // accepted; an asynchronous commit's failure comes later, unseen
    }

   private:
    CommitRecordingTransport& owner_;
  };

  MemoryTransport memory_;
  std::mutex mutex_;
  std::vector<Commit> commits_;
};

TEST(AgentRunnerCommitTest, TheFinalCommitRepeatsWhatAnAsynchronousCommitMayHaveLost) {
  CommitRecordingTransport transport;
  ASSERT_TRUE(transport.ensure_topics({TopicSpec{"app-agent", 1, 1}}, 1s).ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(transport.send(ProducedRecord{"app-agent", std::nullopt, "m", {}}, 1s));
  RecordingEvents events;
  std::atomic<int> handled{0};
  GroupOptions group;
  group.group_id = "app";
  AgentRunner runner(transport, group,
                     {AgentBinding{"agent", "app-agent", OnError::kSkip, 0, {[&](const ConsumedMessage&) {
                                     ++handled;
                                     return ok_status();
                                   }}}},
                     events, AgentRunnerOptions{.commit_interval = 50ms});
  ASSERT_TRUE(runner.start().ok());
  ASSERT_TRUE(eventually(5s, [&] { return handled.load() == 3; }));
  // The periodic commit carries offset 3 asynchronously...
  ASSERT_TRUE(eventually(5s, [&] {
    for (const auto& commit : transport.commits()) {
      if (!commit.wait && !commit.offsets.empty() && commit.offsets.back().second == 3) return true;
    }
    return false;
  }));
  runner.stop();
  // ...and the final, synchronous one carries it again, in case the broker refused the first.
  const auto commits = transport.commits();
  ASSERT_FALSE(commits.empty());
  const auto& last = commits.back();
  EXPECT_TRUE(last.wait);
  ASSERT_EQ(last.offsets.size(), 1u);
  EXPECT_EQ(last.offsets[0].first, (TopicPartition{"app-agent", 0}));
  EXPECT_EQ(last.offsets[0].second, 3);
}

}  // namespace
}  // namespace faust

namespace faust {
namespace {

TEST(AgentRunnerBackpressureTest, ABacklogOfLargeMessagesStaysBoundedInBytes) {
  MemoryTransport transport;
  ASSERT_TRUE(transport.ensure_topics({TopicSpec{"app-big", 1, 1}}, 1s).ok());
  const std::string mebibyte(1024 * 1024, 'x');
  for (int i = 0; i < 64; ++i) ASSERT_TRUE(transport.send(ProducedRecord{"app-big", std::nullopt, mebibyte, {}}, 1s));
  RecordingEvents events;
  std::mutex mutex;
  std::condition_variable released_cv;
  bool released = false;
  std::atomic<int> handled{0};
  GroupOptions group;
  group.group_id = "app";
  group.max_batch = 2;
  AgentRunner runner(transport, group,
                     {AgentBinding{"slow", "app-big", OnError::kSkip, 0, {[&](const ConsumedMessage&) {
                                     std::unique_lock lock(mutex);
                                     released_cv.wait(lock, [&] { return released; });
                                     ++handled;
                                     return ok_status();
                                   }}}},
                     events, AgentRunnerOptions{.pause_above_bytes = 8 * 1024 * 1024});
  ASSERT_TRUE(runner.start().ok());
  ASSERT_TRUE(eventually(5s, [&] { return runner.snapshot().front().queued_bytes >= 8u * 1024 * 1024; }));
  std::this_thread::sleep_for(300ms);  // many more poll turns: none may add to the backlog
  const auto snapshot = runner.snapshot().front();
  EXPECT_LE(snapshot.queued_bytes, 12u * 1024 * 1024) << snapshot.queued_messages << " messages queued";
  {
    std::lock_guard lock(mutex);
    released = true;
  }
  released_cv.notify_all();
  EXPECT_TRUE(eventually(10s, [&] { return handled.load() == 64; })) << "the paused partition resumes";
  runner.stop();
}

// One lane, two partitions: the first has a backlog over the lane's bound (its partitions pause),
// then one message comes to the second. It is handled in the second's turn, long before the
// backlog is worked off (before, the lane served its queue first come, first served and paused
// every partition of it, the idle one too, until the backlog was below half).
TEST(AgentRunnerBackpressureTest, AnotherPartitionsMessageDoesNotWaitBehindABacklog) {
  MemoryTransport transport;
  ASSERT_TRUE(transport.ensure_topics({TopicSpec{"app-two", 2, 1}}, 1s).ok());
  std::string busy_key = "busy", idle_key = "idle";
  for (int i = 0; partition_for_key(idle_key, 2) == partition_for_key(busy_key, 2); ++i) {
    idle_key = "idle-" + std::to_string(i);
  }
  constexpr int kBacklog = 4000;
  for (int i = 0; i < kBacklog; ++i) {
    ASSERT_TRUE(transport.send(ProducedRecord{"app-two", busy_key, std::to_string(i), {}}, 1s));
  }
  RecordingEvents events;
  std::atomic<int> busy_handled{0};
  std::atomic<int> busy_handled_before_idle{-1};
  GroupOptions group;
  group.group_id = "app";
  AgentRunner runner(transport, group,
                     {AgentBinding{"copy", "app-two", OnError::kSkip, 0, {[&](const ConsumedMessage& message) {
                                     if (message.key == idle_key) {
                                       busy_handled_before_idle = busy_handled.load();
                                     } else {
                                       std::this_thread::sleep_for(2ms);
                                       ++busy_handled;
                                     }
                                     return ok_status();
                                   }}}},
                     events, AgentRunnerOptions{.pause_above = 1000});
  ASSERT_TRUE(runner.start().ok());
  ASSERT_TRUE(eventually(5s, [&] { return runner.snapshot().front().queued_messages > 1000; }));
  std::this_thread::sleep_for(100ms);  // poll turns: the lane pauses
  const int busy_handled_at_send = busy_handled.load();
  ASSERT_TRUE(transport.send(ProducedRecord{"app-two", idle_key, "idle", {}}, 1s));
  ASSERT_TRUE(eventually(10s, [&] { return busy_handled_before_idle.load() >= 0; }))
      << "the idle partition's message was not handled; " << busy_handled.load() << " of the backlog were";
  // A turn is 100 messages; the backlog was over 1,000.
  EXPECT_LT(busy_handled_before_idle.load() - busy_handled_at_send, 300)
      << "it waited behind the backlog: " << busy_handled_before_idle.load() - busy_handled_at_send
      << " of its messages were handled first";
  runner.stop();
}

}  // namespace
}  // namespace faust

namespace faust {
namespace {

// on_error: dead_letter on memory://: a one-partition agent topic "app-agent" and its dead-letter
// topic "app-agent-dead-letter", with a writer the test controls.
class AgentRunnerDeadLetterTest : public ::testing::Test {
 protected:
  static constexpr const char* kDeadLetters = "app-agent-dead-letter";

  void SetUp() override {
    ASSERT_TRUE(transport_.ensure_topics({TopicSpec{"app-agent", 1, 1}, TopicSpec{kDeadLetters, 1, 1}}, 1s).ok());
    for (const char* value : {"ok-0", "fail-1", "ok-2"}) {
      ASSERT_TRUE(transport_.send(ProducedRecord{"app-agent", "k", value, {{"trace", value}}}, 1s).ok());
    }
  }

  // Fails on values starting with "fail", counting each call.
  MessageHandler failing_on_marked() {
    return [this](const ConsumedMessage& message) -> Status {
      std::lock_guard lock(mutex_);
      ++attempts_[message.value];
      if (message.value.starts_with("fail")) return Error{ExitCode::kFailure, "refused " + message.value};
      handled_.push_back(message.value);
      return ok_status();
    };
  }

  AgentBinding binding(int max_retries, std::function<Status(const ProducedRecord&)> write) {
    AgentBinding agent{"agent", "app-agent", OnError::kDeadLetter, max_retries, {failing_on_marked()}};
    agent.dead_letter = DeadLetterSink{kDeadLetters, "faulty", std::move(write)};
    return agent;
  }

  std::function<Status(const ProducedRecord&)> to_transport() {
    return [this](const ProducedRecord& record) { return transport_.send(record, 1s); };
  }

  static GroupOptions group() {
    GroupOptions options;
    options.group_id = "app";
    return options;
  }

  // The offset the group would start partition 0 at: its committed offset.
  std::int64_t committed() {
    auto reader = transport_.read_partition(TopicPartition{"app-agent", 0}, "app", 1s);
    EXPECT_TRUE(reader.ok());
    auto batch = (*reader)->poll(10ms);
    if (!batch || batch->empty()) batch = (*reader)->poll(10ms);
    return batch && !batch->empty() ? batch->front().offset : 3;
  }

  std::vector<ConsumedMessage> dead_letters() {
    auto reader = transport_.read_partition(TopicPartition{kDeadLetters, 0}, "", 1s);
    std::vector<ConsumedMessage> all;
    for (int i = 0; i < 2; ++i) {
      auto batch = (*reader)->poll(10ms);
      if (batch) all.insert(all.end(), batch->begin(), batch->end());
    }
    return all;
  }

  int attempts(const std::string& value) {
    std::lock_guard lock(mutex_);
    return attempts_[value];
  }
  std::vector<std::string> handled() {
    std::lock_guard lock(mutex_);
    return handled_;
  }

  MemoryTransport transport_;
  RecordingEvents events_;
  std::mutex mutex_;
  std::map<std::string, int> attempts_;
  std::vector<std::string> handled_;
};

TEST_F(AgentRunnerDeadLetterTest, RetriesThenWritesTheMessageWithItsHeadersAndGoesOn) {
  AgentRunner runner(transport_, group(), {binding(2, to_transport())}, events_, AgentRunnerOptions{.commit_interval = 20ms});
  ASSERT_TRUE(runner.start().ok());
  ASSERT_TRUE(eventually(10s, [&] { return handled().size() == 2; }));
  ASSERT_TRUE(eventually(5s, [&] { return committed() == 3; })) << "committed past every message";
  runner.stop();
  EXPECT_EQ(attempts("fail-1"), 3) << "the first try and max_retries retries";
  EXPECT_EQ(handled(), (std::vector<std::string>{"ok-0", "ok-2"}));
  const auto snapshot = runner.snapshot().front();
  EXPECT_EQ(snapshot.dead_lettered, 1u);
  EXPECT_EQ(snapshot.handled, 2u);
  EXPECT_EQ(snapshot.errors, 3u);
  EXPECT_TRUE(events_.fatal_errors().empty());

  const auto written = dead_letters();
  ASSERT_EQ(written.size(), 1u);
  const ConsumedMessage& record = written.front();
  EXPECT_EQ(record.key, "k");
  EXPECT_EQ(record.value, "fail-1");
  ASSERT_EQ(record.headers.size(), 9u);
  EXPECT_EQ(record.headers[0], (std::pair<std::string, std::string>{"trace", "fail-1"})) << "its own headers first";
  const Headers added(record.headers.begin() + 1, record.headers.end());
  const std::string prefix = "faust.dead-letter.";
  ASSERT_EQ(added[7].first, prefix + "timestamp");
  EXPECT_GT(std::stoll(added[7].second), 0);
  EXPECT_EQ(added, (Headers{{prefix + "agent", "agent"},
                            {prefix + "plugin", "faulty"},
                            {prefix + "error", "refused fail-1"},
                            {prefix + "attempts", "3"},
                            {prefix + "topic", "app-agent"},
                            {prefix + "partition", "0"},
                            {prefix + "offset", "1"},
                            {prefix + "timestamp", added[7].second}}));
}

TEST_F(AgentRunnerDeadLetterTest, MaxRetriesZeroWritesAtTheFirstFailure) {
  AgentRunner runner(transport_, group(), {binding(0, to_transport())}, events_);
  ASSERT_TRUE(runner.start().ok());
  ASSERT_TRUE(eventually(10s, [&] { return handled().size() == 2; }));
  runner.stop();
  EXPECT_EQ(attempts("fail-1"), 1);
  ASSERT_EQ(dead_letters().size(), 1u);
  EXPECT_EQ(header_value(dead_letters().front().headers, "faust.dead-letter.attempts"), "1");
}

TEST_F(AgentRunnerDeadLetterTest, TheMessageIsCommittedOnlyOnceTheWriteWasAcknowledged) {
  std::mutex mutex;
  std::condition_variable cv;
  bool writing = false;
  bool acknowledge = false;
  auto slow_write = [&](const ProducedRecord& record) -> Status {
    std::unique_lock lock(mutex);
    writing = true;
    cv.notify_all();
    cv.wait(lock, [&] { return acknowledge; });
    return transport_.send(record, 1s);
  };
  AgentRunner runner(transport_, group(), {binding(0, slow_write)}, events_, AgentRunnerOptions{.commit_interval = 10ms});
  ASSERT_TRUE(runner.start().ok());
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return writing; }));
  }
  ASSERT_TRUE(eventually(5s, [&] { return committed() == 1; })) << "the message before it is committed";
  std::this_thread::sleep_for(100ms);  // many commit turns
  EXPECT_EQ(committed(), 1) << "not the message whose write is still unanswered";
  EXPECT_TRUE(handled() == std::vector<std::string>{"ok-0"}) << "the partition waits for the write";
  {
    std::lock_guard lock(mutex);
    acknowledge = true;
  }
  cv.notify_all();
  EXPECT_TRUE(eventually(5s, [&] { return committed() == 3; }));
  runner.stop();
  EXPECT_EQ(dead_letters().size(), 1u);
}

TEST_F(AgentRunnerDeadLetterTest, AWriteGivenUpBecauseTheWorkerStopsLeavesTheMessageUncommitted) {
  std::atomic<bool> writing{false};
  std::atomic<bool> stopped{false};
  auto outage = [&](const ProducedRecord&) -> Status {
    writing = true;
    while (!stopped) std::this_thread::sleep_for(1ms);  // the broker does not take it
    return Error{ExitCode::kBrokerUnreachable, "send timed out (not retried: the worker is stopping)"};
  };
  {
    AgentRunner runner(transport_, group(), {binding(0, outage)}, events_);
    ASSERT_TRUE(runner.start().ok());
    ASSERT_TRUE(eventually(10s, [&] { return writing.load(); }));
    runner.request_stop();
    stopped = true;
    runner.stop();
  }
  EXPECT_TRUE(events_.fatal_errors().empty()) << "a stop is no failure";
  EXPECT_EQ(committed(), 1) << "the next member gets the message again";
  EXPECT_TRUE(dead_letters().empty());
}

TEST_F(AgentRunnerDeadLetterTest, AWriteTheBrokerRefusesStopsTheWorkerWithoutCommittingTheMessage) {
  auto refused = [](const ProducedRecord&) -> Status {
    return Error{ExitCode::kFailure, "send to topic 'app-agent-dead-letter' failed: Broker: Message size too large"};
  };
  AgentRunner runner(transport_, group(), {binding(1, refused)}, events_, AgentRunnerOptions{.commit_interval = 10ms});
  ASSERT_TRUE(runner.start().ok());
  ASSERT_TRUE(eventually(10s, [&] { return !events_.fatal_errors().empty(); }));
  std::this_thread::sleep_for(50ms);  // commit turns
  runner.stop();
  const Error fatal = events_.fatal_errors().front();
  EXPECT_EQ(fatal.code, ExitCode::kHandlerStopped);
  EXPECT_EQ(fatal.message,
            "agent 'agent' stopped the worker at app-agent[0]@1: cannot write it to dead-letter topic "
            "app-agent-dead-letter: send to topic 'app-agent-dead-letter' failed: Broker: Message size too large");
  EXPECT_EQ(attempts("fail-1"), 2);
  EXPECT_EQ(committed(), 1) << "nothing past a message it could not store";
  EXPECT_EQ(runner.snapshot().front().dead_lettered, 0u);
  EXPECT_EQ(handled(), (std::vector<std::string>{"ok-0"}));
}

}  // namespace
}  // namespace faust
