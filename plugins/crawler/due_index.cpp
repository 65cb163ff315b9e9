#include "due_index.hpp"

namespace crawler {

void DueIndex::clear() {
  by_due_.clear();
  due_of_.clear();
}

void DueIndex::set(const std::string& url, std::int64_t due_ms) {
  const auto [found, inserted] = due_of_.try_emplace(url, due_ms);
  if (!inserted) {
    by_due_.erase({found->second, url});
    found->second = due_ms;
  }
  by_due_.emplace(due_ms, url);
}

void DueIndex::erase(const std::string& url) {
  const auto found = due_of_.find(url);
  if (found == due_of_.end()) return;
  by_due_.erase({found->second, url});
  due_of_.erase(found);
}

std::optional<std::string> DueIndex::first_due(std::int64_t now_ms) const {
  if (by_due_.empty() || by_due_.begin()->first > now_ms) return std::nullopt;
  return by_due_.begin()->second;
}

std::size_t DueIndex::count_due(std::int64_t now_ms) const {
  std::size_t count = 0;
  for (auto each = by_due_.begin(); each != by_due_.end() && each->first <= now_ms; ++each) ++count;
  return count;
}

}  // namespace crawler
