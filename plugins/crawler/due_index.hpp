// The dispatch timer's index of when each source is next due, so a tick looks at the due sources
// only instead of reading every subscription. It lives in the leader's memory and is only a hint:
// the state stays the truth, and the timer checks each source it pops against it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>

namespace crawler {

class DueIndex {
 public:
  void clear();
  // Inserts `url` or moves it to `due_ms`.
  void set(const std::string& url, std::int64_t due_ms);
  void erase(const std::string& url);
  // The most overdue source due at `now_ms` (ties by URL), if any.
  std::optional<std::string> first_due(std::int64_t now_ms) const;
  // How many are due at `now_ms` (walks the due ones only).
  std::size_t count_due(std::int64_t now_ms) const;
  std::size_t size() const { return due_of_.size(); }

 private:
  std::set<std::pair<std::int64_t, std::string>> by_due_;
  std::unordered_map<std::string, std::int64_t> due_of_;
};

}  // namespace crawler
