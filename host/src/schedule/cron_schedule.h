#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "common/result.h"
#include "schedule/cron_expression.h"

namespace date {
class time_zone;
}  // namespace date

namespace faust {

// A cron expression read in one time zone: the instants at which its local times come round.
//
// Daylight-saving rule. A selected local time that does not exist (it falls in the hour skipped
// when clocks spring forward) runs at the first instant after the gap, the moment the clocks
// change: with the gap 02:00-03:00, "30 2 * * *" runs at 03:00 that day. A selected local time
// that occurs twice (clocks fall back) runs once, at its first occurrence.
class CronSchedule {
 public:
  // `zone` is an IANA name (Europe/Berlin) looked up in the system's tz database; "UTC" needs none.
  static Result<CronSchedule> make(std::string_view expression, std::string_view zone = "UTC");

  // The first run strictly after `after`; system_clock::time_point::max() if there is none within
  // ten years, which a schedule from make() never lacks.
  std::chrono::system_clock::time_point next_after(std::chrono::system_clock::time_point after) const;

  const std::string& expression_text() const { return text_; }
  const std::string& zone_name() const { return zone_name_; }
  const CronExpression& expression() const { return expression_; }
  // The local time in this schedule's zone, and that zone's UTC offset then.
  date::local_seconds to_local(std::chrono::system_clock::time_point instant) const;
  std::chrono::seconds utc_offset(std::chrono::system_clock::time_point instant) const;

 private:
  CronSchedule(CronExpression expression, std::string text, const date::time_zone* zone, std::string zone_name)
      : expression_(expression), text_(std::move(text)), zone_(zone), zone_name_(std::move(zone_name)) {}

  CronExpression expression_;
  std::string text_;
  const date::time_zone* zone_;  // the database's, valid until exit; nullptr is UTC
  std::string zone_name_;
};

}  // namespace faust
