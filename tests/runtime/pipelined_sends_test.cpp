// The at-least-once default path on memory://: a handler's sends are pipelined (send returns once
// queued), a message is committed only once its sends were acknowledged, and a send the broker
// refuses brings its message back to on_error, for every on_error and for exactly-once batches;
// and an exactly-once transaction whose commit may have gone through is never run again from
// memory.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <utility>

#include "../integration/support/worker_process.h"
#include "forwarding_transport.h"
#include "memory_readback.h"
#include "recording_events.h"
#include "runtime/agents/agent_runner.h"
#include "runtime/agents/delivery_unit.h"
#include "transport/memory/memory_transport.h"

namespace faust {
namespace {

using namespace std::chrono_literals;
using testing::eventually;
using testing::RecordingEvents;

constexpr int kPartitions = 4;
const std::string kInput = "app-agent";
const std::string kOutput = "app-output";
const std::string kCompacted = "app-compacted";  // refuses records without a key

// memory:// whose pipelined sends are acknowledged only when the test says so, as a broker that
// is slow (or away) would.
class HeldAcksTransport final : public testing::ForwardingTransport {
 public:
  using ForwardingTransport::ForwardingTransport;

  Status send_async(const ProducedRecord& record, std::unique_ptr<PipelinedSend> pipelined) override {
    std::lock_guard lock(mutex_);
    held_.emplace_back(record, std::move(pipelined));
    return ok_status();
  }
  std::size_t held() {
    std::lock_guard lock(mutex_);
    return held_.size();
  }
  // Stores every held record and acknowledges it.
  void acknowledge_all() {
    for (auto& [record, pipelined] : take_held()) pipelined->delivered(inner_.send(record, 1s));
  }
  // Stores every held record, then acknowledges them as the Kafka transport's poller does: each
  // sender's (group's) sends in one acknowledged_together() call, on this thread.
  void acknowledge_all_together() {
    std::map<const void*, std::vector<std::unique_ptr<PipelinedSend>>> by_group;
    for (auto& [record, pipelined] : take_held()) {
      ASSERT_TRUE(inner_.send(record, 1s).ok());
      ASSERT_NE(pipelined->group(), nullptr) << "a lane's sends can be told together";
      by_group[pipelined->group()].push_back(std::move(pipelined));
    }
    for (auto& [group, sends] : by_group) sends.front()->acknowledged_together(sends);
  }

 private:
  using Held = std::vector<std::pair<ProducedRecord, std::unique_ptr<PipelinedSend>>>;
  Held take_held() {
    std::lock_guard lock(mutex_);
    return std::exchange(held_, {});
  }

  std::mutex mutex_;
  Held held_;
};

// memory:// whose exactly-once producer reports the second commit as timed out although it went
// through: a commit whose outcome the worker cannot know.
class UnknownCommitTransport final : public testing::ForwardingTransport {
 public:
  using ForwardingTransport::ForwardingTransport;

 private:
  class Producer final : public testing::ForwardingProducer {
   public:
    Producer(std::unique_ptr<TransactionalProducer> inner, std::atomic<int>& commits)
        : ForwardingProducer(std::move(inner)), commits_(commits) {}
    // From the second commit on (of any partition), this producer's commits go through but
    // are reported as timed out, however often they are called again.
    TxnStatus commit(std::chrono::milliseconds timeout) override {
      if (stuck_) return {TxnFailure::kRetriable, "commit: Local: Timed out"};
      TxnStatus committed = inner_->commit(timeout);
      if (committed && ++commits_ == 2) stuck_ = true;
      return stuck_ ? TxnStatus{TxnFailure::kRetriable, "commit: Local: Timed out"} : committed;
    }

   private:
    std::atomic<int>& commits_;
    bool stuck_ = false;
  };

  std::unique_ptr<TransactionalProducer> wrap(std::unique_ptr<TransactionalProducer> producer) override {
    return std::make_unique<Producer>(std::move(producer), commits_);
  }

  std::atomic<int> commits_{0};
};

// memory:// whose exactly-once producers have their second offsets refused, as the broker
// refuses offsets of a group generation it has left (KIP-447); counts the producers started.
class RefusedGenerationTransport final : public testing::ForwardingTransport {
 public:
  using ForwardingTransport::ForwardingTransport;

