#include "manifest/manifest.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <sstream>
#include <system_error>
#include <vector>

#include "manifest/kafka_properties.h"
#include "manifest/printable.h"
#include "manifest/secret_references.h"
#include "manifest/yaml_schema.h"

namespace faust {
namespace {

using schema::Entry;
using schema::fail;
using schema::Section;

constexpr std::string_view kDefaultBroker = "kafka://localhost:9092";
// Kafka's own limit on topic names.
constexpr std::size_t kMaxTopicLength = 249;
// Leaves room for the "-__assignor-__leader" suffix and agent names within kMaxTopicLength.
constexpr std::size_t kMaxAppIdLength = 200;
// A manifest is a page of text; anything bigger is the wrong file.
constexpr std::size_t kMaxManifestBytes = 4 * 1024 * 1024;

constexpr std::string_view kNameRule = "use letters, digits, '_', '.' and '-'";

bool is_name(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
}

// Kafka's rule: the name characters, at most 249 of them, and not "." or "..".
bool is_topic_name(std::string_view text) {
  return is_name(text) && text.size() <= kMaxTopicLength && text != "." && text != "..";
}

// A duration in whole milliseconds, as librdkafka takes them; `range` starts well above 1 ms.
std::chrono::milliseconds read_milliseconds(const Entry& entry, DurationRange range) {
  return std::chrono::milliseconds(
      std::llround(schema::read_seconds(entry, range.min_seconds, range.max_seconds) * 1000));
}

// A bare name stays as written (looked up on the plugin search path); a path is resolved against
// the manifest's folder so the manifest works from any current directory.
std::string resolve_library(const Entry& entry, const std::filesystem::path& manifest_file) {
  const std::string written = schema::read_string(entry);
  if (written.empty()) fail(entry.value_mark(), entry.path + ": must not be empty");
  if (written.find('/') == std::string::npos) return written;

  std::filesystem::path library(written);
  if (library.is_relative()) {
    std::filesystem::path folder = manifest_file.parent_path();
    if (folder.empty()) folder = ".";
    std::error_code error;
    const std::filesystem::path absolute_folder = std::filesystem::absolute(folder, error);
    library = (error ? folder : absolute_folder) / library;
  }
  return library.lexically_normal().string();
}

// The library of an agent, timer or service entry: `library:`, or the entry's own name without
// one. `where` receives the place errors about it point at.
std::string read_library(const Section& fields, const Entry& item, const std::filesystem::path& manifest_file,
                         std::string& where) {
  const Entry* library = fields.find("library");
  const std::string located =
      schema::located_message(manifest_file, library != nullptr ? library->value_mark() : item.key.Mark(), "");
  where = located.substr(0, located.size() - 2) + ": " + item.path + ".library";
  return library != nullptr ? resolve_library(*library, manifest_file) : item.name();
}

std::string read_scalar_value(const Entry& item) {
  if (!item.value.IsScalar()) {
    // A null value is rejected too: an empty string and "unset" must not look alike.
    fail(item.value_mark(), item.path + ": expected a scalar value, got " + schema::describe(item.value) +
                                (item.value.IsNull() ? " (write \"\" for an empty string)" : ""));
  }
  return item.value.Scalar();
}

// `config:` of an agent or timer: names to scalars, handed to the plugin as text.
ConfigMap read_config(const Entry* entry) {
  ConfigMap values;
  if (entry == nullptr) return values;
  for (const Entry& item : schema::map_entries(entry->value, entry->path, entry->key.Mark())) {
    values.emplace(item.name(), read_scalar_value(item));
  }
  return values;
}

AppConfig read_app(const Entry& entry) {
  const Section app(entry.value, entry.path, entry.key.Mark(),
                    {"id", "broker", "key_serializer", "value_serializer", "topic_partitions",
                     "topic_replication", "session_timeout", "heartbeat_interval", "agent_queue_mib",
                      "leader_state_mib", "rebalance"});
  AppConfig config;

  const Entry& id = app.require("id");
  config.id = schema::read_string(id);
  if (!is_name(config.id)) {
    fail(id.value_mark(), "app.id: invalid id '" + config.id + "' (" + std::string(kNameRule) + ")");
  }
  if (config.id.size() > kMaxAppIdLength) {
    fail(id.value_mark(), "app.id: longer than " + std::to_string(kMaxAppIdLength) + " characters");
  }

  if (const Entry* broker = app.find("broker")) {
    auto url = parse_broker_url(schema::read_string(*broker));
    if (!url) fail(broker->value_mark(), url.error().message);
    config.broker = std::move(*url);
  } else {
    config.broker = parse_broker_url(kDefaultBroker).value();
  }

  const schema::Choices<Serializer> serializers = {{"raw", Serializer::kRaw}, {"json", Serializer::kJson}};
  if (const Entry* e = app.find("key_serializer")) {
    config.key_serializer = schema::read_choice(*e, serializers);
  }
  if (const Entry* e = app.find("value_serializer")) {
    config.value_serializer = schema::read_choice(*e, serializers);
  }
  if (const Entry* e = app.find("topic_partitions")) config.topic_partitions = schema::read_int(*e, 1, 10000);
  if (const Entry* e = app.find("topic_replication")) {
    config.topic_replication = schema::read_int(*e, 1, 32767);
  }
  if (const Entry* e = app.find("agent_queue_mib")) config.agent_queue_mib = schema::read_int(*e, 1, 65536);
  if (const Entry* e = app.find("leader_state_mib")) config.leader_state_mib = schema::read_int(*e, 1, 4096);
  if (const Entry* e = app.find("rebalance")) {
    config.incremental_rebalance = schema::read_choice<bool>(*e, {{"incremental", true}, {"eager", false}});
  }

  if (const Entry* e = app.find("session_timeout")) {
    config.session_timeout = read_milliseconds(*e, kSessionTimeoutRange);
  }
  // Only a written heartbeat can be too long: the default is shorter than any session timeout.
  if (const Entry* heartbeat = app.find("heartbeat_interval")) {
    config.heartbeat_interval = read_milliseconds(*heartbeat, kHeartbeatIntervalRange);
    if (config.heartbeat_interval >= config.session_timeout) {
      fail(heartbeat->value_mark(),
           "app.heartbeat_interval: must be less than app.session_timeout (" +
               schema::format_seconds(static_cast<double>(config.session_timeout.count()) / 1000) +
               " seconds), got " + heartbeat->value.Scalar());
    }
  }
  return config;
}

std::map<std::string, std::string> read_kafka(const Entry* entry) {
  std::map<std::string, std::string> properties;
  if (entry == nullptr) return properties;
  for (const Entry& item : schema::map_entries(entry->value, entry->path, entry->key.Mark())) {
    if (const auto reason = refused_kafka_property(item.name())) {
      fail(item.key.Mark(), item.path + ": " + std::string(*reason));
    }
    properties.emplace(item.name(), read_scalar_value(item));
  }
  return properties;
}

WebConfig read_web(const Entry* entry) {
  WebConfig config;
  if (entry == nullptr) return config;
  const Section web(entry->value, entry->path, entry->key.Mark(), {"enabled", "bind", "port", "page_timeout"});
  if (const Entry* e = web.find("enabled")) config.enabled = schema::read_bool(*e);
  if (const Entry* e = web.find("bind")) {
    config.bind = schema::read_string(*e);
    if (config.bind.empty() || config.bind.find_first_of(" \t") != std::string::npos) {
      fail(e->value_mark(),
           "web.bind: expected an address such as 127.0.0.1 or 0.0.0.0, got '" + config.bind + "'");
    }
  }
  if (const Entry* e = web.find("port")) {
    config.port = static_cast<std::uint16_t>(schema::read_int(*e, 0, 65535));
  }
  if (const Entry* e = web.find("page_timeout")) config.page_timeout = read_milliseconds(*e, kPageTimeoutRange);
  return config;
}

// An agent's `topic:` or `dead_letter_topic:` as written, or empty when not written (the default
// then applies, and must fit Kafka's limit too).
std::string read_topic(const Entry* entry, const Entry& agent, const std::string& default_topic,
                       std::string_view key) {
  if (entry == nullptr) {
    if (default_topic.size() > kMaxTopicLength) {
      fail(agent.key.Mark(), agent.path + ": the default " + std::string(key) + " '" + default_topic +
                                 "' is longer than " + std::to_string(kMaxTopicLength) +
                                 " characters; set a shorter " + std::string(key));
    }
    return {};
  }
  std::string topic = schema::read_string(*entry);
  if (!is_topic_name(topic)) {
    fail(entry->value_mark(), entry->path + ": invalid topic name '" + topic + "' (" +
                                  std::string(kNameRule) + ", at most " + std::to_string(kMaxTopicLength) +
                                  ")");
  }
  return topic;
}

// `dead_letter_topic:` and what on_error: dead_letter asks of the rest of the agent.
void read_dead_letter(const Section& fields, const Entry& item, const AppConfig& app, AgentConfig& agent) {
  const Entry* topic = fields.find("dead_letter_topic");
  if (agent.on_error != OnError::kDeadLetter) {
    if (topic != nullptr) {
      fail(topic->key.Mark(), topic->path + ": only goes with on_error: dead_letter");
    }
    return;
  }
  if (agent.on_leader) {
    // A leader-only agent's position commits in the leader's transaction: its dead-letter write
    // would have to join that transaction, which the leader-only runner does not do.
    const Entry& on_error = *fields.find("on_error");
    fail(on_error.value_mark(), on_error.path + ": dead_letter is not available to a leader-only agent "
                                                "(on_leader: true); use skip, retry or stop");
  }
  const std::string default_topic = app.id + "-" + agent.name + "-dead-letter";
  agent.dead_letter_topic = read_topic(topic, item, default_topic, "dead_letter_topic");
  const std::string own_topic = agent.topic.empty() ? app.id + "-" + agent.name : agent.topic;
  if ((agent.dead_letter_topic.empty() ? default_topic : agent.dead_letter_topic) == own_topic) {
    fail(topic != nullptr ? topic->value_mark() : item.key.Mark(),
         item.path + ".dead_letter_topic: must not be the agent's own topic '" + own_topic + "'");
  }
}

constexpr std::string_view kProcessOnly = "only goes with isolation: process";

Isolation read_isolation(const Entry& entry) {
  return schema::read_choice<Isolation>(entry, {{"in-process", Isolation::kInProcess}, {"process", Isolation::kProcess}});
}

// `handler_timeout:`, `memory_limit_mib:` and `max_restarts_per_minute:`, the limits of an entry
// with `isolation: process`. An in-process plugin cannot be stopped, survived or measured apart
// from the worker, so the limits are refused without isolation rather than ignored.
ProcessLimits read_limits(const Section& fields, Isolation isolation, std::initializer_list<const char*> more = {}) {
  ProcessLimits limits;
  const Entry* timeout = fields.find("handler_timeout");
  const Entry* memory = fields.find("memory_limit_mib");
  const Entry* restarts = fields.find("max_restarts_per_minute");
  if (isolation != Isolation::kProcess) {
    for (const Entry* e : {timeout, memory, restarts}) {
      if (e != nullptr) fail(e->key.Mark(), e->path + ": " + std::string(kProcessOnly));
    }
    for (const char* key : more) {
      if (const Entry* e = fields.find(key)) fail(e->key.Mark(), e->path + ": " + std::string(kProcessOnly));
    }
    return limits;
  }
  if (timeout != nullptr) limits.handler_timeout = read_milliseconds(*timeout, kHandlerTimeoutRange);
  // A plugin runner alone takes a few MiB: a smaller limit would kill every child at once.
  if (memory != nullptr) limits.memory_limit_mib = schema::read_int(*memory, 16, 1024 * 1024);
  if (restarts != nullptr) limits.max_restarts_per_minute = schema::read_int(*restarts, 1, 10000);
  return limits;
}

// `isolation:` and the limits of an isolated agent.
void read_isolation(const Section& fields, AgentConfig& agent) {
  if (const Entry* e = fields.find("isolation")) agent.isolation = read_isolation(*e);
  const ProcessLimits limits = read_limits(fields, agent.isolation, {"max_crashes"});
  agent.handler_timeout = limits.handler_timeout;
  agent.memory_limit_mib = limits.memory_limit_mib;
  agent.max_restarts_per_minute = limits.max_restarts_per_minute;
  if (agent.isolation != Isolation::kProcess) return;
  if (const Entry* crashes = fields.find("max_crashes")) agent.max_crashes = schema::read_int(*crashes, 1, 100);
}

// `isolation:` and the limits of an isolated timer or service.
template <typename Config>
void read_isolation(const Section& fields, Config& config) {
  if (const Entry* e = fields.find("isolation")) config.isolation = read_isolation(*e);
  config.limits = read_limits(fields, config.isolation);
}

void check_name(const Entry& entry, std::string_view kind) {
  if (!is_name(entry.name())) {
    fail(entry.key.Mark(),
         "invalid " + std::string(kind) + " name '" + entry.name() + "' (" + std::string(kNameRule) + ")");
  }
}

// `processing_guarantee:`, `batch:` and `commit_interval:`. A leader-only agent already handles
// each message in one transaction of the leader's term, so none applies to it.
void read_delivery(const Section& fields, AgentConfig& agent) {
  if (const Entry* e = fields.find("processing_guarantee")) {
    agent.processing_guarantee = schema::read_choice<ProcessingGuarantee>(
        *e, {{"at_least_once", ProcessingGuarantee::kAtLeastOnce}, {"exactly_once", ProcessingGuarantee::kExactlyOnce}});
  }
  if (const Entry* e = fields.find("batch")) {
    const Section batch(e->value, e->path, e->key.Mark(), {"max_messages", "max_wait"});
    BatchConfig config;
    if (const Entry* max = batch.find("max_messages")) config.max_messages = schema::read_int(*max, 1, kMaxBatchMessages);
    if (const Entry* wait = batch.find("max_wait")) config.max_wait = read_milliseconds(*wait, kBatchWaitRange);
    agent.batch = config;
  }
  if (const Entry* e = fields.find("commit_interval")) {
    agent.commit_interval = read_milliseconds(*e, kCommitIntervalRange);
    if (agent.processing_guarantee != ProcessingGuarantee::kExactlyOnce && !agent.on_leader) {
      fail(e->key.Mark(), e->path + ": applies to exactly_once agents only (at least once, a message commits once "
                                    "its sends are acknowledged)");
    }
  }
  if (!agent.on_leader) return;
  for (const char* key : {"processing_guarantee", "batch", "commit_interval"}) {
    if (const Entry* e = fields.find(key)) {
      fail(e->key.Mark(), e->path + ": a leader-only agent (on_leader: true) handles each message in a transaction "
                                    "of the leader's term already; remove " + std::string(key));
    }
  }
}

std::vector<AgentConfig> read_agents(const Entry* entry, const AppConfig& app,
                                     const std::filesystem::path& manifest_file) {
  std::vector<AgentConfig> agents;
  if (entry == nullptr) return agents;
  for (const Entry& item : schema::map_entries(entry->value, entry->path, entry->key.Mark(),
                                               "a map of agent names to their settings")) {
    check_name(item, "agent");
    const Section fields(item.value, item.path, item.key.Mark(),
                         {"library", "topic", "concurrency", "on_error", "max_retries", "dead_letter_topic",
                          "on_leader", "processing_guarantee", "batch", "commit_interval", "max_in_flight",
                          "isolation", "max_crashes", "handler_timeout", "memory_limit_mib",
                          "max_restarts_per_minute", "config"});
    AgentConfig agent;
    agent.name = item.name();
    agent.library = read_library(fields, item, manifest_file, agent.library_at);
    agent.topic = read_topic(fields.find("topic"), item, app.id + "-" + agent.name, "topic");
    if (const Entry* e = fields.find("concurrency")) agent.concurrency = schema::read_int(*e, 1, 1024);
    if (const Entry* e = fields.find("on_error")) {
      agent.on_error = schema::read_choice<OnError>(*e, {{"skip", OnError::kSkip},
                                                          {"retry", OnError::kRetry},
                                                          {"stop", OnError::kStop},
                                                          {"dead_letter", OnError::kDeadLetter}});
    }
    if (const Entry* e = fields.find("max_retries")) agent.max_retries = schema::read_int(*e, 0, 1000);
    if (const Entry* e = fields.find("max_in_flight")) agent.max_in_flight = schema::read_int(*e, 1, 1000000);
    if (const Entry* e = fields.find("on_leader")) agent.on_leader = schema::read_bool(*e);
    read_dead_letter(fields, item, app, agent);
    if (const Entry* e = fields.find("concurrency"); e != nullptr && agent.on_leader && agent.concurrency > 1) {
      fail(e->value_mark(), e->path + ": a leader-only agent (on_leader: true) handles one message at a time; "
                                      "concurrency must be 1");
    }
    read_delivery(fields, agent);
    read_isolation(fields, agent);
    agent.config = read_config(fields.find("config"));
    agents.push_back(std::move(agent));
  }
  return agents;
}

// `cron:` and `timezone:`; an error points at whichever of the two is wrong.
CronSchedule read_cron(const Entry& cron, const Entry* zone) {
  const std::string expression = schema::read_string(cron);
  if (auto parsed = CronExpression::parse(expression); !parsed) {
    std::string_view message = parsed.error().message;
    if (message.starts_with("cron: ")) message.remove_prefix(6);  // the path already says cron
    fail(cron.value_mark(), cron.path + ": " + std::string(message));
  }
  auto schedule = CronSchedule::make(expression, zone != nullptr ? schema::read_string(*zone) : "UTC");
  if (!schedule) fail(zone != nullptr ? zone->value_mark() : cron.value_mark(),
                      (zone != nullptr ? zone->path : cron.path) + ": " + schedule.error().message);
  return std::move(schedule).value();
}

std::vector<TimerConfig> read_timers(const Entry* entry, const std::filesystem::path& manifest_file) {
  std::vector<TimerConfig> timers;
  if (entry == nullptr) return timers;
  for (const Entry& item : schema::map_entries(entry->value, entry->path, entry->key.Mark(),
                                               "a map of timer names to their settings")) {
    check_name(item, "timer");
    const Section fields(item.value, item.path, item.key.Mark(),
                         {"library", "interval", "cron", "timezone", "on_leader", "isolation", "handler_timeout",
                          "memory_limit_mib", "max_restarts_per_minute", "config"});
    TimerConfig timer;
    timer.name = item.name();
    timer.library = read_library(fields, item, manifest_file, timer.library_at);
    const Entry* interval = fields.find("interval");
    const Entry* cron = fields.find("cron");
    const Entry* zone = fields.find("timezone");
    // One of the two, as in Faust's @app.timer(interval) and @app.crontab(cron): no default fits.
    if (interval != nullptr && cron != nullptr) {
      fail(cron->key.Mark(), item.path + ": give interval or cron, not both");
    }
    if (interval == nullptr && cron == nullptr) {
      fail(item.key.Mark(), "missing required key 'interval' or 'cron' in " + item.path);
    }
    if (zone != nullptr && cron == nullptr) {
      fail(zone->key.Mark(), zone->path + ": only goes with cron; an interval does not depend on a time zone");
    }
    if (interval != nullptr) {
      timer.interval = std::chrono::duration<double>(schema::read_seconds(
          *interval, kTimerIntervalRange.min_seconds, kTimerIntervalRange.max_seconds));
    } else {
      timer.cron = read_cron(*cron, zone);
    }
    if (const Entry* e = fields.find("on_leader")) timer.on_leader = schema::read_bool(*e);
    read_isolation(fields, timer);
    timer.config = read_config(fields.find("config"));
    timers.push_back(std::move(timer));
  }
  return timers;
}

std::vector<ServiceConfig> read_services(const Entry* entry, const std::filesystem::path& manifest_file) {
  std::vector<ServiceConfig> services;
  if (entry == nullptr) return services;
  for (const Entry& item : schema::map_entries(entry->value, entry->path, entry->key.Mark(),
                                               "a map of service names to their settings")) {
    check_name(item, "service");
    const Section fields(item.value, item.path, item.key.Mark(),
                         {"library", "stop_timeout", "isolation", "handler_timeout", "memory_limit_mib",
                          "max_restarts_per_minute", "config"});
    ServiceConfig service;
    service.name = item.name();
    service.library = read_library(fields, item, manifest_file, service.library_at);
    if (const Entry* e = fields.find("stop_timeout")) service.stop_timeout = read_milliseconds(*e, kServiceStopTimeoutRange);
    read_isolation(fields, service);
    service.config = read_config(fields.find("config"));
    services.push_back(std::move(service));
  }
  return services;
}

// Agents, timers and services share one namespace: plugins and log lines refer to them by name alone.
void check_unique_names(const Section& sections) {
  std::vector<std::pair<std::string, Entry>> seen;  // (kind, entry) in manifest order
  for (const std::string kind : {"agent", "timer", "service"}) {
    const Entry* section = sections.find(kind + "s");
    if (section == nullptr) continue;
    for (const Entry& item : schema::map_entries(section->value, section->path, section->key.Mark())) {
      for (const auto& [earlier_kind, earlier] : seen) {
        if (earlier.name() != item.name()) continue;
        fail(item.key.Mark(), "duplicate name '" + item.name() + "': already used by the " + earlier_kind +
                                  " at line " + std::to_string(earlier.key.Mark().line + 1) +
                                  " (agent, timer and service names must be unique)");
      }
      seen.emplace_back(kind, item);
    }
  }
}

Manifest read_manifest(const YAML::Node& root, const std::filesystem::path& file, std::vector<std::string> secrets) {
  const YAML::Mark top = root.Mark();
  if (!root.IsMap()) {
    fail(top, "expected a map with an 'app' key at the top level, got " + schema::describe(root));
  }
  const Section sections(root, "", top, {"app", "kafka", "web", "agents", "timers", "services"});

  Manifest manifest;
  manifest.file = file;
  manifest.app = read_app(sections.require("app"));
  manifest.kafka = read_kafka(sections.find("kafka"));
  manifest.web = read_web(sections.find("web"));
  manifest.agents = read_agents(sections.find("agents"), manifest.app, file);
  manifest.timers = read_timers(sections.find("timers"), file);
  manifest.services = read_services(sections.find("services"), file);
  check_unique_names(sections);
  for (const auto& [key, value] : manifest.kafka) {
    if (is_secret_kafka_property(key)) secrets.push_back(value);
  }
  manifest.secrets = std::move(secrets);
  if (manifest.agents.empty() && manifest.timers.empty() && manifest.services.empty()) {
    fail(top, "no agents, timers or services: the manifest must define at least one");
  }
  return manifest;
}

// Where each document of a YAML stream starts, found without building any nodes.
class DocumentMarks : public YAML::EventHandler {
 public:
  std::vector<YAML::Mark> starts;  // the document's first token
  std::vector<YAML::Mark> roots;   // its root node, as YAML::Node::Mark() reports it

