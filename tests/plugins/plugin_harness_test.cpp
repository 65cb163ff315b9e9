// The SDK's plugin harness itself (faust/testing/plugin_harness.hpp): what it gives a plugin, what
// it records, and the plugins it refuses, using the fixture plugins.
#include <gtest/gtest.h>

#include <faust/testing/plugin_harness.hpp>
#include <string>
#include <thread>
#include <vector>

#include "test_dirs.h"

namespace faust::testing {
namespace {

std::string probe_file() { return fixture("sdk_probe").string(); }

// One string member of each record: what was logged, or sent.
template <typename Record>
std::vector<std::string> each(const std::vector<Record>& records, std::string Record::*member) {
  std::vector<std::string> out;
  for (const Record& record : records) out.push_back(record.*member);
  return out;
}

std::vector<std::string> messages(const PluginHarness& harness) { return each(harness.logs(), &LogLine::message); }

TEST(PluginHarness, GivesTheAgentAppIdLeadershipAndConfig) {
  PluginHarness harness(probe_file());
  auto probe = harness.agent("probe", {{"greeting", "hi"}});

  ASSERT_TRUE(probe.handle("v"));
  harness.set_app_id("leader-example");
  harness.set_leader(true);
  ASSERT_TRUE(probe.handle("v"));

  const std::vector<std::string> lines = messages(harness);
  ASSERT_EQ(lines.size(), 20u);
  EXPECT_EQ(lines[0], "app_id=test-app");
  EXPECT_EQ(lines[1], "is_leader=false");
  EXPECT_EQ(lines[2], "greeting=hi");
  EXPECT_EQ(lines[3], "missing=unset");
  EXPECT_EQ(lines[10], "app_id=leader-example");
  EXPECT_EQ(lines[11], "is_leader=true");
}

TEST(PluginHarness, HandsOverKeyValueHeadersAndWhereTheMessageCameFrom) {
  PluginHarness harness(probe_file());
  auto probe = harness.agent("probe");

  ASSERT_TRUE(probe.handle("k1", "first", {{"trace-id", "t-1"}, {"bin", std::string("\0\1", 2)}}));

  const std::vector<std::string> lines = messages(harness);
  EXPECT_EQ(lines[4], "key='k1'");
  EXPECT_EQ(lines[5], "value=first");
  EXPECT_EQ(lines[6], "header trace-id: 3 bytes");
  EXPECT_EQ(lines[7], "header bin: 2 bytes");
  EXPECT_EQ(lines[8], "trace-id=t-1");
  EXPECT_EQ(lines[9].rfind("at test-app-probe[0]@0 ts=", 0), 0u) << lines[9];
}

TEST(PluginHarness, NumbersOffsetsAndTakesExplicitMessageFields) {
  PluginHarness harness(probe_file());
  auto probe = harness.agent("probe");

  ASSERT_TRUE(probe.handle("a"));
  harness.clear();
  ASSERT_TRUE(probe.handle("b"));
  EXPECT_EQ(messages(harness)[4], "key=none");
  EXPECT_EQ(messages(harness)[7].rfind("at test-app-probe[0]@1 ", 0), 0u) << messages(harness)[7];

  harness.clear();
  InputMessage message;
  message.value = "c";
  message.topic = "greetings";
  message.partition = 3;
  message.offset = 41;
  message.timestamp_ms = 1700000000000;
  ASSERT_TRUE(probe.handle(message));
  EXPECT_EQ(messages(harness)[7], "at greetings[3]@41 ts=1700000000000");
}

TEST(PluginHarness, RecordsEveryLogLevel) {
  PluginHarness harness(probe_file());
  auto probe = harness.agent("probe");

  ASSERT_TRUE(probe.handle("v"));

  const std::vector<LogLine> logs = harness.logs();
  ASSERT_EQ(logs.size(), 10u);
  EXPECT_EQ(logs[0].level, FAUST_LOG_INFO);
  EXPECT_EQ(logs[8].level, FAUST_LOG_DEBUG);
  EXPECT_EQ(logs[8].message, "debug line");
  EXPECT_EQ(logs[9].level, FAUST_LOG_WARN);
  EXPECT_EQ(logs[9].component, "probe");
}

TEST(PluginHarness, ReturnsTheErrorAHandlerReports) {
  PluginHarness harness(probe_file());
  auto throws = harness.agent("throws");
  auto throws_unknown = harness.agent("throws_unknown");

  const Outcome outcome = throws.handle("x");
  EXPECT_FALSE(outcome);
  EXPECT_EQ(outcome.error(), "bad greeting: x");
  EXPECT_EQ(throws_unknown.handle("x").error(), "unknown exception");
  EXPECT_TRUE(throws.handle("y").error() == "bad greeting: y");
}

TEST(PluginHarness, RecordsSendsToTopicsWithKeyAndHeaders) {
  PluginHarness harness(probe_file());
  auto timer = harness.timer("send_to_topic", {{"topic", "audit"}});

  ASSERT_TRUE(timer.tick());

  const std::vector<SentMessage> sent = harness.sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].agent, "");
  EXPECT_EQ(sent[0].topic, "audit");
  EXPECT_EQ(sent[0].key, std::optional<std::string>("the-key"));
  EXPECT_EQ(sent[0].value, "payload");
  EXPECT_EQ(sent[0].headers, (Headers{{"trace-id", "abc"}}));
  EXPECT_EQ(sent[0].from, "send_to_topic");
}