  std::atomic<int> started{0};

 private:
  class Producer final : public testing::ForwardingProducer {
   public:
    Producer(std::unique_ptr<TransactionalProducer> inner, std::atomic<int>& offsets)
        : ForwardingProducer(std::move(inner)), offsets_(offsets) {}
    TxnStatus send_offsets(const std::vector<std::pair<TopicPartition, std::int64_t>>& next_offsets,
                           const GroupMember& member) override {
      if (++offsets_ == 2) {
        return {TxnFailure::kAbortable, "send_offsets: Broker: Specified group generation id is not valid"};
      }
      return inner_->send_offsets(next_offsets, member);
    }

   private:
    std::atomic<int>& offsets_;
  };

  std::unique_ptr<TransactionalProducer> wrap(std::unique_ptr<TransactionalProducer> producer) override {
    ++started;
    return std::make_unique<Producer>(std::move(producer), offsets_);
  }

  std::atomic<int> offsets_{0};
};

// memory:// where a rebalance hands the partitions back only when the test says so (Kafka's
// cooperative protocol takes them away in one generation and may give them back in a later one),
// and whose first exactly-once commit of offsets waits for the test, then is refused as of a
// generation the group has left.
class LateReassignmentTransport final : public testing::ForwardingTransport {
 public:
  using ForwardingTransport::ForwardingTransport;

  Result<std::unique_ptr<GroupConsumer>> join_group(const GroupOptions& options, GroupListener& listener) override {
    listener_ = &listener;
    auto consumer = inner_.join_group(options, relay_);
    if (!consumer) return consumer;
    return std::unique_ptr<GroupConsumer>(std::make_unique<Consumer>(std::move(consumer).value(), *this));
  }

  std::atomic<bool> offsets_waiting{false};  // the first commit of offsets waits for the test
  std::atomic<bool> refuse_offsets{false};   // ... which lets it go on, refused
  std::atomic<bool> revoked{false};          // a rebalance took the partitions away
  std::atomic<bool> give_back{false};        // ... and may hand them back now
  // The refusal of the offsets breaks the producer (it must be replaced), and no new producer
  // starts until give_back.
  std::atomic<bool> refusal_breaks_producer{false};
  std::atomic<int> producers_refused{0};

  Result<std::unique_ptr<TransactionalProducer>> start_transactional_producer(
      const std::string& transactional_id, std::chrono::milliseconds timeout) override {
    if (refusal_breaks_producer && refuse_offsets && !give_back) {
      ++producers_refused;
      return Error{ExitCode::kBrokerUnreachable, "init_transactions: Local: Timed out"};
    }
    return ForwardingTransport::start_transactional_producer(transactional_id, timeout);
  }

 private:
  // Holds an assignment, and the messages fetched with it, until give_back.
  class Relay final : public GroupListener {
   public:
    explicit Relay(LateReassignmentTransport& owner) : owner_(owner) {}
    void on_assigned(const GroupEvent& event) override {
      if (owner_.revoked) {
        held_ = event;
      } else {
        owner_.listener_->on_assigned(event);
      }
    }
    void on_revoked(const GroupEvent& event) override {
      owner_.listener_->on_revoked(event);
      owner_.revoked = true;
    }
    void on_messages(std::vector<ConsumedMessage>& batch) override {
      if (held_) {
        held_messages_.insert(held_messages_.end(), batch.begin(), batch.end());
      } else {
        owner_.listener_->on_messages(batch);
      }
    }
    // On the poll thread: the held assignment, then what was fetched with it.
    bool deliver_held() {
      if (!held_ || !owner_.give_back) return !held_;
      owner_.listener_->on_assigned(*std::exchange(held_, std::nullopt));
      if (!held_messages_.empty()) owner_.listener_->on_messages(held_messages_);
      held_messages_.clear();
      return true;
    }

   private:
    LateReassignmentTransport& owner_;
    std::optional<GroupEvent> held_;
    std::vector<ConsumedMessage> held_messages_;
  };

  class Consumer final : public testing::ForwardingConsumer {
   public:
    Consumer(std::unique_ptr<GroupConsumer> inner, LateReassignmentTransport& owner)
        : ForwardingConsumer(std::move(inner)), owner_(owner) {}
    void poll(std::chrono::milliseconds timeout) override {
      if (owner_.relay_.deliver_held()) {
        inner_->poll(timeout);
      } else {
        std::this_thread::sleep_for(timeout);  // no member gets messages between two generations
      }
    }

