// Isolated agent instances (isolation: process) run by the built faust-host as plugin-runner,
// on the test plugin `faulty` (which crashes, aborts or hangs on request) and on fixtures.
#include "isolation/isolated_agent.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "isolation_services.h"
#include "isolation_test_support.h"
#include "runtime/agents/delivery_unit.h"

namespace faust::isolation {
namespace {

using namespace std::chrono_literals;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using test::alive;
using test::kSegfaultEnd;
using test::kSegfaultReason;
using test::message;

// The unit a lane would have in hand: what reaches it.
class RecordingUnit final : public UnitSends {
 public:
  Status send(const ProducedRecord& record) override {
    values.push_back(record.value);
    return ok_status();
  }
  std::vector<std::string> values;
};

class IsolatedAgentTest : public ::testing::Test {
 protected:
  IsolatedAgentTest() {
    settings_.runner = FAUST_HOST_BINARY;
    settings_.crashed = [this](const std::string& plugin, const char* reason) {
      std::lock_guard lock(mutex_);
      crashes_.emplace_back(plugin + "/" + reason);
    };
  }

  // An instance of `agent` from the plugin at `file`, or why it did not start.
  Result<std::unique_ptr<AgentCalls>> try_start(const std::string& file, const std::string& agent,
                                                AgentConfig config = {}) {
    auto library = PluginLibrary::open(file);
    if (!library) return library.error();
    library_ = *library;
    config.name = agent;
    config.isolation = Isolation::kProcess;
    ComponentRef component;
    component.name = agent;
    component.plugin = (*library)->info().name;
    return IsolatedAgent::start(config, **library, agent.c_str(), component, services_, settings_);
  }
  std::unique_ptr<IsolatedAgent> start(const std::string& file, const std::string& agent, AgentConfig config = {}) {
    auto started = try_start(file, agent, std::move(config));
    EXPECT_TRUE(started.ok()) << started.error().message;
    if (!started) return nullptr;
    return std::unique_ptr<IsolatedAgent>(static_cast<IsolatedAgent*>(started->release()));
  }
  std::unique_ptr<IsolatedAgent> faulty(AgentConfig config = {}) { return start(FAUST_FAULTY_PLUGIN, "faulty", config); }

  std::vector<std::string> crashes() {
    std::lock_guard lock(mutex_);
    return crashes_;
  }
  std::size_t received(const std::string& value) const {
    const auto lines = services_.log_lines();
    return static_cast<std::size_t>(std::count(lines.begin(), lines.end(), "received " + value));
  }

  Services services_;
  IsolationSettings settings_;
  std::shared_ptr<const PluginLibrary> library_;
  std::mutex mutex_;
  std::vector<std::string> crashes_;
};

TEST_F(IsolatedAgentTest, HandlesMessagesInAChildProcessThatLogsThroughTheWorker) {
  auto agent = faulty();
  ASSERT_TRUE(agent);
  const int pid = agent->child_pid();
  EXPECT_NE(pid, ::getpid());
  EXPECT_TRUE(alive(pid));
  EXPECT_FALSE(agent->handles_batches());
  ASSERT_TRUE(agent->handle(message("ok-1", 1)).ok());
  const Status failed = agent->handle(message("fail-2", 2));
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().message, "faulty agent 'faulty' failed: refused fail-2") << "as in-process";
  EXPECT_THAT(services_.log_lines(), ElementsAre("received ok-1", "handled ok-1", "received fail-2"));
  for (const auto& event : services_.events()) EXPECT_EQ(event.component, "faulty");
  EXPECT_EQ(agent->child_pid(), pid) << "a plugin's error is no crash";
  EXPECT_TRUE(crashes().empty());
  agent.reset();
  EXPECT_FALSE(alive(pid)) << "the runner exits (and is reaped) with its instance";
}

TEST_F(IsolatedAgentTest, APoisonMessageCrashesMaxCrashesTimesThenFailsAtOnceWhileOthersFlow) {
  AgentConfig config;
  config.max_crashes = 2;
  auto agent = faulty(config);
  ASSERT_TRUE(agent);
  const int first_pid = agent->child_pid();

  const Status poisoned = agent->handle(message("segv-7", 7));
  ASSERT_FALSE(poisoned.ok());
  EXPECT_EQ(poisoned.error().message, std::string("faulty agent 'faulty' failed: its process ") + kSegfaultEnd +
                                          " handling this message (crash 2 of max_crashes 2)");
  EXPECT_EQ(received("segv-7"), 2u) << "handled again once after the first crash";
  EXPECT_THAT(crashes(), ElementsAre(std::string("faulty/") + kSegfaultReason, std::string("faulty/") + kSegfaultReason));
  EXPECT_FALSE(alive(first_pid));

  // The lane's retries of it fail at once: no third crash.
  const Status again = agent->handle(message("segv-7", 7));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().message, poisoned.error().message);
  EXPECT_EQ(received("segv-7"), 2u);
  EXPECT_EQ(crashes().size(), 2u);

