#include "runtime/agents/in_flight_messages.h"

namespace faust {
namespace {

std::size_t size_of(const ConsumedMessage& message) {
  return message.value.size() + (message.key ? message.key->size() : 0);
}

}  // namespace

InFlightMessages::EntryPtr InFlightMessages::make_entry(const ConsumedMessage& message, Line& line) {
  EntryPtr entry;
  if (spare_.empty()) {
    entry = std::make_shared<Entry>();
  } else {
    entry = std::move(spare_.back());
    spare_.pop_back();
  }
  entry->message.source = message.source;
  entry->message.offset = message.offset;
  entry->line = &line;
  line.entries.push_back(entry);
  ++tracked_;
  return entry;
}

InFlightMessages::EntryPtr InFlightMessages::track(const ConsumedMessage& message) {
  auto line = partitions_.find(message.source);
  if (line == partitions_.end()) line = partitions_.emplace(message.source, Line{message.source, {}}).first;
  auto entry = make_entry(message, line->second);
  entry->bytes = size_of(message);
  bytes_ += entry->bytes;
  return entry;
}

std::optional<std::int64_t> InFlightMessages::finished_untracked(const ConsumedMessage& message) {
  auto line = partitions_.find(message.source);
  if (line == partitions_.end() || line->second.empty()) return message.offset + 1;
  make_entry(message, line->second)->waiting = 0;
  return std::nullopt;
}

std::optional<std::int64_t> InFlightMessages::release(Entry& entry) {
  if (entry.dropped) return std::nullopt;
  --entry.waiting;
  return advance(*entry.line);
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

InFlightMessages::Acknowledged InFlightMessages::acknowledged(EntryPtr entry, std::size_t bytes,
                                                             const Status& delivered) {
  --sends_;
  bytes_ -= bytes;
  --entry->sends;
  Acknowledged result;
  if (entry->dropped) return result;
  // A record given up (the transport is going away) is neither done nor the message's fault:
  // the message stays in line, uncommitted, for the partition's next owner.
  if (!delivered && delivered.error().code == ExitCode::kBrokerUnreachable) return result;
  if (!delivered && !entry->refused) {
    entry->refused = delivered.error().message;
    result.refused = true;
  }
  --entry->waiting;
  Line& line = *entry->line;
  entry.reset();
  result.partition = &line.partition;
  result.position = advance(line);
  return result;
}

void InFlightMessages::drop(const std::set<TopicPartition>& partitions) {
  for (const auto& partition : partitions) {
    const auto line = partitions_.find(partition);
    if (line == partitions_.end()) continue;
    Line& dropped = line->second;
    for (std::size_t i = dropped.first; i < dropped.entries.size(); ++i) {
      dropped.entries[i]->dropped = true;
      --tracked_;
      bytes_ -= dropped.entries[i]->bytes;
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

std::optional<std::int64_t> InFlightMessages::advance(Line& line) {
  // About one window of sends: enough for a steady stream.
  constexpr std::size_t kMaxSpare = 1024;
  std::optional<std::int64_t> position;
  auto& entries = line.entries;
  while (!line.empty() && entries[line.first]->waiting == 0 && !entries[line.first]->refused) {
    EntryPtr done = std::move(entries[line.first++]);
    position = done->message.offset + 1;
    --tracked_;
    bytes_ -= done->bytes;
    if (done.use_count() == 1 && spare_.size() < kMaxSpare) {
      *done = Entry{};
      spare_.push_back(std::move(done));
    }
  }
  // The taken front is given back once it is half the storage (all of it when nothing is left).
  if (line.first * 2 >= entries.size()) {
    entries.erase(entries.begin(), entries.begin() + static_cast<std::ptrdiff_t>(line.first));
    line.first = 0;
  }
  return position;
}

}  // namespace faust