   private:
    LateReassignmentTransport& owner_;
  };

  class Producer final : public testing::ForwardingProducer {
   public:
    Producer(std::unique_ptr<TransactionalProducer> inner, LateReassignmentTransport& owner)
        : ForwardingProducer(std::move(inner)), owner_(owner) {}
    TxnStatus send_offsets(const std::vector<std::pair<TopicPartition, std::int64_t>>& next_offsets,
                           const GroupMember& member) override {
      if (owner_.offsets_waiting.exchange(true)) return inner_->send_offsets(next_offsets, member);
      while (!owner_.refuse_offsets) std::this_thread::sleep_for(1ms);
      if (owner_.refusal_breaks_producer) return {TxnFailure::kFatal, "send_offsets: Local: Fatal error"};
      return {TxnFailure::kAbortable, "send_offsets: Broker: Specified group generation id is not valid"};
    }

   private:
    LateReassignmentTransport& owner_;
  };

  std::unique_ptr<TransactionalProducer> wrap(std::unique_ptr<TransactionalProducer> producer) override {
    return std::make_unique<Producer>(std::move(producer), *this);
  }

  GroupListener* listener_ = nullptr;
  Relay relay_{*this};
};

class PipelinedSendsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(transport_
                    .ensure_topics({TopicSpec{kInput, kPartitions, 1}, TopicSpec{kOutput, 1, 1},
                                    TopicSpec{kCompacted, 1, 1, true}, TopicSpec{"app-agent-dead-letter", 1, 1}},
                                   1s)
                    .ok());
    for (int i = 0; i < kMessages; ++i) {
      ProducedRecord record{kInput, "key-" + std::to_string(i % 16), "m" + std::to_string(i), {}};
      ASSERT_TRUE(transport_.send(record, 1s).ok());
    }
  }

  static GroupOptions group() {
    GroupOptions options;
    options.group_id = "app";
    options.client_id = "app-test";
    return options;
  }

  static AgentBinding binding(MessageHandler handle, OnError on_error = OnError::kSkip, int max_retries = 0) {
    AgentBinding agent;
    agent.name = "agent";
    agent.topic = kInput;
    agent.on_error = on_error;
    agent.max_retries = max_retries;
    agent.lanes = {std::move(handle)};
    agent.transactional_id = [](const std::string& /*instance*/, std::size_t lane) {
      return "app-agent-" + std::to_string(lane);
    };
    agent.dead_letter.topic = "app-agent-dead-letter";
    agent.dead_letter.plugin = "copy";
    return agent;
  }

  // Sends the value on, as a plugin's send does from a handler.
  static Status forward(const ConsumedMessage& message, const std::string& topic = kOutput) {
    UnitSends* sends = UnitSends::current();
    if (sends == nullptr) return Error{ExitCode::kFailure, "no sends in progress"};
    return sends->send(ProducedRecord{topic, "k-" + message.value, message.value, {}});
  }

  // Forwards to the compacted topic, m7 without a key: the broker refuses that one record.
  MessageHandler forward_m7_keyless() {
    return [this](const ConsumedMessage& message) -> Status {
      ++calls_[message.value];
      UnitSends* sends = UnitSends::current();
      if (sends == nullptr) return Error{ExitCode::kFailure, "no sends in progress"};
      std::optional<std::string> key;
      if (message.value != "m7") key = "k-" + message.value;
      return sends->send(ProducedRecord{kCompacted, key, message.value, {}});
    };
  }

  std::vector<std::string> read_all(const std::string& topic) { return testing::values_of(transport_, topic); }


  std::size_t redelivered() { return testing::redelivered(transport_, group(), kInput, events_); }

