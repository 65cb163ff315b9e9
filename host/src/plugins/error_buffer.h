#pragma once

#include <exception>
#include <string>
#include <string_view>

#include "faust/plugin.h"

namespace faust {

// Copies `message` into a plugin-facing error buffer: NUL-terminated, truncated so it never ends
// inside a UTF-8 sequence. A null buffer is ignored.
void write_error(faust_error* error, std::string_view message) noexcept;

// The message a plugin wrote, read defensively (the plugin may not have terminated it);
// "(no message)" when it wrote nothing.
std::string read_error(const faust_error& error);

// Calls into plugin code and returns what it returns. The ABI forbids exceptions across it, but a
// C++ plugin written without the SDK may throw anyway; on Linux such an exception unwinds into the
// host, and is reported through `error` (with `on_exception` returned) instead of ending the worker.
template <typename R, typename Call>
R call_plugin(faust_error& error, R on_exception, Call&& call) noexcept {
  try {
    return call();
  } catch (const std::exception& e) {
    write_error(&error, "exception thrown across the plugin ABI: " + std::string(e.what()));
  } catch (...) {
    write_error(&error, "exception thrown across the plugin ABI");
  }
  return on_exception;
}

}  // namespace faust
