// The tutorial's `say` agent, tested through the SDK's plugin harness as a plugin author would.
#include <gtest/gtest.h>

#include <faust/testing/plugin_harness.hpp>
#include <string>
#include <vector>

#include "test_dirs.h"

namespace faust::testing {
namespace {

TEST(SayPlugin, ProvidesTheSayAgent) {
  PluginHarness harness(plugin("say").string());

  EXPECT_EQ(harness.plugin_name(), "say");
  EXPECT_EQ(harness.plugin_version(), "1.0.0");
  EXPECT_EQ(harness.agent_names(), std::vector<std::string>{"say"});
  EXPECT_TRUE(harness.timer_names().empty());
}

TEST(SayPlugin, LogsTheGreetingAtInfo) {
  PluginHarness harness(plugin("say").string());
  auto say = harness.agent("say");

  const Outcome outcome = say.handle("0.8444218515250481");

  ASSERT_TRUE(outcome) << outcome.error();
  const std::vector<LogLine> logs = harness.logs();
  ASSERT_EQ(logs.size(), 1u);
  EXPECT_EQ(logs[0].level, FAUST_LOG_INFO);
  EXPECT_EQ(logs[0].component, "say");
  EXPECT_EQ(logs[0].message, "0.8444218515250481");
  EXPECT_TRUE(harness.sent().empty());
}

TEST(SayPlugin, LogsOneLinePerGreetingInOrder) {
  PluginHarness harness(plugin("say").string());
  auto say = harness.agent("say");

  for (const char* greeting : {"0.1", "0.2", "hello"}) ASSERT_TRUE(say.handle(greeting));

  EXPECT_EQ(harness.log_lines(), (std::vector<std::string>{"[say] 0.1", "[say] 0.2", "[say] hello"}));
}

TEST(SayPlugin, PrintsTheValueWhateverTheKeyAndHeaders) {
  PluginHarness harness(plugin("say").string());
  auto say = harness.agent("say");

  ASSERT_TRUE(say.handle("greeting-key", "0.5", {{"trace-id", "abc"}}));

  EXPECT_EQ(harness.log_lines(), std::vector<std::string>{"[say] 0.5"});
}

TEST(SayPlugin, PrintsAnEmptyGreetingAsAnEmptyLine) {
  PluginHarness harness(plugin("say").string());
  auto say = harness.agent("say");

  ASSERT_TRUE(say.handle(""));

  EXPECT_EQ(harness.log_lines(), std::vector<std::string>{"[say] "});
}

TEST(SayPlugin, HasNoTimers) {
  PluginHarness harness(plugin("say").string());

  try {
    harness.timer("say");
    FAIL() << "a timer 'say' was created";
  } catch (const HarnessError& error) {
    EXPECT_EQ(std::string(error.what()),
              "plugin " + plugin("say").string() + " has no timer 'say' (its timers: none)");
  }
}

}  // namespace
}  // namespace faust::testing
