#include "runtime/timers/timer_service.h"

#include <atomic>
#include <thread>

#include <date/date.h>

#include <gtest/gtest.h>

#include "../integration/support/worker_process.h"
#include "recording_events.h"

namespace faust {
namespace {

using namespace std::chrono_literals;
using testing::eventually;
using testing::RecordingEvents;
using Clock = std::chrono::steady_clock;

std::optional<Status> never_leader(const std::string& /*timer*/, const std::function<Status()>& /*tick*/) {
  return std::nullopt;
}

TEST(TimerServiceTest, FirstRunIsOneIntervalAfterStartAndRunsDoNotDrift) {
  RecordingEvents events;
  std::mutex mutex;
  std::vector<Clock::time_point> runs;
  TimerService timers({TimerBinding{"t", 50ms, false, [&] {
                         std::lock_guard lock(mutex);
                         runs.push_back(Clock::now());
                         std::this_thread::sleep_for(20ms);  // work that would accumulate as drift
                         return ok_status();
                       }, {}}},
                      never_leader, events);
  const auto started = Clock::now();
  timers.start();
  ASSERT_TRUE(eventually(5s, [&] {
    std::lock_guard lock(mutex);
    return runs.size() >= 10;
  }));
  timers.stop();
  std::lock_guard lock(mutex);
  EXPECT_GE(runs.front() - started, 50ms);
  // Absolute deadlines: the 10th run is due at 500 ms, however long each run took (a relative
  // schedule would be at least 10 * 20 ms later).
  EXPECT_LT(runs[9] - started, 500ms + 100ms);
  EXPECT_GE(runs[9] - started, 500ms);
  EXPECT_EQ(events.skipped(), 0u);
}

TEST(TimerServiceTest, ASlowRunSkipsTheTicksItMissedInsteadOfOverlapping) {
  RecordingEvents events;
  std::atomic<int> running{0};
  std::atomic<int> overlaps{0};
  std::atomic<int> runs{0};
  TimerService timers({TimerBinding{"slow", 20ms, false, [&] {
                         if (running.fetch_add(1) > 0) ++overlaps;
                         if (runs.fetch_add(1) == 0) std::this_thread::sleep_for(110ms);  // misses 5 ticks
                         running.fetch_sub(1);
                         return ok_status();
                       }, {}}},
                      never_leader, events);
  timers.start();
  ASSERT_TRUE(eventually(5s, [&] { return runs.load() >= 4; }));
  timers.stop();
  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_GE(events.skipped(), 4u);
  EXPECT_LE(events.skipped(), 8u);  // 110 ms of a 20 ms timer, plus scheduling slack
  EXPECT_EQ(timers.snapshot().front().skipped_ticks, events.skipped());
}

TEST(TimerServiceTest, OnLeaderIsCheckedAtEveryTick) {
  RecordingEvents events;
  std::atomic<bool> leader{false};
  std::atomic<int> runs{0};
  TimerService timers({TimerBinding{"leader_only", 10ms, true, [&] {
                         ++runs;
                         return ok_status();
                       }, {}}},
                      [&](const std::string&, const std::function<Status()>& tick) -> std::optional<Status> {
                        if (!leader.load()) return std::nullopt;
                        return tick();
                      },
                      events);
  timers.start();
  std::this_thread::sleep_for(100ms);  // ten ticks as a follower: none may run
  EXPECT_EQ(runs.load(), 0);
  leader = true;
  ASSERT_TRUE(eventually(5s, [&] { return runs.load() >= 3; }));
  leader = false;
  std::this_thread::sleep_for(30ms);  // a tick in flight when leadership went may still finish
  const int after_losing = runs.load();
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(runs.load(), after_losing);
  timers.stop();
}

TEST(TimerServiceTest, AFailingTickIsReportedAndTheTimerGoesOn) {
  RecordingEvents events;
  std::atomic<int> runs{0};
  TimerService timers({TimerBinding{"failing", 10ms, false, [&]() -> Status {
                         ++runs;
                         return Error{ExitCode::kFailure, "boom"};
                       }, {}}},
                      never_leader, events);
  timers.start();
  ASSERT_TRUE(eventually(5s, [&] { return runs.load() >= 3; }));
  timers.stop();
  const auto snapshot = timers.snapshot().front();
  EXPECT_GE(snapshot.fires, 3u);
  EXPECT_EQ(snapshot.last_error, "boom");
}

TEST(TimerServiceTest, StopWaitsForTheRunInProgressAndStopsPromptly) {
  RecordingEvents events;
  std::atomic<bool> in_run{false};
  std::atomic<bool> finished{false};
  TimerService timers({TimerBinding{"long_interval", 3600s, false, [] { return ok_status(); }, {}},
                       TimerBinding{"busy", 10ms, false, [&] {
                         in_run = true;
                         std::this_thread::sleep_for(50ms);
                         finished = true;
                         return ok_status();
                       }, {}}},
                      never_leader, events);
  timers.start();
  ASSERT_TRUE(eventually(5s, [&] { return in_run.load(); }));
  const auto stopping = Clock::now();
  timers.stop();
  EXPECT_TRUE(finished.load());
  EXPECT_LT(Clock::now() - stopping, 1s) << "a timer waiting an hour must not delay stop";
}

// --- cron timers on a fake clock ---------------------------------------------------------------------

using WallClock = std::chrono::system_clock;

WallClock::time_point utc(date::sys_days day, std::chrono::minutes time_of_day) {
  return WallClock::time_point(day + time_of_day);
}

// A clock that jumps straight to each deadline a timer waits for, so days of cron runs pass in
// microseconds. After `jumps` of them it waits for stop() like a real far-off deadline would.
class JumpingClock final : public TimerClock {
 public:
  JumpingClock(WallClock::time_point start, int jumps) : now_(start), start_(start), jumps_left_(jumps) {}

