#include "runtime/agents/dead_letter.h"

#include <algorithm>

namespace faust {

ProducedRecord dead_letter_record(const ConsumedMessage& message, const std::string& topic,
                                  const DeadLetterCause& cause) {
  ProducedRecord record{topic, message.key, message.value, message.headers, message.tombstone};
  const auto add = [&](std::string_view name, std::string value) {
    record.headers.emplace_back(std::string(kDeadLetterHeaderPrefix) + std::string(name), std::move(value));
  };
  add("agent", cause.agent);
  add("plugin", cause.plugin);
  add("error", cause.error);
  add("attempts", std::to_string(cause.attempts));
  add("topic", message.source.topic);
  add("partition", std::to_string(message.source.partition));
  add("offset", std::to_string(message.offset));
  add("timestamp", std::to_string(message.timestamp_ms));
  return record;
}

ProducedRecord replayed_record(const ConsumedMessage& dead_letter, const std::string& agent_topic) {
  ProducedRecord record{agent_topic, dead_letter.key, dead_letter.value, {}, dead_letter.tombstone};
  for (const auto& header : dead_letter.headers) {
    if (header.first.starts_with(kDeadLetterHeaderPrefix) || header.first == kReplayedFromHeader) continue;
    record.headers.push_back(header);
  }
  record.headers.emplace_back(std::string(kReplayedFromHeader),
                              dead_letter.source.topic + "/" + std::to_string(dead_letter.source.partition) +
                                  "@" + std::to_string(dead_letter.offset));
  return record;
}

std::optional<std::string> header_value(const Headers& headers, std::string_view name) {
  const auto found = std::find_if(headers.rbegin(), headers.rend(),
                                  [&](const auto& header) { return header.first == name; });
  if (found == headers.rend()) return std::nullopt;
  return found->second;
}

}  // namespace faust
