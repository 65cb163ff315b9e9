#include "manifest/manifest.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace faust {
namespace {

namespace fs = std::filesystem;

const fs::path kSourceDir = FAUST_SOURCE_DIR;

Manifest parse_ok(std::string_view yaml, const fs::path& file = "m.yaml") {
  auto result = parse_manifest(yaml, file);
  EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().message);
  return result.ok() ? *result : Manifest{};
}

// The one-line message of a manifest that must be refused.
std::string error_of(std::string_view yaml, const fs::path& file = "m.yaml") {
  auto result = parse_manifest(yaml, file);
  EXPECT_FALSE(result.ok()) << "manifest was accepted:\n" << yaml;
  if (result.ok()) return {};
  EXPECT_EQ(result.error().code, ExitCode::kManifestInvalid);
  EXPECT_EQ(result.error().message.find('\n'), std::string::npos) << "message is not one line";
  return result.error().message;
}

// --- the shipped manifests -------------------------------------------------------------------------

TEST(ManifestTest, LeaderYamlExpressesTheTutorial) {
  const fs::path file = kSourceDir / "configs/leader.yaml";
  auto loaded = load_manifest(file);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  const Manifest& m = *loaded;

  EXPECT_EQ(m.file, file);
  EXPECT_EQ(m.app.id, "leader-example");
  EXPECT_EQ(m.app.broker.scheme, "kafka");
  EXPECT_EQ(m.app.broker.bootstrap_servers(), "localhost:9092");
  EXPECT_EQ(m.app.key_serializer, Serializer::kRaw);
  EXPECT_EQ(m.app.value_serializer, Serializer::kRaw);
  EXPECT_EQ(m.app.topic_partitions, 8);
  EXPECT_EQ(m.app.topic_replication, 1);
  EXPECT_EQ(m.app.session_timeout, std::chrono::milliseconds(6000));
  EXPECT_EQ(m.app.heartbeat_interval, std::chrono::milliseconds(500));
  EXPECT_TRUE(m.kafka.empty());
  EXPECT_TRUE(m.web.enabled);
  EXPECT_EQ(m.web.bind, "127.0.0.1");
  EXPECT_EQ(m.web.port, 6066);
  EXPECT_EQ(m.web.page_timeout, std::chrono::milliseconds(5000));

  ASSERT_EQ(m.agents.size(), 1u);
  const AgentConfig& say = m.agents[0];
  EXPECT_EQ(say.name, "say");
  EXPECT_EQ(say.library, "say");
  EXPECT_EQ(say.topic, "");
  EXPECT_EQ(m.agent_topic(say), "leader-example-say");
  EXPECT_EQ(say.concurrency, 1);
  EXPECT_EQ(say.on_error, OnError::kSkip);
  EXPECT_EQ(say.max_retries, 3);
  EXPECT_TRUE(say.config.empty());

  ASSERT_EQ(m.timers.size(), 1u);
  const TimerConfig& timer = m.timers[0];
  EXPECT_EQ(timer.name, "publish_greetings");
  EXPECT_EQ(timer.library, "publish_greetings");
  EXPECT_EQ(timer.interval.count(), 2.0);
  EXPECT_TRUE(timer.on_leader);
  EXPECT_TRUE(timer.config.empty());

  EXPECT_EQ(m.leader_topic(), "leader-example-__assignor-__leader");
  EXPECT_EQ(m.find_agent("say"), &m.agents[0]);
  EXPECT_EQ(m.find_agent("publish_greetings"), nullptr);
}

TEST(ManifestTest, LeaderMemoryYamlDiffersOnlyInBroker) {
  auto kafka = load_manifest(kSourceDir / "configs/leader.yaml");
  auto memory = load_manifest(kSourceDir / "configs/leader-memory.yaml");
  ASSERT_TRUE(kafka.ok()) << kafka.error().message;
  ASSERT_TRUE(memory.ok()) << memory.error().message;
  EXPECT_EQ(memory->app.broker.scheme, "memory");
  EXPECT_TRUE(memory->app.broker.servers.empty());
  EXPECT_EQ(memory->app.id, kafka->app.id);
  EXPECT_EQ(memory->app.value_serializer, kafka->app.value_serializer);
  EXPECT_EQ(memory->web.port, kafka->web.port);
  ASSERT_EQ(memory->agents.size(), 1u);
  EXPECT_EQ(memory->agents[0].name, "say");
  EXPECT_EQ(memory->agents[0].library, "say");
  ASSERT_EQ(memory->timers.size(), 1u);
  EXPECT_EQ(memory->timers[0].name, "publish_greetings");
  EXPECT_EQ(memory->timers[0].interval.count(), 2.0);
  EXPECT_TRUE(memory->timers[0].on_leader);
}

// --- good manifests --------------------------------------------------------------------------------

TEST(ManifestTest, EveryFieldIsRead) {
  const Manifest m = parse_ok(R"(
app:
  id: shop.orders_v2
  broker: kafka://k1:9093;k2
  key_serializer: json
  value_serializer: json
  topic_partitions: 12
  topic_replication: 3
  session_timeout: 10
  heartbeat_interval: 1.5
  agent_queue_mib: 16
kafka:
  security.protocol: ssl
  socket.keepalive.enable: true
  fetch.wait.max.ms: 50
web:
  port: 0
  bind: 0.0.0.0
  enabled: false
  page_timeout: 1.5
agents:
  count:
    library: count
    topic: orders
    concurrency: 4
    on_error: retry
    max_retries: 0
    config: {prefix: "hi there", limit: 10, verbose: yes}
  audit:
    library: audit
    on_error: stop
timers:
  tick:
    library: tick
    interval: 0.25
    on_leader: false
    config:
      label: x
)");
  EXPECT_EQ(m.app.id, "shop.orders_v2");
  EXPECT_EQ(m.app.broker.bootstrap_servers(), "k1:9093,k2:9092");
  EXPECT_EQ(m.app.key_serializer, Serializer::kJson);
  EXPECT_EQ(m.app.value_serializer, Serializer::kJson);
  EXPECT_EQ(m.app.topic_partitions, 12);
  EXPECT_EQ(m.app.topic_replication, 3);
  EXPECT_EQ(m.app.session_timeout, std::chrono::milliseconds(10000));
  EXPECT_EQ(m.app.heartbeat_interval, std::chrono::milliseconds(1500));
  EXPECT_EQ(m.app.agent_queue_mib, 16);
  const std::map<std::string, std::string> kafka = {
      {"security.protocol", "ssl"}, {"socket.keepalive.enable", "true"}, {"fetch.wait.max.ms", "50"}};
  EXPECT_EQ(m.kafka, kafka);
  EXPECT_EQ(m.web.port, 0);
  EXPECT_EQ(m.web.bind, "0.0.0.0");
  EXPECT_FALSE(m.web.enabled);
  EXPECT_EQ(m.web.page_timeout, std::chrono::milliseconds(1500));

  ASSERT_EQ(m.agents.size(), 2u);  // in manifest order
  EXPECT_EQ(m.agents[0].name, "count");
  EXPECT_EQ(m.agents[0].topic, "orders");
  EXPECT_EQ(m.agent_topic(m.agents[0]), "orders");
  EXPECT_EQ(m.agents[0].concurrency, 4);
  EXPECT_EQ(m.agents[0].on_error, OnError::kRetry);
  EXPECT_EQ(m.agents[0].max_retries, 0);
  const ConfigMap config = {{"prefix", "hi there"}, {"limit", "10"}, {"verbose", "yes"}};
  EXPECT_EQ(m.agents[0].config, config);
  EXPECT_EQ(m.agents[1].name, "audit");
  EXPECT_EQ(m.agents[1].on_error, OnError::kStop);
  EXPECT_EQ(m.agent_topic(m.agents[1]), "shop.orders_v2-audit");

  ASSERT_EQ(m.timers.size(), 1u);
  EXPECT_EQ(m.timers[0].interval.count(), 0.25);
  EXPECT_FALSE(m.timers[0].on_leader);
  EXPECT_EQ(m.timers[0].config, (ConfigMap{{"label", "x"}}));
  EXPECT_EQ(m.leader_topic(), "shop.orders_v2-__assignor-__leader");
  EXPECT_EQ(m.find_agent("audit"), &m.agents[1]);
}