TEST(PluginHarness, AnOnLeaderTickSendsAllOrNothing) {
  PluginHarness harness(probe_file());
  auto failing = harness.timer("sends_then_throws");
  const Outcome failed = failing.tick_on_leader();
  EXPECT_FALSE(failed);
  EXPECT_EQ(failed.error(), "failed after two sends");
  EXPECT_TRUE(harness.sent().empty()) << "a failed on_leader tick's transaction is aborted";

  auto sending = harness.timer("send_to_topic", {{"topic", "audit"}});
  ASSERT_TRUE(sending.tick_on_leader());
  ASSERT_EQ(harness.sent().size(), 1u);
  EXPECT_EQ(harness.sent()[0].topic, "audit");

  harness.clear();
  EXPECT_FALSE(failing.tick());  // not on_leader: each send stands on its own
  EXPECT_EQ(harness.sent().size(), 2u);
}

TEST(PluginHarness, FailedSendsReachThePluginAsErrors) {
  PluginHarness harness(probe_file());
  auto timer = harness.timer("catches_send_error");

  ASSERT_TRUE(timer.tick());
  EXPECT_EQ(harness.sent().size(), 1u);
  EXPECT_EQ(harness.sent()[0].key, std::optional<std::string>(""));  // an empty key is still a key

  harness.clear();
  harness.fail_sends("send: no agent named 'say' in the manifest");
  ASSERT_TRUE(timer.tick());
  EXPECT_TRUE(harness.sent().empty());
  ASSERT_EQ(harness.logs().size(), 1u);
  EXPECT_EQ(harness.logs()[0].level, FAUST_LOG_ERROR);
  EXPECT_EQ(harness.logs()[0].message, "caught: send: no agent named 'say' in the manifest");
}

// faust-host's pipelined agent sends: a refused send fails the message unless the handler awaited
// it (ABI 1.3 await_sends) and dealt with it.
TEST(PluginHarness, ARefusedSendFailsTheMessageUnlessTheHandlerAwaitedIt) {
  PluginHarness harness(probe_file());
  auto forward = harness.agent("forward");
  auto awaiting = harness.agent("awaiting_forward");
  ASSERT_TRUE(forward.handle("a"));
  ASSERT_TRUE(awaiting.handle("b"));
  ASSERT_EQ(harness.sent().size(), 2u);
  EXPECT_EQ(harness.logs().back().message, "acknowledged");

  harness.clear();
  harness.refuse_sends("Broker: Message size too large");
  const auto refused = forward.handle("c");
  EXPECT_FALSE(refused);
  EXPECT_EQ(refused.error(), "a send was refused by the broker: Broker: Message size too large");
  EXPECT_TRUE(awaiting.handle("d")) << "the handler was told and chose to go on";
  EXPECT_EQ(harness.logs().back().message, "refused: Broker: Message size too large");
  EXPECT_TRUE(harness.sent().empty());

  harness.accept_sends();
  EXPECT_TRUE(forward.handle("e"));
  EXPECT_EQ(harness.sent().size(), 1u);
}