  Clock::time_point steady_now() const override { return Clock::time_point(system_now() - start_); }
  WallClock::time_point system_now() const override {
    std::lock_guard lock(mutex_);
    return now_;
  }
  // What a tick that takes this long does to the clock.
  void advance(std::chrono::nanoseconds by) {
    std::lock_guard lock(mutex_);
    now_ += by;
  }

  bool wait_until(std::condition_variable& wake, std::unique_lock<std::mutex>& lock, Clock::time_point deadline,
                  const std::function<bool()>& stopping) override {
    return wait_until(wake, lock, start_ + (deadline - Clock::time_point()), stopping);
  }
  bool wait_until(std::condition_variable& wake, std::unique_lock<std::mutex>& lock, WallClock::time_point deadline,
                  const std::function<bool()>& stopping) override {
    if (stopping()) return true;
    if (jumps_left_.fetch_sub(1) <= 0) {
      wake.wait(lock, stopping);
      return true;
    }
    std::lock_guard clock_lock(mutex_);
    now_ = std::max(now_, deadline);
    return false;
  }

 private:
  mutable std::mutex mutex_;
  WallClock::time_point now_;
  const WallClock::time_point start_;
  std::atomic<int> jumps_left_;
};

CronSchedule cron(std::string_view expression, std::string_view zone = "UTC") {
  return CronSchedule::make(expression, zone).value();
}

// Runs a cron timer on a JumpingClock for `runs` runs and returns when each tick saw the clock.
std::vector<WallClock::time_point> cron_runs(const CronSchedule& schedule, WallClock::time_point start, int runs,
                                             RecordingEvents& events) {
  JumpingClock clock(start, runs);
  std::mutex mutex;
  std::vector<WallClock::time_point> seen;
  TimerService timers({TimerBinding{"cron", 1s, false,
                                    [&] {
                                      std::lock_guard lock(mutex);
                                      seen.push_back(clock.system_now());
                                      return ok_status();
                                    },
                                    schedule}},
                      never_leader, events, clock);
  timers.start();
  EXPECT_TRUE(eventually(5s, [&] {
    std::lock_guard lock(mutex);
    return seen.size() >= static_cast<std::size_t>(runs);
  }));
  timers.stop();
  std::lock_guard lock(mutex);
  return seen;
}

TEST(TimerServiceCronTest, RunsAtTheScheduleInstantsInItsZone) {
  using date::November;
  using date::December;
  RecordingEvents events;
  // From Friday noon: weekdays at 09:00 Berlin time (CET, UTC+1).
  const auto runs =
      cron_runs(cron("0 9 * * mon-fri", "Europe/Berlin"), utc(date::year(2026) / November / 27, 12h), 4, events);
  EXPECT_EQ(runs, (std::vector<WallClock::time_point>{
                      utc(date::year(2026) / November / 30, 8h), utc(date::year(2026) / December / 1, 8h),
                      utc(date::year(2026) / December / 2, 8h), utc(date::year(2026) / December / 3, 8h)}));
  for (const auto lateness : events.lateness()) EXPECT_EQ(lateness, 0ns);
  EXPECT_EQ(events.skipped(), 0u);
}

TEST(TimerServiceCronTest, FollowsTheDaylightSavingRule) {
  using date::March;
  using date::October;
  RecordingEvents events;
  // 02:30 does not exist on 2026-03-29 in Berlin: that day's run is when the clocks change (01:00 UTC).
  EXPECT_EQ(cron_runs(cron("30 2 * * *", "Europe/Berlin"), utc(date::year(2026) / March / 28, 12h), 2, events),
            (std::vector<WallClock::time_point>{utc(date::year(2026) / March / 29, 1h),
                                                utc(date::year(2026) / March / 30, 30min)}));
  // 02:30 happens twice on 2026-10-25: it runs at the first (00:30 UTC) only.
  EXPECT_EQ(cron_runs(cron("30 2 * * *", "Europe/Berlin"), utc(date::year(2026) / October / 24, 12h), 2, events),
            (std::vector<WallClock::time_point>{utc(date::year(2026) / October / 25, 30min),
                                                utc(date::year(2026) / October / 26, 1h + 30min)}));
}

TEST(TimerServiceCronTest, ARunThatOutlastsTheNextRunSkipsIt) {
  RecordingEvents events;
  const auto start = utc(date::year(2026) / 1 / 1, 0min);
  JumpingClock clock(start, 2);
  std::vector<WallClock::time_point> seen;  // only the timer's thread touches it until stop()
  TimerService timers({TimerBinding{"slow", 1s, false,
                                    [&] {
                                      seen.push_back(clock.system_now());
                                      if (seen.size() == 1) clock.advance(12min);  // past 00:10 and 00:15
                                      return ok_status();
                                    },
                                    cron("*/5 * * * *")}},
                      never_leader, events, clock);
  timers.start();
  ASSERT_TRUE(eventually(5s, [&] { return timers.snapshot().front().fires >= 2; }));
  timers.stop();
  EXPECT_EQ(seen, (std::vector<WallClock::time_point>{start + 5min, start + 20min}));
  EXPECT_EQ(events.skipped(), 2u);
  EXPECT_EQ(timers.snapshot().front().skipped_ticks, 2u);
}

TEST(TimerServiceCronTest, OnLeaderIsCheckedAtEveryRun) {
  RecordingEvents events;
  JumpingClock clock(utc(date::year(2026) / 1 / 1, 0min), 3);
  std::atomic<int> asked{0};
  std::atomic<int> ticks{0};
  TimerService jumping({TimerBinding{"leader_only", 1s, true,
                                     [&] {
                                       ++ticks;
                                       return ok_status();
                                     },
                                     cron("@hourly")}},
                       [&](const std::string& timer, const std::function<Status()>& tick) -> std::optional<Status> {
                         EXPECT_EQ(timer, "timer 'leader_only'");
                         if (asked.fetch_add(1) == 1) return tick();  // leads at the second run only
                         return std::nullopt;
                       },
                       events, clock);
  jumping.start();
  ASSERT_TRUE(eventually(5s, [&] { return asked.load() >= 3; }));
  jumping.stop();
  EXPECT_EQ(ticks.load(), 1);
  EXPECT_EQ(jumping.snapshot().front().fires, 1u);
}

}  // namespace
}  // namespace faust
