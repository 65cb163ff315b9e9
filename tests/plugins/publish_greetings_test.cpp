// The tutorial's `publish_greetings` timer, tested through the SDK's plugin harness.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <faust/testing/plugin_harness.hpp>
#include <set>
#include <string>
#include <vector>

#include "test_dirs.h"

namespace faust::testing {
namespace {

using ::testing::MatchesRegex;

// What Python's str(random.random()) prints: a fraction in fixed notation, or a tiny one in
// scientific notation.
constexpr const char* kPythonFloat = "0\\.[0-9]+|[1-9](\\.[0-9]+)?e-[0-9]+";

class PublishGreetingsTest : public ::testing::Test {
 protected:
  PublishGreetingsTest() : harness_(plugin("publish_greetings").string()) { harness_.set_leader(true); }

  PluginHarness harness_;
};

TEST_F(PublishGreetingsTest, ProvidesTheTimer) {
  EXPECT_EQ(harness_.plugin_name(), "publish_greetings");
  EXPECT_TRUE(harness_.agent_names().empty());
  EXPECT_EQ(harness_.timer_names(), std::vector<std::string>{"publish_greetings"});
}

TEST_F(PublishGreetingsTest, AnnouncesSendsARandomGreetingToSayAndSaysWhichOne) {
  auto timer = harness_.timer("publish_greetings");

  const Outcome outcome = timer.tick();

  ASSERT_TRUE(outcome) << outcome.error();
  const std::vector<SentMessage> sent = harness_.sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].agent, "say");
  EXPECT_EQ(sent[0].topic, "");
  EXPECT_FALSE(sent[0].key.has_value());
  EXPECT_TRUE(sent[0].headers.empty());
  EXPECT_EQ(sent[0].from, "publish_greetings");
  EXPECT_THAT(sent[0].value, MatchesRegex(kPythonFloat));
  const double greeting = std::stod(sent[0].value);
  EXPECT_GE(greeting, 0.0);
  EXPECT_LT(greeting, 1.0);
  EXPECT_EQ(harness_.log_lines(),
            (std::vector<std::string>{"[publish_greetings] PUBLISHING ON LEADER!",
                                      "[publish_greetings] sent greeting " + sent[0].value}));
}

TEST_F(PublishGreetingsTest, SendsADifferentGreetingEachTick) {
  auto timer = harness_.timer("publish_greetings");

  for (int i = 0; i < 20; ++i) ASSERT_TRUE(timer.tick());

  std::set<std::string> greetings;
  for (const SentMessage& message : harness_.sent()) greetings.insert(message.value);
  EXPECT_EQ(greetings.size(), 20u);
}

TEST_F(PublishGreetingsTest, GreetsTheAgentItsConfigNames) {
  auto timer = harness_.timer("publish_greetings", {{"agent", "shout"}});

  ASSERT_TRUE(timer.tick());

  ASSERT_EQ(harness_.sent().size(), 1u);
  EXPECT_EQ(harness_.sent()[0].agent, "shout");
}

TEST_F(PublishGreetingsTest, AFailedSendFailsTheTickWithTheHostsMessage) {
  auto timer = harness_.timer("publish_greetings");
  harness_.fail_sends("send to topic 'leader-example-say' not acknowledged within 30000 ms");

  const Outcome outcome = timer.tick();

  EXPECT_FALSE(outcome);
  EXPECT_EQ(outcome.error(), "send to topic 'leader-example-say' not acknowledged within 30000 ms");
  EXPECT_TRUE(harness_.sent().empty());
  // It announced the attempt but never claims a greeting it could not send.
  EXPECT_EQ(harness_.log_lines(), std::vector<std::string>{"[publish_greetings] PUBLISHING ON LEADER!"});
}

TEST_F(PublishGreetingsTest, RecoversOnceSendsSucceedAgain) {
  auto timer = harness_.timer("publish_greetings");
  harness_.fail_sends("broker down");
  ASSERT_FALSE(timer.tick());
  harness_.accept_sends();
  harness_.clear();

  ASSERT_TRUE(timer.tick());

  EXPECT_EQ(harness_.sent().size(), 1u);
  EXPECT_EQ(harness_.log_lines().size(), 2u);
}

}  // namespace
}  // namespace faust::testing
