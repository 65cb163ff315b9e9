// Loads real plugins through instantiate() and drives them through the host API with a recording
// HostServices: what the runtime will do, minus the broker.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "plugins/loaded_components.h"
#include "plugins/plugin_registry.h"
#include "recording_host_services.h"
#include "test_dirs.h"

namespace faust {
namespace {

using ::testing::ElementsAre;
using ::testing::MatchesRegex;
using testing::RecordingHostServices;
using ::testing::SizeIs;

AgentConfig agent(std::string name, std::string library, ConfigMap config = {}, int concurrency = 1) {
  AgentConfig agent_config;
  agent_config.name = std::move(name);
  agent_config.library = std::move(library);
  agent_config.concurrency = concurrency;
  agent_config.config = std::move(config);
  return agent_config;
}

TimerConfig timer(std::string name, std::string library, ConfigMap config = {}, bool on_leader = false) {
  TimerConfig timer_config;
  timer_config.name = std::move(name);
  timer_config.library = std::move(library);
  timer_config.on_leader = on_leader;
  timer_config.config = std::move(config);
  return timer_config;
}

IncomingMessage message_with_value(std::string_view value) {
  IncomingMessage message;
  message.value = value;
  message.topic = "leader-example-say";
  return message;
}

class PluginsEndToEndTest : public ::testing::Test {
 protected:
  PluginsEndToEndTest() {
    manifest_.file = "leader.yaml";
    manifest_.app.id = "leader-example";
  }

  // Everything the manifest names, or a failed test.
  LoadedComponents load() {
    Result<LoadedComponents> loaded = instantiate(manifest_, services_, registry_, search_dirs_);
    EXPECT_TRUE(loaded.ok()) << loaded.error().message;
    if (!loaded.ok()) return {};
    return std::move(loaded).value();
  }

  Error refusal() {
    Result<LoadedComponents> loaded = instantiate(manifest_, services_, registry_, search_dirs_);
    EXPECT_FALSE(loaded.ok());
    if (loaded.ok()) return {};
    EXPECT_EQ(loaded.error().message.find('\n'), std::string::npos) << loaded.error().message;
    return loaded.error();
  }

