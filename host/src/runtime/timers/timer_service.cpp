#include "runtime/timers/timer_service.h"

#include <spdlog/spdlog.h>

namespace faust {
namespace {

using Clock = std::chrono::steady_clock;
using WallClock = std::chrono::system_clock;

// A clock that jumped forward by years must not keep a cron timer counting missed runs for long.
constexpr std::uint64_t kMostMissedRunsCounted = 100000;

class RealTimerClock final : public TimerClock {
 public:
  Clock::time_point steady_now() const override { return Clock::now(); }
  WallClock::time_point system_now() const override { return WallClock::now(); }
  bool wait_until(std::condition_variable& wake, std::unique_lock<std::mutex>& lock, Clock::time_point deadline,
                  const std::function<bool()>& stopping) override {
    return wake.wait_until(lock, deadline, stopping);
  }
  // An absolute wall-clock wait: when the clock is set, the wait follows it.
  bool wait_until(std::condition_variable& wake, std::unique_lock<std::mutex>& lock, WallClock::time_point deadline,
                  const std::function<bool()>& stopping) override {
    return wake.wait_until(lock, deadline, stopping);
  }
};

}  // namespace

TimerClock& real_timer_clock() {
  static RealTimerClock clock;  // no state: shared by every service
  return clock;
}

TimerService::TimerService(std::vector<TimerBinding> timers, LeaderRunner run_as_leader, RuntimeEvents& events,
                           TimerClock& clock)
    : timers_(std::move(timers)), run_as_leader_(std::move(run_as_leader)), events_(events), clock_(clock) {
  for (const auto& timer : timers_) snapshots_.push_back(TimerSnapshot{timer.name, 0, 0, {}, {}});
}

TimerService::~TimerService() { stop(); }

void TimerService::start() {
  for (std::size_t i = 0; i < timers_.size(); ++i) {
    threads_.emplace_back([this, i] {
      if (const auto& cron = timers_[i].cron) {
        run_on_schedule(i, *cron);
      } else {
        run_every_interval(i);
      }
    });
  }
}

void TimerService::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  threads_.clear();
}

std::vector<TimerSnapshot> TimerService::snapshot() const {
  std::lock_guard lock(mutex_);
  return snapshots_;
}

template <typename TimePoint>
bool TimerService::wait_until(TimePoint deadline) {
  std::unique_lock lock(mutex_);
  return clock_.wait_until(wake_, lock, deadline, [this] { return stopping_; });
}

void TimerService::fire(std::size_t index, std::chrono::nanoseconds lateness) {
  const TimerBinding& timer = timers_[index];
  if (timer.prepare) timer.prepare();
  const std::optional<Status> ran =
      timer.on_leader ? run_as_leader_("timer '" + timer.name + "'", timer.tick) : timer.tick();
  if (!ran) return;
  const Status& result = *ran;
  if (!result) spdlog::error("timer '{}' failed: {}", timer.name, result.error().message);
  {
    std::lock_guard lock(mutex_);
    auto& snap = snapshots_[index];
    ++snap.fires;
    snap.last_run = clock_.system_now();
    snap.last_error = result ? std::string() : result.error().message;
  }
  events_.timer_fired(timer.name, lateness, result);
}

void TimerService::report_skipped(std::size_t index, std::uint64_t missed, std::chrono::nanoseconds ran_for) {
  const TimerBinding& timer = timers_[index];
  spdlog::warn("timer '{}' ran for {:.3f} s, {}; skipped {} tick(s)", timer.name,
               std::chrono::duration<double>(ran_for).count(),
               timer.cron ? "past its next scheduled run" : "longer than its interval", missed);
  {
    std::lock_guard lock(mutex_);
    snapshots_[index].skipped_ticks += missed;
  }
  events_.timer_skipped(timer.name, missed);
}

void TimerService::run_every_interval(std::size_t index) {
  // At least one clock tick: the manifest bounds intervals, but a zero here would divide by zero.
  const auto interval =
      std::max(std::chrono::duration_cast<Clock::duration>(timers_[index].interval), Clock::duration(1));
  auto deadline = clock_.steady_now() + interval;
  while (!wait_until(deadline)) {
    const auto started = clock_.steady_now();
    fire(index, started - deadline);
    deadline += interval;
    const auto now = clock_.steady_now();
    if (now >= deadline) {
      // Missed ticks are dropped, not run in a burst: the next run is the next future tick.
      const auto missed = static_cast<std::uint64_t>((now - deadline) / interval) + 1;
      deadline += interval * static_cast<Clock::rep>(missed);
      report_skipped(index, missed, now - started);
    }
  }
}

void TimerService::run_on_schedule(std::size_t index, const CronSchedule& schedule) {
  auto due = schedule.next_after(clock_.system_now());
  // max(): no run within the search horizon; the wait then only ends with stop().
  while (!wait_until(due)) {
    const auto started = clock_.system_now();
    fire(index, started - due);
    const auto now = clock_.system_now();
    due = schedule.next_after(due);
    std::uint64_t missed = 0;
    while (due <= now && missed < kMostMissedRunsCounted) {
      ++missed;
      due = schedule.next_after(due);
    }
    if (due <= now) due = schedule.next_after(now);
    if (missed > 0) report_skipped(index, missed, now - started);
  }
}

}  // namespace faust
