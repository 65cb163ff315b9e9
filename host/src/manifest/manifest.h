#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "schedule/cron_schedule.h"

namespace faust {

enum class Serializer { kRaw, kJson };

// What the worker does with a message whose handler failed.
enum class OnError {
  kSkip,   // log, count, commit past it (default: one bad message never stalls a partition)
  kRetry,  // retry with backoff up to max_retries, then skip
  kStop,   // stop the worker without committing the message (it is redelivered after restart)
  // Retry like kRetry, then write the message to the agent's dead-letter topic and commit past it
  // once the broker acknowledged that write.
  kDeadLetter,
};

// Faust's name for how often a consumed message's effects may happen.
enum class ProcessingGuarantee {
  kAtLeastOnce,  // sends acknowledged before the offset commits: a crash may repeat them
  kExactlyOnce,  // a batch's sends and its offsets commit in one transaction, or neither does
};

// How many messages of one partition an agent handles at a time. A batch is complete with
// max_messages, or when max_wait has passed since its first message (0: whatever is queued).
struct BatchConfig {
  int max_messages = 1;
  std::chrono::milliseconds max_wait{0};
};
// What an exactly-once agent, or one whose plugin handles batches, gets without `batch:`: every
// transaction or acknowledgement wait covers what is queued, up to this many, without waiting.
inline constexpr BatchConfig kDefaultBatch{500, std::chrono::milliseconds(0)};
inline constexpr int kMaxBatchMessages = 100000;
// Where an entry's plugin code runs: in the worker (default), or in a child process of its own
// (`isolation: process`), so that a crash or a hang in it cannot take the worker down.
enum class Isolation { kInProcess, kProcess };
// The manifest's spelling: "skip", "retry", "stop" or "dead_letter".
const char* on_error_name(OnError on_error);

struct BrokerAddress {
  std::string host;
  std::uint16_t port = 9092;
};

// `kafka://host:port;host2:port` (Faust's form; `,` is accepted as a separator too) or `memory://`.
struct BrokerUrl {
  std::string scheme;  // "kafka" or "memory"
  std::vector<BrokerAddress> servers;
  // librdkafka's bootstrap.servers form: "host:port,host2:port".
  std::string bootstrap_servers() const;
};

// Parses a broker URL; the error message names the offending part.
Result<BrokerUrl> parse_broker_url(std::string_view url);

// The shortest and longest duration, in seconds, that the runtime can honour for a manifest
// setting; the manifest refuses anything outside (a sub-millisecond timer interval once passed
// `check` and then crashed the worker).
struct DurationRange {
  double min_seconds;
  double max_seconds;
};
// The timer service counts ticks on a steady clock: under 1 ms a period is no period at all (1e-10 s
// was 0 clock ticks, and a division by zero); a year at most keeps the clock arithmetic far from
// overflowing.
inline constexpr DurationRange kTimerIntervalRange{0.001, 365.0 * 24 * 3600};
// Kafka's brokers accept 6 s..30 min by default (group.min/max.session.timeout.ms); a test broker
// may allow less. Under 1 s any hiccup is a rebalance, and a leader term (which must register its
// transactional producer within one session timeout) would often fail to start.
inline constexpr DurationRange kSessionTimeoutRange{1, 1800};
// Heartbeats go to the group coordinator; under 0.1 s they only load it. Must also be less than
// the session timeout.
inline constexpr DurationRange kHeartbeatIntervalRange{0.1, kSessionTimeoutRange.max_seconds};
// How long a service may take to return from lead() or revoked() once its term ends, and from
// stop() at shutdown, before the worker goes on without it.
inline constexpr DurationRange kServiceStopTimeoutRange{0.1, 300};
// A batch waits at most a minute for its messages: longer would hold a partition's offsets
// (and a transaction) open past any session or transaction timeout worth having.
inline constexpr DurationRange kBatchWaitRange{0, 60};
// An exactly-once lane's transaction stays open at most this long: well within the 10 s after
// which the broker aborts a transaction (the lanes' transaction.timeout.ms).
inline constexpr DurationRange kCommitIntervalRange{0.001, 5};
// A plugin page's deadline: under 10 ms no handler could answer; over 5 minutes a client (and a
// page thread) is held longer than any status view deserves.
inline constexpr DurationRange kPageTimeoutRange{0.01, 300};
// How long an isolated agent's child may take to answer one call before it is killed: under 10 ms
// a restart costs more than the call; an hour bounds how long a partition waits on a hung one.
inline constexpr DurationRange kHandlerTimeoutRange{0.01, 3600};

struct AppConfig {
  std::string id;
  BrokerUrl broker;
  Serializer key_serializer = Serializer::kRaw;
  Serializer value_serializer = Serializer::kRaw;
  int topic_partitions = 8;
  int topic_replication = 1;
  // Short by default so a killed leader is replaced quickly; 6 s is the broker's default minimum.
  std::chrono::milliseconds session_timeout{6000};
  std::chrono::milliseconds heartbeat_interval{500};
  // Fetched messages (keys and values) one agent lane may hold before its partitions pause.
  int agent_queue_mib = 64;
  // The leader state's limit (keys and values together).
  int leader_state_mib = 64;
  // The agents' group: `rebalance: incremental` (cooperative-sticky) or `eager` (range).
  bool incremental_rebalance = true;
};

struct WebConfig {
  bool enabled = true;
  std::string bind = "127.0.0.1";  // safe by default; 0.0.0.0 opens it
  std::uint16_t port = 6066;
  // How long a plugin page may take before its client gets 503.
  std::chrono::milliseconds page_timeout{5000};
};

using ConfigMap = std::map<std::string, std::string>;

// The limits of an entry with `isolation: process` (an agent's lanes, a timer, a service): a child
// that does not answer a call within handler_timeout (the worker's time answering its host calls
// excluded) or grows past memory_limit_mib of resident memory is killed and counted as crashed;
// more than max_restarts_per_minute restarts of the entry's children stop the worker.
struct ProcessLimits {
  std::chrono::milliseconds handler_timeout{30000};
  int memory_limit_mib = 0;  // 0: no limit
  int max_restarts_per_minute = 10;
};

// `library` is what the manifest wrote, resolved: a bare name (no '/') stays as written and is
// looked up on the plugin search path; a path is made absolute against the manifest's folder.
// Without `library:` it is the entry's own name. `library_at` says where, for errors found once
// the library is loaded: "FILE:LINE:COL: agents.<name>.library" (empty for manifests built in code).
struct AgentConfig {
  std::string name;
  std::string library;
  std::string library_at;
  std::string topic;  // empty: "<app-id>-<agent>"
  int concurrency = 1;
  OnError on_error = OnError::kSkip;
  int max_retries = 3;  // for OnError::kRetry and kDeadLetter
  std::string dead_letter_topic;  // only with kDeadLetter; empty: "<app-id>-<agent>-dead-letter"
  // A leader-only agent: its topic has one partition, consumed only by the leader, in its term.
  bool on_leader = false;
  ProcessingGuarantee processing_guarantee = ProcessingGuarantee::kAtLeastOnce;
  std::optional<BatchConfig> batch;  // as written; see batch_for
  // exactly_once: how long a lane's transaction gathers messages before it commits.
  std::chrono::milliseconds commit_interval{100};
  // Message by message at least once: sends per lane queued and not yet acknowledged.
  int max_in_flight = 10000;
  // isolation: process: each lane's instance lives in a child process. A child that crashes, does
  // not answer within handler_timeout or grows past memory_limit_mib of resident memory is
  // restarted; a message in hand at max_crashes crashes gets on_error. More restarts than
  // max_restarts_per_minute (all lanes of the agent together) stop the worker.
  Isolation isolation = Isolation::kInProcess;
  int max_crashes = 2;
  std::chrono::milliseconds handler_timeout{30000};
  int memory_limit_mib = 0;  // 0: no limit
  int max_restarts_per_minute = 10;
  ConfigMap config;
};

// A timer runs every `interval` or, when `cron` is set, at the cron schedule's instants.
struct TimerConfig {
  std::string name;
  std::string library;
  std::string library_at;
  std::chrono::duration<double> interval{1.0};  // unused when `cron` is set
  std::optional<CronSchedule> cron;               // `cron:` read in `timezone:` (default UTC)
  bool on_leader = false;
  // isolation: process: the timer's instance lives in a child process; a tick is one call to it,
  // handler_timeout its timeout. A tick that crashes fails (an on_leader one's transaction is
  // aborted) and the child is restarted for the next.
  Isolation isolation = Isolation::kInProcess;
  ProcessLimits limits;
  ConfigMap config;
};

// A service (ABI 1.1): one instance per worker, with the worker's and the leader's lifecycle.
struct ServiceConfig {
  std::string name;
  std::string library;
  std::string library_at;
  std::chrono::milliseconds stop_timeout{5000};
  // isolation: process: the service's instance lives in a child process; each callback is one
  // call to it, handler_timeout bounding the plugin's own time between its host calls (a lead that
  // waits in wait_for_stop is not timed meanwhile). A child that crashes is restarted and brought
  // back to where the crashed one was (start, and elected in a term) before lead runs again.
  Isolation isolation = Isolation::kInProcess;
  ProcessLimits limits;
  ConfigMap config;
};

// One value of the manifest file as written, its ${env:} and ${file:} references resolved: what a
// reload compares. A map is listed (without a value) before its entries.
struct WrittenValue {
  std::vector<std::string> path;  // its keys from the top: {"agents", "orders", "concurrency"}
  std::string value;  // a scalar's text after a 's' ('~' for nothing written, '{' a map, '[' a list)
  int line = 0;       // 0-based, where it is written (its key, for a map)
  int column = 0;
};

struct Manifest {
  std::filesystem::path file;  // as given, for messages
  AppConfig app;
  std::map<std::string, std::string> kafka;  // librdkafka properties passed through
  WebConfig web;
  std::vector<AgentConfig> agents;
  std::vector<TimerConfig> timers;
  std::vector<ServiceConfig> services;
  // Values never to be printed: every value read through ${env:} or ${file:}, and the values of
  // the kafka properties that hold secrets (is_secret_kafka_property). See redact().
  std::vector<std::string> secrets;
  // Every value the file wrote, in its order (empty for manifests built in code).
  std::vector<WrittenValue> written;

