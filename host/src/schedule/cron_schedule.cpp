#include "schedule/cron_schedule.h"

#include <date/tz.h>

#include <exception>

namespace faust {
namespace {

using std::chrono::system_clock;

// Every expression CronExpression::parse accepts runs within 8 years (29 February).
constexpr date::days kSearchHorizon{10 * 366};

system_clock::time_point to_time_point(date::sys_seconds instant) {
  // Past year 2262 a system_clock time point (nanoseconds) would overflow.
  if (instant >= date::floor<std::chrono::seconds>(system_clock::time_point::max())) {
    return system_clock::time_point::max();
  }
  return system_clock::time_point(instant.time_since_epoch());
}

}  // namespace

Result<CronSchedule> CronSchedule::make(std::string_view expression, std::string_view zone) {
  auto parsed = CronExpression::parse(expression);
  if (!parsed) return parsed.error();
  const date::time_zone* found = nullptr;
  if (zone != "UTC") {
    try {
      found = date::locate_zone(zone);
    } catch (const std::exception&) {
      return Error{ExitCode::kManifestInvalid,
                   "unknown time zone '" + std::string(zone) + "' (expected an IANA name such as Europe/Berlin or UTC)"};
    }
  }
  return CronSchedule(*parsed, std::string(expression), found, std::string(zone));
}

date::local_seconds CronSchedule::to_local(system_clock::time_point instant) const {
  const auto seconds = date::floor<std::chrono::seconds>(instant);
  return date::local_seconds(seconds.time_since_epoch() + utc_offset(instant));
}

std::chrono::seconds CronSchedule::utc_offset(system_clock::time_point instant) const {
  if (zone_ == nullptr) return std::chrono::seconds(0);
  return zone_->get_info(date::floor<std::chrono::seconds>(instant)).offset;
}

// Local times map to instants in order (a gap's times all map to its end, a repeated time to its
// first occurrence), so the first selected local time after `after`'s own maps to the answer,
// except for the second half of a repeated hour, whose times ran already and are stepped over.
system_clock::time_point CronSchedule::next_after(system_clock::time_point after) const {
  const auto after_seconds = date::floor<std::chrono::seconds>(after);
  const date::local_seconds after_local = to_local(after);
  const date::local_seconds until = date::floor<date::days>(after_local) + kSearchHorizon;
  date::local_seconds from = after_local + std::chrono::seconds(1);
  while (const auto local = expression_.first_match(from, until)) {
    if (zone_ == nullptr) return to_time_point(date::sys_seconds(local->time_since_epoch()));
    const date::local_info info = zone_->get_info(*local);
    const date::sys_seconds instant = info.result == date::local_info::nonexistent
                                          ? info.first.end  // the gap's end: the clocks' change
                                          : date::sys_seconds(local->time_since_epoch()) - info.first.offset;
    if (instant > after_seconds) return to_time_point(instant);
    // `after` is in the second occurrence of a repeated hour: go on after that hour.
    from = std::max(*local + std::chrono::minutes(1),
                    date::local_seconds((info.first.end + info.first.offset).time_since_epoch()));
  }
  return system_clock::time_point::max();
}

}  // namespace faust