  Manifest manifest_;
  RecordingHostServices services_;
  PluginRegistry registry_;
  std::vector<std::filesystem::path> search_dirs_{testing::kFixtureDir, testing::kPluginDir};
};

TEST_F(PluginsEndToEndTest, SayLogsEachGreeting) {
  manifest_.agents.push_back(agent("say", "say"));
  LoadedComponents loaded = load();
  ASSERT_THAT(loaded.agents, SizeIs(1));
  ASSERT_THAT(loaded.agents[0].instances, SizeIs(1));
  AgentCalls& say = *loaded.agents[0].instances[0];
  EXPECT_EQ(say.component().name, "say");
  EXPECT_EQ(say.component().plugin, "say");
  EXPECT_EQ(say.component().kind, ComponentRef::Kind::kAgent);

  ASSERT_TRUE(say.handle(message_with_value("0.8444218515250481")).ok());
  ASSERT_TRUE(say.handle(message_with_value("0.7579544029403025")).ok());
  const auto events = services_.events();
  ASSERT_THAT(events, SizeIs(2));
  EXPECT_EQ(events[0].component, "say");
  EXPECT_EQ(events[0].level, FAUST_LOG_INFO);
  EXPECT_EQ(events[0].text, "0.8444218515250481");
  EXPECT_EQ(events[1].text, "0.7579544029403025");
}

TEST_F(PluginsEndToEndTest, PublishGreetingsSendsARandomGreetingToSay) {
  manifest_.timers.push_back(timer("publish_greetings", "publish_greetings", {}, true));
  LoadedComponents loaded = load();
  ASSERT_THAT(loaded.timers, SizeIs(1));
  TimerCalls& publish = *loaded.timers[0].instance;
  EXPECT_TRUE(publish.component().on_leader);
  EXPECT_EQ(publish.component().kind, ComponentRef::Kind::kTimer);

  ASSERT_TRUE(publish.tick().ok());
  ASSERT_TRUE(publish.tick().ok());
  const auto events = services_.events();
  ASSERT_THAT(events, SizeIs(6));
  std::vector<std::string> greetings;
  for (std::size_t tick = 0; tick < 2; ++tick) {
    const auto& published = events[tick * 3];
    const auto& sent = events[tick * 3 + 1];
    const auto& acknowledged = events[tick * 3 + 2];
    EXPECT_EQ(published.kind, RecordingHostServices::Event::Kind::kLog);
    EXPECT_EQ(published.level, FAUST_LOG_INFO);
    EXPECT_EQ(published.text, "PUBLISHING ON LEADER!");
    ASSERT_EQ(sent.kind, RecordingHostServices::Event::Kind::kSend);
    EXPECT_EQ(sent.component, "publish_greetings");
    EXPECT_EQ(sent.message.agent, "say");
    EXPECT_EQ(sent.message.topic, "");
    EXPECT_EQ(sent.message.key, std::nullopt);
    // Python's str(random.random()): "0.8444218515250481", or "5.3e-05" for tiny values.
    EXPECT_THAT(sent.message.value, MatchesRegex(R"(0\.[0-9]+|[1-9](\.[0-9]+)?e-[0-9]+)"));
    const double value = std::stod(sent.message.value);
    EXPECT_GE(value, 0.0);
    EXPECT_LT(value, 1.0);
    EXPECT_EQ(acknowledged.level, FAUST_LOG_INFO);
    EXPECT_EQ(acknowledged.text, "sent greeting " + sent.message.value);
    greetings.push_back(sent.message.value);
  }
  EXPECT_NE(greetings[0], greetings[1]);
}

TEST_F(PluginsEndToEndTest, PublishGreetingsGreetsTheConfiguredAgent) {
  manifest_.timers.push_back(timer("publish_greetings", "publish_greetings", {{"agent", "shout"}}));
  LoadedComponents loaded = load();
  ASSERT_TRUE(loaded.timers[0].instance->tick().ok());
  ASSERT_THAT(services_.sent(), SizeIs(1));
  EXPECT_EQ(services_.sent()[0].agent, "shout");
}

TEST_F(PluginsEndToEndTest, AFailedSendBecomesAnErrorFromTick) {
  manifest_.timers.push_back(timer("publish_greetings", "publish_greetings"));
  LoadedComponents loaded = load();
  services_.fail_sends_with("Local: Message timed out");
  Status ticked = loaded.timers[0].instance->tick();
  ASSERT_FALSE(ticked.ok());
  EXPECT_EQ(ticked.error().code, ExitCode::kFailure);
  EXPECT_EQ(ticked.error().message,
            "publish_greetings timer 'publish_greetings' failed: Local: Message timed out");
  EXPECT_THAT(services_.log_lines(), ElementsAre("PUBLISHING ON LEADER!"));  // no "sent greeting"
}

TEST_F(PluginsEndToEndTest, AnExceptionInAHandlerBecomesAnErrorWithItsText) {
  manifest_.agents.push_back(agent("throws", "sdk_probe"));
  manifest_.agents.push_back(agent("throws_unknown", "sdk_probe"));
  LoadedComponents loaded = load();
  Status thrown = loaded.agents[0].instances[0]->handle(message_with_value("hi"));
  ASSERT_FALSE(thrown.ok());
  EXPECT_EQ(thrown.error().code, ExitCode::kFailure);
  EXPECT_EQ(thrown.error().message, "sdk_probe agent 'throws' failed: bad greeting: hi");
  Status unknown = loaded.agents[1].instances[0]->handle(message_with_value("hi"));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().message, "sdk_probe agent 'throws_unknown' failed: unknown exception");
}

TEST_F(PluginsEndToEndTest, AnExceptionEscapingARawPluginIsReportedNotFatal) {
  manifest_.agents.push_back(agent("throws_across", "throws_across"));
  LoadedComponents loaded = load();
  Status thrown = loaded.agents[0].instances[0]->handle(message_with_value("hi"));
  ASSERT_FALSE(thrown.ok());
  EXPECT_EQ(thrown.error().message,
            "throws_across agent 'throws_across' failed: exception thrown across the plugin ABI: escaped");
}

TEST_F(PluginsEndToEndTest, ALongErrorIsTruncatedOnACharacterBoundary) {
  manifest_.agents.push_back(agent("long_error", "sdk_probe"));
  LoadedComponents loaded = load();
  Status thrown = loaded.agents[0].instances[0]->handle(message_with_value(""));
  ASSERT_FALSE(thrown.ok());
  const std::string prefix = "sdk_probe agent 'long_error' failed: ";
  ASSERT_EQ(thrown.error().message.rfind(prefix, 0), 0U);
  std::string euros;
  for (int i = 0; i < 170; ++i) euros += "\xE2\x82\xAC";
  EXPECT_EQ(thrown.error().message.substr(prefix.size()), euros);
}

TEST_F(PluginsEndToEndTest, TheSdkSeesTheHostAndTheMessage) {
  manifest_.agents.push_back(agent("probe", "sdk_probe", {{"greeting", "hej"}}));
  LoadedComponents loaded = load();
  services_.set_leader(false);
  const Headers headers{{"trace-id", "t-1"}, {"binary", std::string("a\0b", 3)}};  // values are bytes
  IncomingMessage message = message_with_value("payload");
  message.key = "k1";
  message.headers = headers;
  message.partition = 3;
  message.offset = 42;
  message.timestamp_ms = 1700000000000;
  ASSERT_TRUE(loaded.agents[0].instances[0]->handle(message).ok());
  EXPECT_THAT(
      services_.log_lines(),
      ElementsAre("app_id=leader-example", "is_leader=false", "greeting=hej", "missing=unset", "key='k1'",
                  "value=payload", "header trace-id: 3 bytes", "header binary: 3 bytes", "trace-id=t-1",
                  "at leader-example-say[3]@42 ts=1700000000000", "debug line", "warn line"));
  EXPECT_EQ(services_.events()[10].level, FAUST_LOG_DEBUG);
  EXPECT_EQ(services_.events()[11].level, FAUST_LOG_WARN);
}

TEST_F(PluginsEndToEndTest, NoKeyAndAnEmptyKeyAreDifferent) {
  manifest_.agents.push_back(agent("probe", "sdk_probe"));
  LoadedComponents loaded = load();
  IncomingMessage message = message_with_value("v");
  ASSERT_TRUE(loaded.agents[0].instances[0]->handle(message).ok());
  message.key = "";
  ASSERT_TRUE(loaded.agents[0].instances[0]->handle(message).ok());
  const auto lines = services_.log_lines();
  EXPECT_EQ(lines[4], "key=none");
  ASSERT_THAT(lines, SizeIs(20));  // 10 lines per message without headers
  EXPECT_EQ(lines[4 + 10], "key=''");
}

TEST_F(PluginsEndToEndTest, TheSdkSendsToATopicWithKeyAndHeaders) {
  manifest_.timers.push_back(timer("send_to_topic", "sdk_probe", {{"topic", "audit"}}));
  LoadedComponents loaded = load();
  ASSERT_TRUE(loaded.timers[0].instance->tick().ok());
  ASSERT_THAT(services_.sent(), SizeIs(1));
  const OutgoingMessage sent = services_.sent()[0];
  EXPECT_EQ(sent.agent, "");
  EXPECT_EQ(sent.topic, "audit");
  EXPECT_EQ(sent.key, "the-key");
  EXPECT_EQ(sent.value, "payload");
  EXPECT_EQ(sent.headers, (Headers{{"trace-id", "abc"}}));
}

TEST_F(PluginsEndToEndTest, ASendErrorReachesThePluginAsAnSdkError) {
  manifest_.timers.push_back(timer("catches_send_error", "sdk_probe"));
  LoadedComponents loaded = load();
  services_.fail_sends_with("broker down");
  ASSERT_TRUE(loaded.timers[0].instance->tick().ok());
  ASSERT_THAT(services_.sent(), SizeIs(1));
  EXPECT_EQ(services_.sent()[0].key, std::optional<std::string>(""));  // an empty key, not none
  EXPECT_THAT(services_.log_lines(), ElementsAre("caught: broker down"));
  EXPECT_EQ(services_.events()[1].level, FAUST_LOG_ERROR);
}

TEST_F(PluginsEndToEndTest, ConcurrencyCreatesOneInstancePerLane) {
  manifest_.agents.push_back(agent("say", "say", {}, 3));
  LoadedComponents loaded = load();
  ASSERT_THAT(loaded.agents[0].instances, SizeIs(3));
  for (auto& instance : loaded.agents[0].instances) {
    ASSERT_TRUE(instance->handle(message_with_value("hi")).ok());
  }
  EXPECT_THAT(services_.log_lines(), ElementsAre("hi", "hi", "hi"));
  EXPECT_THAT(loaded.plugins, SizeIs(1));
}

TEST_F(PluginsEndToEndTest, InstancesKeepTheirLibraryLoadedAfterTheRegistryIsGone) {
  manifest_.agents.push_back(agent("say", "say"));
  LoadedComponents loaded;
  {
    PluginRegistry registry;
    Result<LoadedComponents> result = instantiate(manifest_, services_, registry, search_dirs_);
    ASSERT_TRUE(result.ok()) << result.error().message;
    loaded = std::move(result).value();
  }
  ASSERT_TRUE(loaded.agents[0].instances[0]->handle(message_with_value("still here")).ok());
  EXPECT_THAT(services_.log_lines(), ElementsAre("still here"));
}

TEST_F(PluginsEndToEndTest, TheTutorialLoadsFromTheDefaultPluginDir) {
  manifest_.agents.push_back(agent("say", "say"));
  manifest_.timers.push_back(timer("publish_greetings", "publish_greetings", {}, true));
  search_dirs_ = {testing::kPluginDir};
  LoadedComponents loaded = load();
  ASSERT_THAT(loaded.plugins, SizeIs(2));
  EXPECT_EQ(loaded.plugins[0].name, "say");
  EXPECT_EQ(loaded.plugins[1].name, "publish_greetings");
  EXPECT_EQ(loaded.agents[0].config.name, "say");
  EXPECT_EQ(loaded.timers[0].config.name, "publish_greetings");
}

TEST_F(PluginsEndToEndTest, HelloCRunsThroughTheSamePath) {
  manifest_.agents.push_back(agent("hello_c", "hello_c"));
  manifest_.timers.push_back(timer("hello_c_timer", "hello_c", {{"agent", "say"}}));
  LoadedComponents loaded = load();
  ASSERT_TRUE(loaded.agents[0].instances[0]->handle(message_with_value("world")).ok());
  ASSERT_TRUE(loaded.timers[0].instance->tick().ok());
  const auto events = services_.events();
  ASSERT_THAT(events, SizeIs(2));
  EXPECT_EQ(events[0].component, "hello_c");
  EXPECT_EQ(events[0].plugin, "hello_c");
  EXPECT_EQ(events[0].text, "hello from C: world");
  EXPECT_EQ(events[1].component, "hello_c_timer");
  EXPECT_EQ(events[1].message.agent, "say");
  EXPECT_EQ(events[1].message.value, "hello");

  services_.fail_sends_with("no such agent");
  Status failed = loaded.timers[0].instance->tick();
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().message, "hello_c timer 'hello_c_timer' failed: no such agent");
}