  // Copies the input exactly once through `transport`, a transaction per batch of 5; checks
  // that each message arrived once and none is left to redeliver. Returns the units read again.
  std::uint64_t copy_exactly_once(Transport& transport) {
    AgentBinding agent = binding([](const ConsumedMessage& m) { return forward(m); });
    agent.guarantee = ProcessingGuarantee::kExactlyOnce;
    agent.batch = BatchConfig{5, 0ms};
    agent.commit_interval = 0ms;
    AgentRunner runner(transport, group(), {agent}, events_);
    EXPECT_TRUE(runner.start().ok());
    EXPECT_TRUE(eventually(10s, [&] { return read_all(kOutput).size() >= kMessages; }));
    std::this_thread::sleep_for(300ms);  // a transaction run again from memory would land by now
    runner.stop();
    std::map<std::string, int> copies;
    for (const auto& value : read_all(kOutput)) ++copies[value];
    EXPECT_EQ(copies.size(), static_cast<std::size_t>(kMessages));
    for (const auto& [value, count] : copies) EXPECT_EQ(count, 1) << value << ": its transaction ran again from memory";
    EXPECT_EQ(redelivered(), 0u);
    return runner.snapshot().front().units_retried;
  }


  static constexpr int kMessages = 20;
  MemoryTransport transport_;
  RecordingEvents events_;
  std::map<std::string, std::atomic<int>> calls_;
};

TEST_F(PipelinedSendsTest, HandlersGoOnBeforeTheAcknowledgementsAndNothingUnacknowledgedIsCommitted) {
  HeldAcksTransport held(transport_);
  {
    AgentRunnerOptions options;
    options.stop_send_wait = 100ms;
    AgentRunner runner(held, group(), {binding([](const ConsumedMessage& m) { return forward(m); })}, events_, options);
    ASSERT_TRUE(runner.start().ok());
    ASSERT_TRUE(eventually(10s, [&] { return runner.snapshot().front().handled == kMessages; }))
        << "every handler returned with its send still unacknowledged";
    EXPECT_EQ(held.held(), static_cast<std::size_t>(kMessages));
    runner.stop();  // the acknowledgements never came
  }
  EXPECT_EQ(redelivered(), static_cast<std::size_t>(kMessages)) << "no message was committed without its send";
}

TEST_F(PipelinedSendsTest, AMessageIsCommittedOnceItsSendsAreAcknowledged) {
  HeldAcksTransport held(transport_);
  AgentRunner runner(held, group(), {binding([](const ConsumedMessage& m) { return forward(m); })}, events_);
  ASSERT_TRUE(runner.start().ok());
  ASSERT_TRUE(eventually(10s, [&] { return held.held() == static_cast<std::size_t>(kMessages); }));
  held.acknowledge_all();
  runner.stop();
  EXPECT_EQ(read_all(kOutput).size(), static_cast<std::size_t>(kMessages));
  EXPECT_EQ(redelivered(), 0u);
}

TEST_F(PipelinedSendsTest, SendsAcknowledgedTogetherOnAnotherThreadCommitTheirMessages) {
  HeldAcksTransport held(transport_);
  AgentRunner runner(held, group(), {binding([](const ConsumedMessage& m) { return forward(m); })}, events_);
  ASSERT_TRUE(runner.start().ok());
  ASSERT_TRUE(eventually(10s, [&] { return held.held() == static_cast<std::size_t>(kMessages); }));
  std::thread reports([&] { held.acknowledge_all_together(); });
  reports.join();
  runner.stop();
  EXPECT_EQ(read_all(kOutput).size(), static_cast<std::size_t>(kMessages));
  EXPECT_EQ(redelivered(), 0u) << "every message was committed once its sends were told acknowledged";
}

TEST_F(PipelinedSendsTest, ARefusedSendIsSkippedWithItsMessageAndTheRestGoesOn) {
  AgentRunner runner(transport_, group(), {binding(forward_m7_keyless(), OnError::kSkip)}, events_);
  ASSERT_TRUE(runner.start().ok());
  ASSERT_TRUE(eventually(10s, [&] { return runner.snapshot().front().errors == 1; }));
  ASSERT_TRUE(eventually(10s, [&] { return read_all(kCompacted).size() == kMessages - 1u; }));
  ASSERT_TRUE(eventually(10s, [&] { return runner.snapshot().front().handled == kMessages - 1u; }))
      << "a message whose send was refused does not count as handled";
  runner.stop();
  EXPECT_EQ(runner.snapshot().front().errors, 1u);
  EXPECT_NE(runner.snapshot().front().last_error.find("compacted"), std::string::npos)
      << runner.snapshot().front().last_error;
  EXPECT_EQ(redelivered(), 0u) << "the refused message was skipped, and committed with the others";
}