  // The next message gets a new process.
  ASSERT_TRUE(agent->handle(message("ok-8", 8)).ok());
  EXPECT_EQ(received("ok-8"), 1u);
  EXPECT_NE(agent->child_pid(), first_pid);
  EXPECT_TRUE(alive(agent->child_pid()));
  // The same value at another offset is another message.
  EXPECT_FALSE(agent->handle(message("segv-9", 9)).ok());
  EXPECT_EQ(crashes().size(), 4u);
}

TEST_F(IsolatedAgentTest, AnAbortIsACrashToo) {
  AgentConfig config;
  config.max_crashes = 1;
  auto agent = faulty(config);
  ASSERT_TRUE(agent);
  const Status aborted = agent->handle(message("abort-3", 3));
  ASSERT_FALSE(aborted.ok());
  EXPECT_THAT(aborted.error().message, HasSubstr("its process killed by signal 6 (SIGABRT) handling this message "
                                                 "(crash 1 of max_crashes 1)"));
  EXPECT_THAT(crashes(), ElementsAre("faulty/signal"));
  EXPECT_TRUE(agent->handle(message("ok-4", 4)).ok());
}

TEST_F(IsolatedAgentTest, AHangIsKilledAfterTheHandlerTimeoutAndCountedAsOne) {
  AgentConfig config;
  config.max_crashes = 1;
  config.handler_timeout = 300ms;
  auto agent = faulty(config);
  ASSERT_TRUE(agent);
  const int pid = agent->child_pid();
  const auto started = std::chrono::steady_clock::now();
  const Status hung = agent->handle(message("hang-5", 5));
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(hung.ok());
  EXPECT_THAT(hung.error().message,
              HasSubstr("its process did not answer within handler_timeout 0.3 s and was killed handling this message"));
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 3s);
  EXPECT_THAT(crashes(), ElementsAre("faulty/timeout"));
  EXPECT_FALSE(alive(pid));
  EXPECT_TRUE(agent->handle(message("ok-6", 6)).ok());
}

TEST_F(IsolatedAgentTest, AChildPastItsMemoryLimitIsKilledCountedAsACrashAndRestarted) {
  AgentConfig config;
  config.max_crashes = 2;
  config.memory_limit_mib = 512;  // a runner takes about 130 MiB under the sanitizers
  config.handler_timeout = 10s;  // the hog never returns: only the memory limit ends it in time
  auto agent = faulty(config);
  ASSERT_TRUE(agent);
  ASSERT_TRUE(agent->handle(message("ok-1", 1)).ok()) << "a runner alone stays far below the limit";
  const int pid = agent->child_pid();

  const auto started = std::chrono::steady_clock::now();
  const Status hog = agent->handle(message("hog-2", 2));
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  ASSERT_FALSE(hog.ok());
  EXPECT_THAT(hog.error().message, ::testing::MatchesRegex("faulty agent 'faulty' failed: its process used [0-9]+ MiB "
                                                           "of resident memory, past memory_limit_mib 512, and was "
                                                           "killed handling this message \\(crash 2 of max_crashes 2\\)"));
  EXPECT_EQ(received("hog-2"), 2u) << "handled again once after the first kill";
  EXPECT_THAT(crashes(), ElementsAre("faulty/memory", "faulty/memory"));
  EXPECT_FALSE(alive(pid));

  ASSERT_TRUE(agent->handle(message("ok-3", 3)).ok()) << "a new process takes the next message";
  EXPECT_TRUE(alive(agent->child_pid()));
  EXPECT_EQ(crashes().size(), 2u);
}

TEST_F(IsolatedAgentTest, ARestartPastMaxRestartsPerMinuteStopsTheWorkerInsteadOfStartingAChild) {
  std::vector<Error> fatal;
  settings_.fatal = [&](const Error& error) {
    fatal.push_back(error);
    services_.stop();
  };
  AgentConfig config;
  config.max_crashes = 1;
  config.max_restarts_per_minute = 2;
  auto agent = faulty(config);
  ASSERT_TRUE(agent);
  // The first crash needs no restart yet; the next two messages each get a new process (2 restarts).
  for (int offset = 1; offset <= 3; ++offset) {
    EXPECT_FALSE(agent->handle(message("segv", offset)).ok());
    EXPECT_TRUE(fatal.empty()) << offset;
  }
  EXPECT_EQ(crashes().size(), 3u);
  const Status refused = agent->handle(message("ok-4", 4));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ExitCode::kPluginRestartLimit);
  EXPECT_EQ(refused.error().message, "agent 'faulty' (plugin faulty) crashed again after 2 restarts of its processes "
                                     "within a minute (max_restarts_per_minute 2); stopping the worker");
  ASSERT_EQ(fatal.size(), 1u);
  EXPECT_EQ(fatal[0].code, ExitCode::kPluginRestartLimit);
  EXPECT_EQ(agent->child_pid(), 0) << "no process started";
  EXPECT_EQ(received("ok-4"), 0u);
  const Status later = agent->handle(message("ok-5", 5));
  ASSERT_FALSE(later.ok()) << "and none later";
  EXPECT_EQ(later.error().code, ExitCode::kPluginRestartLimit);
}

