#include "runtime/agents/in_flight_messages.h"

namespace faust {
namespace {

std::size_t size_of(const ConsumedMessage& message) {
  return message.value.size() + (message.key ? message.key->size() : 0);
}

}  // namespace

InFlightMessages::EntryPtr InFlightMessages::track(const ConsumedMessage& message) {
  auto entry = std::make_shared<Entry>();
  entry->message.source = message.source;
  entry->message.offset = message.offset;
  entry->bytes = size_of(message);
  partitions_[message.source].push_back(entry);
  ++tracked_;
  bytes_ += entry->bytes;
  return entry;
}

std::optional<std::int64_t> InFlightMessages::finished_untracked(const ConsumedMessage& message) {
  auto line = partitions_.find(message.source);
  if (line == partitions_.end() || line->second.empty()) return message.offset + 1;
  auto entry = std::make_shared<Entry>();
  entry->message.source = message.source;
  entry->message.offset = message.offset;
  entry->waiting = 0;
  line->second.push_back(std::move(entry));
  ++tracked_;
  return std::nullopt;
}

std::optional<std::int64_t> InFlightMessages::release(Entry& entry) {
  if (entry.dropped) return std::nullopt;
  --entry.waiting;
  return advance(entry.message.source);
}

void InFlightMessages::sent(Entry& entry, std::size_t bytes) {
  ++entry.waiting;
  ++entry.sends;
  ++sends_;
  bytes_ += bytes;
}

void InFlightMessages::not_sent(Entry& entry, std::size_t bytes) {
  --entry.waiting;
  --entry.sends;
  --sends_;
  bytes_ -= bytes;
}

InFlightMessages::Acknowledged InFlightMessages::acknowledged(Entry& entry, std::size_t bytes,
                                                             const Status& delivered) {
  --sends_;
  bytes_ -= bytes;
  --entry.sends;
  Acknowledged result;
  if (entry.dropped) return result;
  // A record given up (the transport is going away) is neither done nor the message's fault:
  // the message stays in line, uncommitted, for the partition's next owner.
  if (!delivered && delivered.error().code == ExitCode::kBrokerUnreachable) return result;
  if (!delivered && !entry.refused) {
    entry.refused = delivered.error().message;
    result.refused = true;
  }
  --entry.waiting;
  result.position = advance(entry.message.source);
  return result;
}

void InFlightMessages::drop(const std::set<TopicPartition>& partitions) {
  for (const auto& partition : partitions) {
    const auto line = partitions_.find(partition);
    if (line == partitions_.end()) continue;
    for (auto& entry : line->second) {
      entry->dropped = true;
      --tracked_;
      bytes_ -= entry->bytes;
    }
    partitions_.erase(line);
  }
}

bool InFlightMessages::waiting(const std::set<TopicPartition>& partitions) const {
  for (const auto& partition : partitions) {
    const auto line = partitions_.find(partition);
    if (line != partitions_.end() && !line->second.empty()) return true;
  }
  return false;
}

std::optional<std::int64_t> InFlightMessages::advance(const TopicPartition& partition) {
  const auto line = partitions_.find(partition);
  if (line == partitions_.end()) return std::nullopt;
  std::optional<std::int64_t> position;
  auto& entries = line->second;
  while (!entries.empty() && entries.front()->waiting == 0 && !entries.front()->refused) {
    const Entry& done = *entries.front();
    position = done.message.offset + 1;
    --tracked_;
    bytes_ -= done.bytes;
    entries.pop_front();
  }
  if (entries.empty()) partitions_.erase(line);
  return position;
}

}  // namespace faust
