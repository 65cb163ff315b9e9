#include "schedule/cron_expression.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace faust {
namespace {

constexpr std::array<std::string_view, 12> kMonthNames = {"jan", "feb", "mar", "apr", "may", "jun",
                                                          "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr std::array<std::string_view, 7> kDayNames = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

// One of the five fields: its values run min..max; `names[i]` stands for the value first_named + i.
struct Field {
  std::string_view name;
  int min;
  int max;
  std::span<const std::string_view> names;
  int first_named;
};

constexpr std::array<Field, 5> kFields = {{
    {"minute", 0, 59, {}, 0},
    {"hour", 0, 23, {}, 0},
    {"day-of-month", 1, 31, {}, 0},
    {"month", 1, 12, kMonthNames, 1},
    {"day-of-week", 0, 7, kDayNames, 0},  // 7 is Sunday too
}};
enum FieldIndex { kMinute, kHour, kDayOfMonth, kMonth, kDayOfWeek };

struct Macro {
  std::string_view name;
  std::string_view expression;
};
constexpr std::array<Macro, 7> kMacros = {{
    {"@yearly", "0 0 1 1 *"},
    {"@annually", "0 0 1 1 *"},
    {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"},
    {"@daily", "0 0 * * *"},
    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
}};

// Feb counts 29: a day that exists in leap years only still runs.
constexpr std::array<int, 13> kLongestMonth = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

Error cron_error(std::string message) { return Error{ExitCode::kManifestInvalid, "cron: " + std::move(message)}; }

Error field_error(const Field& field, const std::string& message) {
  return cron_error(std::string(field.name) + " field: " + message);
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::vector<std::string_view> split(std::string_view text, std::string_view separators) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = text.find_first_of(separators, start);
    parts.push_back(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

std::vector<std::string_view> words(std::string_view text) {
  std::vector<std::string_view> out;
  for (const std::string_view part : split(text, " \t\n\r\v\f")) {
    if (!part.empty()) out.push_back(part);
  }
  return out;
}

std::string range_text(int min, int max) { return std::to_string(min) + "-" + std::to_string(max); }

// A number or, where the field has names, a name; within the field's range.
Result<int> parse_value(const Field& field, std::string_view token, std::string_view item) {
  if (token.empty()) return field_error(field, "missing value in '" + std::string(item) + "'");
  if (std::all_of(token.begin(), token.end(), [](unsigned char c) { return std::isdigit(c); })) {
    int value = 0;
    const auto [end, error] = std::from_chars(token.data(), token.data() + token.size(), value);
    if (error != std::errc() || end != token.data() + token.size() || value < field.min || value > field.max) {
      return field_error(field, std::string(token) + " is out of range " + range_text(field.min, field.max));
    }
    return value;
  }
  const std::string name = lower(token);
  for (std::size_t i = 0; i < field.names.size(); ++i) {
    if (field.names[i] == name) return field.first_named + static_cast<int>(i);
  }
  if (field.names.empty()) return field_error(field, "'" + std::string(token) + "' is not a number");
  return field_error(field, "'" + std::string(token) + "' is not a number or a name (" +
                                std::string(field.names.front()) + ".." + std::string(field.names.back()) + ")");
}

// "*", "a", "a-b", each with an optional "/step"; "a/step" means a-max/step.
Result<std::uint64_t> parse_item(const Field& field, std::string_view item) {
  const auto slash = split(item, "/");
  if (slash.size() > 2) return field_error(field, "'" + std::string(item) + "' has more than one '/'");
  const std::string_view base = slash[0];
  int low = field.min;
  int high = field.max;
  if (base != "*") {
    const auto dash = split(base, "-");
    if (dash.size() > 2) return field_error(field, "'" + std::string(item) + "' has more than one '-'");
    auto first = parse_value(field, dash[0], item);
    if (!first) return first.error();
    low = *first;
    high = slash.size() == 2 ? field.max : low;
    if (dash.size() == 2) {
      auto last = parse_value(field, dash[1], item);
      if (!last) return last.error();
      high = *last;
      // Sunday ends a week as well as starting it: "fri-sun" is 5-7.
      if (&field == &kFields[kDayOfWeek] && high == 0) high = 7;
      if (low > high) return field_error(field, "range " + std::string(base) + " runs backwards");
    }
  }
  int step = 1;
  if (slash.size() == 2) {
    const std::string_view text = slash[1];
    const int most = field.max - field.min + 1;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), step);
    if (text.empty() || end != text.data() + text.size() ||
        !std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); })) {
      return field_error(field, "step '" + std::string(text) + "' is not a number");
    }
    if (error != std::errc() || step < 1 || step > most) {
      return field_error(field, "step " + std::string(text) + " is out of range " + range_text(1, most));
    }
  }
  std::uint64_t bits = 0;
  for (int value = low; value <= high; value += step) bits |= std::uint64_t{1} << value;
  return bits;
}

Result<std::uint64_t> parse_field(const Field& field, std::string_view text) {
  std::uint64_t bits = 0;
  for (const std::string_view item : split(text, ",")) {
    if (item.empty()) return field_error(field, "empty list item in '" + std::string(text) + "'");
    auto item_bits = parse_item(field, item);
    if (!item_bits) return item_bits.error();
    bits |= *item_bits;
  }
  return bits;
}

