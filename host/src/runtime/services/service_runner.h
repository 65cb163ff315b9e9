#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "runtime/timers/timer_service.h"

namespace faust {

// A service's callbacks in the runtime's terms (plugins/ binds them to a plugin instance).
struct ServiceBinding {
  std::string name;
  // How long lead() and revoked() may take once the term ended, and stop() at shutdown.
  std::chrono::milliseconds stop_timeout{5000};
  std::function<Status()> start;
  std::function<Status(std::int32_t generation, std::chrono::system_clock::time_point established_at)> elected;
  std::function<Status()> lead;  // empty: the service has no long task
  std::function<Status()> revoked;
  std::function<Status()> stop;
  // Kept alive by a service left behind (stuck past its stop_timeout) while its thread runs.
  std::shared_ptr<void> keep_alive;
};

struct ServiceSnapshot {
  std::string name;
  std::string state;  // "idle", "leading", "stopped", or "stuck" (past its stop_timeout)
  std::uint64_t terms = 0;  // elected calls
  std::string last_error;
};

// Runs each service on a thread of its own, so calls to one service never overlap, in the order
// the worker's and the leader's lifecycle give: start; then per term elected (as a leader unit:
// its sends commit together), lead until the term ends, revoked; stop at shutdown. elected and
// revoked strictly alternate: revoked follows every elected that ran, even a failed one.
// A service that does not return from lead/revoked/stop within its stop_timeout is logged and
// left behind: the term or the worker goes on without it.
class ServiceRunner {
 public:
  ServiceRunner(std::vector<ServiceBinding> services, LeaderRunner run_as_leader);
  ~ServiceRunner();
  ServiceRunner(const ServiceRunner&) = delete;
  ServiceRunner& operator=(const ServiceRunner&) = delete;

  // Starts the threads and queues start(); does not wait for it.
  void start();
  // From the leader term's thread while the term opens: runs every service's elected and waits
  // for each, up to its stop_timeout, so they precede the term's first on_leader tick.
  void term_opening(std::int32_t generation);
  // From the leader term's thread once the term ended: asks lead to return, queues revoked, and
  // waits for each service up to its stop_timeout.
  void term_closed(std::int32_t generation);
  // At shutdown, after the last term closed: queues stop() and waits up to each stop_timeout.
  void stop();

  // What a service's wait_for_stop answers: true once its current term ended or the worker
  // stops, waiting up to `timeout` for that.
  bool wait_for_stop(const std::string& service, std::chrono::milliseconds timeout);
  // Whether the service is in elected or lead of a term now: its sends then are the term's.
  bool in_term(const std::string& service) const;
  std::vector<ServiceSnapshot> snapshot() const;

 private:
  struct Runner;
  Runner* find(const std::string& name) const;
  void run(Runner& runner);
  void post(Runner& runner, std::function<void()> task);
  // Waits until the service ran everything queued so far, up to its stop_timeout.
  bool wait_idle(Runner& runner, const char* what);

  LeaderRunner run_as_leader_;
  std::vector<std::unique_ptr<Runner>> runners_;
  bool started_ = false;
  bool stopped_ = false;
  bool left_behind_ = false;  // a service did not stop in time: its thread still runs
};

}  // namespace faust