TEST(ManifestTest, DefaultsForEverythingOptional) {
  const Manifest m = parse_ok(R"(
app:
  id: minimal
agents:
  a:
    library: a
)");
  EXPECT_EQ(m.app.broker.scheme, "kafka");
  EXPECT_EQ(m.app.broker.bootstrap_servers(), "localhost:9092");
  EXPECT_EQ(m.app.key_serializer, Serializer::kRaw);
  EXPECT_EQ(m.app.value_serializer, Serializer::kRaw);
  EXPECT_EQ(m.app.topic_partitions, 8);
  EXPECT_EQ(m.app.topic_replication, 1);
  EXPECT_EQ(m.app.session_timeout, std::chrono::milliseconds(6000));
  EXPECT_EQ(m.app.heartbeat_interval, std::chrono::milliseconds(500));
  EXPECT_TRUE(m.kafka.empty());
  EXPECT_TRUE(m.web.enabled);
  EXPECT_EQ(m.web.bind, "127.0.0.1");
  EXPECT_EQ(m.web.port, 6066);
  ASSERT_EQ(m.agents.size(), 1u);
  EXPECT_EQ(m.agents[0].topic, "");
  EXPECT_EQ(m.agents[0].concurrency, 1);
  EXPECT_EQ(m.agents[0].on_error, OnError::kSkip);
  EXPECT_EQ(m.agents[0].max_retries, 3);
  EXPECT_TRUE(m.agents[0].config.empty());
  EXPECT_TRUE(m.timers.empty());
}

// Without `library:` an entry's library is its own name, looked up on the plugin path; where the
// library is named (or would be) is kept for the errors found once it is loaded.
TEST(ManifestTest, LibraryDefaultsToTheEntrysName) {
  const Manifest m = parse_ok(R"(app: {id: x}
agents:
  say:
  shout:
    topic: loud
timers:
  publish_greetings:
    interval: 2.0
    on_leader: true
services:
  crawler: {}
  other:
    library: ./lib/crawler.so
)");
  ASSERT_EQ(m.agents.size(), 2u);
  EXPECT_EQ(m.agents[0].library, "say");
  EXPECT_EQ(m.agents[0].library_at, "m.yaml:3:3: agents.say.library");
  EXPECT_EQ(m.agents[1].library, "shout");
  EXPECT_EQ(m.agents[1].topic, "loud");
  ASSERT_EQ(m.timers.size(), 1u);
  EXPECT_EQ(m.timers[0].library, "publish_greetings");
  EXPECT_EQ(m.timers[0].library_at, "m.yaml:7:3: timers.publish_greetings.library");
  ASSERT_EQ(m.services.size(), 2u);
  EXPECT_EQ(m.services[0].library, "crawler");
  EXPECT_EQ(m.services[0].library_at, "m.yaml:11:3: services.crawler.library");
  EXPECT_EQ(m.services[1].library_at, "m.yaml:13:14: services.other.library");
  EXPECT_TRUE(fs::path(m.services[1].library).is_absolute());
}

TEST(ManifestTest, EmptySectionsReadAsEmpty) {
  const Manifest m = parse_ok(R"(
app:
  id: x
kafka:
web:
agents:
timers:
  t:
    library: t
    interval: 1
    config:
)");
  EXPECT_TRUE(m.kafka.empty());
  EXPECT_EQ(m.web.port, 6066);
  EXPECT_TRUE(m.agents.empty());
  ASSERT_EQ(m.timers.size(), 1u);
  EXPECT_FALSE(m.timers[0].on_leader);
  EXPECT_TRUE(m.timers[0].config.empty());
}

TEST(ManifestTest, SecondsBecomeMilliseconds) {
  const Manifest m = parse_ok(R"(
app: {id: x, session_timeout: 1.0456, heartbeat_interval: 0.1234}
timers: {t: {library: t, interval: 1e-3}}
)");
  EXPECT_EQ(m.app.session_timeout, std::chrono::milliseconds(1046));
  EXPECT_EQ(m.app.heartbeat_interval, std::chrono::milliseconds(123));
  EXPECT_EQ(m.timers[0].interval.count(), 0.001);
}

TEST(ManifestTest, DurationsAtTheirBoundsAreAccepted) {
  struct Durations {
    std::string app;
    std::string interval;
    std::chrono::milliseconds session_timeout;
    std::chrono::milliseconds heartbeat_interval;
  };
  const Durations bounds[] = {
      {"session_timeout: 1, heartbeat_interval: 0.1", "0.001", std::chrono::milliseconds(1000),
       std::chrono::milliseconds(100)},
      {"session_timeout: 1800, heartbeat_interval: 1799.9", "31536000", std::chrono::milliseconds(1800000),
       std::chrono::milliseconds(1799900)},
      // The default heartbeat fits the shortest session timeout.
      {"session_timeout: 1", "1", std::chrono::milliseconds(1000), std::chrono::milliseconds(500)},
  };
  for (const Durations& durations : bounds) {
    const Manifest m = parse_ok("app: {id: x, " + durations.app + "}\ntimers: {t: {library: t, interval: " +
                                durations.interval + "}}\n");
    EXPECT_EQ(m.app.session_timeout, durations.session_timeout) << durations.app;
    EXPECT_EQ(m.app.heartbeat_interval, durations.heartbeat_interval) << durations.app;
    ASSERT_EQ(m.timers.size(), 1u);
    EXPECT_EQ(m.timers[0].interval.count(), std::stod(durations.interval));
  }
}

// --- library paths ---------------------------------------------------------------------------------

class ManifestFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "faust-manifest-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  fs::path write(const fs::path& relative, std::string_view text) {
    const fs::path path = dir_ / relative;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
    return path;
  }

  fs::path dir_;
};

TEST_F(ManifestFileTest, LibraryPathsResolveAgainstTheManifestFolder) {
  const fs::path file = write("configs/app.yaml", R"(
app: {id: x}
agents:
  bare: {library: say}
  sibling: {library: ./say.so}
  parent: {library: ../plugins/lib/../say.so}
  absolute: {library: /opt/faust/./plugins/../say.so}
timers:
  t: {library: build/publish_greetings.so, interval: 2}
)");
  auto m = load_manifest(file);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->agents[0].library, "say");
  EXPECT_EQ(m->agents[1].library, (dir_ / "configs/say.so").string());
  EXPECT_EQ(m->agents[2].library, (dir_ / "plugins/say.so").string());
  EXPECT_EQ(m->agents[3].library, "/opt/faust/say.so");
  EXPECT_EQ(m->timers[0].library, (dir_ / "configs/build/publish_greetings.so").string());
}

TEST(ManifestTest, RelativeManifestPathResolvesAgainstTheCurrentDirectory) {
  const std::string yaml = "app: {id: x}\nagents: {a: {library: ../lib/a.so}}\n";
  const Manifest nested = parse_ok(yaml, "configs/m.yaml");
  EXPECT_EQ(nested.agents[0].library, (fs::current_path() / "lib/a.so").lexically_normal().string());
  const Manifest here = parse_ok("app: {id: x}\nagents: {a: {library: ./a.so}}\n", "m.yaml");
  EXPECT_EQ(here.agents[0].library, (fs::current_path() / "a.so").lexically_normal().string());
}

// --- files -----------------------------------------------------------------------------------------

TEST_F(ManifestFileTest, MissingFile) {
  const fs::path file = dir_ / "nope.yaml";
  auto m = load_manifest(file);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code, ExitCode::kManifestInvalid);
  EXPECT_EQ(m.error().message, file.string() + ": cannot read manifest: No such file or directory");
}

TEST_F(ManifestFileTest, FolderInsteadOfFile) {
  auto m = load_manifest(dir_);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().message, dir_.string() + ": cannot read manifest: Is a directory");
}

TEST_F(ManifestFileTest, EmptyFile) {
  const fs::path file = write("empty.yaml", "");
  auto m = load_manifest(file);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().message, file.string() + ": manifest is empty");
}

TEST_F(ManifestFileTest, ErrorsNameTheFileAsGiven) {
  write("configs/bad.yaml", "app:\n  id: x\n  brokr: memory://\n");
  const fs::path cwd = fs::current_path();
  fs::current_path(dir_);
  auto m = load_manifest("configs/bad.yaml");
  fs::current_path(cwd);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().message, "configs/bad.yaml:3:3: unknown key 'brokr' in app (did you mean 'broker'?)");
}