template <std::size_t N>
std::optional<int> first_set_from(const std::bitset<N>& bits, int from) {
  for (int i = from; i < static_cast<int>(N); ++i) {
    if (bits[static_cast<std::size_t>(i)]) return i;
  }
  return std::nullopt;
}

}  // namespace

Result<CronExpression> CronExpression::parse(std::string_view text) {
  std::vector<std::string_view> fields = words(text);
  if (fields.empty()) return cron_error("empty expression");
  if (fields[0].front() == '@') {
    const std::string name = lower(fields[0]);
    const auto macro = std::find_if(kMacros.begin(), kMacros.end(), [&](const Macro& m) { return m.name == name; });
    if (macro == kMacros.end()) {
      return cron_error("unknown macro '" + std::string(fields[0]) +
                        "' (use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)");
    }
    if (fields.size() > 1) return cron_error(std::string(fields[0]) + " stands alone; got more after it");
    fields = words(macro->expression);
  }
  if (fields.size() != kFields.size()) {
    return cron_error("expected 5 fields (minute hour day-of-month month day-of-week) or a macro such as "
                      "@daily, got " + std::to_string(fields.size()));
  }

  std::array<std::uint64_t, 5> bits{};
  for (std::size_t i = 0; i < kFields.size(); ++i) {
    auto field_bits = parse_field(kFields[i], fields[i]);
    if (!field_bits) return field_bits.error();
    bits[i] = *field_bits;
  }
  CronExpression expression;
  expression.minutes_ = std::bitset<60>(bits[kMinute]);
  expression.hours_ = std::bitset<24>(bits[kHour]);
  expression.days_ = std::bitset<32>(bits[kDayOfMonth]);
  expression.months_ = std::bitset<13>(bits[kMonth]);
  // Sunday is both 0 and 7.
  expression.weekdays_ = std::bitset<7>(bits[kDayOfWeek] | (bits[kDayOfWeek] >> 7));
  expression.days_restricted_ = fields[kDayOfMonth] != "*";
  expression.weekdays_restricted_ = fields[kDayOfWeek] != "*";

  // Only a day-of-month on its own can rule out every day: any week has every weekday.
  if (expression.days_restricted_ && !expression.weekdays_restricted_) {
    bool possible = false;
    for (int month = 1; month <= 12; ++month) {
      if (!expression.months_[month]) continue;
      const auto first_day = first_set_from(expression.days_, 1);
      possible = possible || (first_day && *first_day <= kLongestMonth[month]);
    }
    if (!possible) {
      return field_error(kFields[kDayOfMonth], "no day in '" + std::string(fields[kDayOfMonth]) +
                                                   "' occurs in month '" + std::string(fields[kMonth]) +
                                                   "', so the expression never runs");
    }
  }
  return expression;
}

bool CronExpression::selects_day(const date::year_month_day& day) const {
  const bool by_day = days_[static_cast<unsigned>(day.day())];
  const bool by_weekday = weekdays_[date::weekday(day).c_encoding()];
  if (days_restricted_ && weekdays_restricted_) return by_day || by_weekday;
  return by_day && by_weekday;
}

bool CronExpression::matches(date::local_seconds local) const {
  const auto day = date::floor<date::days>(local);
  const auto minute_of_day = std::chrono::duration_cast<std::chrono::minutes>(local - day).count();
  const date::year_month_day ymd(day);
  return months_[static_cast<unsigned>(ymd.month())] && selects_day(ymd) &&
         hours_[static_cast<std::size_t>(minute_of_day / 60)] && minutes_[static_cast<std::size_t>(minute_of_day % 60)];
}

std::optional<date::local_seconds> CronExpression::first_match(date::local_seconds from,
                                                               date::local_seconds until) const {
  const auto start = date::ceil<std::chrono::minutes>(from);
  auto day = date::floor<date::days>(start);
  auto minute_of_day = static_cast<int>((start - day).count());
  const auto next_day = [&] {
    day += date::days(1);
    minute_of_day = 0;
  };
  while (day < until) {
    const date::year_month_day ymd(day);
    if (!months_[static_cast<unsigned>(ymd.month())]) {
      day = date::local_days((date::year_month(ymd.year(), ymd.month()) + date::months(1)) / 1);
      minute_of_day = 0;
      continue;
    }
    if (!selects_day(ymd)) {
      next_day();
      continue;
    }
    const auto hour = first_set_from(hours_, minute_of_day / 60);
    if (!hour) {
      next_day();
      continue;
    }
    if (*hour > minute_of_day / 60) minute_of_day = *hour * 60;
    const auto minute = first_set_from(minutes_, minute_of_day % 60);
    if (!minute) {
      minute_of_day = (*hour + 1) * 60;
      if (minute_of_day == 24 * 60) next_day();
      continue;
    }
    const date::local_seconds found = day + std::chrono::minutes(*hour * 60 + *minute);
    if (found >= until) return std::nullopt;
    return found;
  }
  return std::nullopt;
}

}  // namespace faust
