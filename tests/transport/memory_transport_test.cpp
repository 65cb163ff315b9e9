// The memory:// broker: assignment, ordering, commits, pause, concurrency and waiting.
#include "transport/memory/memory_transport.h"

#include <gtest/gtest.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace faust {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class RecordingListener final : public GroupListener {
 public:
  void on_assigned(const GroupEvent& event) override { assigned.push_back(event); }
  void on_revoked(const GroupEvent& event) override {
    revoked.push_back(event);
    if (when_revoked) when_revoked(event);
  }
  void on_messages(std::vector<ConsumedMessage>& batch) override {
    batch_sizes.push_back(batch.size());
    for (auto& message : batch) messages.push_back(std::move(message));
  }

  std::vector<GroupEvent> assigned;
  std::vector<GroupEvent> revoked;
  std::vector<ConsumedMessage> messages;
  std::vector<std::size_t> batch_sizes;
  std::function<void(const GroupEvent&)> when_revoked;
};

GroupOptions group(std::string id, std::vector<std::string> topics) {
  GroupOptions options;
  options.group_id = std::move(id);
  options.topics = std::move(topics);
  options.client_id = "test-client";
  return options;
}

ProducedRecord record(std::string topic, std::string value, std::optional<std::string> key = std::nullopt) {
  return ProducedRecord{std::move(topic), std::move(key), std::move(value), {}};
}

void send_all(Transport& transport, const std::string& topic, int count) {
  for (int i = 0; i < count; ++i) ASSERT_TRUE(transport.send(record(topic, std::to_string(i)), 1s));
}

// Polls until `listener` holds `count` messages; false at the deadline.
bool poll_until_messages(GroupConsumer& consumer, const RecordingListener& listener, std::size_t count,
                         std::chrono::milliseconds timeout = 5s) {
  const auto deadline = Clock::now() + timeout;
  while (listener.messages.size() < count) {
    if (Clock::now() >= deadline) return false;
    consumer.poll(50ms);
  }
  return true;
}

std::vector<TopicPartition> partitions_of(const std::string& topic, int count) {
  std::vector<TopicPartition> out;
  for (int p = 0; p < count; ++p) out.push_back(TopicPartition{topic, p});
  return out;
}

std::chrono::nanoseconds thread_cpu_time() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec);
}

TEST(MemoryTransport, IsUpAndCreatesTopics) {
  MemoryTransport transport;
  EXPECT_EQ(transport.broker_state(), BrokerState::kUp);
  EXPECT_TRUE(transport.ensure_topics({{"a", 3, 1}, {"b", 1, 1}}, 1s));
  EXPECT_TRUE(transport.ensure_topics({{"a", 3, 1}}, 1s));  // already there: fine
  EXPECT_TRUE(transport.flush(1s));

  const Status status = transport.ensure_topics({{"c", 0, 1}}, 1s);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().message, "memory://: topic 'c' needs at least 1 partition, not 0");
}

TEST(MemoryTransport, AssignsEveryPartitionOfItsTopicsAtTheFirstPoll) {
  MemoryTransport transport;
  ASSERT_TRUE(transport.ensure_topics({{"a", 3, 1}, {"b", 1, 1}, {"other", 2, 1}}, 1s));
  RecordingListener listener;
  auto consumer = transport.join_group(group("g", {"b", "a"}), listener);
  ASSERT_TRUE(consumer) << consumer.error().message;
  EXPECT_TRUE(listener.assigned.empty());  // joining completes at the first poll, as with Kafka

  (*consumer)->poll(0ms);

  ASSERT_EQ(listener.assigned.size(), 1u);
  const GroupEvent& event = listener.assigned[0];
  EXPECT_EQ(event.partitions, (std::vector<TopicPartition>{{"a", 0}, {"a", 1}, {"a", 2}, {"b", 0}}));
  EXPECT_EQ(event.generation, 1);
  EXPECT_EQ(event.member_id.rfind("test-client-", 0), 0u) << event.member_id;
  (*consumer)->poll(0ms);
  EXPECT_EQ(listener.assigned.size(), 1u);  // no rebalance without a reason
}