TEST_F(ManifestFileTest, TypoInTheTutorialManifestIsPinpointed) {
  std::ifstream in(kSourceDir / "configs/leader.yaml");
  std::string text;
  int typo_line = 0;
  int line_number = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_number;
    if (line.rfind("    interval:", 0) == 0) {
      line.insert(12, "l");
      typo_line = line_number;
    }
    text += line + "\n";
  }
  ASSERT_GT(typo_line, 0) << "configs/leader.yaml has no timer interval";
  const fs::path file = write("leader.yaml", text);
  auto m = load_manifest(file);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().message, file.string() + ":" + std::to_string(typo_line) +
                                   ":5: unknown key 'intervall' in timers.publish_greetings (did you mean "
                                   "'interval'?)");
}

TEST(ManifestTest, CommentsOnlyIsEmpty) {
  EXPECT_EQ(error_of("# nothing here\n\n"), "m.yaml: manifest is empty");
  EXPECT_EQ(error_of("   \n"), "m.yaml: manifest is empty");
}

// --- errors: structure -----------------------------------------------------------------------------

TEST(ManifestErrorTest, YamlSyntaxError) {
  EXPECT_EQ(error_of("app:\n  id: [x\n"), "m.yaml:3:1: YAML syntax error: end of sequence flow not found");
  EXPECT_EQ(error_of("app: {id: x}\n  web: 1\n"), "m.yaml:2:3: YAML syntax error: end of map not found");
}

TEST(ManifestErrorTest, MoreThanOneDocument) {
  EXPECT_EQ(error_of("app: {id: x}\n---\napp: {id: y}\n"),
            "m.yaml:3:1: more than one YAML document; a manifest is one");
}

TEST(ManifestErrorTest, TopLevelMustBeAMap) {
  EXPECT_EQ(error_of("- app\n"), "m.yaml:1:1: expected a map with an 'app' key at the top level, got a list");
  EXPECT_EQ(error_of("hello\n"),
            "m.yaml:1:1: expected a map with an 'app' key at the top level, got 'hello'");
}

TEST(ManifestErrorTest, MissingRequiredKeysPointAtTheParent) {
  EXPECT_EQ(error_of("agents: {a: {library: a}}\n"),
            "m.yaml:1:1: missing required key 'app' at the top level");
  EXPECT_EQ(error_of("# c\napp:\n  broker: memory://\nagents: {a: {library: a}}\n"),
            "m.yaml:2:1: missing required key 'id' in app");
  EXPECT_EQ(error_of("app: {id: x}\ntimers:\n  t:\n    library: t\n"),
            "m.yaml:3:3: missing required key 'interval' or 'cron' in timers.t");
}

TEST(ManifestErrorTest, NeedsAnAgentOrATimer) {
  EXPECT_EQ(error_of("app:\n  id: x\n"),
            "m.yaml:1:1: no agents, timers or services: the manifest must define at least one");
  EXPECT_EQ(error_of("app: {id: x}\nagents: {}\ntimers:\n"),
            "m.yaml:1:1: no agents, timers or services: the manifest must define at least one");
}

TEST(ManifestErrorTest, UnknownKeysSuggestTheClosest) {
  // The spelling mistake of the tutorial's timer, at its line and column.
  EXPECT_EQ(error_of(R"(app:
  id: leader-example
timers:
  publish_greetings:
    library: publish_greetings
    intervall: 2.0
)"),
            "m.yaml:6:5: unknown key 'intervall' in timers.publish_greetings (did you mean 'interval'?)");
  EXPECT_EQ(error_of("app: {id: x}\nagent: {a: {library: a}}\n"),
            "m.yaml:2:1: unknown key 'agent' at the top level (did you mean 'agents'?)");
  EXPECT_EQ(error_of("app: {id: x}\nagents: {a: {Library: a}}\n"),
            "m.yaml:2:14: unknown key 'Library' in agents.a (did you mean 'library'?)");
  EXPECT_EQ(error_of("app: {id: x, session: 3}\n"),
            "m.yaml:1:14: unknown key 'session' in app (did you mean 'session_timeout'?)");
  EXPECT_EQ(error_of("app: {id: x}\nweb: {prot: 1}\n"),
            "m.yaml:2:7: unknown key 'prot' in web (did you mean 'port'?)");
  EXPECT_EQ(error_of("app: {id: x}\nagents: {a: {library: a, concurency: 2}}\n"),
            "m.yaml:2:26: unknown key 'concurency' in agents.a (did you mean 'concurrency'?)");
  EXPECT_EQ(error_of("app: {id: x, frobnicate: 1}\n"), "m.yaml:1:14: unknown key 'frobnicate' in app");
  EXPECT_EQ(error_of("app: {id: x, z: 1}\n"), "m.yaml:1:14: unknown key 'z' in app");
}

TEST(ManifestErrorTest, DuplicateKeys) {
  EXPECT_EQ(error_of("app:\n  id: x\n  id: y\n"), "m.yaml:3:3: duplicate key 'id' in app (first at line 2)");
  EXPECT_EQ(error_of("app: {id: x}\nagents:\n  a: {library: a}\n  a: {library: b}\n"),
            "m.yaml:4:3: duplicate key 'a' in agents (first at line 3)");
  EXPECT_EQ(error_of("app: {id: x}\napp: {id: y}\n"),
            "m.yaml:2:1: duplicate key 'app' at the top level (first at line 1)");
}

TEST(ManifestErrorTest, AgentTimerAndServiceNamesAreUniqueTogether) {
  EXPECT_EQ(
      error_of(R"(app: {id: x}
agents:
  say: {library: say}
timers:
  say: {library: t, interval: 1}
)"),
      "m.yaml:5:3: duplicate name 'say': already used by the agent at line 3 (agent, timer and service names "
      "must be unique)");
  EXPECT_EQ(
      error_of(R"(app: {id: x}
timers:
  watch: {library: t, interval: 1}
services:
  watch: {library: s}
)"),
      "m.yaml:5:3: duplicate name 'watch': already used by the timer at line 3 (agent, timer and service names "
      "must be unique)");
}

TEST(ManifestTest, ReadsServicesWithTheirStopTimeoutAndConfig) {
  const Manifest manifest = parse_ok(R"(app: {id: x}
services:
  watch:
    library: watch
    stop_timeout: 0.5
    config: {topic: t}
  other: {library: /abs/other.so}
)");
  ASSERT_EQ(manifest.services.size(), 2u);
  EXPECT_EQ(manifest.services[0].name, "watch");
  EXPECT_EQ(manifest.services[0].library, "watch");
  EXPECT_EQ(manifest.services[0].stop_timeout, std::chrono::milliseconds(500));
  EXPECT_EQ(manifest.services[0].config.at("topic"), "t");
  EXPECT_EQ(manifest.services[1].stop_timeout, std::chrono::milliseconds(5000)) << "the default";
}

TEST(ManifestErrorTest, RefusesAServiceStopTimeoutOutsideItsBounds) {
  EXPECT_NE(error_of("app: {id: x}\nservices:\n  s: {library: s, stop_timeout: 0.01}\n").find("m.yaml:3:"),
            std::string::npos);
  EXPECT_NE(error_of("app: {id: x}\nservices:\n  s: {library: s, stop_timeout: 301}\n").find("stop_timeout"),
            std::string::npos);
  EXPECT_EQ(error_of("app: {id: x}\nservices:\n  s: {library: s, tick: 1}\n").find("m.yaml:3:"), 0u);
}

TEST(ManifestErrorTest, KeysMustBeScalars) {
  EXPECT_EQ(error_of("app: {id: x}\nagents:\n  ? [a, b]\n  : {library: a}\n"),
            "m.yaml:3:5: keys must be plain names, got a list in agents");
}

// --- errors: types ---------------------------------------------------------------------------------

