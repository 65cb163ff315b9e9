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
    bool wait_ready = true;
    std::vector<std::string> extra_args;  // e.g. {"--broker", "kafka://127.0.0.1:1"}
  };

  explicit WorkerCluster(const std::string& name, ClusterSettings settings = {});
  ~WorkerCluster();

  // Starts a worker and waits until it serves its web port (and, by default, is ready).
  std::size_t start_worker(const StartOptions& options);
  std::size_t start_worker() { return start_worker(StartOptions{}); }
  Worker& worker(std::size_t index) { return workers_.at(index); }
  std::size_t size() const { return workers_.size(); }
  const ClusterSettings& settings() const { return settings_; }
  const std::string& app_id() const { return app_id_; }

  // Indexes of running workers whose /leader says they lead.
  std::vector<std::size_t> leaders();
  // Greetings each worker's publish_greetings reported as acknowledged, in order.
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
};

// The time a log line was written, from its "[YYYY-MM-DD HH:MM:SS,mmm]" prefix.
std::optional<std::chrono::system_clock::time_point> log_time(const std::string& line);
// The first line of `process`'s log containing `text` written at or after `after`.
std::optional<std::chrono::system_clock::time_point> first_log_time(const WorkerProcess& process,
                                                                    const std::string& text,
                                                                    std::chrono::system_clock::time_point after);

}  // namespace faust::testing