TEST(MemoryTransport, ServesOneMemberPerGroup) {
  MemoryTransport transport;
  RecordingListener first_listener;
  RecordingListener second_listener;
  auto first = transport.join_group(group("g", {"t"}), first_listener);
  ASSERT_TRUE(first);

  auto second = transport.join_group(group("g", {"t"}), second_listener);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().message,
            "memory://: group 'g' already has a member (the in-process broker serves one per group)");
  EXPECT_TRUE(transport.join_group(group("another", {"t"}), second_listener));

  (*first)->close();
  EXPECT_TRUE(transport.join_group(group("g", {"t"}), second_listener));
}

TEST(MemoryTransport, KeepsOrderPerPartitionAndSpreadsUnkeyedRecordsRoundRobin) {
  MemoryTransport transport;
  ASSERT_TRUE(transport.ensure_topics({{"t", 4, 1}}, 1s));
  send_all(transport, "t", 40);
  RecordingListener listener;
  auto consumer = transport.join_group(group("g", {"t"}), listener);
  ASSERT_TRUE(consumer);

  ASSERT_TRUE(poll_until_messages(**consumer, listener, 40));

  std::map<std::int32_t, std::vector<const ConsumedMessage*>> by_partition;
  for (const auto& message : listener.messages) by_partition[message.source.partition].push_back(&message);
  ASSERT_EQ(by_partition.size(), 4u);
  for (const auto& [partition, messages] : by_partition) {
    ASSERT_EQ(messages.size(), 10u) << "partition " << partition;
    for (std::size_t i = 0; i < messages.size(); ++i) {
      EXPECT_EQ(messages[i]->offset, static_cast<std::int64_t>(i));
      // Round-robin: record n went to partition n % 4 as its (n / 4)th record.
      EXPECT_EQ(messages[i]->value, std::to_string(static_cast<std::int64_t>(i) * 4 + partition));
      EXPECT_FALSE(messages[i]->key);
      EXPECT_GT(messages[i]->timestamp_ms, 0);
    }
  }
}

TEST(MemoryTransport, PutsRecordsWithTheSameKeyInOnePartitionInOrder) {
  MemoryTransport transport;
  ASSERT_TRUE(transport.ensure_topics({{"t", 8, 1}}, 1s));
  for (int i = 0; i < 20; ++i) {
    ProducedRecord keyed = record("t", std::to_string(i), "user-7");
    keyed.headers = {{"n", std::to_string(i)}};
    ASSERT_TRUE(transport.send(keyed, 1s));
  }
  RecordingListener listener;
  auto consumer = transport.join_group(group("g", {"t"}), listener);
  ASSERT_TRUE(consumer);

  ASSERT_TRUE(poll_until_messages(**consumer, listener, 20));

  for (std::size_t i = 0; i < listener.messages.size(); ++i) {
    const ConsumedMessage& message = listener.messages[i];
    EXPECT_EQ(message.source, (TopicPartition{"t", partition_for_key("user-7", 8)}));
    EXPECT_EQ(message.offset, static_cast<std::int64_t>(i));
    EXPECT_EQ(message.key, std::optional<std::string>("user-7"));
    EXPECT_EQ(message.value, std::to_string(i));
    EXPECT_EQ(message.headers, (Headers{{"n", std::to_string(i)}}));
  }
}

TEST(MemoryTransport, PartitionsKeysAsLibrdkafkasDefaultPartitionerDoes) {
  // crc32("123456789") is the CRC-32 check value 0xCBF43926 = 3421780262.
  EXPECT_EQ(partition_for_key("123456789", 2147483647), 3421780262 - 2147483647);
  EXPECT_EQ(partition_for_key("", 8), 0);
  EXPECT_EQ(partition_for_key("anything", 1), 0);
}

TEST(MemoryTransport, CreatesAnUnknownTopicWithOnePartitionAtItsFirstSend) {
  MemoryTransport transport;
  ASSERT_TRUE(transport.send(record("fresh", "a"), 1s));
  ASSERT_TRUE(transport.send(record("fresh", "b"), 1s));
  RecordingListener listener;
  auto consumer = transport.join_group(group("g", {"fresh"}), listener);
  ASSERT_TRUE(consumer);

  ASSERT_TRUE(poll_until_messages(**consumer, listener, 2));

  EXPECT_EQ(listener.assigned.at(0).partitions, partitions_of("fresh", 1));
  EXPECT_EQ(listener.messages[0].value, "a");
  EXPECT_EQ(listener.messages[1].value, "b");
}

