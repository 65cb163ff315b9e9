#pragma once

#include <string>
#include <utility>
#include <variant>

#include "common/exit_code.h"

namespace faust {

// An error as a value: the process exit code it maps to and a one-line, user-facing message
// that names the file, line or field at fault.
struct Error {
  ExitCode code = ExitCode::kFailure;
  std::string message;
};

// Either a value or an Error (std::expected is C++23; Debian 12's GCC 12 has no C++23 library).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}          // NOLINT(google-explicit-constructor)
  Result(Error error) : state_(std::move(error)) {}      // NOLINT(google-explicit-constructor)

  bool ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { return std::get<Error>(state_); }

 private:
  std::variant<T, Error> state_;
};

// Result for operations that produce nothing but may fail.
struct Ok {};
using Status = Result<Ok>;
inline Status ok_status() { return Ok{}; }

}  // namespace faust
