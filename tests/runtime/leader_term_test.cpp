#include "runtime/leadership/leader_term.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <mutex>

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include "../integration/support/worker_process.h"
#include "transport/memory/memory_transport.h"

namespace faust {
namespace {

using namespace std::chrono_literals;
using testing::eventually;

// A transport whose leader producers fail as a test scripts them; everything else is unused.
class ScriptedTransport final : public Transport {
 public:
  struct Script {
    std::mutex mutex;
    std::deque<TxnStatus> commits;  // results of the next commit calls; then success
    TxnStatus every_commit;         // while failing, the result of every commit call
    std::deque<bool> starts;        // results of the next start_leader_producer calls; then success
    int producers_started = 0;
    int commit_calls = 0;
    int aborts = 0;
    std::vector<std::string> committed;  // values of committed records
  };

  Script script;

  Status ensure_topics(const std::vector<TopicSpec>&, std::chrono::milliseconds) override { return ok_status(); }
  Result<std::unique_ptr<GroupConsumer>> join_group(const GroupOptions&, GroupListener&) override {
    return Error{ExitCode::kFailure, "not used"};
  }
  Status send(const ProducedRecord&, std::chrono::milliseconds) override { return ok_status(); }
  Status flush(std::chrono::milliseconds) override { return ok_status(); }
  BrokerState broker_state() const override { return BrokerState::kUp; }
  Result<std::unique_ptr<PartitionReader>> read_partition(const TopicPartition&, const std::string&,
                                                          std::chrono::milliseconds) override {
    return Error{ExitCode::kFailure, "not used"};
  }
  Result<std::unique_ptr<TopicReader>> read_topic(const TopicReadRequest&, std::chrono::milliseconds) override {
    return Error{ExitCode::kFailure, "not used"};
  }

  Result<std::unique_ptr<TransactionalProducer>> start_leader_producer(std::chrono::milliseconds) override {
    std::lock_guard lock(script.mutex);
    ++script.producers_started;
    if (!script.starts.empty()) {
      const bool ok = script.starts.front();
      script.starts.pop_front();
      if (!ok) return Error{ExitCode::kFailure, "coordinator not available"};
    }
    return std::unique_ptr<TransactionalProducer>(std::make_unique<Producer>(script));
  }

 private:
  class Producer final : public TransactionalProducer {
   public:
    explicit Producer(Script& script) : script_(script) {}
    TxnStatus begin() override {
      pending_.clear();
      return {};
    }
    TxnStatus send(const ProducedRecord& record) override {
      pending_.push_back(record.value);
      return {};
    }
    TxnStatus commit(std::chrono::milliseconds) override {
      std::lock_guard lock(script_.mutex);
      ++script_.commit_calls;
      if (!script_.every_commit) return script_.every_commit;
      if (!script_.commits.empty()) {
        TxnStatus result = script_.commits.front();
        script_.commits.pop_front();
        if (!result) return result;
      }
      script_.committed.insert(script_.committed.end(), pending_.begin(), pending_.end());
      return {};
    }
    TxnStatus abort(std::chrono::milliseconds) override {
      std::lock_guard lock(script_.mutex);
      ++script_.aborts;
      pending_.clear();
      return {};
    }
    TxnStatus send_offsets(const std::vector<std::pair<TopicPartition, std::int64_t>>&, const GroupMember&) override {
      return {};
    }

   private:
    Script& script_;
    std::vector<std::string> pending_;
  };
};

LeaderTermOptions timing(std::chrono::milliseconds establish_within, std::chrono::milliseconds finish_within) {
  LeaderTermOptions options;
  options.establish_within = establish_within;
  options.finish_within = finish_within;
  return options;
}

ProducedRecord record(std::string value) { return ProducedRecord{"topic", std::nullopt, std::move(value), {}}; }

struct Calls {
  std::atomic<int> established{0};
  std::mutex mutex;
  std::vector<std::string> gave_up;
  std::vector<std::string> edges;  // "opening N" / "closed N", in order
  std::function<void(std::int32_t)> on_opening;  // runs inside the opening hook

