#pragma once

#include <signal.h>

#include <cerrno>
#include <cstdint>
#include <string_view>

#include "plugins/incoming_message.h"

namespace faust::isolation::test {

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
