#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "runtime/runtime_events.h"

namespace faust {

struct TimerBinding {
  std::string name;
  std::chrono::duration<double> interval{1.0};
  bool on_leader = false;
  std::function<Status()> tick;
};

struct TimerSnapshot {
  std::string name;
  std::uint64_t fires = 0;
  std::uint64_t skipped_ticks = 0;
  std::chrono::system_clock::time_point last_run{};
  std::string last_error;
};

// Runs an on_leader timer's tick as leader work (LeaderTerm::run_unit): nullopt when this worker
// does not lead, so the tick did not run.
using LeaderRunner =
    std::function<std::optional<Status>(const std::string& timer, const std::function<Status()>& tick)>;

// Runs each timer on its own thread against absolute steady-clock deadlines, so intervals do not
// drift. The first tick is one interval after start; runs never overlap: a run that outlasts
// its interval skips the ticks it missed and says so. on_leader is checked at every tick.
class TimerService {
 public:
  TimerService(std::vector<TimerBinding> timers, LeaderRunner run_as_leader, RuntimeEvents& events);
  ~TimerService();

  void start();
  // Stops scheduling; a run in progress finishes first.
  void stop();
  std::vector<TimerSnapshot> snapshot() const;

 private:
  void run(std::size_t index);

  std::vector<TimerBinding> timers_;
  LeaderRunner run_as_leader_;
  RuntimeEvents& events_;
  mutable std::mutex mutex_;  // guards stopping_ wake-ups and snapshots_
  std::condition_variable wake_;
  bool stopping_ = false;
  std::vector<TimerSnapshot> snapshots_;
  std::vector<std::thread> threads_;
};

}  // namespace faust
