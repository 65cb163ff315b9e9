#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "worker_process.h"

namespace faust::testing {

// For the tests that take the test broker away and bring it back (scripts/kafka-broker.sh, same
// data, same port). Every other test on the broker would notice, so those tests run alone (CTest
// RUN_SERIAL, label "serial").

// The broker.env of the running test broker, found the way scripts/test.sh exports it
// (FAUST_BROKER_STATE_FILE, or FAUST_BROKER_STATE/broker.env) or the source tree's default.
std::filesystem::path broker_state_file();

// Empty when this test can stop and start the broker at broker_address(); else why it cannot.
std::string why_broker_not_controllable();

// Runs `scripts/kafka-broker.sh restart` in the background: it stops the broker if it runs and
// starts it again with its data and port; the process ends (0) once the broker answers again.
std::unique_ptr<WorkerProcess> start_broker_restart(const std::filesystem::path& log);

// Stops the broker process (SIGTERM, SIGKILL after `timeout`) and waits until it is gone; its data
// stays, for start_broker_restart(). False when no broker process was running.
bool stop_broker(std::chrono::seconds timeout);

// A worker's GET /readyz.
struct Readiness {
  int status = 0;  // 0: no answer
  std::string reason;
};
Readiness readiness(std::uint16_t port);

double seconds_since(std::chrono::steady_clock::time_point start);

}  // namespace faust::testing
