// Where the integration tests find their Kafka broker.
//
// scripts/test.sh starts a real broker (scripts/kafka-broker.sh) and exports FAUST_TEST_BROKER.
// A developer who started the broker by hand can instead point FAUST_BROKER_STATE_FILE at its
// broker.env, or rely on the default state file of the source tree. A missing broker is a test
// failure, never a skip: a green run must mean the Kafka paths ran.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <string_view>

namespace faust::testing {

inline constexpr std::string_view kBrokerMissingMessage = "FAUST_TEST_BROKER is not set: run scripts/test.sh";

namespace detail {

inline std::string env_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

// The value of KEY=value in a broker.env written by scripts/kafka-broker.sh; empty if none.
inline std::string state_file_value(const std::string& path, std::string_view key) {
  std::ifstream in(path);
  const std::string prefix = std::string(key) + "=";
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with(prefix)) {
      return line.substr(prefix.size());
    }
  }
  return {};
}

// Reads FAUST_TEST_BROKER=host:port out of a broker.env written by scripts/kafka-broker.sh.
inline std::string broker_from_state_file(const std::string& path) {
  return state_file_value(path, "FAUST_TEST_BROKER");
}

}  // namespace detail

// The bootstrap address ("127.0.0.1:PORT") of the test broker. When none is configured it
// records a test failure and returns an empty string; callers stop with
//   const std::string broker = faust::testing::broker_address();
//   ASSERT_FALSE(broker.empty());
inline std::string broker_address() {
  if (std::string from_env = detail::env_or_empty("FAUST_TEST_BROKER"); !from_env.empty()) {
    return from_env;
  }
  std::string state_file = detail::env_or_empty("FAUST_BROKER_STATE_FILE");
#ifdef FAUST_DEFAULT_BROKER_STATE_FILE
  if (state_file.empty()) {
    state_file = FAUST_DEFAULT_BROKER_STATE_FILE;
  }
#endif
  if (!state_file.empty()) {
    if (std::string from_file = detail::broker_from_state_file(state_file); !from_file.empty()) {
      return from_file;
    }
  }
  ADD_FAILURE() << kBrokerMissingMessage << " (no broker address in FAUST_TEST_BROKER"
                << (state_file.empty() ? std::string(")") : " or " + state_file + ")");
  return {};
}

// A name no other test run on the same broker uses: tests share one broker and never delete
// topics, so every topic and group name carries the process id, the time and a random number.
inline std::string unique_name(std::string_view prefix) {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now).count();
  std::random_device random;
  return std::string(prefix) + "-" + std::to_string(::getpid()) + "-" + std::to_string(millis) + "-" +
         std::to_string(random());
}

}  // namespace faust::testing