TEST(ManifestErrorTest, WrongTypes) {
  EXPECT_EQ(error_of("app: [id, x]\n"), "m.yaml:1:6: app: expected a map, got a list");
  EXPECT_EQ(error_of("app: leader\n"), "m.yaml:1:6: app: expected a map, got 'leader'");
  EXPECT_EQ(error_of("app: {id: x}\nagents: [say]\n"),
            "m.yaml:2:9: agents: expected a map of agent names to their settings, got a list");
  EXPECT_EQ(error_of("app: {id: x}\ntimers: t\n"),
            "m.yaml:2:9: timers: expected a map of timer names to their settings, got 't'");
  EXPECT_EQ(error_of("app: {id: x}\nagents: {a: say}\n"), "m.yaml:2:13: agents.a: expected a map, got 'say'");
  EXPECT_EQ(error_of("app: {id: [x]}\n"), "m.yaml:1:11: app.id: expected a string, got a list");
  EXPECT_EQ(error_of("app:\n  id:\n"), "m.yaml:2:3: app.id: expected a string, got nothing");
  EXPECT_EQ(error_of("app: {id: x, topic_partitions: eight}\n"),
            "m.yaml:1:32: app.topic_partitions: expected an integer, got 'eight'");
  EXPECT_EQ(error_of("app: {id: x, topic_partitions: 8.5}\n"),
            "m.yaml:1:32: app.topic_partitions: expected an integer, got '8.5'");
  EXPECT_EQ(error_of("app: {id: x}\nagents: {a: {library: a, concurrency: {n: 1}}}\n"),
            "m.yaml:2:39: agents.a.concurrency: expected an integer, got a map");
  EXPECT_EQ(error_of("app: {id: x}\nagents: {a: {library: [a]}}\n"),
            "m.yaml:2:23: agents.a.library: expected a string, got a list");
  EXPECT_EQ(error_of("app: {id: x}\ntimers: {t: {library: t, interval: soon}}\n"),
            "m.yaml:2:36: timers.t.interval: expected a number of seconds, got 'soon'");
  EXPECT_EQ(error_of("app: {id: x}\ntimers: {t: {library: t, interval: .inf}}\n"),
            "m.yaml:2:36: timers.t.interval: expected a number of seconds, got '.inf'");
  EXPECT_EQ(error_of("app: {id: x}\ntimers: {t: {library: t, interval: nan}}\n"),
            "m.yaml:2:36: timers.t.interval: expected a number of seconds, got 'nan'");
  EXPECT_EQ(error_of("app: {id: x}\ntimers: {t: {library: t, interval: 1, on_leader: maybe}}\n"),
            "m.yaml:2:50: timers.t.on_leader: expected true or false, got 'maybe'");
  EXPECT_EQ(error_of("app: {id: x}\nweb: {enabled: 1}\nagents: {a: {library: a}}\n"),
            "m.yaml:2:16: web.enabled: expected true or false, got '1'");
  EXPECT_EQ(error_of("app: {id: x}\nweb: {port: http}\nagents: {a: {library: a}}\n"),
            "m.yaml:2:13: web.port: expected an integer, got 'http'");
  EXPECT_EQ(error_of("app: {id: x}\nweb: {page_timeout: 0.001}\n"),
            "m.yaml:2:21: web.page_timeout: must be at least 0.01 seconds, got 0.001");
  EXPECT_EQ(error_of("app: {id: x}\nweb: {page_timeout: 600}\n"),
            "m.yaml:2:21: web.page_timeout: must be at most 300 seconds, got 600");
}

TEST(ManifestErrorTest, UnknownChoices) {
  EXPECT_EQ(error_of("app: {id: x, value_serializer: avro}\n"),
            "m.yaml:1:32: app.value_serializer: unknown value 'avro' (expected raw or json)");
  EXPECT_EQ(
      error_of("app: {id: x, key_serializer: RAW}\n"),
      "m.yaml:1:30: app.key_serializer: unknown value 'RAW' (expected raw or json; did you mean 'raw'?)");
  EXPECT_EQ(error_of("app: {id: x}\nagents: {a: {library: a, on_error: skp}}\n"),
            "m.yaml:2:36: agents.a.on_error: unknown value 'skp' (expected skip, retry, stop or dead_letter; did "
            "you mean 'skip'?)");
}

TEST(ManifestTest, DeadLetterHasADefaultTopicOrTheOneGiven) {
  const Manifest m = parse_ok(R"(
app: {id: shop}
agents:
  orders:
    library: orders
    on_error: dead_letter
  payments:
    library: payments
    on_error: dead_letter
    max_retries: 0
    dead_letter_topic: payments.failed
  audit:
    library: audit
    on_error: retry
)");
  ASSERT_EQ(m.agents.size(), 3u);
  EXPECT_EQ(m.agents[0].on_error, OnError::kDeadLetter);
  EXPECT_EQ(m.agents[0].max_retries, 3);
  EXPECT_EQ(m.dead_letter_topic(m.agents[0]), "shop-orders-dead-letter");
  EXPECT_EQ(m.agents[1].max_retries, 0);
  EXPECT_EQ(m.dead_letter_topic(m.agents[1]), "payments.failed");
  EXPECT_EQ(m.dead_letter_topic(m.agents[2]), "") << "only dead_letter agents have one";
  EXPECT_STREQ(on_error_name(OnError::kDeadLetter), "dead_letter");
}

TEST(ManifestErrorTest, DeadLetterTopicOnlyWithDeadLetterAndNeverTheAgentsOwn) {
  EXPECT_EQ(error_of("app: {id: x}\nagents:\n  a:\n    library: a\n    dead_letter_topic: a-failed\n"),
            "m.yaml:5:5: agents.a.dead_letter_topic: only goes with on_error: dead_letter");
  EXPECT_EQ(error_of("app: {id: x}\nagents: {a: {library: a, on_error: retry, dead_letter_topic: f}}\n"),
            "m.yaml:2:43: agents.a.dead_letter_topic: only goes with on_error: dead_letter");
  EXPECT_EQ(error_of("app: {id: x}\nagents: {a: {library: a, on_error: dead_letter, dead_letter_topic: 'a b'}}\n"),
            "m.yaml:2:68: agents.a.dead_letter_topic: invalid topic name 'a b' (use letters, digits, '_', '.' and "
            "'-', at most 249)");
  EXPECT_EQ(error_of("app: {id: x}\nagents: {a: {library: a, on_error: dead_letter, dead_letter_topic: x-a}}\n"),
            "m.yaml:2:68: agents.a.dead_letter_topic: must not be the agent's own topic 'x-a'");
  EXPECT_EQ(error_of("app: {id: x}\nagents: {a: {library: a, topic: t, on_error: dead_letter, dead_letter_topic: t}}\n"),
            "m.yaml:2:78: agents.a.dead_letter_topic: must not be the agent's own topic 't'");
  const std::string long_name(240, 'n');
  EXPECT_EQ(error_of("app: {id: x}\nagents:\n  " + long_name + ": {library: a, on_error: dead_letter}\n"),
            "m.yaml:3:3: agents." + long_name + ": the default dead_letter_topic 'x-" + long_name +
                "-dead-letter' is longer than 249 characters; set a shorter dead_letter_topic");
}

TEST(ManifestErrorTest, ALeaderOnlyAgentHasNoDeadLetter) {
  EXPECT_EQ(error_of("app: {id: x}\nagents:\n  a:\n    library: a\n    on_leader: true\n    on_error: dead_letter\n"),
            "m.yaml:6:15: agents.a.on_error: dead_letter is not available to a leader-only agent (on_leader: true); "
            "use skip, retry or stop");
}

TEST(ManifestErrorTest, ConfigValuesMustBeScalars) {
  EXPECT_EQ(
      error_of("app: {id: x}\nagents:\n  a:\n    library: a\n    config:\n      greeting: {text: hi}\n"),
      "m.yaml:6:17: agents.a.config.greeting: expected a scalar value, got a map");
  EXPECT_EQ(error_of("app: {id: x}\nagents: {a: {library: a, config: {items: [1, 2]}}}\n"),
            "m.yaml:2:42: agents.a.config.items: expected a scalar value, got a list");
  EXPECT_EQ(
      error_of("app: {id: x}\ntimers: {t: {library: t, interval: 1, config: {label: }}}\n"),
      "m.yaml:2:48: timers.t.config.label: expected a scalar value, got nothing (write \"\" for an empty "
      "string)");
  EXPECT_EQ(error_of("app: {id: x}\nagents: {a: {library: a, config: [x]}}\n"),
            "m.yaml:2:34: agents.a.config: expected a map, got a list");
}

TEST(ManifestErrorTest, KafkaPropertiesAreScalars) {
  EXPECT_EQ(error_of("app: {id: x}\nkafka:\n  sasl: {user: u}\nagents: {a: {library: a}}\n"),
            "m.yaml:3:9: kafka.sasl: expected a scalar value, got a map");
  EXPECT_EQ(error_of("app: {id: x}\nkafka:\n  bootstrap.servers: h:1\nagents: {a: {library: a}}\n"),
            "m.yaml:3:3: kafka.bootstrap.servers: set the brokers with app.broker instead");
}

// The refusal of `kafka: {<key>: <value>}`, or "" when the manifest is accepted.
std::string kafka_refusal(const std::string& key, const std::string& value = "x") {
  const std::string yaml = "app: {id: x}\nkafka:\n  " + key + ": " + value + "\nagents: {a: {library: a}}\n";
  auto result = parse_manifest(yaml, "m.yaml");
  return result.ok() ? "" : result.error().message;
}

