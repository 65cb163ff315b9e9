#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "transport/transport.h"

namespace faust {

// What an agent with on_error: dead_letter writes for a message it gave up on, and what a replay
// (faust-host send AGENT --dead-letter) sends back to the agent.

// The headers a dead-letter record carries after the message's own ones: the prefix followed
// by agent, plugin, error, attempts, topic, partition, offset and timestamp (milliseconds).
inline constexpr std::string_view kDeadLetterHeaderPrefix = "faust.dead-letter.";
// On a replayed message: "<dead-letter topic>/<partition>@<offset>" of the record it came from.
inline constexpr std::string_view kReplayedFromHeader = "faust.replayed-from";

// Where an agent's failed messages go.
struct DeadLetterSink {
  std::string topic;
  std::string plugin;  // the agent's plugin, named in the record's headers
  // Returns once the broker acknowledged the record. Fails when the worker stops first, or with
  // the record's own fault (e.g. too large for the topic).
  std::function<Status(const ProducedRecord&)> write;
};

// Why a message is dead-lettered.
struct DeadLetterCause {
  std::string agent;
  std::string plugin;
  std::string error;  // the handler's last error
  int attempts = 0;   // handler calls, the first one included
};

// `message` for `topic`: key and value unchanged, its headers kept, the faust.dead-letter.* ones
// added after them.
ProducedRecord dead_letter_record(const ConsumedMessage& message, const std::string& topic,
                                  const DeadLetterCause& cause);

// What a replay sends to `agent_topic` for the dead-letter record `dead_letter`: its key and
// value, and the headers the original message had (the faust.dead-letter.* ones and an earlier
// faust.replayed-from dropped), then faust.replayed-from.
ProducedRecord replayed_record(const ConsumedMessage& dead_letter, const std::string& agent_topic);

// The last value of header `name`, or nothing.
std::optional<std::string> header_value(const Headers& headers, std::string_view name);

}  // namespace faust