TEST(PluginHarness, ReportsAFailedCreateWithThePluginsMessage) {
  PluginHarness harness(fixture("create_fails").string());

  try {
    harness.agent("create_fails");
    FAIL() << "created";
  } catch (const HarnessError& error) {
    EXPECT_STREQ(error.what(), "agent 'create_fails': create failed: database unreachable");
  }
}

TEST(PluginHarness, NamesTheAgentsThereAreWhenOneIsMissing) {
  PluginHarness harness(probe_file());

  try {
    harness.agent("say");
    FAIL() << "created";
  } catch (const HarnessError& error) {
    EXPECT_EQ(std::string(error.what()),
              "plugin " + probe_file() +
                  " has no agent 'say' (its agents: probe, throws, throws_unknown, long_error, forward, awaiting_forward)");
  }
}

TEST(PluginHarness, InstancesOutliveTheHarness) {
  std::optional<AgentUnderTest> agent;
  {
    PluginHarness harness(plugin("say").string());
    agent.emplace(harness.agent("say"));
  }
  EXPECT_TRUE(agent->handle("still here"));
}

TEST(PluginHarness, RecordsFromManyThreads) {
  PluginHarness harness(plugin("say").string());
  constexpr int kThreads = 4;
  constexpr int kMessages = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&harness] {
      auto say = harness.agent("say");  // one instance per thread, as faust-host's lanes have
      for (int i = 0; i < kMessages; ++i) say.handle(std::to_string(i));
    });
  }
  for (auto& thread : threads) thread.join();

  EXPECT_EQ(harness.logs().size(), static_cast<std::size_t>(kThreads * kMessages));
}

struct Refusal {
  const char* fixture;
  std::string expected_after_file;
};

class PluginHarnessRefuses : public ::testing::TestWithParam<Refusal> {};

