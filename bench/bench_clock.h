#pragma once

#include <time.h>

#include <cstdint>

namespace faust::bench {

// Wall-clock nanoseconds: comparable across the processes of one benchmark run.
inline std::int64_t realtime_ns() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<std::int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

// Steady nanoseconds: for intervals measured across processes on one machine (Python's
// time.monotonic_ns() reads the same clock), immune to NTP steps and slews.
inline std::int64_t monotonic_ns() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

}  // namespace faust::bench