TEST(MemoryTransport, ALeaderTransactionIsStoredWhole_OnlyAtCommit_AndNotAtAll_WhenAborted) {
  MemoryTransport transport;
  auto producer = transport.start_leader_producer(1s);
  ASSERT_TRUE(producer);
  ASSERT_TRUE((*producer)->begin());
  ASSERT_TRUE((*producer)->send(record("txn", "dropped-1")));
  ASSERT_TRUE((*producer)->send(record("txn", "dropped-2")));
  ASSERT_TRUE((*producer)->abort(1s));
  ASSERT_TRUE((*producer)->begin());
  ASSERT_TRUE((*producer)->send(record("txn", "kept-1")));
  ASSERT_TRUE((*producer)->send(record("txn", "kept-2")));
  ASSERT_TRUE((*producer)->commit(1s));

  RecordingListener listener;
  auto consumer = transport.join_group(group("g", {"txn"}), listener);
  ASSERT_TRUE(consumer);
  ASSERT_TRUE(poll_until_messages(**consumer, listener, 2));
  (*consumer)->poll(20ms);
  ASSERT_EQ(listener.messages.size(), 2u);
  EXPECT_EQ(listener.messages[0].value, "kept-1");
  EXPECT_EQ(listener.messages[1].value, "kept-2");
}

TEST(MemoryTransport, ANewLeaderProducerFencesThePreviousOne) {
  MemoryTransport transport;
  auto old_leader = transport.start_leader_producer(1s);
  ASSERT_TRUE(old_leader);
  ASSERT_TRUE((*old_leader)->begin());
  ASSERT_TRUE((*old_leader)->send(record("txn", "stale")));
  auto new_leader = transport.start_leader_producer(1s);
  ASSERT_TRUE(new_leader);
  const TxnStatus committed = (*old_leader)->commit(1s);
  EXPECT_EQ(committed.failure, TxnFailure::kFenced) << committed.message;
  EXPECT_EQ((*old_leader)->begin().failure, TxnFailure::kFenced);
}

TEST(MemoryTransport, ARejoiningGroupResumesFromItsCommittedOffsets) {
  MemoryTransport transport;
  ASSERT_TRUE(transport.ensure_topics({{"t", 1, 1}}, 1s));
  send_all(transport, "t", 10);
  {
    RecordingListener listener;
    auto consumer = transport.join_group(group("g", {"t"}), listener);
    ASSERT_TRUE(consumer);
    ASSERT_TRUE(poll_until_messages(**consumer, listener, 10));
    // Handled 0..3 only, then the worker stops.
    ASSERT_TRUE((*consumer)->commit({{{"t", 0}, 4}}, true));
    (*consumer)->close();
    ASSERT_EQ(listener.revoked.size(), 1u);
    EXPECT_EQ(listener.revoked[0].partitions, partitions_of("t", 1));
    EXPECT_EQ(listener.revoked[0].generation, 1);
    const Status late = (*consumer)->commit({{{"t", 0}, 10}}, true);
    ASSERT_FALSE(late);
    EXPECT_EQ(late.error().message, "memory://: commit in group 'g' failed: not a member");
  }
  RecordingListener listener;
  auto consumer = transport.join_group(group("g", {"t"}), listener);
  ASSERT_TRUE(consumer);

  ASSERT_TRUE(poll_until_messages(**consumer, listener, 6));
  (*consumer)->poll(0ms);

  EXPECT_EQ(listener.assigned.at(0).generation, 2);
  ASSERT_EQ(listener.messages.size(), 6u);  // 4..9 again, nothing before
  for (std::size_t i = 0; i < 6; ++i)
    EXPECT_EQ(listener.messages[i].offset, static_cast<std::int64_t>(4 + i));

  RecordingListener other_group;
  auto other = transport.join_group(group("g2", {"t"}), other_group);
  ASSERT_TRUE(other);
  ASSERT_TRUE(poll_until_messages(**other, other_group, 10));  // a new group reads from the start
  EXPECT_EQ(other_group.messages.front().offset, 0);
}