TEST_F(PipelinedSendsTest, ARefusedSendIsRetriedThenSkipped) {
  AgentRunner runner(transport_, group(), {binding(forward_m7_keyless(), OnError::kRetry, 2)}, events_);
  ASSERT_TRUE(runner.start().ok());
  ASSERT_TRUE(eventually(10s, [&] {
    return runner.snapshot().front().errors == 3 && runner.snapshot().front().handled == kMessages - 1u;
  }));
  runner.stop();
  EXPECT_EQ(calls_["m7"].load(), 3) << "the handler ran again for the message whose send was refused";
  EXPECT_EQ(calls_["m8"].load(), 1);
  EXPECT_EQ(redelivered(), 0u);
}

TEST_F(PipelinedSendsTest, ARefusedSendIsDeadLettered) {
  AgentBinding agent = binding(forward_m7_keyless(), OnError::kDeadLetter, 0);
  agent.dead_letter.write = [this](const ProducedRecord& record) { return transport_.send(record, 1s); };
  AgentRunner runner(transport_, group(), {agent}, events_);
  ASSERT_TRUE(runner.start().ok());
  ASSERT_TRUE(eventually(10s, [&] { return runner.snapshot().front().dead_lettered == 1; }));
  runner.stop();
  EXPECT_EQ(read_all("app-agent-dead-letter"), std::vector<std::string>{"m7"});
  EXPECT_EQ(redelivered(), 0u);
}

TEST_F(PipelinedSendsTest, ARefusedSendWithOnErrorStopCommitsNothingFromItsMessageOn) {
  AgentRunner runner(transport_, group(), {binding(forward_m7_keyless(), OnError::kStop)}, events_);
  ASSERT_TRUE(runner.start().ok());
  ASSERT_TRUE(eventually(10s, [&] { return !events_.fatal_errors().empty(); }));
  runner.stop();
  EXPECT_EQ(events_.fatal_errors().front().code, ExitCode::kHandlerStopped);
  EXPECT_GE(redelivered(), 1u) << "m7 (and whatever followed it on its partition) stays uncommitted";
}

TEST_F(PipelinedSendsTest, AHandlerThatAwaitsItsSendsIsToldOfTheRefusalAndDecides) {
  std::atomic<int> told{0};
  const MessageHandler awaiting = [&, forward_it = forward_m7_keyless()](const ConsumedMessage& message) -> Status {
    if (auto queued = forward_it(message); !queued) return queued;
    if (Status acknowledged = UnitSends::current()->await_acknowledged(); !acknowledged) ++told;
    return ok_status();  // it chose to go on
  };
  AgentRunner runner(transport_, group(), {binding(awaiting, OnError::kStop)}, events_);
  ASSERT_TRUE(runner.start().ok());
  ASSERT_TRUE(eventually(10s, [&] { return runner.snapshot().front().handled == kMessages; }));
  runner.stop();
  EXPECT_EQ(told.load(), 1);
  EXPECT_TRUE(events_.fatal_errors().empty()) << "the refusal was the handler's to decide on";
  EXPECT_EQ(redelivered(), 0u);
}

TEST_F(PipelinedSendsTest, ExactlyOnceARefusedRecordFallsBackToItsMessageAloneWithOnError) {
  AgentBinding agent = binding(forward_m7_keyless(), OnError::kSkip);
  agent.guarantee = ProcessingGuarantee::kExactlyOnce;
  agent.batch = BatchConfig{10, 0ms};
  AgentRunner runner(transport_, group(), {agent}, events_);
  ASSERT_TRUE(runner.start().ok());
  ASSERT_TRUE(eventually(10s, [&] { return runner.snapshot().front().handled == kMessages - 1u; }))
      << "errors " << runner.snapshot().front().errors << ", units retried " << runner.snapshot().front().units_retried
      << ": " << runner.snapshot().front().last_error;
  runner.stop();
  std::map<std::string, int> copies;
  for (const auto& value : read_all(kCompacted)) ++copies[value];
  EXPECT_EQ(copies.size(), kMessages - 1u);
  EXPECT_EQ(copies.count("m7"), 0u);
  for (const auto& [value, count] : copies) EXPECT_EQ(count, 1) << value;
  EXPECT_EQ(runner.snapshot().front().errors, 1u);
  EXPECT_EQ(redelivered(), 0u);
}

