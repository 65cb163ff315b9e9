// Isolated timers and services (isolation: process) run by the built faust-host as plugin-runner,
// on the test plugin `faulty`'s timer `faulty_tick` and service `faulty_service`: ticks and
// callbacks in a child, host calls (sends, logs, the leader state) answered by the worker, and a
// child that crashes restarted so the schedule, or the service, goes on.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <future>
#include <string>
#include <vector>

#include "isolation/isolated_agent.h"
#include "isolation/isolated_service.h"
#include "isolation/isolated_timer.h"
#include "isolation_services.h"
#include "isolation_test_support.h"

namespace faust::isolation {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using test::alive;
using test::kSegfaultEnd;
using test::kSegfaultReason;

class IsolatedTimerServiceTest : public ::testing::Test {
 protected:
  IsolatedTimerServiceTest() {
    settings_.runner = FAUST_HOST_BINARY;
    settings_.crashed = [this](const std::string& plugin, const char* reason) {
      std::lock_guard lock(mutex_);
      crashes_.emplace_back(plugin + "/" + reason);
    };
    auto library = PluginLibrary::open(FAUST_FAULTY_PLUGIN);
    EXPECT_TRUE(library.ok()) << library.error().message;
    if (library) library_ = *library;
    marker_ = std::filesystem::temp_directory_path() /
              ("faust-isolated-" + std::to_string(::getpid()) + "-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove(marker_);
  }
  ~IsolatedTimerServiceTest() override { std::filesystem::remove(marker_); }

  ComponentRef component(const std::string& name, bool on_leader = false) const {
    ComponentRef ref;
    ref.name = name;
    ref.plugin = "faulty";
    ref.on_leader = on_leader;
    return ref;
  }
  std::unique_ptr<IsolatedTimer> timer(TimerConfig config, bool on_leader = false) {
    config.name = "faulty_tick";
    config.isolation = Isolation::kProcess;
    config.on_leader = on_leader;
    auto started =
        IsolatedTimer::start(config, *library_, "faulty_tick", component(config.name, on_leader), services_, settings_);
    EXPECT_TRUE(started.ok()) << started.error().message;
    if (!started) return nullptr;
    return std::unique_ptr<IsolatedTimer>(static_cast<IsolatedTimer*>(started->release()));
  }
  std::unique_ptr<IsolatedService> service(ServiceConfig config) {
    config.name = "faulty_service";
    config.isolation = Isolation::kProcess;
    auto created =
        IsolatedService::create(config, *library_, "faulty_service", component(config.name), services_, settings_);
    EXPECT_TRUE(created.ok()) << created.error().message;
    if (!created) return nullptr;
    return std::unique_ptr<IsolatedService>(static_cast<IsolatedService*>(created->release()));
  }
  std::vector<std::string> crashes() {
    std::lock_guard lock(mutex_);
    return crashes_;
  }
  std::vector<std::string> sent_values() const {
    std::vector<std::string> values;
    for (const OutgoingMessage& message : services_.sent()) values.push_back(message.value);
    return values;
  }

  Services services_;
  IsolationSettings settings_;
  std::shared_ptr<const PluginLibrary> library_;
  std::filesystem::path marker_;
  std::mutex mutex_;
  std::vector<std::string> crashes_;
};

TEST_F(IsolatedTimerServiceTest, ATimerTicksInAChildWhoseSendsLogsAndLeaderStateTheWorkerAnswers) {
  TimerConfig config;
  config.config = {{"send_to", "say"}, {"count_in_state", "true"}};
  auto ticking = timer(config, true);
  ASSERT_TRUE(ticking);
  const int pid = ticking->child_pid();
  EXPECT_NE(pid, ::getpid());
  EXPECT_TRUE(alive(pid));
  EXPECT_EQ(ticking->component().kind, ComponentRef::Kind::kTimer);
  ASSERT_TRUE(ticking->tick().ok());
  ASSERT_TRUE(ticking->tick().ok());
  EXPECT_THAT(services_.log_lines(), ElementsAre("tick 1", "tick 2"));
  const std::string prefix = "tick-" + std::to_string(pid) + "-";
  EXPECT_THAT(sent_values(), ElementsAre(prefix + "1", prefix + "2"));
  for (const OutgoingMessage& message : services_.sent()) EXPECT_EQ(message.agent, "say");
  EXPECT_EQ(services_.state("ticks"), std::optional<std::string>("2")) << "state_get and state_put served";
  EXPECT_EQ(ticking->child_pid(), pid);
  EXPECT_TRUE(crashes().empty());
  ticking.reset();
  EXPECT_FALSE(alive(pid)) << "the runner exits (and is reaped) with its timer";
}

TEST_F(IsolatedTimerServiceTest, ATimerThatSegfaultsOnATickIsRestartedAndTheNextTickRunsInTheNewChild) {
  TimerConfig config;
  config.config = {{"send_to", "say"}, {"crash_on_tick", "2"}, {"crash_once", marker_.string()}};
  auto ticking = timer(config);
  ASSERT_TRUE(ticking);
  const int first = ticking->child_pid();
  ASSERT_TRUE(ticking->tick().ok());

  const Status crashed = ticking->tick();
  ASSERT_FALSE(crashed.ok());
  EXPECT_EQ(crashed.error().message,
            std::string("faulty timer 'faulty_tick' failed: its process ") + kSegfaultEnd + " during this tick");
  EXPECT_THAT(crashes(), ElementsAre(std::string("faulty/") + kSegfaultReason));
  EXPECT_FALSE(alive(first));
  EXPECT_EQ(ticking->child_pid(), 0) << "the crashed tick's transaction is not held up by a process start";
  ticking->prepare();  // before the next tick, outside its transaction
  const int second = ticking->child_pid();
  EXPECT_NE(second, first);
  EXPECT_TRUE(alive(second));

  ASSERT_TRUE(ticking->tick().ok());
  ASSERT_TRUE(ticking->tick().ok());
  EXPECT_THAT(services_.log_lines(), ElementsAre("tick 1", "tick 2", "tick 1", "tick 2"));
  const std::string before = "tick-" + std::to_string(first) + "-";
  const std::string after = "tick-" + std::to_string(second) + "-";
  // The crashed tick's send was held until an answer that never came: it never left the worker,
  // so an on_leader tick's transaction has nothing of it to abort.
  EXPECT_THAT(sent_values(), ElementsAre(before + "1", after + "1", after + "2"));
  EXPECT_EQ(crashes().size(), 1u);
}

TEST_F(IsolatedTimerServiceTest, AProcessIsReplacedByANewVersionOnlyOnceItStarts) {
  TimerConfig config;
  config.name = "faulty_tick";
  config.config = {{"send_to", "say"}, {"prefix", "v1"}};
  ChildSpec spec{FAUST_FAULTY_PLUGIN, "faulty_tick", component("faulty_tick"), config.config, config.limits};
  spec.component.kind = ComponentRef::Kind::kTimer;
  PluginProcess process(spec, services_, settings_);
  ASSERT_TRUE(process.start().ok());
  std::string tick;
  FrameWriter(tick, FrameType::kTick).finish();
  const int first = process.pid();
  ASSERT_TRUE(process.call(tick).answered);

  // A library that does not load: the error, and the running child stays.
  const Status refused = process.replace("/nonexistent/faulty.so", {{"send_to", "say"}, {"prefix", "v2"}});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(process.pid(), first);
  ASSERT_TRUE(process.call(tick).answered);

  ASSERT_TRUE(process.replace(FAUST_FAULTY_PLUGIN, {{"send_to", "say"}, {"prefix", "v2"}}).ok());
  const int second = process.pid();
  EXPECT_NE(second, first);
  EXPECT_FALSE(alive(first)) << "the old child exits once the new one is ready";
  ASSERT_TRUE(process.call(tick).answered);
  EXPECT_THAT(sent_values(), ElementsAre("v1-" + std::to_string(first) + "-1", "v1-" + std::to_string(first) + "-2",
                                         "v2-" + std::to_string(second) + "-1"));
}

TEST_F(IsolatedTimerServiceTest, AHungTickIsKilledAfterTheHandlerTimeoutAndTheNextTickRuns) {
  TimerConfig config;
  config.limits.handler_timeout = 200ms;
  config.config = {{"crash_on_tick", "1"}, {"crash", "hang"}, {"crash_once", marker_.string()}};
  auto ticking = timer(config);
  ASSERT_TRUE(ticking);
  const Status hung = ticking->tick();
  ASSERT_FALSE(hung.ok());
  EXPECT_EQ(hung.error().message, "faulty timer 'faulty_tick' failed: its process did not answer within "
                                  "handler_timeout 0.2 s and was killed during this tick");
  EXPECT_THAT(crashes(), ElementsAre("faulty/timeout"));
  ASSERT_TRUE(ticking->tick().ok());
}

TEST_F(IsolatedTimerServiceTest, ATimerThatCrashesOnEveryTickStopsTheWorkerPastMaxRestartsPerMinute) {
  std::vector<Error> fatal;
  settings_.fatal = [&](const Error& error) {
    fatal.push_back(error);
    services_.stop();
  };
  TimerConfig config;
  config.limits.max_restarts_per_minute = 2;
  config.config = {{"crash_on_tick", "1"}, {"crash", "abort"}};
  auto ticking = timer(config);
  ASSERT_TRUE(ticking);
  EXPECT_FALSE(ticking->tick().ok());
  ticking->prepare();                  // restart 1, at once
  EXPECT_FALSE(ticking->tick().ok());
  EXPECT_FALSE(ticking->tick().ok());  // restart 2 by the tick itself, after 100 ms
  EXPECT_TRUE(fatal.empty());
  ticking->prepare();                  // a third restart is refused
  ASSERT_EQ(fatal.size(), 1u);
  EXPECT_EQ(fatal[0].code, ExitCode::kPluginRestartLimit);
  EXPECT_EQ(fatal[0].message, "timer 'faulty_tick' (plugin faulty) crashed again after 2 restarts of its processes "
                              "within a minute (max_restarts_per_minute 2); stopping the worker");
  EXPECT_EQ(ticking->child_pid(), 0);
  EXPECT_EQ(crashes().size(), 3u);
  const Status refused = ticking->tick();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ExitCode::kPluginRestartLimit);
}

TEST_F(IsolatedTimerServiceTest, ALeaderOnlyAgentsCallFailsAtEveryCrashSoItsTransactionAbortsUpToMaxCrashes) {
  AgentConfig config;
  config.name = "faulty";
  config.on_leader = true;
  config.isolation = Isolation::kProcess;
  config.max_crashes = 2;
  config.config = {{"forward_to", "say"}};
  auto started = IsolatedAgent::start(config, *library_, "faulty", component("faulty", true), services_, settings_);
  ASSERT_TRUE(started.ok()) << started.error().message;
  AgentCalls& agent = **started;
  IncomingMessage poison;
  poison.value = "forward-segv-4";
  poison.topic = "leader-in";
  poison.offset = 4;

  // Its send reached the leader's transaction before the crash: not handled again in this call.
  const Status first = agent.handle(poison);
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.error().message, std::string("faulty agent 'faulty' failed: its process ") + kSegfaultEnd +
                                       " handling this message (crash 1 of max_crashes 2)");
  EXPECT_THAT(sent_values(), ElementsAre("forward-segv-4"));
  // on_error retry: a new transaction, a new child, crash 2; then it fails at once.
  EXPECT_FALSE(agent.handle(poison).ok());
  EXPECT_FALSE(agent.handle(poison).ok());
  EXPECT_THAT(services_.log_lines(), ElementsAre("received forward-segv-4", "received forward-segv-4"));
  EXPECT_EQ(crashes().size(), 2u);
  IncomingMessage next;
  next.value = "ok-5";
  next.topic = "leader-in";
  next.offset = 5;
  EXPECT_TRUE(agent.handle(next).ok());
}

