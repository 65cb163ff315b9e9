#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "transport/transport.h"

namespace faust {

// The bookkeeping of the pipelined at-least-once path (Kafka Streams' model): a handler's sends
// are queued, not awaited, and a message is done once its handler returned and every one of its
// sends was acknowledged. A partition's commit position is the end of the longest prefix of its
// messages that are done, so nothing is committed past a message whose output is not on the
// broker.
//
// Only messages that sent something, or that finished behind one that is still waiting, are
// tracked; the others move the position at once. Not thread-safe: the lane that owns it guards
// it with its lock (delivery reports arrive on the transport's thread).
class InFlightMessages {
 public:
  struct Line;
  struct Entry {
    // Its place; once its handler returned, the whole message (key, value, headers), moved in
    // by the lane: a refused send may need it handled again or dead-lettered.
    ConsumedMessage message;
    std::size_t bytes = 0;  // of its key and value, counted against the limit while tracked
    int waiting = 1;     // the handler while it runs, then each unacknowledged send
    int sends = 0;       // unacknowledged sends
    int attempts = 0;    // handler failures and refusals so far, for on_error's retries
    // The first send the broker refused for the record's own sake, not yet dealt with.
    std::optional<std::string> refused;
    bool dropped = false;  // its partition was revoked: nothing about it counts any more
    Line* line = nullptr;  // its partition's, while not dropped
  };
  using EntryPtr = std::shared_ptr<Entry>;
  // A partition's tracked messages, in order: entries[first] on. The front is taken by moving
  // `first` and the storage kept, so a steady stream does not allocate for its line.
  struct Line {
    TopicPartition partition;
    std::vector<EntryPtr> entries;
    std::size_t first = 0;
    bool empty() const { return first == entries.size(); }
  };

  struct Limits {
    std::size_t max_sends = 10000;               // unacknowledged sends
    std::size_t max_bytes = 32 * 1024 * 1024;    // their keys and values, and tracked messages'
  };

  explicit InFlightMessages(Limits limits) : limits_(limits) {}

  // Starts tracking `message`, whose handler is running and about to send (its first send).
  EntryPtr track(const ConsumedMessage& message);
  // A handler that sent nothing returned (or its message was skipped): the position to commit
  // for its partition, unless an earlier message still waits (then it waits in line).
  std::optional<std::int64_t> finished_untracked(const ConsumedMessage& message);

  // One more / one less thing the entry waits for (its handler, run again).
  void hold(Entry& entry) { ++entry.waiting; }
  std::optional<std::int64_t> release(Entry& entry);

  // A send of the entry was queued / its delivery report came.
  void sent(Entry& entry, std::size_t bytes);
  struct Acknowledged {
    const TopicPartition* partition = nullptr;  // the entry's
    std::optional<std::int64_t> position;       // the partition's position moved here
    bool refused = false;                  // the entry has a refusal to deal with now
  };
  // Takes the report's reference to the entry, so that an entry nobody else holds can be reused.
  Acknowledged acknowledged(EntryPtr entry, std::size_t bytes, const Status& delivered);
  // Undoes sent() for a send that could not be queued.
  void not_sent(Entry& entry, std::size_t bytes);

  // Forgets the messages of `partitions` (revoked): their reports change nothing any more.
  void drop(const std::set<TopicPartition>& partitions);
  // Whether any message of `partitions` is still waiting.
  bool waiting(const std::set<TopicPartition>& partitions) const;

  // Handler threads wait before sending while this holds, and the lane before taking a message.
  bool sends_full() const { return sends_ >= limits_.max_sends || bytes_ >= limits_.max_bytes; }
  bool full() const { return tracked_ >= limits_.max_sends || bytes_ >= limits_.max_bytes; }
  std::size_t sends() const { return sends_; }

 private:
  EntryPtr make_entry(const ConsumedMessage& message, Line& line);
  std::optional<std::int64_t> advance(Line& line);

  Limits limits_;
  // A partition's line stays until the partition is dropped, even when empty: a steady stream
  // would otherwise make and free it for almost every message.
  std::map<TopicPartition, Line> partitions_;
  // Entries done and no longer held by anyone, reused: one allocation less per message.
  std::vector<EntryPtr> spare_;
  std::size_t tracked_ = 0;
  std::size_t sends_ = 0;
  std::size_t bytes_ = 0;
};

}  // namespace faust
