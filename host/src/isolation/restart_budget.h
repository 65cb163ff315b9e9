#pragma once

#include <chrono>
#include <deque>
#include <mutex>

namespace faust::isolation {

// The restarts of one agent's child processes, over all its lanes, within the last minute: a
// plugin that crashes on every message would otherwise be restarted forever, each restart a
// process spawn and a library load. Thread-safe: the lanes of an agent share one.
class RestartBudget {
 public:
  using Clock = std::chrono::steady_clock;

  explicit RestartBudget(int per_minute) : per_minute_(per_minute) {}

  // Counts one restart at `now`, or refuses it when per_minute restarts were counted within the
  // minute before; once refused, every later one is refused too (the worker is stopping).
  bool take(Clock::time_point now = Clock::now());
  int per_minute() const { return per_minute_; }

 private:
  const int per_minute_;
  std::mutex mutex_;
  std::deque<Clock::time_point> restarts_;
  bool spent_ = false;
};

}  // namespace faust::isolation