TEST_F(IsolatedTimerServiceTest, AServiceRunsItsLifecycleInAChild) {
  auto running = service({});
  ASSERT_TRUE(running);
  EXPECT_TRUE(running->has_lead());
  const int pid = running->child_pid();
  ASSERT_TRUE(running->start().ok());
  ASSERT_TRUE(running->elected(ServiceTerm{7, std::chrono::system_clock::now()}).ok());
  auto lead = std::async(std::launch::async, [&] { return running->lead(); });
  EXPECT_EQ(lead.wait_for(300ms), std::future_status::timeout) << "lead waits in wait_for_stop";
  services_.stop();
  ASSERT_EQ(lead.wait_for(10s), std::future_status::ready);
  EXPECT_TRUE(lead.get().ok());
  ASSERT_TRUE(running->revoked().ok());
  ASSERT_TRUE(running->stop().ok());
  EXPECT_THAT(services_.log_lines(), ElementsAre("start", "elected 7", "lead", "revoked", "stop"));
  EXPECT_EQ(running->child_pid(), pid);
  EXPECT_TRUE(crashes().empty());
}

TEST_F(IsolatedTimerServiceTest, AServiceWhoseLeadCrashesIsRestartedBroughtBackToItsTermAndLeadsAgain) {
  ServiceConfig config;
  config.config = {{"crash_in", "lead"}, {"crash_once", marker_.string()}};
  auto running = service(config);
  ASSERT_TRUE(running);
  const int first = running->child_pid();
  ASSERT_TRUE(running->start().ok());
  ASSERT_TRUE(running->elected(ServiceTerm{3, std::chrono::system_clock::now()}).ok());
  auto lead = std::async(std::launch::async, [&] { return running->lead(); });
  // The first lead crashes; the new child gets start and elected(3) again, then lead.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (services_.log_lines().size() < 6 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(lead.wait_for(0ms), std::future_status::timeout) << "leading again, in the new child";
  services_.stop();
  ASSERT_EQ(lead.wait_for(10s), std::future_status::ready);
  EXPECT_TRUE(lead.get().ok());
  ASSERT_TRUE(running->revoked().ok());
  ASSERT_TRUE(running->stop().ok());
  EXPECT_THAT(services_.log_lines(),
              ElementsAre("start", "elected 3", "lead", "start", "elected 3", "lead", "revoked", "stop"));
  EXPECT_THAT(crashes(), ElementsAre(std::string("faulty/") + kSegfaultReason));
  EXPECT_NE(running->child_pid(), first);
  EXPECT_TRUE(alive(running->child_pid()));
}

TEST_F(IsolatedTimerServiceTest, AServiceWhoseStartCrashesIsRestartedAtItsNextCallback) {
  ServiceConfig config;
  config.config = {{"crash_in", "start"}, {"crash_once", marker_.string()}};
  auto running = service(config);
  ASSERT_TRUE(running);
  const Status started = running->start();
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.error().message,
            std::string("faulty service 'faulty_service' start failed: its process ") + kSegfaultEnd);
  EXPECT_EQ(running->child_pid(), 0);
  ASSERT_TRUE(running->elected(ServiceTerm{4, std::chrono::system_clock::now()}).ok());
  ASSERT_TRUE(running->revoked().ok());
  EXPECT_THAT(services_.log_lines(), ElementsAre("start", "start", "elected 4", "revoked"));
}

}  // namespace
}  // namespace faust::isolation