// A kafka: property the host sets for leadership, fencing, commits or its own bookkeeping would
// silently switch off what the host guarantees (the manifest's properties are applied last).
TEST(ManifestErrorTest, KafkaPropertiesTheHostSetsAreRefusedWithTheReason) {
  struct Refusal {
    std::string key;
    std::string value;
    std::string reason;
  };
  const Refusal refusals[] = {
      {"client.id", "myapp",
       "set by faust-host: one per worker and group, naming the app, its time of joining and its pid"},
      {"isolation.level", "read_uncommitted",
       "set by faust-host to read_committed, so agents never see a fenced leader's sends"},
      {"group.id", "x",
       "set by faust-host from app.id (groups '<app.id>' and '<app.id>-__leader'); change app.id instead"},
      {"group.instance.id", "x",
       "static membership is not supported: every worker would share this one member id and fence the "
       "others out of the group"},
      {"partition.assignment.strategy", "roundrobin",
       "set by faust-host: cooperative-sticky in the leader group (the live leader keeps the leader "
       "partition); the agents' group follows app.rebalance"},
      {"transactional.id", "x",
       "set by faust-host to '<app.id>-leader' on the leader's producer only, for fenced leadership"},
      {"transaction.timeout.ms", "900000",
       "set by faust-host for the leader's transactions (fenced leadership)"},
      {"enable.idempotence", "false",
       "set by faust-host so the broker drops duplicates of retried sends (leader transactions need it "
       "too)"},
      {"enable.auto.commit", "true",
       "faust-host commits an offset only once its handler returned (at-least-once)"},
      {"enable.auto.offset.store", "true",
       "faust-host commits an offset only once its handler returned (at-least-once)"},
      {"enable.partition.eof", "true",
       "set by faust-host to false: its consume loop takes no end-of-partition events"},
      {"session.timeout.ms", "10000", "set by faust-host; use app.session_timeout instead"},
      {"heartbeat.interval.ms", "1000", "set by faust-host; use app.heartbeat_interval instead"},
      {"max.poll.interval.ms", "1000", "set by faust-host from app.session_timeout; set that instead"},
      {"metadata.broker.list", "h:1", "set the brokers with app.broker instead"},
      {"auto.offset.reset", "latest",
       "set by faust-host to earliest, so a new group handles every message already on its topics"},
      {"statistics.interval.ms", "0",
       "set by faust-host: its statistics give /readyz the broker state and /metrics the consumer lag"},
      {"acks", "1",
       "faust-host needs every send acknowledged by all in-sync replicas before it commits the message "
       "that made it"},
      {"message.timeout.ms", "0",
       "set by faust-host: it bounds how long a send waits for the broker's acknowledgement"},
      {"rebalance_cb", "x",
       "a callback or object that librdkafka takes through its API, not as text (faust-host installs the "
       "callbacks it relies on)"},
  };
  for (const Refusal& refusal : refusals) {
    EXPECT_EQ(kafka_refusal(refusal.key, refusal.value),
              "m.yaml:3:3: kafka." + refusal.key + ": " + refusal.reason);
  }
}

TEST(ManifestErrorTest, KafkaAliasesAndTopicPrefixedPropertiesAreRefusedToo) {
  // librdkafka's aliases name the same settings.
  for (const std::string key : {"request.required.acks", "delivery.timeout.ms", "auto.commit.enable",
                                "offset.store.method"}) {
    EXPECT_NE(kafka_refusal(key, "1"), "") << key;
  }
  // librdkafka reads a topic-level property prefixed with "topic." as the property itself.
  EXPECT_EQ(kafka_refusal("topic.auto.offset.reset", "latest"),
            "m.yaml:3:3: kafka.topic.auto.offset.reset: set by faust-host to earliest, so a new group "
            "handles every message already on its topics");
  EXPECT_NE(kafka_refusal("topic.acks", "0"), "");
  // Every callback or object property of librdkafka 2.0, and the C++ API's event_cb.
  for (const std::string key :
       {"error_cb", "throttle_cb", "stats_cb", "log_cb", "background_event_cb", "socket_cb", "connect_cb",
        "closesocket_cb", "open_cb", "resolve_cb", "opaque", "default_topic_conf", "ssl_key",
        "ssl_certificate", "ssl_ca", "ssl_engine_callback_data", "ssl.certificate.verify_cb",
        "oauthbearer_token_refresh_cb", "interceptors", "consume_cb", "rebalance_cb", "offset_commit_cb",
        "dr_cb", "dr_msg_cb", "partitioner_cb", "msg_order_cmp", "event_cb"}) {
    EXPECT_NE(kafka_refusal(key), "") << key;
  }
}

TEST(ManifestTest, OtherKafkaPropertiesPassThroughUnchanged) {
  const Manifest m = parse_ok(R"(
app: {id: x}
kafka:
  security.protocol: sasl_ssl
  sasl.mechanisms: SCRAM-SHA-512
  sasl.username: svc
  ssl.ca.location: /etc/ssl/certs/ca.pem
  linger.ms: 5
  compression.type: zstd
  topic.metadata.refresh.interval.ms: 60000
  debug: cgrp,topic
  Client.Id: not-a-librdkafka-name
agents: {a: {library: a}}
)");
  const std::map<std::string, std::string> expected = {{"security.protocol", "sasl_ssl"},
                                                       {"sasl.mechanisms", "SCRAM-SHA-512"},
                                                       {"sasl.username", "svc"},
                                                       {"ssl.ca.location", "/etc/ssl/certs/ca.pem"},
                                                       {"linger.ms", "5"},
                                                       {"compression.type", "zstd"},
                                                       {"topic.metadata.refresh.interval.ms", "60000"},
                                                       {"debug", "cgrp,topic"},
                                                       {"Client.Id", "not-a-librdkafka-name"}};
  EXPECT_EQ(m.kafka, expected);
}

// --- errors: values --------------------------------------------------------------------------------

TEST(ManifestErrorTest, RangesAreChecked) {
  EXPECT_EQ(error_of("app: {id: x, topic_partitions: 0}\n"),
            "m.yaml:1:32: app.topic_partitions: must be in 1..10000, got 0");
  EXPECT_EQ(error_of("app: {id: x, topic_partitions: 99999999999999999999}\n"),
            "m.yaml:1:32: app.topic_partitions: must be in 1..10000, got 99999999999999999999");
  EXPECT_EQ(error_of("app: {id: x, topic_replication: 32768}\n"),
            "m.yaml:1:33: app.topic_replication: must be in 1..32767, got 32768");
  EXPECT_EQ(error_of("app: {id: x, agent_queue_mib: 0}\n"),
            "m.yaml:1:31: app.agent_queue_mib: must be in 1..65536, got 0");
  EXPECT_EQ(error_of("app: {id: x}\nweb: {port: 65536}\nagents: {a: {library: a}}\n"),
            "m.yaml:2:13: web.port: must be in 0..65535, got 65536");
  EXPECT_EQ(error_of("app: {id: x}\nweb: {port: -1}\nagents: {a: {library: a}}\n"),
            "m.yaml:2:13: web.port: must be in 0..65535, got -1");
  EXPECT_EQ(error_of("app: {id: x}\nagents: {a: {library: a, concurrency: 0}}\n"),
            "m.yaml:2:39: agents.a.concurrency: must be in 1..1024, got 0");
  EXPECT_EQ(error_of("app: {id: x}\nagents: {a: {library: a, max_retries: 1001}}\n"),
            "m.yaml:2:39: agents.a.max_retries: must be in 0..1000, got 1001");
  EXPECT_EQ(error_of("app: {id: x}\ntimers: {t: {library: t, interval: 0}}\n"),
            "m.yaml:2:36: timers.t.interval: must be at least 0.001 seconds, got 0");
  EXPECT_EQ(error_of("app: {id: x}\ntimers: {t: {library: t, interval: -2.5}}\n"),
            "m.yaml:2:36: timers.t.interval: must be at least 0.001 seconds, got -2.5");
  EXPECT_EQ(error_of("app: {id: x}\ntimers: {t: {library: t, interval: 1e12}}\n"),
            "m.yaml:2:36: timers.t.interval: must be at most 31536000 seconds, got 1e12");
  EXPECT_EQ(error_of("app: {id: x, session_timeout: 7200}\n"),
            "m.yaml:1:31: app.session_timeout: must be at most 1800 seconds, got 7200");
  EXPECT_EQ(error_of("app: {id: x, heartbeat_interval: 0.0001}\n"),
            "m.yaml:1:34: app.heartbeat_interval: must be at least 0.1 seconds, got 0.0001");
}