TEST(MemoryTransport, CommitsMadeWhileRevokingCount) {
  MemoryTransport transport;
  send_all(transport, "t", 5);
  RecordingListener listener;
  auto consumer = transport.join_group(group("g", {"t"}), listener);
  ASSERT_TRUE(consumer);
  ASSERT_TRUE(poll_until_messages(**consumer, listener, 5));
  listener.when_revoked = [&](const GroupEvent&) { EXPECT_TRUE((*consumer)->commit({{{"t", 0}, 5}}, true)); };
  (*consumer)->close();
  (*consumer)->close();  // once is enough
  EXPECT_EQ(listener.revoked.size(), 1u);
  send_all(transport, "t", 1);

  RecordingListener again;
  auto rejoined = transport.join_group(group("g", {"t"}), again);
  ASSERT_TRUE(rejoined);
  ASSERT_TRUE(poll_until_messages(**rejoined, again, 1));
  EXPECT_EQ(again.messages[0].offset, 5);
}

TEST(MemoryTransport, DoesNotDeliverPausedPartitionsUntilResumed) {
  MemoryTransport transport;
  ASSERT_TRUE(transport.ensure_topics({{"t", 2, 1}}, 1s));
  RecordingListener listener;
  auto consumer = transport.join_group(group("g", {"t"}), listener);
  ASSERT_TRUE(consumer);
  (*consumer)->poll(0ms);
  (*consumer)->pause({{"t", 0}});
  send_all(transport, "t", 4);  // two records per partition

  ASSERT_TRUE(poll_until_messages(**consumer, listener, 2));
  (*consumer)->poll(100ms);
  ASSERT_EQ(listener.messages.size(), 2u);
  for (const auto& message : listener.messages) EXPECT_EQ(message.source.partition, 1);

  (*consumer)->resume({{"t", 0}});
  ASSERT_TRUE(poll_until_messages(**consumer, listener, 4));
  EXPECT_EQ(listener.messages[2].source.partition, 0);
  EXPECT_EQ(listener.messages[3].source.partition, 0);
}

TEST(MemoryTransport, DeliversAtMostMaxBatchRecordsPerPoll) {
  MemoryTransport transport;
  send_all(transport, "t", 10);
  RecordingListener listener;
  GroupOptions options = group("g", {"t"});
  options.max_batch = 3;
  auto consumer = transport.join_group(options, listener);
  ASSERT_TRUE(consumer);

  ASSERT_TRUE(poll_until_messages(**consumer, listener, 10));

  EXPECT_EQ(listener.batch_sizes, (std::vector<std::size_t>{3, 3, 3, 1}));
}

TEST(MemoryTransport, DeliversEveryRecordOfConcurrentSendersOnceAndInOrder) {
  MemoryTransport transport;
  ASSERT_TRUE(transport.ensure_topics({{"t", 4, 1}}, 1s));
  RecordingListener listener;
  auto consumer = transport.join_group(group("g", {"t"}), listener);
  ASSERT_TRUE(consumer);
  constexpr int kSenders = 4;
  constexpr int kRecords = 500;
  std::atomic<int> failures{0};
  std::vector<std::thread> senders;
  for (int s = 0; s < kSenders; ++s) {
    senders.emplace_back([&, s] {
      for (int i = 0; i < kRecords; ++i) {
        if (!transport.send(record("t", std::to_string(i), "sender-" + std::to_string(s)), 1s)) ++failures;
      }
    });
  }
  // Consumes while they send.
  const bool all = poll_until_messages(**consumer, listener, kSenders * kRecords, 20s);
  for (auto& sender : senders) sender.join();

  ASSERT_TRUE(all) << listener.messages.size() << " records delivered";
  EXPECT_EQ(failures.load(), 0);
  (*consumer)->poll(0ms);
  ASSERT_EQ(listener.messages.size(), static_cast<std::size_t>(kSenders * kRecords));
  std::map<std::string, int> next_by_sender;
  for (const auto& message : listener.messages) {
    const std::string& sender = *message.key;
    EXPECT_EQ(message.value, std::to_string(next_by_sender[sender]++)) << sender;
  }
  for (const auto& [sender, next] : next_by_sender) EXPECT_EQ(next, kRecords) << sender;
}

TEST(MemoryTransport, APollSleepsUntilItsTimeoutWhenThereIsNothing) {
  MemoryTransport transport;
  ASSERT_TRUE(transport.ensure_topics({{"t", 2, 1}}, 1s));
  RecordingListener listener;
  auto consumer = transport.join_group(group("g", {"t"}), listener);
  ASSERT_TRUE(consumer);
  (*consumer)->poll(0ms);

  const auto started = Clock::now();
  const auto cpu_before = thread_cpu_time();
  (*consumer)->poll(300ms);
  const auto cpu_used = thread_cpu_time() - cpu_before;
  const auto waited = Clock::now() - started;

  EXPECT_TRUE(listener.messages.empty());
  EXPECT_GE(waited, 290ms);
  EXPECT_LT(cpu_used, 30ms) << "the poll spun instead of waiting";
}

