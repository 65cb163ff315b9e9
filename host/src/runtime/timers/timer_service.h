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
#include "schedule/cron_schedule.h"

namespace faust {

struct TimerBinding {
  std::string name;
  std::chrono::duration<double> interval{1.0};  // unused when `cron` is set
  bool on_leader = false;
  std::function<Status()> tick;
  std::optional<CronSchedule> cron;  // runs at the schedule's wall-clock instants instead
  // Runs before each tick, outside an on_leader tick's transaction (an isolated timer starts a new
  // child there after a crash); may be empty.
  std::function<void()> prepare{};
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

// The clocks a TimerService reads and waits on; tests substitute a fake one to run days of cron
// timers in milliseconds.
class TimerClock {
 public:
  virtual ~TimerClock() = default;
  virtual std::chrono::steady_clock::time_point steady_now() const = 0;
  virtual std::chrono::system_clock::time_point system_now() const = 0;
  // Wait on `wake`, with `lock` held, until the clock reaches `deadline` or `stopping()` holds;
  // return stopping().
  virtual bool wait_until(std::condition_variable& wake, std::unique_lock<std::mutex>& lock,
                          std::chrono::steady_clock::time_point deadline, const std::function<bool()>& stopping) = 0;
  virtual bool wait_until(std::condition_variable& wake, std::unique_lock<std::mutex>& lock,
                          std::chrono::system_clock::time_point deadline, const std::function<bool()>& stopping) = 0;
};

// The real clocks; stateless.
TimerClock& real_timer_clock();

// Runs each timer on its own thread. Interval timers run against absolute steady-clock deadlines,
// so intervals do not drift; the first tick is one interval after start. Cron timers run at their
// schedule's wall-clock instants (system clock), the next one computed after each run. Runs never
// overlap: a run that outlasts the next tick skips the ticks it missed and says so. on_leader is
// checked at every tick.
class TimerService {
 public:
  TimerService(std::vector<TimerBinding> timers, LeaderRunner run_as_leader, RuntimeEvents& events,
               TimerClock& clock = real_timer_clock());
  ~TimerService();

  void start();
  // Stops scheduling; a run in progress finishes first.
  void stop();
  std::vector<TimerSnapshot> snapshot() const;

 private:
  void run_every_interval(std::size_t index);
  void run_on_schedule(std::size_t index, const CronSchedule& schedule);
  // Returns true when the service is stopping.
  template <typename TimePoint>
  bool wait_until(TimePoint deadline);
  void fire(std::size_t index, std::chrono::nanoseconds lateness);
  void report_skipped(std::size_t index, std::uint64_t missed, std::chrono::nanoseconds ran_for);

  std::vector<TimerBinding> timers_;
  LeaderRunner run_as_leader_;
  RuntimeEvents& events_;
  TimerClock& clock_;
  mutable std::mutex mutex_;  // guards stopping_ wake-ups and snapshots_
  std::condition_variable wake_;
  bool stopping_ = false;
  std::vector<TimerSnapshot> snapshots_;
  std::vector<std::thread> threads_;
};

}  // namespace faust
