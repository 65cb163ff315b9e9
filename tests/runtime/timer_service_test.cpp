#include "runtime/timer_service.h"

#include <atomic>
#include <thread>

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
                       }}},
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
                       }}},
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
                       }}},
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
                       }}},
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
  TimerService timers({TimerBinding{"long_interval", 3600s, false, [] { return ok_status(); }},
                       TimerBinding{"busy", 10ms, false, [&] {
                         in_run = true;
                         std::this_thread::sleep_for(50ms);
                         finished = true;
                         return ok_status();
                       }}},
                      never_leader, events);
  timers.start();
  ASSERT_TRUE(eventually(5s, [&] { return in_run.load(); }));
  const auto stopping = Clock::now();
  timers.stop();
  EXPECT_TRUE(finished.load());
  EXPECT_LT(Clock::now() - stopping, 1s) << "a timer waiting an hour must not delay stop";
}

}  // namespace
}  // namespace faust
