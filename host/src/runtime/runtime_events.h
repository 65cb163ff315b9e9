#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "common/result.h"
#include "transport/transport.h"

namespace faust {

// What the runtime reports as it works; the worker turns it into metrics, /status and exits.
// Called from runtime threads: implementations must be thread-safe and quick.
class RuntimeEvents {
 public:
  virtual ~RuntimeEvents() = default;
  virtual void agent_handled(const std::string& agent, std::chrono::nanoseconds took, const Status& result) = 0;
  virtual void timer_fired(const std::string& timer, std::chrono::nanoseconds lateness, const Status& result) = 0;
  virtual void timer_skipped(const std::string& timer, std::uint64_t missed_ticks) = 0;
  virtual void leadership_changed(bool leader, std::int32_t generation) = 0;
  virtual void rebalanced() = 0;
  virtual void consumer_lag(const TopicPartition& partition, std::int64_t lag) = 0;
  // A handler's pipelined send to `topic` was not taken in time (an outage) and is queued again.
  virtual void send_requeued(const std::string& /*topic*/) {}
  // Something the worker cannot go on from (e.g. an agent with on_error: stop failed).
  virtual void fatal(const Error& error) = 0;
};

}  // namespace faust
