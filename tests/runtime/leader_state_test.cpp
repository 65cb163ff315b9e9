// The leader state and the leader-only agents on the memory:// transport: a term restores the
// state its predecessors committed; a unit's writes, sends and consumed position commit together
// or not at all.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

#include "../integration/support/worker_process.h"
#include "forwarding_transport.h"
#include "recording_events.h"
#include "runtime/leadership/leader_agent_runner.h"
#include "runtime/leadership/leader_state.h"
#include "runtime/leadership/leader_term.h"
#include "transport/memory/memory_transport.h"

namespace faust {
namespace {

using namespace std::chrono_literals;
using testing::eventually;

ConsumedMessage state_record(std::string key, std::optional<std::string> value) {
  ConsumedMessage record;
  record.key = std::move(key);
  record.tombstone = !value.has_value();
  record.value = value.value_or("");
  return record;
}

TEST(LeaderStateStoreTest, RestoresTheLastValuePerKeyAndTombstonesDelete) {
  LeaderStateStore store(1024);
  store.restore({state_record("a", "1"), state_record("b", "2"), state_record("a", "3"), state_record("b", std::nullopt)});
  EXPECT_EQ(store.get("a"), "3");
  EXPECT_EQ(store.get("b"), std::nullopt);
  EXPECT_EQ(store.entries(), 1u);
  EXPECT_EQ(store.bytes(), 2u);
}

TEST(LeaderStateStoreTest, AUnitsWritesAreSeenByItAndCountOnlyOnceCommitted) {
  LeaderStateStore store(1024);
  ASSERT_TRUE(store.put("sub/x", "1"));
  ASSERT_TRUE(store.put("sub/y", "2"));
  ASSERT_TRUE(store.put("other", "3"));
  EXPECT_EQ(store.get("sub/x"), "1");
  EXPECT_EQ(store.scan("sub/"), (LeaderStateStore::Entries{{"sub/x", "1"}, {"sub/y", "2"}}));
  store.drop_unit();
  EXPECT_EQ(store.get("sub/x"), std::nullopt);
  ASSERT_TRUE(store.put("sub/x", "1"));
  store.commit_unit();
  ASSERT_TRUE(store.erase("sub/x"));
  EXPECT_EQ(store.get("sub/x"), std::nullopt) << "a unit sees its own delete";
  store.drop_unit();
  EXPECT_EQ(store.get("sub/x"), "1");
}

TEST(LeaderStateStoreTest, RefusesWritesPastItsLimitAndBadKeys) {
  LeaderStateStore store(10);
  ASSERT_TRUE(store.put("k", "123456789"));  // 10 bytes
  const Status full = store.put("k2", "x");
  ASSERT_FALSE(full);
  EXPECT_NE(full.error().message.find("leader state: full"), std::string::npos) << full.error().message;
  EXPECT_EQ(store.get("k2"), std::nullopt) << "a refused write leaves nothing behind";
  ASSERT_TRUE(store.put("k", "1")) << "replacing a value frees its old size";
  EXPECT_EQ(store.put("", "v").error().message, "leader state: empty key");
}

// One leader term on `transport` with the leader state, established before it returns.
struct Term {
  Term(Transport& transport, std::int32_t generation, TermHooks hooks = {})
      : term(transport, options(),
             LeaderTermCallbacks{[](std::int32_t) {}, [](const std::string&) {}, std::move(hooks)}) {
    term.gained(generation);
    EXPECT_TRUE(eventually(5s, [&] { return term.established(); }));
  }
  static LeaderTermOptions options() {
    LeaderTermOptions result;
    result.state_topic = "app-__leader-state";
    return result;
  }
  LeaderTerm term;
};

TEST(LeaderTermStateTest, ANewTermRestoresWhatEarlierTermsCommittedAndNothingOfAFailedUnit) {
  MemoryTransport transport;
  {
    Term first(transport, 1);
    ASSERT_TRUE(*first.term.run_unit("tick", [&] {
      EXPECT_TRUE(first.term.state_put("sub/a", "1"));
      EXPECT_TRUE(first.term.state_put("sub/b", "2"));
      return first.term.state_delete("sub/b");
    }));
    EXPECT_FALSE(*first.term.run_unit("tick", [&]() -> Status {
      EXPECT_TRUE(first.term.state_put("sub/c", "3"));
      EXPECT_EQ(*first.term.state_get("sub/c"), "3");
      return Error{ExitCode::kFailure, "the tick failed"};
    }));
    EXPECT_EQ(*first.term.state_get("sub/c"), std::nullopt) << "a failed unit's writes are dropped";
    ASSERT_TRUE(first.term.state_put("alone", "x")) << "outside a unit: a unit of its own";
    first.term.stop();
  }
  Term second(transport, 2);
  EXPECT_EQ(*second.term.state_scan(""), (LeaderStateStore::Entries{{"alone", "x"}, {"sub/a", "1"}}));
  EXPECT_EQ(second.term.snapshot().state_entries, 2u);
}

// Hands out the state topic a few records at a time, each handful after a pause: a state that
// takes longer to read than the term's deadline, yet keeps coming.
class SlowStateTransport : public testing::ForwardingTransport {
 public:
  using ForwardingTransport::ForwardingTransport;
  Result<std::unique_ptr<PartitionReader>> read_partition(const TopicPartition& partition, const std::string& group_id,
                                                          std::chrono::milliseconds timeout) override {
    auto reader = inner_.read_partition(partition, group_id, timeout);
    if (!reader) return reader.error();
    return std::unique_ptr<PartitionReader>(std::make_unique<Reader>(std::move(reader).value()));
  }

