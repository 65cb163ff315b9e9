#pragma once

#include <bitset>
#include <optional>
#include <string_view>

#include <date/date.h>

#include "common/result.h"

namespace faust {

// A five-field cron expression (minute hour day-of-month month day-of-week) or a macro such as
// @daily: which local minutes it selects. Time zones are CronSchedule's business.
class CronExpression {
 public:
  // Lists, ranges, steps ("*/5", "1-10/2", "5/15" = 5-59/15), month names jan..dec and day names
  // sun..sat (0 and 7 are both Sunday), any case. An expression that can never run ("0 0 30 2 *")
  // is refused. Errors are one line naming the field: "cron: minute field: 61 is out of range 0-59".
  static Result<CronExpression> parse(std::string_view text);

  // Whether the expression selects the minute holding `local` (seconds are ignored).
  bool matches(date::local_seconds local) const;
  // The first selected minute at or after `from` (rounded up to a whole minute) and before
  // `until`. Skips whole months, days and hours that cannot match, so a search over years is
  // cheap.
  std::optional<date::local_seconds> first_match(date::local_seconds from, date::local_seconds until) const;

 private:
  bool selects_day(const date::year_month_day& day) const;

  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;      // 1..31
  std::bitset<13> months_;    // 1..12
  std::bitset<7> weekdays_;   // 0..6, Sunday is 0
  // Vixie cron's rule: when both day fields are restricted (written as anything but `*`), a day
  // is selected if either selects it; otherwise both must.
  bool days_restricted_ = false;
  bool weekdays_restricted_ = false;
};

}  // namespace faust
