// Cron expressions come from manifests. Any text must parse or give a one-line error naming what
// is wrong; a parsed expression, read in a time zone from a start near a daylight-saving change,
// must give runs that increase, that are selected local times (or the end of a skipped hour that
// held one), that are the first occurrence of a repeated local time, and that leave out no
// selected minute in between.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <date/date.h>

#include "fuzz_check.h"
#include "schedule/cron_schedule.h"

namespace {

using faust::fuzz::require;
using std::chrono::system_clock;
using namespace std::chrono_literals;

constexpr std::array<std::string_view, 4> kZones = {"UTC", "Europe/Berlin", "America/New_York",
                                                    "Australia/Lord_Howe"};
// Clock changes of 2026 (UTC): Berlin spring and fall, New York spring and fall, Lord Howe spring.
constexpr std::array<date::sys_seconds, 5> kChanges = {
    date::sys_days(date::year(2026) / 3 / 29) + 1h,  date::sys_days(date::year(2026) / 10 / 25) + 1h,
    date::sys_days(date::year(2026) / 3 / 8) + 7h,   date::sys_days(date::year(2026) / 11 / 1) + 6h,
    date::sys_days(date::year(2026) / 10 / 3) + 15h + 30min,
};
// How far apart a repeated local time's two occurrences can be (Lord Howe repeats half an hour).
constexpr std::array<std::chrono::minutes, 4> kRepeatDistances = {30min, 60min, 90min, 120min};
// Minutes between two runs checked one by one for a selected minute left out.
constexpr int kMinutesChecked = 360;

std::uint64_t fnv1a(std::string_view text) {
  std::uint64_t hash = 1469598103934665603ull;
  for (const char c : text) hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return hash;
}

std::string text_of(system_clock::time_point instant) {
  return date::format("%FT%TZ", date::floor<std::chrono::seconds>(instant));
}

// The instant's local time also belonged to an earlier instant: the clocks fell back over it.
bool is_second_occurrence(const faust::CronSchedule& cron, system_clock::time_point instant) {
  const auto local = date::floor<std::chrono::minutes>(cron.to_local(instant));
  for (const auto distance : kRepeatDistances) {
    if (date::floor<std::chrono::minutes>(cron.to_local(instant - distance)) == local) return true;
  }
  return false;
}

// A run at the end of a skipped hour that held a selected local time.
bool ends_a_gap_with_a_selected_time(const faust::CronSchedule& cron, system_clock::time_point run) {
  const auto before = cron.utc_offset(run - 1s);
  const auto after = cron.utc_offset(run);
  if (before >= after) return false;
  const auto gap_start = cron.to_local(run) - (after - before);
  return cron.expression().first_match(gap_start, cron.to_local(run)).has_value();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto parsed = faust::CronExpression::parse(text);
  if (!parsed.ok()) {
    const std::string& message = parsed.error().message;
    require(parsed.error().code == faust::ExitCode::kManifestInvalid, "cron errors exit with kManifestInvalid",
            message);
    require(message.rfind("cron: ", 0) == 0, "cron errors start with \"cron: \"", message);
    require(faust::fuzz::is_one_line(message), "cron errors are one line", message);
    return 0;
  }

  const std::uint64_t hash = fnv1a(text);
  const std::string_view zone = kZones[hash % kZones.size()];
  const auto schedule = faust::CronSchedule::make(text, zone);
  require(schedule.ok(), "a parsed expression makes a schedule", schedule.ok() ? "" : schedule.error().message);
  const faust::CronSchedule& cron = *schedule;
  // Within two days either side of a clock change, at any second.
  const auto start = system_clock::time_point(kChanges[(hash >> 8) % kChanges.size()] - 48h +
                                              std::chrono::seconds((hash >> 16) % (96 * 3600)));

  auto previous = start;
  for (int i = 0; i < 4; ++i) {
    const auto run = cron.next_after(previous);
    const std::string where = std::string(zone) + " after " + text_of(previous) + ": " + text_of(run);
    require(run != system_clock::time_point::max(), "a parsed expression runs within the search horizon", where);
    require(run > previous, "runs increase", where);
    require(run == date::floor<std::chrono::minutes>(run), "runs are on whole minutes", where);
    require(cron.expression().matches(cron.to_local(run)) || ends_a_gap_with_a_selected_time(cron, run),
            "a run is a selected local time, or the end of a skipped hour holding one", where);
    require(!is_second_occurrence(cron, run), "a repeated local time runs at its first occurrence", where);
    // Nothing selected was left out between the previous run (or the start) and this one.
    auto minute = date::floor<std::chrono::minutes>(previous) + 1min;
    for (int checked = 0; minute < run && checked < kMinutesChecked; ++checked, minute += 1min) {
      const bool selected = cron.expression().matches(cron.to_local(minute)) && !is_second_occurrence(cron, minute);
      require(!selected, "no selected minute lies between two runs", where + ", left out " + text_of(minute));
    }
    previous = run;
  }
  return 0;
}
