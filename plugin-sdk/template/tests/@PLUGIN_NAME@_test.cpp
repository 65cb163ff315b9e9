// Tests of the @PLUGIN_NAME@ plugin: the harness loads @PLUGIN_NAME@.so as faust-host would and
// records what the plugin logs and sends.
#include <faust/testing/plugin_harness.hpp>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using faust::testing::PluginHarness;

TEST(@PLUGIN_CLASS@Agent, LogsWhatItReceives) {
  PluginHarness harness(PLUGIN_FILE);
  auto agent = harness.agent("@PLUGIN_NAME@");

  const auto outcome = agent.handle("hi there");

  ASSERT_TRUE(outcome) << outcome.error();
  EXPECT_EQ(harness.log_lines(), std::vector<std::string>{"[@PLUGIN_NAME@] received hi there"});
  EXPECT_TRUE(harness.sent().empty());
}

// The plugin-wide part's page and counter see every instance, as the lanes of `concurrency: 2`.
TEST(@PLUGIN_CLASS@Stats, CountsTheMessagesOfEveryLane) {
  PluginHarness harness(PLUGIN_FILE);
  auto lane1 = harness.agent("@PLUGIN_NAME@");
  auto lane2 = harness.agent("@PLUGIN_NAME@");

  ASSERT_TRUE(lane1.handle("a"));
  ASSERT_TRUE(lane2.handle("b"));

  EXPECT_EQ(harness.get_page("stats").body, "received 2\n");
  EXPECT_EQ(harness.metric("@PLUGIN_NAME@_received_total")->value, 2);
}

TEST(@PLUGIN_CLASS@Timer, SendsNumberedGreetingsToTheAgent) {
  PluginHarness harness(PLUGIN_FILE);
  auto timer = harness.timer("@PLUGIN_NAME@_timer", {{"greeting", "hey"}});

  ASSERT_TRUE(timer.tick());
  ASSERT_TRUE(timer.tick());

  const auto sent = harness.sent();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].agent, "@PLUGIN_NAME@");
  EXPECT_EQ(sent[0].value, "hey 1");
  EXPECT_EQ(sent[1].value, "hey 2");
  EXPECT_EQ(sent[1].from, "@PLUGIN_NAME@_timer");
  EXPECT_EQ(harness.log_lines().back(), "[@PLUGIN_NAME@_timer] sent hey 2");
}

TEST(@PLUGIN_CLASS@Timer, FailsTheTickWhenTheSendFails) {
  PluginHarness harness(PLUGIN_FILE);
  auto timer = harness.timer("@PLUGIN_NAME@_timer");
  harness.fail_sends("broker down");

  const auto outcome = timer.tick();

  EXPECT_FALSE(outcome);
  EXPECT_EQ(outcome.error(), "broker down");
  EXPECT_TRUE(harness.logs().empty());
}

}  // namespace