TEST_F(IsolatedAgentTest, TheLanesOfAnAgentShareItsRestartBudget) {
  AgentConfig config;
  config.max_crashes = 1;
  config.max_restarts_per_minute = 1;
  auto library = PluginLibrary::open(FAUST_FAULTY_PLUGIN);
  ASSERT_TRUE(library.ok());
  config.name = "faulty";
  config.isolation = Isolation::kProcess;
  ComponentRef component;
  component.name = "faulty";
  component.plugin = "faulty";
  auto factory = isolated_agent_factory(services_, settings_);
  auto first = factory(config, **library, "faulty", component);
  auto second = factory(config, **library, "faulty", component);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_FALSE((*first)->handle(message("segv", 1)).ok());
  EXPECT_FALSE((*second)->handle(message("segv", 2)).ok());
  EXPECT_TRUE((*first)->handle(message("ok-3", 3)).ok()) << "the agent's one restart";
  const Status refused = (*second)->handle(message("ok-4", 4));
  ASSERT_FALSE(refused.ok()) << "no restart left for the other lane";
  EXPECT_EQ(refused.error().code, ExitCode::kPluginRestartLimit);
}

TEST_F(IsolatedAgentTest, ABatchIsOneCallThatStopsAtTheFirstFailureAndFailsWholeWhenItCrashes) {
  auto agent = faulty();
  ASSERT_TRUE(agent);
  EXPECT_FALSE(agent->handles_batches()) << "the plugin handles messages alone";
  EXPECT_TRUE(agent->takes_batches());
  const std::vector<IncomingMessage> batch = {message("ok-1", 1), message("ok-2", 2), message("fail-3", 3),
                                              message("ok-4", 4)};
  const Status failed = agent->handle_batch(batch);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().message, "faulty agent 'faulty' failed: refused fail-3");
  EXPECT_THAT(services_.log_lines(), ElementsAre("received ok-1", "handled ok-1", "received ok-2", "handled ok-2",
                                                 "received fail-3"));

  const std::vector<IncomingMessage> crashing = {message("ok-5", 5), message("segv-6", 6), message("ok-7", 7)};
  const Status crashed = agent->handle_batch(crashing);
  ASSERT_FALSE(crashed.ok());
  EXPECT_EQ(crashed.error().message,
            std::string("faulty agent 'faulty' failed: its process ") + kSegfaultEnd + " handling a batch");
  EXPECT_EQ(crashes().size(), 1u) << "not tried again: the lane goes message by message";
  EXPECT_EQ(received("segv-6"), 1u);
  ASSERT_TRUE(agent->handle(message("ok-5", 5)).ok()) << "and a new process takes the messages";
}

TEST_F(IsolatedAgentTest, ACrashedCallsSendsAreDroppedAndAnAnsweredCallsReachTheUnit) {
  AgentConfig config;
  config.max_crashes = 2;
  config.config = {{"forward_to", "next"}};
  auto agent = faulty(config);
  ASSERT_TRUE(agent);
  RecordingUnit unit;
  UnitSends::Scope scope(unit);
  EXPECT_FALSE(agent->handle(message("forward-segv-1", 1)).ok());
  EXPECT_TRUE(unit.values.empty()) << "two crashed calls sent it, neither was handed on";

  AgentConfig echo_config;
  echo_config.config = {{"agent", "next"}, {"prefix", "> "}};
  auto echo = start(FAUST_ABI_1_0_PLUGIN, "echo_1_0", echo_config);
  ASSERT_TRUE(echo);
  ASSERT_TRUE(echo->handle(message("hello", 2)).ok());
  EXPECT_THAT(unit.values, ElementsAre("hello"));
  EXPECT_THAT(services_.log_lines(), Contains("> hello")) << "an ABI 1.0 plugin, unchanged, config and all";
}

TEST_F(IsolatedAgentTest, APluginThatRefusesToStartKeepsItsExitCodeAndMessage) {
  const auto started = try_start(FAUST_CREATE_FAILS_PLUGIN, "create_fails");
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.error().code, ExitCode::kPluginCreateFailed);
  EXPECT_THAT(started.error().message, HasSubstr("database unreachable"));
  EXPECT_TRUE(crashes().empty());
}

TEST_F(IsolatedAgentTest, ARunnerThatCannotBeStartedIsAClearError) {
  settings_.runner = "/nonexistent/faust-host";
  const auto started = try_start(FAUST_FAULTY_PLUGIN, "faulty");
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.error().code, ExitCode::kPluginCreateFailed);
  EXPECT_THAT(started.error().message, HasSubstr("/nonexistent/faust-host"));
}

}  // namespace
}  // namespace faust::isolation
