#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "transport/transport.h"

namespace faust {

// The leader's key-value state in memory: what the state topic's committed records say, plus the
// writes of the unit in progress, which count only once the unit commits. Not thread-safe: the
// leader term serializes its use.
class LeaderStateStore {
 public:
  using Entries = std::vector<std::pair<std::string, std::string>>;

  explicit LeaderStateStore(std::size_t limit_bytes) : limit_bytes_(limit_bytes) {}

  // Applies records of the state topic in order (a tombstone deletes its key), on top of what
  // is there: clear() first, then restore() each batch as it is read. Records without a key are
  // ignored.
  void restore(const std::vector<ConsumedMessage>& records);
  void clear();

  // What the unit in progress sees: its own writes over the committed state.
  std::optional<std::string> get(std::string_view key) const;
  Entries scan(std::string_view prefix) const;
  // Checks the key, the value and the state's size limit; records the write in the unit.
  Status put(std::string_view key, std::string_view value);
  Status erase(std::string_view key);

  // The unit committed: its writes are the state now. Or it did not: they are dropped.
  void commit_unit();
  void drop_unit();

  std::size_t entries() const { return committed_.size(); }
  std::size_t bytes() const { return bytes_; }

 private:
  // The state's size as it would be with the unit's writes.
  std::size_t bytes_with_unit() const;

  const std::size_t limit_bytes_;
  std::map<std::string, std::string, std::less<>> committed_;
  std::size_t bytes_ = 0;  // keys and values of committed_
  std::map<std::string, std::optional<std::string>, std::less<>> unit_;  // nullopt: deleted
};

}  // namespace faust
