#include "runtime/timer_service.h"

#include <spdlog/spdlog.h>

namespace faust {

using Clock = std::chrono::steady_clock;

TimerService::TimerService(std::vector<TimerBinding> timers, LeaderRunner run_as_leader, RuntimeEvents& events)
    : timers_(std::move(timers)), run_as_leader_(std::move(run_as_leader)), events_(events) {
  for (const auto& timer : timers_) snapshots_.push_back(TimerSnapshot{timer.name, 0, 0, {}, {}});
}

TimerService::~TimerService() { stop(); }

void TimerService::start() {
  for (std::size_t i = 0; i < timers_.size(); ++i) threads_.emplace_back([this, i] { run(i); });
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

void TimerService::run(std::size_t index) {
  const TimerBinding& timer = timers_[index];
  // At least one clock tick: the manifest bounds intervals, but a zero here would divide by zero.
  const auto interval = std::max(std::chrono::duration_cast<Clock::duration>(timer.interval), Clock::duration(1));
  auto deadline = Clock::now() + interval;
  while (true) {
    {
      std::unique_lock lock(mutex_);
      if (wake_.wait_until(lock, deadline, [&] { return stopping_; })) return;
    }
    const auto started = Clock::now();
    const std::optional<Status> ran =
        timer.on_leader ? run_as_leader_("timer '" + timer.name + "'", timer.tick) : timer.tick();
    if (ran) {
      const Status& result = *ran;
      if (!result) spdlog::error("timer '{}' failed: {}", timer.name, result.error().message);
      {
        std::lock_guard lock(mutex_);
        auto& snap = snapshots_[index];
        ++snap.fires;
        snap.last_run = std::chrono::system_clock::now();
        snap.last_error = result ? std::string() : result.error().message;
      }
      events_.timer_fired(timer.name, started - deadline, result);
    }
    deadline += interval;
    const auto now = Clock::now();
    if (now >= deadline) {
      // Missed ticks are dropped, not run in a burst: the next run is the next future tick.
      const auto missed = static_cast<std::uint64_t>((now - deadline) / interval) + 1;
      deadline += interval * static_cast<Clock::rep>(missed);
      spdlog::warn("timer '{}' ran for {:.3f} s, longer than its interval; skipped {} tick(s)", timer.name,
                   std::chrono::duration<double>(now - started).count(), missed);
      {
        std::lock_guard lock(mutex_);
        snapshots_[index].skipped_ticks += missed;
      }
      events_.timer_skipped(timer.name, missed);
    }
  }
}

}  // namespace faust
