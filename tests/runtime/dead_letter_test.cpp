#include "runtime/agents/dead_letter.h"

#include <gtest/gtest.h>

#include "runtime/agents/dead_letter_replay.h"
#include "transport/memory/memory_transport.h"

namespace faust {
namespace {

using namespace std::chrono_literals;

ConsumedMessage message_at(const std::string& topic, std::int32_t partition, std::int64_t offset,
                           Headers headers) {
  return ConsumedMessage{
      TopicPartition{topic, partition}, offset, "key", "value", std::move(headers), 1700000000123, false};
}

TEST(DeadLetterRecordTest, KeepsKeyValueAndHeadersThenNamesWhereAndWhyItFailed) {
  const auto record =
      dead_letter_record(message_at("app-orders", 5, 1207, {{"trace", "t1"}, {"trace", "t2"}}),
                         "app-orders-dead-letter", {"orders", "shop", "refused: bad sku", 4});
  EXPECT_EQ(record.topic, "app-orders-dead-letter");
  EXPECT_EQ(record.key, "key");
  EXPECT_EQ(record.value, "value");
  EXPECT_FALSE(record.tombstone);
  EXPECT_EQ(record.headers, (Headers{{"trace", "t1"},
                                     {"trace", "t2"},
                                     {"faust.dead-letter.agent", "orders"},
                                     {"faust.dead-letter.plugin", "shop"},
                                     {"faust.dead-letter.error", "refused: bad sku"},
                                     {"faust.dead-letter.attempts", "4"},
                                     {"faust.dead-letter.topic", "app-orders"},
                                     {"faust.dead-letter.partition", "5"},
                                     {"faust.dead-letter.offset", "1207"},
                                     {"faust.dead-letter.timestamp", "1700000000123"}}));
}

TEST(DeadLetterRecordTest, AReplayedMessageHasItsOriginalHeadersAndWhereItCameFrom) {
  ConsumedMessage dead_letter =
      message_at("app-orders-dead-letter", 2, 9,
                 dead_letter_record(
                     message_at("app-orders", 5, 1207, {{"trace", "t1"}, {"faust.replayed-from", "old/0@1"}}),
                     "app-orders-dead-letter", {"orders", "shop", "refused", 1})
                     .headers);
  const auto record = replayed_record(dead_letter, "app-orders");
  EXPECT_EQ(record.topic, "app-orders");
  EXPECT_EQ(record.key, "key");
  EXPECT_EQ(record.value, "value");
  EXPECT_EQ(record.headers,
            (Headers{{"trace", "t1"}, {"faust.replayed-from", "app-orders-dead-letter/2@9"}}));
}

TEST(DeadLetterRecordTest, HeaderValueIsTheLastOfItsName) {
  const Headers headers{{"a", "1"}, {"b", "2"}, {"a", "3"}};
  EXPECT_EQ(header_value(headers, "a"), "3");
  EXPECT_EQ(header_value(headers, "b"), "2");
  EXPECT_EQ(header_value(headers, "c"), std::nullopt);
}

// Dead letters of agents "orders" and "audit" sharing one two-partition topic on memory://.
class DeadLetterReplayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(
        transport_.ensure_topics({TopicSpec{"app-dead", 2, 1}, TopicSpec{"app-orders", 1, 1}}, 1s).ok());
  }

  void dead_letter(const std::string& agent, const std::string& key, const std::string& value) {
    const auto original = message_at("app-" + agent, 0, next_offset_++, {{"trace", value}});
    ProducedRecord record = dead_letter_record(original, "app-dead", {agent, "shop", "refused", 1});
    record.key = key;
    record.value = value;
    ASSERT_TRUE(transport_.send(record, 1s).ok());
  }

  DeadLetterReplay replay(std::optional<TopicReadRequest::Position> only = std::nullopt) const {
    return DeadLetterReplay{"orders", "app-dead", "app-orders", "app-orders-dead-letter-replay", only, 1s};
  }

  Result<std::size_t> run(const DeadLetterReplay& request, std::vector<std::string>* seen = nullptr) {
    return replay_dead_letters(transport_, request, [&](const ConsumedMessage& record) {
      if (seen != nullptr) seen->push_back(record.value);
    });
  }

