#include "runtime/agents/dead_letter_replay.h"

#include "runtime/agents/dead_letter.h"

namespace faust {
namespace {

using Clock = std::chrono::steady_clock;

std::string where(const ConsumedMessage& message) {
  return message.source.topic + "/" + std::to_string(message.source.partition) + "@" +
         std::to_string(message.offset);
}

}  // namespace

Result<std::size_t> replay_dead_letters(
    Transport& transport, const DeadLetterReplay& replay,
    const std::function<void(const ConsumedMessage& dead_letter)>& on_replayed) {
  auto opened = transport.read_topic(
      TopicReadRequest{replay.dead_letter_topic, replay.only ? "" : replay.group_id, replay.only},
      replay.timeout);
  if (!opened) return opened.error();
  TopicReader& reader = **opened;
  const std::string agent_header = std::string(kDeadLetterHeaderPrefix) + "agent";
  std::size_t replayed = 0;
  bool found = false;  // the record `only` asked for
  auto last_progress = Clock::now();
  while (!reader.at_end()) {
    auto batch = reader.poll(std::chrono::milliseconds(500));
    if (!batch) return batch.error();
    if (batch->empty()) {
      if (Clock::now() - last_progress > replay.timeout) {
        return Error{ExitCode::kBrokerUnreachable,
                     "reading " + replay.dead_letter_topic + ": no answer from the broker"};
      }
      continue;
    }
    last_progress = Clock::now();
    for (const ConsumedMessage& record : *batch) {
      if (replay.only && record.offset != replay.only->offset) continue;
      found = true;
      const auto agent = header_value(record.headers, agent_header);
      if (agent == replay.agent) {
        if (auto sent = transport.send(replayed_record(record, replay.agent_topic), replay.timeout); !sent) {
          return Error{sent.error().code, "replaying " + where(record) + ": " + sent.error().message};
        }
        ++replayed;
        on_replayed(record);
      } else if (replay.only) {
        return Error{ExitCode::kFailure, where(record) + " is not a dead letter of agent '" + replay.agent +
                                             "'" + (agent ? " (its agent is '" + *agent + "')" : "")};
      }
      // Past records of other agents sharing the topic too: none of them is this agent's to replay.
      if (!replay.only) {
        if (auto committed = reader.commit(record.source, record.offset + 1); !committed) {
          return committed.error();
        }
      }
    }
  }
  if (replay.only && !found) {
    return Error{ExitCode::kFailure,
                 "no message at " + replay.dead_letter_topic + "/" + std::to_string(replay.only->partition) +
                     "@" + std::to_string(replay.only->offset) + " (not committed, or not a record)"};
  }
  return replayed;
}

}  // namespace faust