 private:
  class Reader : public PartitionReader {
   public:
    explicit Reader(std::unique_ptr<PartitionReader> inner) : inner_(std::move(inner)) {}
    Result<std::vector<ConsumedMessage>> poll(std::chrono::milliseconds timeout) override {
      if (pending_.empty()) {
        auto batch = inner_->poll(timeout);
        if (!batch) return batch.error();
        pending_ = std::move(batch).value();
      }
      std::this_thread::sleep_for(30ms);
      const auto count = static_cast<std::ptrdiff_t>(std::min<std::size_t>(5, pending_.size()));
      std::vector<ConsumedMessage> handful(pending_.begin(), pending_.begin() + count);
      pending_.erase(pending_.begin(), pending_.begin() + count);
      return handful;
    }
    bool at_end() const override { return pending_.empty() && inner_->at_end(); }

   private:
    std::unique_ptr<PartitionReader> inner_;
    std::vector<ConsumedMessage> pending_;
  };
};

TEST(LeaderTermStateTest, AStateThatTakesLongerThanTheTermsDeadlineToReadIsRestoredWhileItKeepsComing) {
  MemoryTransport memory;
  {
    Term first(memory, 1);
    ASSERT_TRUE(*first.term.run_unit("fill", [&] {
      for (int i = 0; i < 100; ++i) {
        if (Status put = first.term.state_put("key/" + std::to_string(i), "v"); !put) return put;
      }
      return ok_status();
    }));
  }
  SlowStateTransport slow(memory);  // 20 handfuls, 30 ms apart: about 600 ms
  LeaderTermOptions options = Term::options();
  options.establish_within = 300ms;
  std::vector<std::string> reasons;
  std::mutex reasons_mutex;
  LeaderTerm second(slow, options,
                    LeaderTermCallbacks{[](std::int32_t) {},
                                        [&](const std::string& why) {
                                          std::lock_guard lock(reasons_mutex);
                                          reasons.push_back(why);
                                        },
                                        {}});
  second.gained(2);
  ASSERT_TRUE(eventually(10s, [&] { return second.established(); }));
  EXPECT_EQ(second.snapshot().state_entries, 100u);
  EXPECT_GE(second.snapshot().state_restore_took, 300ms);
  std::lock_guard lock(reasons_mutex);
  EXPECT_TRUE(reasons.empty()) << reasons.front();
}

TEST(LeaderTermStateTest, TheStateIsRestoredBeforeTheOpeningHookRuns) {
  MemoryTransport transport;
  {
    Term first(transport, 1);
    ASSERT_TRUE(first.term.state_put("term", "1"));
  }
  LeaderTerm* term_ptr = nullptr;
  std::optional<std::string> seen_at_opening;
  LeaderTerm second(transport, Term::options(),
                    LeaderTermCallbacks{[](std::int32_t) {}, [](const std::string&) {},
                                        TermHooks{[&](std::int32_t) { seen_at_opening = *term_ptr->state_get("term"); }, {}}});
  term_ptr = &second;
  second.gained(2);
  ASSERT_TRUE(eventually(5s, [&] { return second.established(); }));
  EXPECT_EQ(seen_at_opening, "1");
}

TEST(LeaderAgentRunnerTest, HandlesEachMessageInAUnitAndANewTermResumesAfterTheLastCommitted) {
  MemoryTransport transport;
  ASSERT_TRUE(transport.ensure_topics({TopicSpec{"app-subs", 1, 1, false}}, 1s));
  for (const char* value : {"a", "b", "boom", "c"}) {
    ASSERT_TRUE(transport.send(ProducedRecord{"app-subs", std::nullopt, value, {}, false}, 1s));
  }
  testing::RecordingEvents events;
  std::mutex mutex;
  std::vector<std::string> handled;
  LeaderTerm* current = nullptr;
  AgentBinding agent{"subs", "app-subs", OnError::kSkip, 0, {[&](const ConsumedMessage& message) -> Status {
                       {
                         std::lock_guard lock(mutex);
                         handled.push_back(message.value);
                       }
                       EXPECT_TRUE(current->state_put("seen/" + message.value, "1"));
                       if (message.value == "boom") return Error{ExitCode::kFailure, "boom"};
                       return ok_status();
                     }}};
  // One term of a runner's own: the runner follows the term's hooks.
  const auto run_term = [&](std::int32_t generation, std::size_t until_handled) {
    LeaderAgentRunner runner(transport, "app-__leader-agents", {agent}, events);
    LeaderTerm term(transport, Term::options(),
                    LeaderTermCallbacks{[](std::int32_t) {}, [](const std::string&) {},
                                        TermHooks{[&](std::int32_t g) { runner.term_opening(g); },
                                                  [&](std::int32_t g) { runner.term_closed(g); }}});
    current = &term;
    runner.attach(&term);
    term.gained(generation);
    EXPECT_TRUE(eventually(5s, [&] {
      std::lock_guard lock(mutex);
      return handled.size() == until_handled;
    }));
    auto seen = term.state_scan("seen/");
    term.stop();
    return seen ? *seen : LeaderStateStore::Entries{};
  };
  run_term(1, 4);
  EXPECT_EQ(handled, (std::vector<std::string>{"a", "b", "boom", "c"}));
  // The next term: nothing handled again, and the skipped message's writes were dropped.
  ASSERT_TRUE(transport.send(ProducedRecord{"app-subs", std::nullopt, "d", {}, false}, 1s));
  const auto seen = run_term(2, 5);
  EXPECT_EQ(handled.back(), "d") << "resumed exactly after the last committed message";
  EXPECT_EQ(seen, (LeaderStateStore::Entries{{"seen/a", "1"}, {"seen/b", "1"}, {"seen/c", "1"}, {"seen/d", "1"}}));
}

}  // namespace
}  // namespace faust
