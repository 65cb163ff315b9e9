#pragma once

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>

#include <date/date.h>

namespace faust::testing {

// "2026-03-29T01:00:00Z" <-> a system_clock instant, for tables and messages.
inline std::chrono::system_clock::time_point utc(const std::string& text) {
  int year = 0;
  unsigned month = 0, day = 0;
  int hour = 0, minute = 0, second = 0;
  char zulu = 0;
  if (std::sscanf(text.c_str(), "%d-%u-%uT%d:%d:%d%c", &year, &month, &day, &hour, &minute, &second, &zulu) != 7 ||
      zulu != 'Z') {
    throw std::invalid_argument("not a UTC time: " + text);
  }
  const date::sys_seconds instant = date::sys_days(date::year(year) / date::month(month) / date::day(day)) +
                                    std::chrono::hours(hour) + std::chrono::minutes(minute) +
                                    std::chrono::seconds(second);
  return std::chrono::system_clock::time_point(instant.time_since_epoch());
}

inline std::string utc_text(std::chrono::system_clock::time_point instant) {
  return date::format("%Y-%m-%dT%H:%M:%SZ", date::floor<std::chrono::seconds>(instant));
}

}  // namespace faust::testing