  LeaderTermCallbacks callbacks() {
    return LeaderTermCallbacks{[this](std::int32_t) { ++established; },
                               [this](const std::string& why) {
                                 std::lock_guard lock(mutex);
                                 gave_up.push_back(why);
                               },
                               TermHooks{[this](std::int32_t generation) {
                                           edge("opening " + std::to_string(generation));
                                           if (on_opening) on_opening(generation);
                                         },
                                         [this](std::int32_t generation) {
                                           edge("closed " + std::to_string(generation));
                                         }}};
  }
  void edge(std::string text) {
    std::lock_guard lock(mutex);
    edges.push_back(std::move(text));
  }
  std::vector<std::string> term_edges() {
    std::lock_guard lock(mutex);
    return edges;
  }
  std::vector<std::string> reasons() {
    std::lock_guard lock(mutex);
    return gave_up;
  }
};

TEST(LeaderTermTest, NoUnitRunsBeforeTheTermIsEstablishedNorAfterItIsLost) {
  MemoryTransport transport;
  Calls calls;
  LeaderTerm term(transport, LeaderTermOptions{}, calls.callbacks());
  bool ran = false;
  EXPECT_FALSE(term.run_unit("timer 't'", [&] {
    ran = true;
    return ok_status();
  }));
  term.gained(1);
  ASSERT_TRUE(eventually(5s, [&] { return term.established(); }));
  EXPECT_EQ(calls.established.load(), 1);
  EXPECT_TRUE(term.run_unit("timer 't'", [&] {
    ran = true;
    return ok_status();
  }));
  EXPECT_TRUE(ran);
  term.lost();
  EXPECT_FALSE(term.established()) << "leadership ends at once, not when the term's thread gets to it";
  ran = false;
  EXPECT_FALSE(term.run_unit("timer 't'", [&] {
    ran = true;
    return ok_status();
  }));
  EXPECT_FALSE(ran);
}

TEST(LeaderTermTest, AUnitsSendsCommitTogetherAndAFailedUnitDeliversNone) {
  ScriptedTransport transport;
  Calls calls;
  LeaderTerm term(transport, LeaderTermOptions{}, calls.callbacks());
  term.gained(1);
  ASSERT_TRUE(eventually(5s, [&] { return term.established(); }));

  auto failed = term.run_unit("timer 't'", [&]() -> Status {
    EXPECT_TRUE(term.send(record("lost-1")));
    EXPECT_TRUE(term.send(record("lost-2")));
    return Error{ExitCode::kFailure, "the tick failed"};
  });
  ASSERT_TRUE(failed.has_value());
  EXPECT_FALSE(*failed);
  auto committed = term.run_unit("timer 't'", [&] {
    EXPECT_TRUE(term.send(record("kept-1")));
    EXPECT_TRUE(term.send(record("kept-2")));
    return ok_status();
  });
  ASSERT_TRUE(committed.has_value());
  EXPECT_TRUE(*committed);

  std::lock_guard lock(transport.script.mutex);
  EXPECT_EQ(transport.script.committed, (std::vector<std::string>{"kept-1", "kept-2"}));
  EXPECT_EQ(transport.script.aborts, 1);
  EXPECT_EQ(term.snapshot().committed, 1u);
  EXPECT_EQ(term.snapshot().aborted, 1u);
}

TEST(LeaderTermTest, ASendOutsideAUnitIsAUnitOfItsOwn) {
  ScriptedTransport transport;
  Calls calls;
  LeaderTerm term(transport, LeaderTermOptions{}, calls.callbacks());
  EXPECT_FALSE(term.send(record("early"))) << "no term, no leader send";
  term.gained(1);
  ASSERT_TRUE(eventually(5s, [&] { return term.established(); }));
  ASSERT_TRUE(term.send(record("alone")));
  std::lock_guard lock(transport.script.mutex);
  EXPECT_EQ(transport.script.committed, (std::vector<std::string>{"alone"}));
}

TEST(LeaderTermTest, ACommitThatTimesOutIsCalledAgainOnTheSameProducer) {
  ScriptedTransport transport;
  transport.script.commits = {TxnStatus{TxnFailure::kRetriable, "commit: timed out"},
                              TxnStatus{TxnFailure::kRetriable, "commit: timed out"}};
  Calls calls;
  LeaderTerm term(transport, LeaderTermOptions{}, calls.callbacks());
  term.gained(1);
  ASSERT_TRUE(eventually(5s, [&] { return term.established(); }));
  auto result = term.run_unit("timer 't'", [&] { return term.send(record("v")); });
  ASSERT_TRUE(result.has_value());
  EXPECT_TRUE(*result);
  std::lock_guard lock(transport.script.mutex);
  EXPECT_EQ(transport.script.commit_calls, 3);
  EXPECT_EQ(transport.script.producers_started, 1);
  EXPECT_EQ(transport.script.committed, (std::vector<std::string>{"v"}));
}

TEST(LeaderTermTest, ACommitThatNeverFinishesReplacesTheProducerAndTheTermGoesOn) {
  ScriptedTransport transport;
  transport.script.every_commit = TxnStatus{TxnFailure::kRetriable, "commit: timed out"};
  Calls calls;
  LeaderTerm term(transport, timing(5s, 50ms), calls.callbacks());
  term.gained(1);
  ASSERT_TRUE(eventually(5s, [&] { return term.established(); }));
  auto result = term.run_unit("timer 't'", [&] { return term.send(record("stuck")); });
  ASSERT_TRUE(result.has_value());
  EXPECT_FALSE(*result);
  {
    std::lock_guard lock(transport.script.mutex);
    transport.script.every_commit = {};
  }
  // A new producer (which fences the stuck one) takes over the same term.
  ASSERT_TRUE(eventually(5s, [&] { return term.established() && term.snapshot().terms == 2; }));
  auto next = term.run_unit("timer 't'", [&] { return term.send(record("after")); });
  ASSERT_TRUE(next.has_value());
  EXPECT_TRUE(*next);
  EXPECT_TRUE(calls.reasons().empty()) << "a replaced producer is no reason to step down";
  std::lock_guard lock(transport.script.mutex);
  EXPECT_EQ(transport.script.producers_started, 2);
  EXPECT_EQ(transport.script.committed, (std::vector<std::string>{"after"}));
}

TEST(LeaderTermTest, TheOpeningHookRunsUnitsBeforeTheTermIsEstablishedAndClosedFollowsOncePerTerm) {
  ScriptedTransport transport;
  Calls calls;
  std::atomic<LeaderTerm*> term_ptr{nullptr};
  std::atomic<bool> established_during_opening{true};
  calls.on_opening = [&](std::int32_t) {
    LeaderTerm& t = *term_ptr.load();
    established_during_opening = t.established();
    auto unit = t.run_unit("service 's' elected", [&] { return t.send(record("from-elected")); });
    EXPECT_TRUE(unit.has_value() && *unit) << "units run while the term opens";
  };
  LeaderTermOptions options = timing(5s, 50ms);
  LeaderTerm term(transport, options, calls.callbacks());
  term_ptr = &term;
  term.gained(1);
  ASSERT_TRUE(eventually(5s, [&] { return term.established(); }));
  EXPECT_FALSE(established_during_opening.load()) << "the term is established only after the opening hook";
  {
    std::lock_guard lock(transport.script.mutex);
    EXPECT_EQ(transport.script.committed, (std::vector<std::string>{"from-elected"}));
    transport.script.every_commit = TxnStatus{TxnFailure::kRetriable, "commit: timed out"};
  }
  // A replaced producer keeps the term: no second opening, no closing.
  EXPECT_FALSE(*term.run_unit("timer 't'", [&] { return term.send(record("stuck")); }));
  {
    std::lock_guard lock(transport.script.mutex);
    transport.script.every_commit = {};
  }
  ASSERT_TRUE(eventually(5s, [&] { return term.established() && term.snapshot().terms == 2; }));
  EXPECT_EQ(calls.term_edges(), (std::vector<std::string>{"opening 1"}));

  term.lost();
  ASSERT_TRUE(eventually(5s, [&] { return calls.term_edges().size() == 2; }));
  term.gained(2);
  ASSERT_TRUE(eventually(5s, [&] { return term.established(); }));
  term.stop();
  EXPECT_EQ(calls.term_edges(), (std::vector<std::string>{"opening 1", "closed 1", "opening 2", "closed 2"}));
}

// "established ... fenced in N ms" comes before the services' elected (the opening hook) in the log,
// as fencing does in time.
TEST(LeaderTermTest, TheEstablishedLineIsLoggedBeforeTheOpeningHookRuns) {
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("term-test", sink));
  ScriptedTransport transport;
  Calls calls;
  std::vector<std::string> logged_before_opening;
  calls.on_opening = [&](std::int32_t) { logged_before_opening = sink->last_formatted(); };
  {
    LeaderTerm term(transport, LeaderTermOptions{}, calls.callbacks());
    term.gained(3);
    EXPECT_TRUE(eventually(5s, [&] { return term.established(); }));
  }
  spdlog::set_default_logger(previous);
  const std::string established = "leader term established (generation 3): earlier leaders fenced in ";
  EXPECT_TRUE(std::any_of(logged_before_opening.begin(), logged_before_opening.end(),
                          [&](const std::string& line) { return line.find(established) != std::string::npos; }))
      << "not logged before the opening hook ran";
}

TEST(LeaderTermTest, ARebalanceThatHandsThePartitionBackResumesTheSameTerm) {
  ScriptedTransport transport;
  Calls calls;
  LeaderTerm term(transport, LeaderTermOptions{}, calls.callbacks());
  term.gained(1);
  ASSERT_TRUE(eventually(5s, [&] { return term.established(); }));
  term.suspend();
  EXPECT_FALSE(term.run_unit("timer 't'", [] { return ok_status(); })) << "no unit while suspended";
  term.gained(2);
  EXPECT_TRUE(term.established()) << "resumed at once";
  EXPECT_EQ(term.snapshot().generation, 1) << "the term keeps the number its opening hook was given";
  ASSERT_TRUE(term.run_unit("timer 't'", [&] { return term.send(record("after")); }));
  term.suspend();
  term.lost(/*another_leads=*/true);
  ASSERT_TRUE(eventually(5s, [&] { return calls.term_edges().size() == 2; }));
  EXPECT_EQ(calls.term_edges(), (std::vector<std::string>{"opening 1", "closed 1"}));
  std::lock_guard lock(transport.script.mutex);
  EXPECT_EQ(transport.script.producers_started, 1) << "no new producer for a resumed term";
}

TEST(LeaderTermTest, AFencedTermGivesUpAndSaysWhy) {
  ScriptedTransport transport;
  transport.script.commits = {TxnStatus{TxnFailure::kFenced, "commit: producer fenced"}};
  Calls calls;
  LeaderTerm term(transport, LeaderTermOptions{}, calls.callbacks());
  term.gained(1);
  ASSERT_TRUE(eventually(5s, [&] { return term.established(); }));
  auto result = term.run_unit("timer 't'", [&] { return term.send(record("stale")); });
  ASSERT_TRUE(result.has_value());
  EXPECT_FALSE(*result);
  EXPECT_FALSE(term.established());
  ASSERT_EQ(calls.reasons().size(), 1u);
  EXPECT_EQ(calls.reasons()[0], "fenced: a newer leader took over (commit: producer fenced)");
  EXPECT_EQ(term.snapshot().problem, calls.reasons()[0]);
}

TEST(LeaderTermTest, ATermNotEstablishedInTimeGivesUp) {
  ScriptedTransport transport;
  transport.script.starts.assign(1000, false);
  Calls calls;
  LeaderTerm term(transport, timing(300ms, 1s), calls.callbacks());
  term.gained(1);
  ASSERT_TRUE(eventually(5s, [&] { return !calls.reasons().empty(); }));
  EXPECT_FALSE(term.established());
  EXPECT_EQ(calls.reasons()[0], "leader term not established within 300 ms: coordinator not available");
  EXPECT_GE(transport.script.producers_started, 2) << "retried before giving up";
  const auto snapshot = term.snapshot();
  EXPECT_EQ(snapshot.state, TermState::kNone);
  EXPECT_EQ(snapshot.problem, calls.reasons()[0]);
  term.lost(/*another_leads=*/true);
  EXPECT_EQ(term.snapshot().problem, "");
}

}  // namespace
}  // namespace faust