TEST_F(PipelinedSendsTest, ExactlyOnceReadsAPartitionAgainAfterACommitOfUnknownOutcome) {
  UnknownCommitTransport unknown(transport_);  // the second commit's outcome is unknown
  EXPECT_GE(copy_exactly_once(unknown), 1u) << "the second commit was reported as timed out";
}

TEST_F(PipelinedSendsTest, ExactlyOnceReadsAgainAfterARefusedGenerationWithTheSameProducer) {
  RefusedGenerationTransport refusing(transport_);  // the second transaction's offsets are refused
  EXPECT_GE(copy_exactly_once(refusing), 1u) << "the refused transaction was read again";
  EXPECT_EQ(refusing.started, 1) << "a transaction known to be aborted needs no new producer to settle it";
}


// A rebalance takes a partition away while its lane commits, the commit is refused, and the
// partition comes back in a later generation: the lane's request to read it again waits for it,
// and it flows again from its committed position (before, the request was dropped and the lane
// dropped every message of the partition from then on). A refusal that breaks the producer needs
// a new one, which does not start before the partition is gone: the lane gives up the producer,
// and the partition is still read again when it comes back (before, the lane did not ask for it,
// with the same end).
class PipelinedSendsPartitionTakenAway : public PipelinedSendsTest, public ::testing::WithParamInterface<bool> {};

INSTANTIATE_TEST_SUITE_P(ExactlyOnce, PipelinedSendsPartitionTakenAway, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& param_info) {
                           return param_info.param ? "RefusalBreaksTheProducer" : "RefusalAbortsTheTransaction";
                         });

TEST_P(PipelinedSendsPartitionTakenAway, WhileItsCommitFailsFlowsAgainWhenItComesBack) {
  LateReassignmentTransport rebalancing(transport_);
  rebalancing.refusal_breaks_producer = GetParam();
  AgentBinding agent = binding([](const ConsumedMessage& m) { return forward(m); });
  agent.guarantee = ProcessingGuarantee::kExactlyOnce;
  agent.batch = BatchConfig{5, 0ms};
  agent.commit_interval = 0ms;
  // The group's other topic appears during the copy: a rebalance of the whole group.
  AgentBinding later = binding([](const ConsumedMessage&) { return ok_status(); });
  later.name = "later";
  later.topic = "app-later";
  AgentRunnerOptions options;
  options.revoke_wait = 50ms;  // the revocation goes on without the commit in hand
  AgentRunner runner(rebalancing, group(), {agent, later}, events_, options);
  ASSERT_TRUE(runner.start().ok());
  ASSERT_TRUE(eventually(10s, [&] { return rebalancing.offsets_waiting.load(); }));
  ASSERT_TRUE(transport_.ensure_topics({TopicSpec{"app-later", 1, 1}}, 1s).ok());
  ASSERT_TRUE(eventually(10s, [&] { return rebalancing.revoked.load(); }));
  rebalancing.refuse_offsets = true;
  ASSERT_TRUE(eventually(10s, [&] { return runner.snapshot().front().units_retried >= 1; }))
      << "the refused commit is read again";
  if (GetParam()) {
    ASSERT_TRUE(eventually(10s, [&] { return rebalancing.producers_refused.load() >= 1; }));
    // The lane waits 100 ms before it tries again, sees the partition gone and gives up the
    // producer: the partition comes back only after that.
    std::this_thread::sleep_for(500ms);
  }
  rebalancing.give_back = true;
  EXPECT_TRUE(eventually(10s, [&] { return read_all(kOutput).size() >= kMessages; }))
      << read_all(kOutput).size() << " of " << kMessages << " copied";
  runner.stop();
  std::map<std::string, int> copies;
  for (const auto& value : read_all(kOutput)) ++copies[value];
  EXPECT_EQ(copies.size(), static_cast<std::size_t>(kMessages));
  for (const auto& [value, count] : copies) EXPECT_EQ(count, 1) << value;
  EXPECT_EQ(redelivered(), 0u);
}

}  // namespace
}  // namespace faust
