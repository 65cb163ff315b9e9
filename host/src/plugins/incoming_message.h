#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "common/headers.h"

namespace faust {

// A message for an agent, as a view over the transport's buffers; valid for one handle() call.
struct IncomingMessage {
  std::optional<std::string_view> key;  // nullopt: the message has no key
  std::string_view value;
  std::span<const Headers::value_type> headers;
  std::string_view topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::int64_t timestamp_ms = 0;
};

}  // namespace faust
