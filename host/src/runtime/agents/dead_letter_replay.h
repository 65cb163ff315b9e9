#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>

#include "common/result.h"
#include "transport/transport.h"

namespace faust {

// Sends dead-lettered messages back to their agent (faust-host send AGENT --dead-letter).
struct DeadLetterReplay {
  std::string agent;  // only records whose faust.dead-letter.agent names it are replayed
  std::string dead_letter_topic;
  std::string agent_topic;
  // Where the replay position is kept: each record's offset is committed there once its replay
  // was acknowledged, so a second replay sends only what came after.
  std::string group_id;
  // Only the record at this position, wherever the group stands (which it does not move).
  std::optional<TopicReadRequest::Position> only;
  // How long a step (opening, a send, reading on) may wait for the broker.
  std::chrono::milliseconds timeout{10000};
};

// Replays every dead-letter record of the agent not replayed before, up to the topic's end at the
// call (or the one record of `only`), each with its key, value and original headers, plus
// faust.replayed-from. `on_replayed` is told of each one once the broker acknowledged it.
// Returns how many were replayed; a failure keeps those already replayed (and committed).
Result<std::size_t> replay_dead_letters(
    Transport& transport, const DeadLetterReplay& replay,
    const std::function<void(const ConsumedMessage& dead_letter)>& on_replayed);

}  // namespace faust
