#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "worker_process.h"

namespace faust::testing {

struct ClusterSettings {
  double session_timeout = 3.0;
  double heartbeat_interval = 0.3;
  double greeting_interval = 0.5;
};

// The parts of a cluster's manifest a test chooses; the cluster always writes app.id,
// app.broker, the session timeout and the heartbeat interval itself.
struct ClusterManifest {
  // Empty: "it-<name>-<unique suffix>". Set for a test that must know it before the cluster exists
  // (e.g. to grant ACLs on it once for many tests).
  std::string app_id;
  std::string value_serializer = "raw";
  // More lines of the app: section, each indented by two spaces ("  topic_partitions: 1\n").
  std::string app_lines;
  // The top-level sections after app: (agents:, timers:, kafka:, ...). Empty: the tutorial's
  // say agent and publish_greetings timer (every greeting_interval, on the leader).
  std::string sections;
};

// A greeting a worker's publish_greetings logged as sent: queued in its tick's transaction.
struct SentGreeting {
  std::string greeting;
  std::chrono::system_clock::time_point logged;
};

// What a faust-host command that ran to its end printed (stdout and stderr) and returned.
struct CommandResult {
  int exit_code = -1;  // -1: it did not end within its deadline (it was killed)
  std::string output;
};

// Several faust-host workers of one fresh app (own topics and groups) on the test broker,
// running the tutorial's plugins. Each worker serves its web port on a port of its own choosing.
class WorkerCluster {
 public:
  struct Worker {
    std::unique_ptr<WorkerProcess> process;
    std::uint16_t web_port = 0;
    bool paused = false;  // SIGSTOPped by the test: not asked over HTTP
  };

  struct StartOptions {
    bool wait_serving = true;  // false: returns at once, before the worker serves its web port
    bool wait_ready = true;
    std::vector<std::string> extra_args;  // e.g. {"--broker", "kafka://127.0.0.1:1"}
    // "NAME=value" on top of the test's environment, e.g. skewed_clock(-3600). Initialized here so
    // that designated initializers may leave it out.
    std::vector<std::string> environment{};
  };

  explicit WorkerCluster(const std::string& name, ClusterSettings settings = {});
  WorkerCluster(const std::string& name, ClusterSettings settings, ClusterManifest manifest);
  ~WorkerCluster();

  // Starts a worker and, by default, waits until it serves its web port and is ready.
  std::size_t start_worker(const StartOptions& options);
  std::size_t start_worker() { return start_worker(StartOptions{}); }
  // Same, with another manifest of the app (see write_manifest) instead of the cluster's own.
  std::size_t start_worker(const StartOptions& options, const std::filesystem::path& manifest);
  Worker& worker(std::size_t index) { return workers_.at(index); }
  const Worker& worker(std::size_t index) const { return workers_.at(index); }
  std::size_t size() const { return workers_.size(); }
  const ClusterSettings& settings() const { return settings_; }
  const std::string& app_id() const { return app_id_; }
  const std::filesystem::path& manifest_path() const { return manifest_; }
  // Writes another manifest of the same app (same topics and consumer groups) into the
  // cluster's folder, e.g. for a worker with another on_error policy; returns its path.
  std::filesystem::path write_manifest(const std::string& file_name, const ClusterManifest& manifest) const;

  // Runs `faust-host ARGS...` to its end (killed after `timeout`).
  CommandResult run_faust_host(const std::vector<std::string>& args,
                               std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // `faust-host send AGENT VALUE --manifest M` with the cluster's manifest unless `manifest` is given.
  CommandResult send(const std::string& agent, const std::string& value, const std::filesystem::path& manifest = {});

  // What a running, unpaused worker's /leader says of is_leader; nullopt without an answer.
  std::optional<bool> is_leader(std::size_t index);
  // Indexes of running workers whose /leader says they lead.
  std::vector<std::size_t> leaders();
  // The partitions of `topic` a running, unpaused worker's /assignment lists; none without an answer.
  std::vector<std::int32_t> assigned_partitions(std::size_t index, const std::string& topic);
  // The greetings a worker's publish_greetings logged as sent, in order.
  std::vector<SentGreeting> sent_greetings(std::size_t index) const;
  // Greetings whose leader transaction committed, worker by worker, in order: a greeting the
  // worker logged as sent, followed in its log by committed_leader_transaction("publish_greetings")
  // before its next tick began (PUBLISHING ON LEADER!).
  std::vector<std::string> acknowledged_greetings() const;
  // How many times each greeting was printed by the say agent, over all workers.
  std::map<std::string, int> printed_greetings() const;
  // The indexes of the workers that printed `greeting`.
  std::vector<std::size_t> printers_of(const std::string& greeting) const;
  // A description of the greetings that were acknowledged but not (yet) printed.
  std::vector<std::string> unprinted_greetings() const;

 private:
  ClusterSettings settings_;
  std::string app_id_;
  std::filesystem::path dir_;
  std::filesystem::path manifest_;
  std::vector<Worker> workers_;
  int commands_run_ = 0;
};

// Environment that runs a worker with its wall clock `offset_seconds` off: libfaketime (package
// faketime), its monotonic clock left true, and fixtures/faketime_c11_waits.c for the waits
// libfaketime leaves on the true clock.
std::vector<std::string> skewed_clock(int offset_seconds);

// Waits until every acknowledged greeting has been printed; if some never is, a test failure
// that says how many and names the first.
void expect_acknowledged_greetings_printed(const WorkerCluster& cluster, std::chrono::milliseconds timeout);
// Waits until exactly one running worker says it leads and returns its index; SIZE_MAX (and a test
// failure) when that does not happen within `timeout`.
std::size_t await_single_leader(WorkerCluster& cluster, std::chrono::milliseconds timeout = std::chrono::seconds(30));
// Every worker of `cluster` still runs and has logged nothing critical (test failures otherwise).
void expect_workers_running_without_critical(const WorkerCluster& cluster);

// What the host logs (at debug level) once an on_leader tick's transaction committed, followed
// by ": N message(s)".
std::string committed_leader_transaction(const std::string& timer);
// The time a log line was written, from its "[YYYY-MM-DD HH:MM:SS,mmm]" prefix.
std::optional<std::chrono::system_clock::time_point> log_time(const std::string& line);
// The first line of `process`'s log containing `text` written at or after `after`.
std::optional<std::chrono::system_clock::time_point> first_log_time(const WorkerProcess& process,
                                                                    const std::string& text,
                                                                    std::chrono::system_clock::time_point after);

}  // namespace faust::testing