// Every duration is bounded by what the runtime can honour: a sub-millisecond timer interval
// passed `check` and then crashed the worker (SIGFPE in the timer service).
TEST(ManifestErrorTest, DurationsAreBoundedByWhatTheRuntimeHonours) {
  EXPECT_EQ(error_of("app: {id: x}\ntimers: {t: {library: t, interval: 1e-10}}\n"),
            "m.yaml:2:36: timers.t.interval: must be at least 0.001 seconds, got 1e-10");
  EXPECT_EQ(error_of("app: {id: x}\ntimers: {t: {library: t, interval: 0.0009}}\n"),
            "m.yaml:2:36: timers.t.interval: must be at least 0.001 seconds, got 0.0009");
  EXPECT_EQ(error_of("app: {id: x}\ntimers: {t: {library: t, interval: 31536000.5}}\n"),
            "m.yaml:2:36: timers.t.interval: must be at most 31536000 seconds, got 31536000.5");
  EXPECT_EQ(error_of("app: {id: x, session_timeout: 0.5, heartbeat_interval: 0.1}\n"),
            "m.yaml:1:31: app.session_timeout: must be at least 1 seconds, got 0.5");
  EXPECT_EQ(error_of("app: {id: x, session_timeout: 1e-10, heartbeat_interval: 0.1}\n"),
            "m.yaml:1:31: app.session_timeout: must be at least 1 seconds, got 1e-10");
  EXPECT_EQ(error_of("app: {id: x, session_timeout: 1801}\n"),
            "m.yaml:1:31: app.session_timeout: must be at most 1800 seconds, got 1801");
  EXPECT_EQ(error_of("app: {id: x, heartbeat_interval: 0.05}\n"),
            "m.yaml:1:34: app.heartbeat_interval: must be at least 0.1 seconds, got 0.05");
  EXPECT_EQ(error_of("app: {id: x, heartbeat_interval: 1e-10}\n"),
            "m.yaml:1:34: app.heartbeat_interval: must be at least 0.1 seconds, got 1e-10");
  EXPECT_EQ(error_of("app: {id: x, session_timeout: 1800, heartbeat_interval: 1800.5}\n"),
            "m.yaml:1:57: app.heartbeat_interval: must be at most 1800 seconds, got 1800.5");
}

TEST(ManifestErrorTest, HeartbeatMustBeShorterThanSessionTimeout) {
  EXPECT_EQ(
      error_of("app: {id: x, session_timeout: 6, heartbeat_interval: 6.0}\n"),
      "m.yaml:1:54: app.heartbeat_interval: must be less than app.session_timeout (6 seconds), got 6.0");
  // The default heartbeat (0.5 s) is below the shortest session timeout (1 s): only a written
  // heartbeat can be too long.
  EXPECT_EQ(error_of("app: {id: x, heartbeat_interval: 7}\n"),
            "m.yaml:1:34: app.heartbeat_interval: must be less than app.session_timeout (6 seconds), got 7");
  EXPECT_EQ(
      error_of("app: {id: x, heartbeat_interval: 1.0004, session_timeout: 1}\n"),
      "m.yaml:1:34: app.heartbeat_interval: must be less than app.session_timeout (1 seconds), got 1.0004");
}

TEST(ManifestErrorTest, NamesAreChecked) {
  EXPECT_EQ(error_of("app: {id: leader example}\n"),
            "m.yaml:1:11: app.id: invalid id 'leader example' (use letters, digits, '_', '.' and '-')");
  EXPECT_EQ(error_of("app: {id: ''}\n"),
            "m.yaml:1:11: app.id: invalid id '' (use letters, digits, '_', '.' and '-')");
  EXPECT_EQ(error_of("app: {id: " + std::string(201, 'a') + "}\n"),
            "m.yaml:1:11: app.id: longer than 200 characters");
  EXPECT_EQ(error_of("app: {id: x}\nagents:\n  say!: {library: a}\n"),
            "m.yaml:3:3: invalid agent name 'say!' (use letters, digits, '_', '.' and '-')");
  EXPECT_EQ(error_of("app: {id: x}\ntimers:\n  'my timer': {library: a, interval: 1}\n"),
            "m.yaml:3:3: invalid timer name 'my timer' (use letters, digits, '_', '.' and '-')");
  EXPECT_EQ(
      error_of("app: {id: x}\nagents: {a: {library: a, topic: 'a/b'}}\n"),
      "m.yaml:2:33: agents.a.topic: invalid topic name 'a/b' (use letters, digits, '_', '.' and '-', at most "
      "249)");
  EXPECT_EQ(error_of("app: {id: x}\nagents: {a: {library: ''}}\n"),
            "m.yaml:2:23: agents.a.library: must not be empty");
  EXPECT_EQ(error_of("app: {id: x}\nweb: {bind: ''}\nagents: {a: {library: a}}\n"),
            "m.yaml:2:13: web.bind: expected an address such as 127.0.0.1 or 0.0.0.0, got ''");
}

TEST(ManifestErrorTest, DefaultTopicTooLong) {
  const std::string id(200, 'i');
  const std::string agent(60, 'a');
  EXPECT_EQ(error_of("app: {id: " + id + "}\nagents:\n  " + agent + ": {library: a}\n"),
            "m.yaml:3:3: agents." + agent + ": the default topic '" + id + "-" + agent +
                "' is longer than 249 characters; set a shorter topic");
}

TEST(ManifestErrorTest, BadBrokerPointsAtTheBrokerValue) {
  EXPECT_EQ(error_of("app:\n  id: x\n  broker: kafka://\nagents: {a: {library: a}}\n"),
            "m.yaml:3:11: broker URL 'kafka://': no host");
  EXPECT_EQ(error_of("app:\n  id: x\n  broker: http://h\nagents: {a: {library: a}}\n"),
            "m.yaml:3:11: broker URL 'http://h': unsupported scheme 'http' (expected kafka:// or memory://)");
  EXPECT_EQ(error_of("app:\n  id: x\n  broker: 'kafka://h:x'\nagents: {a: {library: a}}\n"),
            "m.yaml:3:11: broker URL 'kafka://h:x': bad port 'x' (expected 1..65535)");
}

// --- cron timers -----------------------------------------------------------------------------------

TEST(ManifestCronTest, CronTimerInItsZone) {
  const Manifest m = parse_ok(R"(app: {id: x}
timers:
  report:
    library: report
    cron: "0 9 * * mon-fri"
    timezone: Europe/Berlin
    on_leader: true
  nightly: {library: nightly, cron: "@daily"}
  tick: {library: tick, interval: 2}
)");
  ASSERT_EQ(m.timers.size(), 3u);
  ASSERT_TRUE(m.timers[0].cron.has_value());
  EXPECT_EQ(m.timers[0].cron->expression_text(), "0 9 * * mon-fri");
  EXPECT_EQ(m.timers[0].cron->zone_name(), "Europe/Berlin");
  EXPECT_TRUE(m.timers[0].on_leader);
  const auto friday_noon = std::chrono::sys_days(std::chrono::year(2026) / 11 / 27) + std::chrono::hours(12);
  const auto next = m.timers[0].cron->next_after(std::chrono::system_clock::time_point(friday_noon));
  // Monday 09:00 in Berlin (CET, UTC+1) is 08:00 UTC.
  EXPECT_EQ(next, std::chrono::system_clock::time_point(std::chrono::sys_days(std::chrono::year(2026) / 11 / 30) +
                                                        std::chrono::hours(8)));
  ASSERT_TRUE(m.timers[1].cron.has_value());
  EXPECT_EQ(m.timers[1].cron->zone_name(), "UTC");  // the default
  EXPECT_FALSE(m.timers[2].cron.has_value());
  EXPECT_EQ(m.timers[2].interval.count(), 2.0);
}

TEST(ManifestCronTest, IntervalOrCronNotBothNorNeither) {
  EXPECT_EQ(error_of("app: {id: x}\ntimers:\n  t:\n    library: t\n    interval: 1\n    cron: '* * * * *'\n"),
            "m.yaml:6:5: timers.t: give interval or cron, not both");
  EXPECT_EQ(error_of("app: {id: x}\ntimers:\n  t: {library: t, on_leader: true}\n"),
            "m.yaml:3:3: missing required key 'interval' or 'cron' in timers.t");
}

