#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace faust::fuzz {

// A broken promise of the code under test: report it and abort, which libFuzzer records as a
// crash together with the input that caused it.
inline void require(bool holds, std::string_view promise, std::string_view detail = {}) {
  if (holds) return;
  std::fprintf(stderr, "fuzz check failed: %.*s\n", static_cast<int>(promise.size()), promise.data());
  if (!detail.empty()) {
    std::fprintf(stderr, "  detail: %.*s\n", static_cast<int>(detail.size()), detail.data());
  }
  std::abort();
}

// Error messages are one line (common/result.h): no line breaks of any kind inside them.
inline bool is_one_line(std::string_view message) {
  return !message.empty() && message.find_first_of("\r\n") == std::string_view::npos;
}

}  // namespace faust::fuzz
