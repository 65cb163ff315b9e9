#include "schedule/cron_expression.h"

#include <gtest/gtest.h>

#include <string>

namespace faust {
namespace {

using namespace std::chrono_literals;
using date::local_days;

date::local_seconds at(date::year_month_day day, std::chrono::minutes time_of_day = 0min) {
  return local_days(day) + time_of_day;
}

CronExpression parse_ok(std::string_view text) {
  auto parsed = CronExpression::parse(text);
  EXPECT_TRUE(parsed.ok()) << text << ": " << (parsed.ok() ? "" : parsed.error().message);
  return parsed.ok() ? *parsed : *CronExpression::parse("* * * * *");
}

std::string error_of(std::string_view text) {
  auto parsed = CronExpression::parse(text);
  EXPECT_FALSE(parsed.ok()) << "accepted: " << text;
  if (parsed.ok()) return {};
  EXPECT_EQ(parsed.error().code, ExitCode::kManifestInvalid);
  return parsed.error().message;
}

// The selected minutes of one day, as "HH:MM" joined by spaces.
std::string minutes_of(const CronExpression& cron, date::year_month_day day) {
  std::string out;
  for (auto minute = 0min; minute < 24h; minute += 1min) {
    if (!cron.matches(at(day, minute))) continue;
    if (!out.empty()) out += ' ';
    out += date::format("%H:%M", at(day, minute));
  }
  return out;
}

constexpr date::year_month_day kMonday = date::year(2026) / 11 / 30;

TEST(CronExpressionTest, ListsRangesAndSteps) {
  EXPECT_EQ(minutes_of(parse_ok("*/20 1 * * *"), kMonday), "01:00 01:20 01:40");
  EXPECT_EQ(minutes_of(parse_ok("1-10/4 2 * * *"), kMonday), "02:01 02:05 02:09");
  EXPECT_EQ(minutes_of(parse_ok("5/20 3 * * *"), kMonday), "03:05 03:25 03:45");
  EXPECT_EQ(minutes_of(parse_ok("0,30,15 4,5 * * *"), kMonday), "04:00 04:15 04:30 05:00 05:15 05:30");
  EXPECT_EQ(minutes_of(parse_ok("59 22-23/1 * * *"), kMonday), "22:59 23:59");
  EXPECT_EQ(minutes_of(parse_ok("0 */12 * * *"), kMonday), "00:00 12:00");
  EXPECT_EQ(minutes_of(parse_ok("0 0 * * *  "), kMonday), "00:00");  // blanks around fields are fine
  EXPECT_EQ(minutes_of(parse_ok("  0\t0 * * *"), kMonday), "00:00");
}

TEST(CronExpressionTest, NamesInAnyCaseAndSundayAsZeroOrSeven) {
  for (const char* text : {"0 0 * * mon-fri", "0 0 * * MON-FRI", "0 0 * * Mon-Fri", "0 0 * * 1-5"}) {
    const CronExpression cron = parse_ok(text);
    EXPECT_TRUE(cron.matches(at(kMonday))) << text;
    EXPECT_FALSE(cron.matches(at(date::year(2026) / 11 / 29))) << text;  // a Sunday
  }
  for (const char* text : {"0 0 * * 0", "0 0 * * 7", "0 0 * * sun", "0 0 * * SUN", "0 0 * * 6-7", "0 0 * * sat-7",
                           "0 0 * * fri-sun", "0 0 * * 5-0"}) {
    EXPECT_TRUE(parse_ok(text).matches(at(date::year(2026) / 11 / 29))) << text;
  }
  const CronExpression months = parse_ok("0 0 1 jan,JUL-aug *");
  EXPECT_TRUE(months.matches(at(date::year(2026) / 1 / 1)));
  EXPECT_TRUE(months.matches(at(date::year(2026) / 8 / 1)));
  EXPECT_FALSE(months.matches(at(date::year(2026) / 6 / 1)));
  EXPECT_TRUE(parse_ok("0 0 1 1-12/6 *").matches(at(date::year(2026) / 7 / 1)));
}

TEST(CronExpressionTest, MacrosAreTheirExpressions) {
  const struct {
    const char* macro;
    const char* expression;
  } macros[] = {{"@yearly", "0 0 1 1 *"},  {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
                {"@weekly", "0 0 * * 0"},  {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
                {"@hourly", "0 * * * *"},  {"@DAILY", "0 0 * * *"}};
  for (const auto& m : macros) {
    const CronExpression macro = parse_ok(m.macro);
    const CronExpression expression = parse_ok(m.expression);
    auto from = at(date::year(2026) / 1 / 1) - 1min;
    for (int i = 0; i < 5; ++i) {
      const auto next = macro.first_match(from + 1min, from + date::days(800));
      ASSERT_TRUE(next.has_value()) << m.macro;
      EXPECT_EQ(next, expression.first_match(from + 1min, from + date::days(800))) << m.macro;
      from = *next;
    }
  }
}

TEST(CronExpressionTest, BothDayFieldsRestrictedMeansEither) {
  // Vixie cron: the 1st and 15th, and every Sunday.
  const CronExpression either = parse_ok("0 0 1,15 * sun");
  EXPECT_TRUE(either.matches(at(date::year(2026) / 12 / 1)));   // Tuesday the 1st
  EXPECT_TRUE(either.matches(at(date::year(2026) / 12 / 6)));   // Sunday the 6th
  EXPECT_FALSE(either.matches(at(date::year(2026) / 12 / 7)));  // neither
  // Only one restricted: that one decides.
  EXPECT_FALSE(parse_ok("0 0 1,15 * *").matches(at(date::year(2026) / 12 / 6)));
  EXPECT_FALSE(parse_ok("0 0 * * sun").matches(at(date::year(2026) / 12 / 1)));
  // Restricted is anything but a bare `*`, as croniter reads it: "*/2" and "1-31" restrict.
  EXPECT_TRUE(parse_ok("0 0 */2 * mon").matches(at(date::year(2026) / 11 / 30)));
  EXPECT_TRUE(parse_ok("0 0 1-31 * mon").matches(at(date::year(2026) / 12 / 2)));
}

TEST(CronExpressionTest, FirstMatchSkipsByField) {
  const CronExpression leap_day = parse_ok("0 0 29 2 *");
  const auto from = at(date::year(2097) / 1 / 1);
  // 2100 is no leap year: the next 29 February after 2096 is in 2104.
  EXPECT_EQ(leap_day.first_match(from, from + date::days(10 * 366)), at(date::year(2104) / 2 / 29));
  EXPECT_EQ(leap_day.first_match(from, from + date::days(365)), std::nullopt);  // not before `until`
  const CronExpression evening = parse_ok("30 18 * * *");
  EXPECT_EQ(evening.first_match(at(kMonday, 18h + 30min), at(kMonday) + date::days(2)), at(kMonday, 18h + 30min));
  EXPECT_EQ(evening.first_match(at(kMonday, 18h + 30min) + 1s, at(kMonday) + date::days(2)),
            at(date::year(2026) / 12 / 1, 18h + 30min));
  const CronExpression last_minute = parse_ok("59 23 31 12 *");
  EXPECT_EQ(last_minute.first_match(at(kMonday), at(kMonday) + date::days(400)),
            at(date::year(2026) / 12 / 31, 23h + 59min));
}

TEST(CronExpressionErrorTest, EveryErrorNamesTheField) {
  EXPECT_EQ(error_of("61 * * * *"), "cron: minute field: 61 is out of range 0-59");
  EXPECT_EQ(error_of("* 24 * * *"), "cron: hour field: 24 is out of range 0-23");
  EXPECT_EQ(error_of("* * 0 * *"), "cron: day-of-month field: 0 is out of range 1-31");
  EXPECT_EQ(error_of("* * 32 * *"), "cron: day-of-month field: 32 is out of range 1-31");
  EXPECT_EQ(error_of("* * * 13 *"), "cron: month field: 13 is out of range 1-12");
  EXPECT_EQ(error_of("* * * * 8"), "cron: day-of-week field: 8 is out of range 0-7");
  EXPECT_EQ(error_of("99999999999999999999 * * * *"),
            "cron: minute field: 99999999999999999999 is out of range 0-59");
  EXPECT_EQ(error_of("x * * * *"), "cron: minute field: 'x' is not a number");
  EXPECT_EQ(error_of("* * * foo *"), "cron: month field: 'foo' is not a number or a name (jan..dec)");
  EXPECT_EQ(error_of("* * * * monday"), "cron: day-of-week field: 'monday' is not a number or a name (sun..sat)");
  EXPECT_EQ(error_of("* mon * * *"), "cron: hour field: 'mon' is not a number");
  EXPECT_EQ(error_of("-5 * * * *"), "cron: minute field: missing value in '-5'");
  EXPECT_EQ(error_of("5- * * * *"), "cron: minute field: missing value in '5-'");
  EXPECT_EQ(error_of("1-2-3 * * * *"), "cron: minute field: '1-2-3' has more than one '-'");
  EXPECT_EQ(error_of("* 5-2 * * *"), "cron: hour field: range 5-2 runs backwards");
  EXPECT_EQ(error_of("* * * * fri-mon"), "cron: day-of-week field: range fri-mon runs backwards");
  EXPECT_EQ(error_of("*/0 * * * *"), "cron: minute field: step 0 is out of range 1-60");
  EXPECT_EQ(error_of("* */25 * * *"), "cron: hour field: step 25 is out of range 1-24");
  EXPECT_EQ(error_of("*/ * * * *"), "cron: minute field: step '' is not a number");
  EXPECT_EQ(error_of("*/x * * * *"), "cron: minute field: step 'x' is not a number");
  EXPECT_EQ(error_of("*/-1 * * * *"), "cron: minute field: step '-1' is not a number");
  EXPECT_EQ(error_of("*/2/3 * * * *"), "cron: minute field: '*/2/3' has more than one '/'");
  EXPECT_EQ(error_of("1,,2 * * * *"), "cron: minute field: empty list item in '1,,2'");
  EXPECT_EQ(error_of("* * * * 1,"), "cron: day-of-week field: empty list item in '1,'");
  EXPECT_EQ(error_of("** * * * *"), "cron: minute field: '**' is not a number");
}

TEST(CronExpressionErrorTest, TheWholeExpression) {
  EXPECT_EQ(error_of(""), "cron: empty expression");
  EXPECT_EQ(error_of(" \t "), "cron: empty expression");
  EXPECT_EQ(error_of("* * * *"),
            "cron: expected 5 fields (minute hour day-of-month month day-of-week) or a macro such as @daily, got 4");
  EXPECT_EQ(error_of("0 * * * * *"),
            "cron: expected 5 fields (minute hour day-of-month month day-of-week) or a macro such as @daily, got 6");
  EXPECT_EQ(error_of("@reboot"),
            "cron: unknown macro '@reboot' (use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)");
  EXPECT_EQ(error_of("@daily *"), "cron: @daily stands alone; got more after it");
}

TEST(CronExpressionErrorTest, AnExpressionThatNeverRunsIsRefused) {
  EXPECT_EQ(error_of("0 0 30 2 *"),
            "cron: day-of-month field: no day in '30' occurs in month '2', so the expression never runs");
  EXPECT_EQ(error_of("0 0 31 apr,jun,sep,nov *"),
            "cron: day-of-month field: no day in '31' occurs in month 'apr,jun,sep,nov', so the expression never "
            "runs");
  // A day that some selected month has, or a weekday that can stand in for it, runs.
  parse_ok("0 0 29 2 *");
  parse_ok("0 0 31 1,2 *");
  parse_ok("0 0 30 2 mon");
}

}  // namespace
}  // namespace faust