TEST(ManifestCronTest, TimezoneOnlyWithCron) {
  EXPECT_EQ(error_of("app: {id: x}\ntimers:\n  t:\n    library: t\n    interval: 1\n    timezone: UTC\n"),
            "m.yaml:6:5: timers.t.timezone: only goes with cron; an interval does not depend on a time zone");
}

TEST(ManifestCronTest, BadExpressionOrZoneIsPinpointed) {
  EXPECT_EQ(error_of("app: {id: x}\ntimers:\n  t:\n    library: t\n    cron: '61 * * * *'\n"),
            "m.yaml:5:11: timers.t.cron: minute field: 61 is out of range 0-59");
  EXPECT_EQ(error_of("app: {id: x}\ntimers:\n  t: {library: t, cron: '0 0 30 2 *'}\n"),
            "m.yaml:3:25: timers.t.cron: day-of-month field: no day in '30' occurs in month '2', so the "
            "expression never runs");
  EXPECT_EQ(error_of("app: {id: x}\ntimers:\n  t: {library: t, cron: '@reboot'}\n"),
            "m.yaml:3:25: timers.t.cron: unknown macro '@reboot' (use @yearly, @annually, @monthly, @weekly, "
            "@daily, @midnight or @hourly)");
  EXPECT_EQ(error_of("app: {id: x}\ntimers:\n  t:\n    library: t\n    cron: '0 9 * * *'\n    timezone: Mars/Olympus\n"),
            "m.yaml:6:15: timers.t.timezone: unknown time zone 'Mars/Olympus' (expected an IANA name such as "
            "Europe/Berlin or UTC)");
  EXPECT_EQ(error_of("app: {id: x}\ntimers:\n  t: {library: t, cron: [0, 9]}\n"),
            "m.yaml:3:25: timers.t.cron: expected a string, got a list");
}

// Inputs found by fuzz_manifest (tests/fuzz/regressions): yaml-cpp 0.7 loops for ever on a stray
// ',' after a document, and quoted values must not break the one-line error format.
TEST(ManifestErrorTest, FuzzFindingsStayOneLineAndTerminate) {
  EXPECT_EQ(error_of(","), "m.yaml:1:1: YAML syntax error: unexpected ','");
  EXPECT_EQ(error_of("{app: {id: x}, agents: {a: {library: a}}}\n,\n"), "m.yaml:2:1: YAML syntax error: unexpected ','");
  EXPECT_EQ(error_of("app: {id: \"x\\ny\"}\nagents: {a: {library: a}}\n"),
            "m.yaml:1:11: app.id: invalid id 'x\\ny' (use letters, digits, '_', '.' and '-')");
}

}  // namespace
}  // namespace faust