TEST_P(PluginHarnessRefuses, APluginTheHostWouldRefuse) {
  const std::string file = fixture(GetParam().fixture).string();
  try {
    PluginHarness harness(file);
    FAIL() << "loaded " << file;
  } catch (const HarnessError& error) {
    EXPECT_EQ(std::string(error.what()), "plugin " + file + GetParam().expected_after_file);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, PluginHarnessRefuses,
    ::testing::Values(
        Refusal{"abi_major_2",
                ": plugin ABI 2.0, this SDK supports " + std::to_string(FAUST_PLUGIN_ABI_MAJOR) + ".x"},
        Refusal{"abi_minor_newer", ": plugin ABI " + std::to_string(FAUST_PLUGIN_ABI_MAJOR) + "." +
                                       std::to_string(FAUST_PLUGIN_ABI_MINOR + 1) +
                                       " is newer than this SDK's " + std::to_string(FAUST_PLUGIN_ABI_MAJOR) +
                                       "." + std::to_string(FAUST_PLUGIN_ABI_MINOR)},
        Refusal{"descriptor_too_small", ": descriptor struct_size 16 is smaller than the 64 bytes of ABI 1.0"},
        Refusal{"no_entry",
                ": no entry symbol faust_plugin_entry (a plugin ends with FAUST_PLUGIN(...) or exports "
                "it itself)"}),
    [](const ::testing::TestParamInfo<Refusal>& param) { return std::string(param.param.fixture); });

TEST(PluginHarness, SaysWhyAFileCannotBeLoaded) {
  try {
    PluginHarness harness("/nonexistent/say.so");
    FAIL() << "loaded";
  } catch (const HarnessError& error) {
    EXPECT_EQ(std::string(error.what()).rfind("plugin /nonexistent/say.so: cannot load: ", 0), 0u)
        << error.what();
  }
}

// ---- ABI 1.1: metrics and pages ----

std::string metrics_pages_file() { return fixture("metrics_pages").string(); }

TEST(PluginHarness, RecordsTheMetricsAPluginCreates) {
  PluginHarness harness(metrics_pages_file());
  auto timer = harness.timer("observer", {{"level", "7.5"}});
  ASSERT_TRUE(timer.tick());
  ASSERT_TRUE(timer.tick());
  auto second = harness.timer("observer", {{"pages", "off"}});  // a second instance shares the series
  ASSERT_TRUE(second.tick());

  const auto ticks = harness.metric("probe_ticks_total");
  ASSERT_TRUE(ticks);
  EXPECT_EQ(ticks->kind, FAUST_METRIC_COUNTER);
  EXPECT_EQ(ticks->help, "Ticks of the observer");
  EXPECT_EQ(ticks->value, 3);
  const auto took = harness.metric("probe_tick_seconds");
  ASSERT_TRUE(took);
  EXPECT_EQ(took->count, 3u);
  EXPECT_DOUBLE_EQ(took->sum, 1.5);
  EXPECT_EQ(took->buckets, (std::vector<double>{0.1, 1}));
  EXPECT_EQ(took->bucket_counts, (std::vector<std::uint64_t>{0, 3}));
  EXPECT_EQ(harness.metric("probe_level")->value, 3);  // the second instance's default level
  EXPECT_FALSE(harness.metric("missing"));
  EXPECT_EQ(harness.metric_names(),
            (std::vector<std::string>{"probe_level", "probe_tick_seconds", "probe_ticks_total"}));
}

TEST(PluginHarness, RefusesMetricsAsTheHostDoes) {
  PluginHarness harness(metrics_pages_file());
  const auto create_error = [&](Config config) {
    try {
      harness.timer("configured", std::move(config));
      return std::string("created");
    } catch (const HarnessError& error) {
      return std::string(error.what());
    }
  };
  EXPECT_EQ(create_error({{"name", "bad-name"}}),
            "timer 'configured': create failed: metric 'bad-name' of plugin 'metrics_pages': invalid name (use "
            "[a-zA-Z_][a-zA-Z0-9_]*)");
  EXPECT_EQ(create_error({{"name", "faust_mine"}}),
            "timer 'configured': create failed: metric 'faust_mine' of plugin 'metrics_pages': names starting with "
            "'faust_' are faust-host's own");
  EXPECT_EQ(create_error({{"name", "jobs"}, {"help", "Jobs"}}), "created");
  EXPECT_EQ(create_error({{"name", "jobs"}, {"help", "Jobs"}}), "created");
  EXPECT_EQ(create_error({{"name", "jobs"}, {"help", "Jobs"}, {"kind", "gauge"}}),
            "timer 'configured': create failed: metric 'jobs' of plugin 'metrics_pages': already created as a "
            "counter, not a gauge");
  EXPECT_EQ(create_error({{"name", "jobs"}, {"help", "Other"}}),
            "timer 'configured': create failed: metric 'jobs' of plugin 'metrics_pages': already created with help "
            "'Jobs'");
}

TEST(PluginHarness, CallsThePagesAPluginRegisters) {
  PluginHarness harness(metrics_pages_file());
  {
    auto timer = harness.timer("observer");
    ASSERT_TRUE(timer.tick());
    const PageResponse stats = harness.get_page("stats?verbose=1");
    EXPECT_EQ(stats.status, 200);
    EXPECT_EQ(stats.content_type, "text/plain; charset=utf-8");
    EXPECT_EQ(stats.body, "ticks=1 query=verbose=1");
    EXPECT_EQ(harness.get_page("stats/").body, "ticks=1 query=");
    const PageResponse json = harness.get_page("stats/json");
    EXPECT_EQ(json.status, 201);
    EXPECT_EQ(json.content_type, "application/json");
    EXPECT_EQ(json.body, "{\"ticks\":1}");
    const PageResponse failed = harness.get_page("fail");
    EXPECT_EQ(failed.status, 500);
    EXPECT_EQ(failed.body, "page failed: no stats yet\n");
    EXPECT_EQ(harness.get_page("nothing").status, 404);
  }
  // Gone with the instance that registered it.
  EXPECT_EQ(harness.get_page("stats").status, 404);
}

TEST(PluginHarness, RefusesPagesAsTheHostDoes) {
  PluginHarness harness(metrics_pages_file());
  const auto create_error = [&](std::string path) {
    try {
      auto timer = harness.timer("configured", {{"path", path}});
      return std::string("created");
    } catch (const HarnessError& error) {
      return std::string(error.what());
    }
  };
  const std::string rule =
      "': invalid path (use segments of [A-Za-z0-9._~-] separated by '/', without a leading '/' or an empty, '.' "
      "or '..' segment)";
  for (const char* bad : {"/stats", "a//b", "a/", "..", "a/./b", "a b", "a?b", ""}) {
    EXPECT_EQ(create_error(bad), "timer 'configured': create failed: page '" + std::string(bad) +
                                     "' of plugin 'metrics_pages" + rule);
  }
  EXPECT_EQ(create_error("ok/v1.2/~x_y-z"), "created");
  auto holder = harness.timer("configured", {{"path", "taken"}});
  EXPECT_EQ(create_error("taken"),
            "timer 'configured': create failed: page 'taken' of plugin 'metrics_pages': already registered (each lane "
            "of an agent with concurrency above 1 is an instance of its own; register a page once, from the "
            "plugin-wide part: faust::sdk::Shared, ABI 1.4)");
}

}  // namespace
}  // namespace faust::testing