TEST_F(PluginsEndToEndTest, HelloCTimerNeedsItsAgentConfig) {
  manifest_.timers.push_back(timer("hello_c_timer", "hello_c"));
  const Error error = refusal();
  EXPECT_EQ(error.code, ExitCode::kPluginCreateFailed);
  EXPECT_EQ(error.message, "plugin " + testing::plugin("hello_c").string() +
                               ": creating timer 'hello_c_timer' failed: config key 'agent' is required (the "
                               "agent to send \"hello\" to)");
}

TEST_F(PluginsEndToEndTest, AThrowingConstructorFailsCreation) {
  manifest_.agents.push_back(agent("create_fails", "create_fails"));
  const Error error = refusal();
  EXPECT_EQ(error.code, ExitCode::kPluginCreateFailed);
  EXPECT_EQ(error.message, "plugin " + testing::fixture("create_fails").string() +
                               ": creating agent 'create_fails' failed: database unreachable");
}

// An entry named otherwise than the library's only agent uses that agent, under the entry's name.
TEST_F(PluginsEndToEndTest, AnEntryUsesTheLibrarysOnlyComponentOfItsKind) {
  manifest_.agents.push_back(agent("printer", "say"));
  LoadedComponents loaded = load();
  ASSERT_THAT(loaded.agents, SizeIs(1));
  AgentCalls& printer = *loaded.agents[0].instances[0];
  EXPECT_EQ(printer.component().name, "printer");
  ASSERT_TRUE(printer.handle(message_with_value("hi")).ok());
  ASSERT_THAT(services_.events(), SizeIs(1));
  EXPECT_EQ(services_.events()[0].component, "printer");
  EXPECT_EQ(services_.events()[0].text, "hi");
}