namespace faust {
namespace {

// --- delivery: processing_guarantee and batch ---------------------------------------------------------

TEST(ManifestDeliveryTest, GuaranteeAndBatchAreRead) {
  const Manifest m = parse_ok(R"(app: {id: x}
agents:
  copy:
    library: copy
    processing_guarantee: exactly_once
    batch: {max_messages: 200, max_wait: 0.05}
  plain: {library: plain}
)");
  ASSERT_EQ(m.agents.size(), 2u);
  EXPECT_EQ(m.agents[0].processing_guarantee, ProcessingGuarantee::kExactlyOnce);
  ASSERT_TRUE(m.agents[0].batch.has_value());
  EXPECT_EQ(m.agents[0].batch->max_messages, 200);
  EXPECT_EQ(m.agents[0].batch->max_wait, std::chrono::milliseconds(50));
  EXPECT_EQ(m.agents[1].processing_guarantee, ProcessingGuarantee::kAtLeastOnce);
  EXPECT_FALSE(m.agents[1].batch.has_value());
  EXPECT_EQ(m.agent_transactional_id(m.agents[0], "x-1765000000000-42", 3), "x-__agent-copy-1765000000000-42-3");
}

TEST(ManifestDeliveryTest, BadValuesArePinpointed) {
  EXPECT_EQ(error_of("app: {id: x}\nagents:\n  a: {library: a, processing_guarantee: twice}\n"),
            "m.yaml:3:41: agents.a.processing_guarantee: unknown value 'twice' (expected at_least_once or exactly_once)");
  EXPECT_EQ(error_of("app: {id: x}\nagents:\n  a:\n    library: a\n    batch: {max_messages: 0}\n"),
            "m.yaml:5:27: agents.a.batch.max_messages: must be in 1..100000, got 0");
  EXPECT_EQ(error_of("app: {id: x}\nagents:\n  a:\n    library: a\n    batch: {max_wait: 61}\n"),
            "m.yaml:5:23: agents.a.batch.max_wait: must be at most 60 seconds, got 61");
  EXPECT_EQ(error_of("app: {id: x}\nagents:\n  a:\n    library: a\n    batch: {size: 5}\n"),
            "m.yaml:5:13: unknown key 'size' in agents.a.batch");
}

TEST(ManifestDeliveryTest, MaxInFlightAndRebalanceAreReadWithTheirDefaults) {
  const Manifest m = parse_ok(R"(app: {id: x, rebalance: eager}
agents:
  copy: {library: copy, max_in_flight: 500}
  plain: {library: plain}
)");
  EXPECT_FALSE(m.app.incremental_rebalance);
  EXPECT_EQ(m.agents[0].max_in_flight, 500);
  EXPECT_EQ(m.agents[1].max_in_flight, 10000);
  EXPECT_TRUE(parse_ok("app: {id: x}\nagents:\n  a: {library: a}\n").app.incremental_rebalance);
  EXPECT_EQ(error_of("app: {id: x, rebalance: sticky}\n"),
            "m.yaml:1:25: app.rebalance: unknown value 'sticky' (expected incremental or eager)");
  EXPECT_EQ(error_of("app: {id: x}\nagents:\n  a: {library: a, max_in_flight: 0}\n"),
            "m.yaml:3:34: agents.a.max_in_flight: must be in 1..1000000, got 0");
}

TEST(ManifestDeliveryTest, CommitIntervalIsAnExactlyOnceAgentsOnly) {
  const Manifest m = parse_ok(R"(app: {id: x}
agents:
  copy: {library: copy, processing_guarantee: exactly_once, commit_interval: 0.5}
  plain: {library: plain, processing_guarantee: exactly_once}
)");
  EXPECT_EQ(m.agents[0].commit_interval, std::chrono::milliseconds(500));
  EXPECT_EQ(m.agents[1].commit_interval, std::chrono::milliseconds(100));
  EXPECT_EQ(error_of("app: {id: x}\nagents:\n  a: {library: a, commit_interval: 0.5}\n"),
            "m.yaml:3:19: agents.a.commit_interval: applies to exactly_once agents only (at least once, a message "
            "commits once its sends are acknowledged)");
  EXPECT_EQ(error_of("app: {id: x}\nagents:\n  a: {library: a, processing_guarantee: exactly_once, commit_interval: 6}\n"),
            "m.yaml:3:72: agents.a.commit_interval: must be at most 5 seconds, got 6");
}

TEST(ManifestDeliveryTest, ALeaderOnlyAgentTakesNeither) {
  EXPECT_EQ(error_of("app: {id: x}\nagents:\n  a:\n    library: a\n    on_leader: true\n    batch: {max_messages: 5}\n"),
            "m.yaml:6:5: agents.a.batch: a leader-only agent (on_leader: true) handles each message in a transaction of "
            "the leader's term already; remove batch");
}

// --- isolation: process -----------------------------------------------------------------------------

TEST(ManifestIsolationTest, ReadsIsolationWithItsLimitsAndDefaults) {
  const Manifest m = parse_ok(R"(app: {id: x}
agents:
  plain: {library: a}
  isolated: {library: a, isolation: process}
  tuned: {library: a, isolation: process, max_crashes: 5, handler_timeout: 1.5}
  explicit: {library: a, isolation: in-process}
timers:
  t: {library: a, interval: 1, isolation: in-process}
services:
  s: {library: a, isolation: in-process}
)");
  ASSERT_EQ(m.agents.size(), 4u);
  EXPECT_EQ(m.agents[0].isolation, Isolation::kInProcess);
  EXPECT_EQ(m.agents[1].isolation, Isolation::kProcess);
  EXPECT_EQ(m.agents[1].max_crashes, 2);
  EXPECT_EQ(m.agents[1].handler_timeout, std::chrono::milliseconds(30000));
  EXPECT_EQ(m.agents[2].max_crashes, 5);
  EXPECT_EQ(m.agents[2].handler_timeout, std::chrono::milliseconds(1500));
  EXPECT_EQ(m.agents[3].isolation, Isolation::kInProcess);
  const Manifest leader = parse_ok("app: {id: x}\nagents:\n  a: {library: a, on_leader: true, isolation: process}\n");
  EXPECT_EQ(leader.agents[0].isolation, Isolation::kProcess) << "a leader-only agent may be isolated too";
}

TEST(ManifestIsolationTest, RefusesWhatIsolationCannotDoInOneLine) {
  EXPECT_EQ(error_of("app: {id: x}\nagents:\n  a: {library: a, isolation: container}\n"),
            "m.yaml:3:30: agents.a.isolation: unknown value 'container' (expected in-process or process)");
  EXPECT_EQ(error_of("app: {id: x}\nagents:\n  a: {library: a, max_crashes: 3}\n"),
            "m.yaml:3:19: agents.a.max_crashes: only goes with isolation: process");
  EXPECT_EQ(error_of("app: {id: x}\nagents:\n  a: {library: a, isolation: in-process, handler_timeout: 3}\n"),
            "m.yaml:3:42: agents.a.handler_timeout: only goes with isolation: process");
  EXPECT_EQ(error_of("app: {id: x}\nagents:\n  a: {library: a, isolation: process, max_crashes: 0}\n"),
            "m.yaml:3:52: agents.a.max_crashes: must be in 1..100, got 0");
  EXPECT_EQ(error_of("app: {id: x}\nagents:\n  a: {library: a, isolation: process, handler_timeout: 0.001}\n"),
            "m.yaml:3:56: agents.a.handler_timeout: must be at least 0.01 seconds, got 0.001");
  EXPECT_EQ(error_of("app: {id: x}\nagents:\n  a: {library: a, isolaton: process}\n"),
            "m.yaml:3:19: unknown key 'isolaton' in agents.a (did you mean 'isolation'?)");
}

TEST(ManifestIsolationTest, ReadsTheMemoryAndRestartLimitsOfAnIsolatedAgent) {
  const Manifest m = parse_ok(R"(app: {id: x}
agents:
  isolated: {library: a, isolation: process}
  limited: {library: a, isolation: process, memory_limit_mib: 256, max_restarts_per_minute: 3}
)");
  ASSERT_EQ(m.agents.size(), 2u);
  EXPECT_EQ(m.agents[0].memory_limit_mib, 0) << "no limit by default";
  EXPECT_EQ(m.agents[0].max_restarts_per_minute, 10);
  EXPECT_EQ(m.agents[1].memory_limit_mib, 256);
  EXPECT_EQ(m.agents[1].max_restarts_per_minute, 3);
}

TEST(ManifestIsolationTest, RefusesBadMemoryAndRestartLimitsInOneLine) {
  EXPECT_EQ(error_of("app: {id: x}\nagents:\n  a: {library: a, memory_limit_mib: 64}\n"),
            "m.yaml:3:19: agents.a.memory_limit_mib: only goes with isolation: process");
  EXPECT_EQ(error_of("app: {id: x}\nagents:\n  a: {library: a, isolation: in-process, max_restarts_per_minute: 5}\n"),
            "m.yaml:3:42: agents.a.max_restarts_per_minute: only goes with isolation: process");
  EXPECT_EQ(error_of("app: {id: x}\nagents:\n  a: {library: a, isolation: process, memory_limit_mib: 8}\n"),
            "m.yaml:3:57: agents.a.memory_limit_mib: must be in 16..1048576, got 8");
  EXPECT_EQ(error_of("app: {id: x}\nagents:\n  a: {library: a, isolation: process, memory_limit_mib: 64M}\n"),
            "m.yaml:3:57: agents.a.memory_limit_mib: expected an integer, got '64M'");
  EXPECT_EQ(error_of("app: {id: x}\nagents:\n  a: {library: a, isolation: process, max_restarts_per_minute: 0}\n"),
            "m.yaml:3:64: agents.a.max_restarts_per_minute: must be in 1..10000, got 0");
  EXPECT_EQ(error_of("app: {id: x}\nagents:\n  a: {library: a, isolation: process, memory_limit: 64}\n"),
            "m.yaml:3:39: unknown key 'memory_limit' in agents.a (did you mean 'memory_limit_mib'?)");
}

TEST(ManifestIsolationTest, ReadsIsolatedTimersAndServicesWithTheirLimits) {
  const Manifest m = parse_ok(R"(app: {id: x}
timers:
  plain: {library: a, interval: 1}
  isolated: {library: a, interval: 1, on_leader: true, isolation: process}
  tuned: {library: a, cron: "0 * * * *", isolation: process, handler_timeout: 2.5, memory_limit_mib: 128,
          max_restarts_per_minute: 4}
services:
  s_plain: {library: a}
  s_isolated: {library: a, isolation: process, handler_timeout: 60}
)");
  ASSERT_EQ(m.timers.size(), 3u);
  EXPECT_EQ(m.timers[0].isolation, Isolation::kInProcess);
  EXPECT_EQ(m.timers[1].isolation, Isolation::kProcess);
  EXPECT_TRUE(m.timers[1].on_leader);
  EXPECT_EQ(m.timers[1].limits.handler_timeout, std::chrono::milliseconds(30000));
  EXPECT_EQ(m.timers[1].limits.memory_limit_mib, 0);
  EXPECT_EQ(m.timers[1].limits.max_restarts_per_minute, 10);
  EXPECT_EQ(m.timers[2].isolation, Isolation::kProcess);
  EXPECT_TRUE(m.timers[2].cron.has_value());
  EXPECT_EQ(m.timers[2].limits.handler_timeout, std::chrono::milliseconds(2500));
  EXPECT_EQ(m.timers[2].limits.memory_limit_mib, 128);
  EXPECT_EQ(m.timers[2].limits.max_restarts_per_minute, 4);
  ASSERT_EQ(m.services.size(), 2u);
  EXPECT_EQ(m.services[0].isolation, Isolation::kInProcess);
  EXPECT_EQ(m.services[1].isolation, Isolation::kProcess);
  EXPECT_EQ(m.services[1].limits.handler_timeout, std::chrono::milliseconds(60000));
}

TEST(ManifestIsolationTest, RefusesBadIsolationOfTimersAndServicesInOneLine) {
  EXPECT_EQ(error_of("app: {id: x}\ntimers:\n  t: {library: a, interval: 1, isolation: thread}\n"),
            "m.yaml:3:43: timers.t.isolation: unknown value 'thread' (expected in-process or process)");
  EXPECT_EQ(error_of("app: {id: x}\ntimers:\n  t: {library: a, interval: 1, handler_timeout: 3}\n"),
            "m.yaml:3:32: timers.t.handler_timeout: only goes with isolation: process");
  EXPECT_EQ(error_of("app: {id: x}\ntimers:\n  t: {library: a, interval: 1, isolation: process, handler_timeout: 0}\n"),
            "m.yaml:3:69: timers.t.handler_timeout: must be at least 0.01 seconds, got 0");
  EXPECT_EQ(error_of("app: {id: x}\ntimers:\n  t: {library: a, interval: 1, isolation: process, memory_limit_mib: 1}\n"),
            "m.yaml:3:70: timers.t.memory_limit_mib: must be in 16..1048576, got 1");
  EXPECT_EQ(error_of("app: {id: x}\ntimers:\n  t: {library: a, interval: 1, isolation: process, max_crashes: 2}\n"),
            "m.yaml:3:52: unknown key 'max_crashes' in timers.t");
  EXPECT_EQ(error_of("app: {id: x}\nservices:\n  s: {library: a, isolation: in-process, max_restarts_per_minute: 2}\n"),
            "m.yaml:3:42: services.s.max_restarts_per_minute: only goes with isolation: process");
  EXPECT_EQ(error_of("app: {id: x}\nservices:\n  s: {library: a, isolation: process, max_restarts_per_minute: 0}\n"),
            "m.yaml:3:64: services.s.max_restarts_per_minute: must be in 1..10000, got 0");
  EXPECT_EQ(error_of("app: {id: x}\nservices:\n  s: {library: a, isolation: process, handler_timeot: 5}\n"),
            "m.yaml:3:39: unknown key 'handler_timeot' in services.s (did you mean 'handler_timeout'?)");
}

}  // namespace
}  // namespace faust
