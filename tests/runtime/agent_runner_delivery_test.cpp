// Batched and exactly-once agents on the memory:// transport: what a batch holds, what a failed
// batch becomes, and that an exactly-once batch's sends and offset commit together or not at all.
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <set>

#include "../integration/support/worker_process.h"
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

struct Batch {
  std::int32_t partition = 0;
  std::vector<std::int64_t> offsets;
  std::vector<std::string> values;
};

class AgentRunnerDeliveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(
        transport_.ensure_topics({TopicSpec{kInput, kPartitions, 1}, TopicSpec{kOutput, 1, 1}}, 1s).ok());
  }

  void send(int count) {
    for (int i = 0; i < count; ++i) {
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

  AgentBinding binding(ProcessingGuarantee guarantee, int max_messages, MessageHandler handle,
                       BatchHandler handle_batch = nullptr) {
    AgentBinding agent;
    agent.name = "agent";
    agent.topic = kInput;
    agent.on_error = OnError::kSkip;
    agent.max_retries = 0;
    agent.lanes = {std::move(handle)};
    if (handle_batch) agent.batch_lanes = {std::move(handle_batch)};
    agent.guarantee = guarantee;
    agent.batch = BatchConfig{max_messages, 0ms};
    agent.transactional_id = [](const std::string& /*instance*/, std::size_t lane) {
      return "app-agent-" + std::to_string(lane);
    };
    return agent;
  }

  // Sends the value on to the output topic, as a plugin's send does: into the unit in progress.
  static Status forward(const ConsumedMessage& message) {
    UnitSends* unit = UnitSends::current();
    if (unit == nullptr) return Error{ExitCode::kFailure, "no unit in progress"};
    return unit->send(ProducedRecord{kOutput, std::nullopt, message.value, {}});
  }

  BatchHandler recording_batches(std::function<Status(std::span<const ConsumedMessage>)> then) {
    return [this, then = std::move(then)](std::span<const ConsumedMessage> messages) {
      Batch batch{messages.front().source.partition, {}, {}};
      for (const auto& message : messages) {
        batch.offsets.push_back(message.offset);
        batch.values.push_back(message.value);
      }
      {
        std::lock_guard lock(mutex_);
        batches_.push_back(batch);
      }
      return then(messages);
    };
  }

  std::vector<Batch> batches() {
    std::lock_guard lock(mutex_);
    return batches_;
  }

  std::vector<std::string> output() { return testing::values_of(transport_, kOutput); }


  std::size_t redelivered() { return testing::redelivered(transport_, group(), kInput, events_); }


  MemoryTransport transport_;
  RecordingEvents events_;
  std::mutex mutex_;
  std::vector<Batch> batches_;
};

TEST_F(AgentRunnerDeliveryTest, ABatchHoldsOnePartitionInOrderAndAtMostMaxMessages) {
  send(400);
  const auto ok = [](std::span<const ConsumedMessage> messages) -> Status {
    for (const auto& message : messages) {
      if (auto sent = forward(message); !sent) return sent;
    }
    return ok_status();
  };
  AgentRunner runner(transport_, group(),
                     {binding(ProcessingGuarantee::kAtLeastOnce, 16, forward, recording_batches(ok))}, events_);
  ASSERT_TRUE(runner.start().ok());
  ASSERT_TRUE(eventually(10s, [&] { return runner.snapshot().front().handled == 400; }));
  runner.stop();
  std::map<std::int32_t, std::int64_t> next;  // per partition, the offset the next batch starts at
  std::size_t messages = 0;
  std::size_t full = 0;
  for (const auto& batch : batches()) {
    ASSERT_FALSE(batch.offsets.empty());
    EXPECT_LE(batch.offsets.size(), 16u);
    full += batch.offsets.size() == 16 ? 1 : 0;
    EXPECT_EQ(batch.offsets.front(), next[batch.partition]) << "partition " << batch.partition;
    for (std::size_t i = 1; i < batch.offsets.size(); ++i) EXPECT_EQ(batch.offsets[i], batch.offsets[i - 1] + 1);
    next[batch.partition] = batch.offsets.back() + 1;
    messages += batch.offsets.size();
  }
  EXPECT_EQ(messages, 400u);
  EXPECT_GT(full, 0u) << "a backlog fills batches";
  EXPECT_EQ(runner.snapshot().front().batches, batches().size());
  EXPECT_EQ(output().size(), 400u) << "every batch's sends were delivered";
  EXPECT_EQ(redelivered(), 0u) << "every batch's offsets were committed";
}

TEST_F(AgentRunnerDeliveryTest, AFailedBatchIsHandledAgainMessageByMessageWithOnErrorForEachAlone) {
  send(40);
  // The batch handler refuses any batch holding m5; the message handler refuses m5 alone.
  const auto refuse_m5 = [](std::span<const ConsumedMessage> messages) -> Status {
    for (const auto& message : messages) {
      if (message.value == "m5") return Error{ExitCode::kFailure, "refused m5"};
    }
    for (const auto& message : messages) {
      if (auto sent = forward(message); !sent) return sent;
    }
    return ok_status();
  };
  std::mutex alone_mutex;
  std::vector<std::string> alone;
  const MessageHandler one = [&](const ConsumedMessage& message) -> Status {
    {
      std::lock_guard lock(alone_mutex);
      alone.push_back(message.value);
    }
    if (message.value == "m5") return Error{ExitCode::kFailure, "refused m5"};
    return forward(message);
  };
  AgentRunner runner(transport_, group(), {binding(ProcessingGuarantee::kAtLeastOnce, 100, one, recording_batches(refuse_m5))},
                     events_);
  ASSERT_TRUE(runner.start().ok());
  ASSERT_TRUE(eventually(10s, [&] { return runner.snapshot().front().handled == 39; }));
  runner.stop();
  const std::vector<std::string> out = output();
  const std::set<std::string> delivered(out.begin(), out.end());
  EXPECT_EQ(delivered.size(), 39u);
  EXPECT_EQ(delivered.count("m5"), 0u);
  std::lock_guard lock(alone_mutex);
  ASSERT_FALSE(alone.empty()) << "the failed batch was handled again one by one";
  EXPECT_NE(std::find(alone.begin(), alone.end(), "m5"), alone.end());
  EXPECT_EQ(runner.snapshot().front().errors, 1u) << "on_error counted m5 once, not the batch";
  EXPECT_EQ(redelivered(), 0u) << "the skipped message's offset was committed too";
}

TEST_F(AgentRunnerDeliveryTest, ExactlyOnceDeliversAFailedBatchsSendsNeverAndTheRetriedOnesOnce) {
  send(200);
  // The first batch that holds m7 fails after its sends: they must never be seen.
  std::atomic<bool> failed_once{false};
  const auto fail_first_m7 = [&](std::span<const ConsumedMessage> messages) -> Status {
    for (const auto& message : messages) {
      if (auto sent = forward(message); !sent) return sent;
    }
    for (const auto& message : messages) {
      if (message.value == "m7" && !failed_once.exchange(true)) return Error{ExitCode::kFailure, "after the sends"};
    }
    return ok_status();
  };
  AgentRunner runner(transport_, group(),
                     {binding(ProcessingGuarantee::kExactlyOnce, 50, forward, recording_batches(fail_first_m7))}, events_);
  ASSERT_TRUE(runner.start().ok());
  ASSERT_TRUE(eventually(10s, [&] { return runner.snapshot().front().handled == 200; }));
  runner.stop();
  ASSERT_TRUE(failed_once.load());
  const std::vector<std::string> out = output();
  std::map<std::string, int> copies;
  for (const auto& value : out) ++copies[value];
  EXPECT_EQ(copies.size(), 200u);
  for (const auto& [value, count] : copies) EXPECT_EQ(count, 1) << value;
  EXPECT_EQ(redelivered(), 0u) << "the offsets were committed with the transactions";
}

TEST_F(AgentRunnerDeliveryTest, ExactlyOnceCommitsNothingThroughTheConsumerAndResumesAfterTheLastTransaction) {
  send(40);
  std::atomic<int> handled{0};
  const MessageHandler stop_after_ten = [&](const ConsumedMessage& message) -> Status {
    if (++handled > 10) return Error{ExitCode::kFailure, "stopping here"};
    return forward(message);
  };
  {
    AgentBinding agent = binding(ProcessingGuarantee::kExactlyOnce, 1, stop_after_ten);
    agent.on_error = OnError::kStop;
    // A transaction per message: the ten before the failure commit before it runs.
    agent.commit_interval = 0ms;
    AgentRunner runner(transport_, group(), {agent}, events_);
    ASSERT_TRUE(runner.start().ok());
    ASSERT_TRUE(eventually(10s, [&] { return !events_.fatal_errors().empty(); }));
    runner.stop();
  }
  EXPECT_EQ(output().size(), 10u);
  EXPECT_EQ(redelivered(), 30u) << "exactly the messages whose transactions did not commit";
}

TEST_F(AgentRunnerDeliveryTest, ExactlyOnceDeadLettersAMessageInItsOwnTransaction) {
  ASSERT_TRUE(transport_.ensure_topics({TopicSpec{"app-agent-dead-letter", 1, 1}}, 1s).ok());
  send(40);
  const MessageHandler refuse_m3 = [](const ConsumedMessage& message) -> Status {
    if (message.value == "m3") return Error{ExitCode::kFailure, "refused m3"};
    return forward(message);
  };
  AgentBinding agent = binding(ProcessingGuarantee::kExactlyOnce, 10, refuse_m3);
  agent.on_error = OnError::kDeadLetter;
  agent.dead_letter.topic = "app-agent-dead-letter";
  agent.dead_letter.plugin = "copy";
  {
    AgentRunner runner(transport_, group(), {agent}, events_);
    ASSERT_TRUE(runner.start().ok());
    ASSERT_TRUE(eventually(10s, [&] { return runner.snapshot().front().dead_lettered == 1; }));
    ASSERT_TRUE(eventually(10s, [&] { return runner.snapshot().front().handled == 39; }));
    runner.stop();
  }
  EXPECT_EQ(output().size(), 39u);
  auto reader = transport_.read_partition(TopicPartition{"app-agent-dead-letter", 0}, "", 1s);
  ASSERT_TRUE(reader.ok());
  auto records = (*reader)->poll(10ms);
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ(records->front().value, "m3");
  bool names_the_error = false;
  for (const auto& [key, value] : records->front().headers) {
    if (key == "faust.dead-letter.error") names_the_error = value == "refused m3";
  }
  EXPECT_TRUE(names_the_error);
  EXPECT_EQ(redelivered(), 0u) << "the dead-lettered message's offset committed with its record";
}

TEST(MemoryTransportTransactions, OffsetsOfAGenerationTheGroupMovedOnFromAreRefused) {
  MemoryTransport transport;
  ASSERT_TRUE(transport.ensure_topics({TopicSpec{"in", 1, 1}, TopicSpec{"out", 1, 1}}, 1s).ok());
  auto producer = transport.start_transactional_producer("app-agent-0", 1s);
  ASSERT_TRUE(producer.ok());
  ASSERT_TRUE((*producer)->begin().ok());
  ASSERT_TRUE((*producer)->send(ProducedRecord{"out", std::nullopt, "v", {}}).ok());
  ASSERT_TRUE((*producer)->send_offsets({{TopicPartition{"in", 0}, 1}}, GroupMember{"app", 7, "member"}).ok());
  const TxnStatus committed = (*producer)->commit(1s);
  EXPECT_EQ(committed.failure, TxnFailure::kAbortable) << committed.message;
  auto reader = transport.read_partition(TopicPartition{"out", 0}, "", 1s);
  ASSERT_TRUE(reader.ok());
  auto records = (*reader)->poll(10ms);
  ASSERT_TRUE(records.ok());
  EXPECT_TRUE(records->empty()) << "nothing of the refused transaction is stored";
}

TEST(MemoryTransportTransactions, ANewProducerOfTheSameIdFencesTheOldOneButNotOthers) {
  MemoryTransport transport;
  auto first = transport.start_transactional_producer("app-agent-0", 1s);
  auto other = transport.start_transactional_producer("app-agent-1", 1s);
  auto second = transport.start_transactional_producer("app-agent-0", 1s);
  ASSERT_TRUE(first.ok() && other.ok() && second.ok());
  EXPECT_EQ((*first)->begin().failure, TxnFailure::kFenced);
  EXPECT_TRUE((*other)->begin().ok());
  EXPECT_TRUE((*second)->begin().ok());
}

}  // namespace
}  // namespace faust
