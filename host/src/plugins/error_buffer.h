#pragma once

#include <exception>
#include <string>
#include <string_view>

#include "faust/detail/abi_checks.hpp"
#include "faust/plugin.h"

namespace faust {

using abi::write_error;

// The message a plugin wrote, read defensively; "(no message)" when it wrote nothing.
inline std::string read_error(const faust_error& error) { return abi::read_error(error, "(no message)"); }

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
