#include "schedule/cron_schedule.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "utc_text.h"

namespace faust {
namespace {

using namespace std::chrono_literals;
using testing::utc;
using testing::utc_text;

CronSchedule schedule(std::string_view expression, std::string_view zone = "UTC") {
  auto made = CronSchedule::make(expression, zone);
  if (!made) throw std::runtime_error(made.error().message);
  return *made;
}

// The next `count` runs after `start`, as UTC text.
std::vector<std::string> runs(const CronSchedule& cron, const std::string& start, int count = 3) {
  std::vector<std::string> out;
  auto at = utc(start);
  for (int i = 0; i < count; ++i) {
    at = cron.next_after(at);
    out.push_back(utc_text(at));
  }
  return out;
}

using Runs = std::vector<std::string>;

TEST(CronScheduleTest, UtcIsTheDefaultAndNeedsNoDatabase) {
  const CronSchedule cron = schedule("0 9 * * mon-fri");
  EXPECT_EQ(cron.zone_name(), "UTC");
  EXPECT_EQ(runs(cron, "2026-11-27T12:00:00Z"),
            (Runs{"2026-11-30T09:00:00Z", "2026-12-01T09:00:00Z", "2026-12-02T09:00:00Z"}));
}

TEST(CronScheduleTest, LocalTimesInTheZone) {
  EXPECT_EQ(runs(schedule("0 9 * * mon-fri", "Europe/Berlin"), "2026-11-27T12:00:00Z"),
            (Runs{"2026-11-30T08:00:00Z", "2026-12-01T08:00:00Z", "2026-12-02T08:00:00Z"}));
  EXPECT_EQ(runs(schedule("30 9 * * *", "Asia/Kolkata"), "2026-06-01T00:00:00Z", 1), (Runs{"2026-06-01T04:00:00Z"}));
}

TEST(CronScheduleTest, StrictlyAfterTheGivenInstant) {
  const CronSchedule cron = schedule("0 * * * *");
  EXPECT_EQ(runs(cron, "2026-01-01T10:00:00Z", 1), (Runs{"2026-01-01T11:00:00Z"}));
  EXPECT_EQ(utc_text(cron.next_after(utc("2026-01-01T09:59:59Z") + 999ms)), "2026-01-01T10:00:00Z");
  EXPECT_EQ(utc_text(cron.next_after(utc("2026-01-01T10:00:00Z") + 1ns)), "2026-01-01T11:00:00Z");
}

// Europe/Berlin, 2026-03-29: 02:00 CET becomes 03:00 CEST (01:00 UTC).
TEST(CronScheduleDaylightSavingTest, ATimeInTheSkippedHourRunsWhenTheClocksChange) {
  EXPECT_EQ(runs(schedule("30 2 * * *", "Europe/Berlin"), "2026-03-28T12:00:00Z"),
            (Runs{"2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z", "2026-03-31T00:30:00Z"}));
  // Every time in the gap runs once, together with 03:00 itself.
  EXPECT_EQ(runs(schedule("*/15 1-3 * * *", "Europe/Berlin"), "2026-03-29T00:40:00Z", 4),
            (Runs{"2026-03-29T00:45:00Z", "2026-03-29T01:00:00Z", "2026-03-29T01:15:00Z", "2026-03-29T01:30:00Z"}));
  // Australia/Lord_Howe moves by half an hour: 02:00 becomes 02:30 on 2026-10-04 (15:30 UTC the day before).
  EXPECT_EQ(runs(schedule("15 2 * * *", "Australia/Lord_Howe"), "2026-10-03T12:00:00Z", 2),
            (Runs{"2026-10-03T15:30:00Z", "2026-10-04T15:15:00Z"}));
}

// Europe/Berlin, 2026-10-25: 03:00 CEST becomes 02:00 CET (01:00 UTC); 02:00-02:59 occur twice.
TEST(CronScheduleDaylightSavingTest, ARepeatedTimeRunsOnceAtItsFirstOccurrence) {
  EXPECT_EQ(runs(schedule("30 2 * * *", "Europe/Berlin"), "2026-10-24T12:00:00Z"),
            (Runs{"2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z", "2026-10-27T01:30:00Z"}));
  EXPECT_EQ(runs(schedule("0 * * * *", "Europe/Berlin"), "2026-10-24T23:30:00Z"),
            (Runs{"2026-10-25T00:00:00Z", "2026-10-25T02:00:00Z", "2026-10-25T03:00:00Z"}));
  // From inside the second 02:xx, the repeated times are over.
  EXPECT_EQ(runs(schedule("*/20 * * * *", "Europe/Berlin"), "2026-10-25T01:10:00Z", 4),
            (Runs{"2026-10-25T02:00:00Z", "2026-10-25T02:20:00Z", "2026-10-25T02:40:00Z", "2026-10-25T03:00:00Z"}));
}

TEST(CronScheduleTest, FarRunsAreFoundQuickly) {
  const CronSchedule leap_day = schedule("0 0 29 2 *", "America/New_York");
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(runs(leap_day, "2096-03-01T00:00:00Z", 2), (Runs{"2104-02-29T05:00:00Z", "2108-02-29T05:00:00Z"}));
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
}

TEST(CronScheduleTest, BeyondTheClockRangeIsNever) {
  const CronSchedule cron = schedule("0 0 1 1 *");
  EXPECT_EQ(cron.next_after(std::chrono::system_clock::time_point::max() - 24h),
            std::chrono::system_clock::time_point::max());
}

TEST(CronScheduleTest, LocalTimeAndOffset) {
  const CronSchedule cron = schedule("0 9 * * *", "America/New_York");
  EXPECT_EQ(cron.utc_offset(utc("2026-07-01T12:00:00Z")), -4h);
  EXPECT_EQ(cron.utc_offset(utc("2026-12-01T12:00:00Z")), -5h);
  EXPECT_EQ(date::format("%F %R", cron.to_local(utc("2026-12-01T12:00:00Z"))), "2026-12-01 07:00");
}

TEST(CronScheduleErrorTest, UnknownZoneAndBadExpression) {
  auto zone = CronSchedule::make("0 9 * * *", "Europe/Berln");
  ASSERT_FALSE(zone.ok());
  EXPECT_EQ(zone.error().message,
            "unknown time zone 'Europe/Berln' (expected an IANA name such as Europe/Berlin or UTC)");
  EXPECT_FALSE(CronSchedule::make("0 9 * * *", "").ok());
  EXPECT_FALSE(CronSchedule::make("0 9 * * *", "../../etc/passwd").ok());
  auto expression = CronSchedule::make("0 25 * * *", "Europe/Berlin");
  ASSERT_FALSE(expression.ok());
  EXPECT_EQ(expression.error().message, "cron: hour field: 25 is out of range 0-23");
}

}  // namespace
}  // namespace faust