TEST(MemoryTransport, ARecordWakesAWaitingPollAtOnce) {
  MemoryTransport transport;
  ASSERT_TRUE(transport.ensure_topics({{"t", 2, 1}}, 1s));
  RecordingListener listener;
  auto consumer = transport.join_group(group("g", {"t"}), listener);
  ASSERT_TRUE(consumer);
  (*consumer)->poll(0ms);
  std::atomic<bool> polling{false};
  Clock::duration waited{};
  std::thread poller([&] {
    polling = true;
    const auto started = Clock::now();
    (*consumer)->poll(10s);
    waited = Clock::now() - started;
  });
  while (!polling) std::this_thread::yield();

  ASSERT_TRUE(transport.send(record("t", "wake up"), 1s));
  poller.join();

  ASSERT_EQ(listener.messages.size(), 1u);
  EXPECT_EQ(listener.messages[0].value, "wake up");
  EXPECT_LT(waited, 2s);
}

TEST(MemoryTransport, RebalancesWhenASubscribedTopicAppearsLater) {
  MemoryTransport transport;
  RecordingListener listener;
  auto consumer = transport.join_group(group("g", {"late"}), listener);
  ASSERT_TRUE(consumer);
  (*consumer)->poll(0ms);
  ASSERT_EQ(listener.assigned.size(), 1u);
  EXPECT_TRUE(listener.assigned[0].partitions.empty());

  ASSERT_TRUE(transport.ensure_topics({{"late", 2, 1}}, 1s));
  (*consumer)->poll(0ms);

  ASSERT_EQ(listener.revoked.size(), 1u);
  ASSERT_EQ(listener.assigned.size(), 2u);
  EXPECT_EQ(listener.assigned[1].partitions, partitions_of("late", 2));
  EXPECT_EQ(listener.assigned[1].generation, 2);
}

TEST(MemoryTransport, ReportsLagAsEndOffsetMinusCommitted) {
  MemoryTransport transport;
  send_all(transport, "t", 5);
  RecordingListener listener;
  std::vector<std::pair<TopicPartition, std::int64_t>> lags;
  GroupOptions options = group("g", {"t"});
  options.on_lag = [&](const TopicPartition& partition, std::int64_t lag) {
    lags.emplace_back(partition, lag);
  };
  auto consumer = transport.join_group(options, listener);
  ASSERT_TRUE(consumer);

  ASSERT_TRUE(poll_until_messages(**consumer, listener, 5));
  ASSERT_FALSE(lags.empty());
  EXPECT_EQ(lags.back(), (std::pair<TopicPartition, std::int64_t>{{"t", 0}, 5}));

  ASSERT_TRUE((*consumer)->commit({{{"t", 0}, 5}}, false));
  const auto deadline = Clock::now() + 5s;
  while (lags.back().second != 0 && Clock::now() < deadline) (*consumer)->poll(100ms);
  EXPECT_EQ(lags.back().second, 0);
}

TEST(MemoryTransport, LeavingWithoutCloseHasNoCallbacksAndFreesTheGroup) {
  MemoryTransport transport;
  RecordingListener listener;
  {
    auto consumer = transport.join_group(group("g", {"t"}), listener);
    ASSERT_TRUE(consumer);
    (*consumer)->poll(0ms);
  }
  EXPECT_TRUE(listener.revoked.empty());
  RecordingListener again;
  auto consumer = transport.join_group(group("g", {"t"}), again);
  ASSERT_TRUE(consumer);
  (*consumer)->close();  // never polled: nothing to revoke
  EXPECT_TRUE(again.revoked.empty());
}

TEST(MemoryTransport, ConsumersMayOutliveTheTransport) {
  RecordingListener listener;
  Result<std::unique_ptr<GroupConsumer>> consumer = Error{ExitCode::kFailure, "not joined"};
  {
    MemoryTransport transport;
    send_all(transport, "t", 1);
    consumer = transport.join_group(group("g", {"t"}), listener);
    ASSERT_TRUE(consumer);
  }
  ASSERT_TRUE(poll_until_messages(**consumer, listener, 1));
  (*consumer)->close();
}

}  // namespace
}  // namespace faust