namespace faust::testing {
namespace {

std::string leader_probe() { return fixture("leader_probe").string(); }

TEST(PluginHarnessServices, DrivesAServiceThroughItsLifecycle) {
  PluginHarness harness(leader_probe());
  EXPECT_EQ(harness.service_names(), std::vector<std::string>{"probe_service"});
  auto service = harness.service("probe_service");
  ASSERT_TRUE(service.start());
  ASSERT_TRUE(service.elected(7));
  EXPECT_EQ(harness.leader_state().at("term"), "7") << "elected's writes commit with it";
  ASSERT_EQ(harness.sent().size(), 1u);
  EXPECT_EQ(harness.sent()[0].value, "elected 7");
  harness.request_stop();
  ASSERT_TRUE(service.lead()) << "lead returns once asked to stop";
  service.revoked();
  service.stop();
  EXPECT_EQ(harness.log_lines(), (std::vector<std::string>{"[probe_service] started", "[probe_service] leading",
                                                           "[probe_service] revoked", "[probe_service] stopped"}));
}

TEST(PluginHarnessServices, ALeaderOnlyAgentsStateAndSendsCommitOnlyWhenItSucceeds) {
  PluginHarness harness(leader_probe());
  auto tally = harness.agent("tally");
  ASSERT_TRUE(tally.handle_on_leader("a"));
  ASSERT_TRUE(tally.handle_on_leader("a"));
  EXPECT_EQ(harness.leader_state().at("count/a"), "2");
  const Outcome boom = tally.handle_on_leader("boom");
  EXPECT_FALSE(boom);
  EXPECT_EQ(boom.error(), "boom");
  EXPECT_EQ(harness.leader_state().count("count/boom"), 0u) << "a failed handle writes nothing";
  ASSERT_EQ(harness.sent().size(), 2u) << "and sends nothing";
  EXPECT_EQ(harness.sent()[1].value, "a=2");
}

TEST(PluginHarnessServices, LeaderStateOutsideLeaderWorkIsRefused) {
  PluginHarness harness(leader_probe());
  auto tally = harness.agent("tally");
  const Outcome outside = tally.handle("a");
  EXPECT_FALSE(outside);
  EXPECT_EQ(outside.error(), "leader state: not in a leader term");
  harness.set_leader_state("count/a", "41");
  harness.set_leader(true);  // as in a service's lead: each write stands alone
  ASSERT_TRUE(tally.handle("a"));
  EXPECT_EQ(harness.leader_state().at("count/a"), "42");
}

}  // namespace
}  // namespace faust::testing