  void OnDocumentStart(const YAML::Mark& mark) override {
    starts.push_back(mark);
    awaiting_root_ = true;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t /*anchor*/) override { on_node(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t /*anchor*/) override { on_node(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t /*anchor*/,
                const std::string& /*value*/) override {
    on_node(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t /*anchor*/,
                       YAML::EmitterStyle::value /*style*/) override {
    on_node(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t /*anchor*/,
                  YAML::EmitterStyle::value /*style*/) override {
    on_node(mark);
  }
  void OnMapEnd() override {}

 private:
  void on_node(const YAML::Mark& mark) {
    if (awaiting_root_) roots.push_back(mark);
    awaiting_root_ = false;
  }

  bool awaiting_root_ = false;
};

// "','" for the visible ASCII character at `mark`, else "token".
std::string token_at(const std::string& text, const YAML::Mark& mark) {
  const auto pos = static_cast<std::size_t>(mark.pos);
  if (mark.pos < 0 || pos >= text.size() || text[pos] <= ' ' || text[pos] >= 0x7f) return "token";
  return "'" + std::string(1, text[pos]) + "'";
}

// The manifest's one YAML document; a null node when the text holds none. Not YAML::LoadAll:
// yaml-cpp 0.7 reads a token it cannot place (a stray ',') as an empty document without
// consuming it, so LoadAll collects empty documents until memory runs out. Counting the
// documents first, at most three, bounds the work and spots a parser that stopped advancing.
YAML::Node load_single_document(const std::string& text) {
  std::istringstream stream(text);
  YAML::Parser parser(stream);
  DocumentMarks marks;
  while (marks.starts.size() < 3 && parser.HandleNextDocument(marks)) {
    const std::vector<YAML::Mark>& starts = marks.starts;
    if (starts.size() >= 2 && starts[starts.size() - 1].pos == starts[starts.size() - 2].pos) {
      fail(starts.back(), "YAML syntax error: unexpected " + token_at(text, starts.back()));
    }
  }
  if (marks.roots.size() > 1) fail(marks.roots[1], "more than one YAML document; a manifest is one");
  return marks.starts.empty() ? YAML::Node() : YAML::Load(text);
}

// Messages quote values as written, and a YAML value may span lines or hold any control character.
Error manifest_error(std::string_view message) {
  return Error{ExitCode::kManifestInvalid, printable(message)};
}

constexpr std::size_t kMinRedactedLength = 4;
constexpr std::string_view kRedacted = "[redacted]";

std::string redact_all(std::string_view text, const std::vector<std::string>& secrets) {
  std::string out(text);
  for (const std::string& secret : secrets) {
    if (secret.size() < kMinRedactedLength) continue;
    for (auto at = out.find(secret); at != std::string::npos; at = out.find(secret, at + kRedacted.size())) {
      out.replace(at, secret.size(), kRedacted);
    }
    // A message may quote the value escaped (printable()), so the escaped form goes too.
    const std::string escaped = printable(secret);
    if (escaped == secret) continue;
    for (auto at = out.find(escaped); at != std::string::npos; at = out.find(escaped, at + kRedacted.size())) {
      out.replace(at, escaped.size(), kRedacted);
    }
  }
  return out;
}

}  // namespace

std::string redact(std::string_view text, const std::vector<std::string>& secrets) {
  return redact_all(text, secrets);
}

std::string Manifest::redact(std::string_view text) const { return redact_all(text, secrets); }

std::string Manifest::agent_topic(const AgentConfig& agent) const {
  return agent.topic.empty() ? app.id + "-" + agent.name : agent.topic;
}

std::string Manifest::dead_letter_topic(const AgentConfig& agent) const {
  if (agent.on_error != OnError::kDeadLetter) return {};
  return agent.dead_letter_topic.empty() ? app.id + "-" + agent.name + "-dead-letter" : agent.dead_letter_topic;
}

const char* on_error_name(OnError on_error) {
  switch (on_error) {
    case OnError::kSkip: return "skip";
    case OnError::kRetry: return "retry";
    case OnError::kStop: return "stop";
    case OnError::kDeadLetter: return "dead_letter";
  }
  return "?";
}

std::string Manifest::leader_topic() const { return app.id + "-__assignor-__leader"; }
std::string Manifest::leader_state_topic() const { return app.id + "-__leader-state"; }
std::string Manifest::leader_agents_group() const { return app.id + "-__leader-agents"; }
std::string Manifest::agent_transactional_id(const AgentConfig& agent, const std::string& instance,
                                             std::size_t lane) const {
  // A worker's client id starts with the app id already.
  const std::string prefix = app.id + "-";
  const std::string worker = instance.rfind(prefix, 0) == 0 ? instance.substr(prefix.size()) : instance;
  return prefix + "__agent-" + agent.name + "-" + worker + "-" + std::to_string(lane);
}

const AgentConfig* Manifest::find_agent(std::string_view name) const {
  const auto it =
      std::find_if(agents.begin(), agents.end(), [&](const AgentConfig& a) { return a.name == name; });
  return it == agents.end() ? nullptr : &*it;
}

Result<Manifest> parse_manifest(std::string_view yaml_text, const std::filesystem::path& file) {
  // Referenced values, known once resolved; a later message (a bad value) must not show them.
  std::vector<std::string> secrets;
  try {
    YAML::Node document = load_single_document(std::string(yaml_text));
    // A file of comments or blanks yields no document, or a null one.
    if (document.IsNull()) return manifest_error(file.string() + ": manifest is empty");
    secrets = schema::resolve_references(document, file);
    Manifest manifest = read_manifest(document, file, secrets);
    manifest.written = schema::written_values(document);
    return manifest;
  } catch (const schema::Invalid& invalid) {
    return manifest_error(redact_all(schema::located_message(file, invalid.mark, invalid.message), secrets));
  } catch (const YAML::Exception& error) {
    // Parser errors: yaml-cpp's message without its own "yaml-cpp: error at line..." prefix.
    return manifest_error(schema::located_message(file, error.mark, "YAML syntax error: " + error.msg));
  }
}

Result<Manifest> load_manifest(const std::filesystem::path& file) {
  const auto cannot_read = [&](std::string_view why) {
    return manifest_error(file.string() + ": cannot read manifest: " + std::string(why));
  };
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> stream(std::fopen(file.c_str(), "rb"), &std::fclose);
  if (!stream) return cannot_read(std::strerror(errno));

  std::string text;
  char buffer[16 * 1024];
  while (true) {
    const std::size_t got = std::fread(buffer, 1, sizeof(buffer), stream.get());
    text.append(buffer, got);
    if (text.size() > kMaxManifestBytes) {
      return cannot_read("larger than " + std::to_string(kMaxManifestBytes / (1024 * 1024)) + " MiB");
    }
    if (got < sizeof(buffer)) break;
  }
  // A folder opens fine on Linux and fails on the first read (EISDIR).
  if (std::ferror(stream.get())) return cannot_read(std::strerror(errno));
  return parse_manifest(text, file);
}

}  // namespace faust