  // `text` with every secret in it replaced by "[redacted]". Secrets under 4 characters are left
  // alone: replacing a "1" everywhere would garble every message and hide nothing worth hiding.
  std::string redact(std::string_view text) const;

  std::string agent_topic(const AgentConfig& agent) const;
  // Where the agent's failed messages go (on_error: dead_letter); empty for any other on_error.
  std::string dead_letter_topic(const AgentConfig& agent) const;
  std::string leader_topic() const;  // "<app-id>-__assignor-__leader", as Faust names it
  std::string leader_state_topic() const;  // "<app-id>-__leader-state"
  // Where the leader-only agents' consumed positions are committed.
  std::string leader_agents_group() const;  // "<app-id>-__leader-agents"
  const AgentConfig* find_agent(std::string_view name) const;
  // The transactional id of an exactly-once agent's producer for one partition of its topic:
  // fixed, so the partition's next owner fences the previous one.
  std::string agent_transactional_id(const AgentConfig& agent, const std::string& instance, std::size_t lane) const;
};

// `text` with every one of `secrets` (of 4 characters or more) replaced by "[redacted]".
std::string redact(std::string_view text, const std::vector<std::string>& secrets);

// Why `next` (the manifest file read again) may not be applied to a worker running `running`: a
// reload (SIGHUP) may change only the library and config of agents with isolation: process.
// One line "FILE:LINE:COL: agents.orders.concurrency: changed; ..." for the first other value,
// in `next`'s order, that was changed, added or removed (a removed one points at the nearest
// place left); nothing when the reload may go ahead. Values are never quoted: they may be secrets.
std::optional<std::string> reload_refusal(const Manifest& running, const Manifest& next);

// Reads and validates a manifest. Errors are one line: "FILE:LINE:COL: what is wrong".
Result<Manifest> load_manifest(const std::filesystem::path& file);
// Same, from text already read; `file` is used for messages and relative library paths.
Result<Manifest> parse_manifest(std::string_view yaml_text, const std::filesystem::path& file);

}  // namespace faust