namespace faust::testing {
namespace {

// ---- ABI 1.2: batches ----

std::string batch_probe() { return fixture("batch_probe").string(); }

std::vector<std::string> sent_values(const PluginHarness& harness) { return each(harness.sent(), &SentMessage::value); }

TEST(PluginHarnessBatches, HandsABatchOfOnePartitionAtConsecutiveOffsets) {
  PluginHarness harness(batch_probe());
  auto echo = harness.agent("echo_batches", {{"to", "out"}});
  ASSERT_TRUE(echo.handles_batches());

  const Outcome first = echo.handle_batch({"a", "b", "c"});
  ASSERT_TRUE(first) << first;
  ASSERT_TRUE(echo.handle("d"));  // numbered after the batch

  std::vector<InputMessage> placed(2);
  placed[0].value = "e";
  placed[0].key = "k";
  placed[0].topic = "orders";
  placed[0].partition = 2;
  placed[0].offset = 40;
  placed[1].value = "f";
  placed[1].partition = 2;  // topic and offset follow the first message's
  const Outcome second = echo.handle_batch(placed);
  ASSERT_TRUE(second) << second;

  const std::vector<std::string> lines = messages(harness);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "batch of 3 at test-app-echo_batches[0]@0..2: a,b,c");
  EXPECT_EQ(lines[1], "one at test-app-echo_batches[0]@3: d");
  EXPECT_EQ(lines[2], "batch of 2 at orders[2]@40..41: e(key k),f");
  EXPECT_EQ(sent_values(harness), (std::vector<std::string>{"a", "b", "c", "d", "e", "f"}));
  EXPECT_EQ(harness.sent()[4].topic, "out");
  EXPECT_EQ(harness.sent()[4].key, "k");
  EXPECT_EQ(harness.sent()[4].from, "echo_batches");
}

TEST(PluginHarnessBatches, TakesTheValuesOfAVector) {
  PluginHarness harness(batch_probe());
  auto echo = harness.agent("echo_batches");
  const std::vector<std::string> values{"x", "y"};
  ASSERT_TRUE(echo.handle_batch(values));
  ASSERT_TRUE(echo.handle_batch({"z"}));
  EXPECT_EQ(messages(harness), (std::vector<std::string>{"batch of 2 at test-app-echo_batches[0]@0..1: x,y",
                                                          "batch of 1 at test-app-echo_batches[0]@2..2: z"}));
}

TEST(PluginHarnessBatches, RefusesABatchThatIsNotOnePartitionsConsecutiveMessages) {
  PluginHarness harness(batch_probe());
  auto echo = harness.agent("echo_batches");

  std::vector<InputMessage> two_partitions(2);
  two_partitions[1].partition = 1;
  EXPECT_EQ(echo.handle_batch(two_partitions).error(),
            "message #1 of the batch is not at test-app-echo_batches[0]@1: a batch is one partition's messages at "
            "consecutive offsets");

  std::vector<InputMessage> gap(3);
  gap[0].offset = 10;
  gap[2].offset = 13;
  EXPECT_EQ(echo.handle_batch(gap).error(),
            "message #2 of the batch is not at test-app-echo_batches[0]@12: a batch is one partition's messages at "
            "consecutive offsets");

  std::vector<InputMessage> two_topics(2);
  two_topics[1].topic = "elsewhere";
  EXPECT_FALSE(echo.handle_batch(two_topics));
  EXPECT_EQ(echo.handle_batch(std::vector<InputMessage>()).error(), "a batch holds at least one message");
  EXPECT_TRUE(harness.logs().empty()) << "the plugin saw none of them";
}

TEST(PluginHarnessBatches, AFailedBatchSendsNothingAndItsMessagesCanBeHandledOneByOne) {
  PluginHarness harness(batch_probe());
  auto echo = harness.agent("echo_batches");

  const Outcome batch = echo.handle_batch({"x", "fail-y", "z"});
  EXPECT_FALSE(batch);
  EXPECT_EQ(batch.error(), "cannot handle fail-y");
  EXPECT_TRUE(harness.sent().empty()) << "x was sent before the batch failed, and is dropped with it";

  // What faust-host does next: each message alone, at its offset, on_error applied to each.
  std::vector<Outcome> alone;
  for (const char* value : {"x", "fail-y", "z"}) {
    InputMessage message;
    message.value = value;
    message.offset = static_cast<std::int64_t>(alone.size());
    alone.push_back(echo.handle(message));
  }
  EXPECT_TRUE(alone[0]);
  EXPECT_EQ(alone[1].error(), "cannot handle fail-y");
  EXPECT_TRUE(alone[2]);
  EXPECT_EQ(sent_values(harness), (std::vector<std::string>{"x", "z"}));
  EXPECT_EQ(messages(harness).back(), "one at test-app-echo_batches[0]@2: z");
}

TEST(PluginHarnessBatches, AnAgentWithoutBatchHandlingSaysSo) {
  PluginHarness probe_harness(probe_file());
  auto probe = probe_harness.agent("probe");
  EXPECT_FALSE(probe.handles_batches());
  EXPECT_EQ(probe.handle_batch({"a"}).error(),
            "agent 'probe' has no batch handling: the plugin lists no handle_batch for it (a faust::sdk::BatchAgent, "
            "ABI 1.2)");
  EXPECT_TRUE(probe_harness.logs().empty());

  // A plugin built against ABI 1.0: its descriptor ends before the batch list, which is not read.
  PluginHarness old_harness(fixture("abi_1_0").string());
  auto old_echo = old_harness.agent("echo_1_0");
  EXPECT_FALSE(old_echo.handles_batches());
  EXPECT_FALSE(old_echo.handle_batch({"a"}));
}

}  // namespace
}  // namespace faust::testing