TEST_F(PluginsEndToEndTest, RefusesANameTheLibraryDoesNotProvide) {
  manifest_.timers.push_back(timer("say", "say"));
  Error error = refusal();
  EXPECT_EQ(error.code, ExitCode::kPluginNameUnknown);
  EXPECT_EQ(error.message, "leader.yaml: timer 'say': plugin " + testing::plugin("say").string() +
                               " provides no timer 'say' (agents: say; timers: none; services: none)");

  // Two agents and neither named like the entry: which one is meant cannot be inferred.
  Result<Manifest> parsed = parse_manifest("app: {id: x}\nagents:\n  other:\n    library: lane_pages\n", "m.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  manifest_ = *parsed;
  error = refusal();
  EXPECT_EQ(error.code, ExitCode::kPluginNameUnknown);
  EXPECT_EQ(error.message, "m.yaml:4:14: agents.other.library: agent 'other': plugin " +
                               testing::fixture("lane_pages").string() +
                               " provides no agent 'other' and 2 agents to choose from (lanes, page_per_lane): name "
                               "the entry after one of them");
}

TEST_F(PluginsEndToEndTest, RefusesAMissingLibrary) {
  manifest_.agents.push_back(agent("say", "nope"));
  const Error error = refusal();
  EXPECT_EQ(error.code, ExitCode::kPluginMissing);
  EXPECT_EQ(error.message, "plugin 'nope' not found: no nope.so in " + testing::kFixtureDir.string() + ", " +
                               testing::kPluginDir.string() + " (FAUST_HOST_PLUGIN_PATH adds directories)");
}

// Issue 25: an agent with concurrency 2 serves one page and one counter for both lanes.
TEST_F(PluginsEndToEndTest, APluginWidePageSeesEveryLaneOfAnAgent) {
  manifest_.agents.push_back(agent("lanes", "lane_pages", {}, 2));
  LoadedComponents loaded = load();
  ASSERT_THAT(loaded.agents, SizeIs(1));
  ASSERT_THAT(loaded.agents[0].instances, SizeIs(2));
  ASSERT_TRUE(loaded.agents[0].instances[0]->handle(message_with_value("a")).ok());
  ASSERT_TRUE(loaded.agents[0].instances[1]->handle(message_with_value("b")).ok());
  ASSERT_TRUE(loaded.agents[0].instances[1]->handle(message_with_value("c")).ok());

  const auto page = services_.get_page("/plugins/lane_pages/lanes");
  ASSERT_TRUE(page.has_value());
  EXPECT_EQ(page->body, "handled=3 lanes=2");
  EXPECT_NE(services_.metrics().serialize().find("lane_messages_total{plugin=\"lane_pages\"} 3"), std::string::npos);
}

// The plugin-wide part is created before any instance and destroyed after the last one.
TEST_F(PluginsEndToEndTest, APluginWidePartOutlivesEveryInstance) {
  manifest_.agents.push_back(agent("lanes", "lane_pages", {}, 2));
  {
    LoadedComponents loaded = load();
    ASSERT_THAT(loaded.agents[0].instances, SizeIs(2));
  }
  std::vector<std::string> lines;
  for (const auto& event : services_.events()) lines.push_back(event.component + ": " + event.text);
  EXPECT_THAT(lines, ElementsAre("lane_pages: plugin-wide part created", "lanes: lane 1", "lanes: lane 2",
                                 "lanes: lane gone", "lanes: lane gone", "lane_pages: plugin-wide part destroyed"));
  EXPECT_FALSE(services_.get_page("/plugins/lane_pages/lanes").has_value());
}

// A page registered by every lane of an agent is refused with a line that says what to do.
TEST_F(PluginsEndToEndTest, APagePerLaneIsRefusedWithTheRemedy) {
  manifest_.agents.push_back(agent("page_per_lane", "lane_pages", {}, 2));
  const Error error = refusal();
  EXPECT_EQ(error.code, ExitCode::kPluginCreateFailed);
  EXPECT_EQ(error.message, "plugin " + testing::fixture("lane_pages").string() +
                               ": creating agent 'page_per_lane' failed: page 'own' of plugin 'lane_pages': already "
                               "registered (each lane of an agent with concurrency above 1 is an instance of its "
                               "own; register a page once, from the plugin-wide part: faust::sdk::Shared, ABI 1.4)");
}

TEST_F(PluginsEndToEndTest, RefusesBeforeCreatingAnything) {
  // Creating the agent would fail with kPluginCreateFailed; the timer's library is refused at load.
  // Getting the load refusal proves every library is checked before any plugin code runs.
  manifest_.agents.push_back(agent("create_fails", "create_fails"));
  manifest_.timers.push_back(timer("abi_major_2", "abi_major_2"));
  const Error error = refusal();
  EXPECT_EQ(error.code, ExitCode::kPluginAbiMajor);
}

}  // namespace
}  // namespace faust
