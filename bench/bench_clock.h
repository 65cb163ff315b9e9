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

}  // namespace faust::bench