  // What the agent's topic holds: (value, headers).
  std::vector<ConsumedMessage> replayed() {
    auto reader = transport_.read_partition(TopicPartition{"app-orders", 0}, "", 1s);
    std::vector<ConsumedMessage> all;
    for (int i = 0; i < 2; ++i) {
      auto batch = (*reader)->poll(10ms);
      if (batch) all.insert(all.end(), batch->begin(), batch->end());
    }
    return all;
  }

  MemoryTransport transport_;
  std::int64_t next_offset_ = 0;
};

TEST_F(DeadLetterReplayTest, ReplaysTheAgentsMessagesOnceAndLaterOnlyNewOnes) {
  for (int i = 0; i < 6; ++i) {
    dead_letter(i % 3 == 2 ? "audit" : "orders", "k" + std::to_string(i), "v" + std::to_string(i));
  }
  std::vector<std::string> seen;
  auto first = run(replay(), &seen);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(*first, 4u) << "audit's records are not orders' to replay";
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<std::string>{"v0", "v1", "v3", "v4"}));
  const auto sent = replayed();
  ASSERT_EQ(sent.size(), 4u);
  for (const auto& record : sent) {
    ASSERT_EQ(record.headers.size(), 2u);
    EXPECT_EQ(record.headers[0], (std::pair<std::string, std::string>{"trace", record.value}));
    EXPECT_EQ(record.headers[1].first, "faust.replayed-from");
    EXPECT_TRUE(record.headers[1].second.starts_with("app-dead/")) << record.headers[1].second;
    EXPECT_EQ(record.key, "k" + record.value.substr(1));
  }

  auto second = run(replay());
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*second, 0u) << "nothing is replayed twice";

  dead_letter("orders", "k9", "v9");
  seen.clear();
  auto third = run(replay(), &seen);
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"v9"}));
  EXPECT_EQ(replayed().size(), 5u);
}

TEST_F(DeadLetterReplayTest, ReplaysOneMessageByPositionWithoutMovingTheGroup) {
  for (int i = 0; i < 4; ++i) dead_letter("orders", "same-key", "v" + std::to_string(i));  // one partition
  auto reader = transport_.read_partition(TopicPartition{"app-dead", 0}, "", 1s);
  auto stored = (*reader)->poll(10ms);
  ASSERT_TRUE(stored.ok());
  const std::int32_t partition = stored->empty() ? 1 : 0;
  std::vector<std::string> seen;
  auto one = run(replay(TopicReadRequest::Position{partition, 2}), &seen);
  ASSERT_TRUE(one.ok()) << one.error().message;
  EXPECT_EQ(*one, 1u);
  EXPECT_EQ(seen, (std::vector<std::string>{"v2"}));
  ASSERT_EQ(replayed().size(), 1u);
  EXPECT_EQ(replayed()[0].headers.back().second, "app-dead/" + std::to_string(partition) + "@2");

  auto all = run(replay());
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, 4u) << "a single replay does not count as replaying the rest";
}

TEST_F(DeadLetterReplayTest, RefusesAPositionWithNoRecordOrAnotherAgentsRecord) {
  dead_letter("audit", "k", "v");
  auto reader = transport_.read_partition(TopicPartition{"app-dead", 0}, "", 1s);
  auto stored = (*reader)->poll(10ms);
  const std::int32_t partition = stored.ok() && !stored->empty() ? 0 : 1;

  auto other = run(replay(TopicReadRequest::Position{partition, 0}));
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().message, "app-dead/" + std::to_string(partition) +
                                       "@0 is not a dead letter of agent 'orders' (its agent is 'audit')");
  auto past = run(replay(TopicReadRequest::Position{partition, 1}));
  ASSERT_FALSE(past.ok());
  EXPECT_EQ(past.error().message, "memory://: app-dead[" + std::to_string(partition) + "] has no offset 1");
  auto no_partition = run(replay(TopicReadRequest::Position{7, 0}));
  ASSERT_FALSE(no_partition.ok());
  EXPECT_EQ(no_partition.error().message, "memory://: topic 'app-dead' has no partition 7");
  EXPECT_TRUE(replayed().empty());
}

}  // namespace
}  // namespace faust