namespace faust::testing {
namespace {

std::string lane_pages_file() { return fixture("lane_pages").string(); }

// ABI 1.4: the plugin-wide part is created with the harness, its page sees every instance, and it
// goes after the last instance, as in faust-host.
TEST(PluginHarnessSharedPart, OnePageAndCounterForEveryLane) {
  std::optional<AgentUnderTest> second;
  {
    PluginHarness harness(lane_pages_file());
    EXPECT_TRUE(harness.has_shared_part());
    auto first = harness.agent("lanes");
    second.emplace(harness.agent("lanes"));  // the second lane of concurrency: 2
    ASSERT_TRUE(first.handle("a"));
    ASSERT_TRUE(second->handle("b"));

    EXPECT_EQ(harness.get_page("lanes").body, "handled=2 lanes=2");
    ASSERT_TRUE(harness.metric("lane_messages_total"));
    EXPECT_EQ(harness.metric("lane_messages_total")->value, 2);
    EXPECT_EQ(harness.log_lines(), (std::vector<std::string>{"[lane_pages] plugin-wide part created",
                                                              "[lanes] lane 1", "[lanes] lane 2"}));
  }
  ASSERT_TRUE(second->handle("c"));  // the part outlives the harness while an instance lives
  second.reset();
}

TEST(PluginHarnessSharedPart, APagePerLaneIsRefusedAsFaustHostRefusesIt) {
  PluginHarness harness(lane_pages_file());
  auto first = harness.agent("page_per_lane");
  try {
    harness.agent("page_per_lane");
    FAIL() << "the second lane's page was accepted";
  } catch (const HarnessError& e) {
    EXPECT_EQ(std::string(e.what()),
              "agent 'page_per_lane': create failed: page 'own' of plugin 'lane_pages': already registered (each "
              "lane of an agent with concurrency above 1 is an instance of its own; register a page once, from the "
              "plugin-wide part: faust::sdk::Shared, ABI 1.4)");
  }
}

TEST(PluginHarnessSharedPart, APluginWithoutOneHasNone) {
  PluginHarness harness(probe_file());
  EXPECT_FALSE(harness.has_shared_part());
}

}  // namespace
}  // namespace faust::testing

namespace faust::testing {
namespace {

// FAUST_PLUGIN("compact", "0.1.0", agent<Echo>(), timer<Greet>(), service<Lonely>("lonely")).
TEST(PluginHarnessShortForm, UnnamedComponentsTakeThePluginsName) {
  PluginHarness harness(fixture("compact").string());
  EXPECT_EQ(harness.agent_names(), std::vector<std::string>{"compact"});
  EXPECT_EQ(harness.timer_names(), std::vector<std::string>{"compact"});
  EXPECT_EQ(harness.service_names(), std::vector<std::string>{"lonely"});

  auto echo = harness.agent("compact");
  ASSERT_TRUE(echo.handle("hi"));
  EXPECT_EQ(harness.log_lines(), std::vector<std::string>{"[compact] got hi"});

  auto greet = harness.timer("compact", {{"greeting", "hey"}});  // host() in a member initializer
  ASSERT_TRUE(greet.tick());
  ASSERT_EQ(harness.sent().size(), 1u);
  EXPECT_EQ(harness.sent()[0].agent, "compact");
  EXPECT_EQ(harness.sent()[0].value, "hey");
}

TEST(PluginHarnessShortForm, AskingForAMissingPluginWidePartFails) {
  PluginHarness harness(fixture("compact").string());
  auto lonely = harness.service("lonely");
  EXPECT_EQ(lonely.start().error(),
            "the plugin has no plugin-wide part (list faust::sdk::shared<T>() in FAUST_PLUGIN), or it is still "
            "being created");
}

}  // namespace
}  // namespace faust::testing
