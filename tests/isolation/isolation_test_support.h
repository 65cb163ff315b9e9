#pragma once

#include <signal.h>

#include <cerrno>
#include <cstdint>
#include <string_view>

#include "plugins/incoming_message.h"

namespace faust::isolation::test {

// How a runner that dereferenced null ends: under the sanitizers through their report
// (AddressSanitizer exits 1, ThreadSanitizer 66) instead of by the signal.
#if defined(FAUST_SANITIZED_BUILD)
inline constexpr const char* kSegfaultReason = "exit";
inline constexpr const char* kSegfaultEnd = "exited with status 1";
#elif defined(FAUST_TSAN_BUILD)
inline constexpr const char* kSegfaultReason = "exit";
inline constexpr const char* kSegfaultEnd = "exited with status 66";
#else
inline constexpr const char* kSegfaultReason = "signal";
inline constexpr const char* kSegfaultEnd = "killed by signal 11 (SIGSEGV)";
#endif

// A message of topic "in", partition 1. `value`: a literal, so the view outlives the message
// (batches hold several).
inline IncomingMessage message(std::string_view value, std::int64_t offset) {
  IncomingMessage message;
  message.value = value;
  message.topic = "in";
  message.partition = 1;
  message.offset = offset;
  return message;
}

// Whether process `pid` is still there (a child not yet reaped counts).
inline bool alive(int pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno != ESRCH); }

}  // namespace faust::isolation::test
