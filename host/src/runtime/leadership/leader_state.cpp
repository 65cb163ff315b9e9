#include "runtime/leadership/leader_state.h"

#include "faust/detail/abi_checks.hpp"

namespace faust {

void LeaderStateStore::clear() {
  committed_.clear();
  unit_.clear();
  bytes_ = 0;
}

void LeaderStateStore::restore(const std::vector<ConsumedMessage>& records) {
  for (const ConsumedMessage& record : records) {
    if (!record.key) continue;
    unit_[*record.key] = record.tombstone ? std::nullopt : std::optional<std::string>(record.value);
  }
  commit_unit();
}

std::optional<std::string> LeaderStateStore::get(std::string_view key) const {
  if (const auto written = unit_.find(key); written != unit_.end()) return written->second;
  if (const auto found = committed_.find(key); found != committed_.end()) return found->second;
  return std::nullopt;
}

LeaderStateStore::Entries LeaderStateStore::scan(std::string_view prefix) const {
  std::map<std::string, std::string, std::less<>> view;
  for (auto it = committed_.lower_bound(prefix); it != committed_.end() && it->first.starts_with(prefix); ++it) {
    view.insert(*it);
  }
  for (auto it = unit_.lower_bound(prefix); it != unit_.end() && it->first.starts_with(prefix); ++it) {
    if (it->second) {
      view[it->first] = *it->second;
    } else {
      view.erase(it->first);
    }
  }
  return Entries(view.begin(), view.end());
}

Status LeaderStateStore::put(std::string_view key, std::string_view value) {
  if (auto problem = abi::state_entry_problem(key.size(), value.size())) return Error{ExitCode::kFailure, *problem};
  auto [it, inserted] = unit_.try_emplace(std::string(key));
  std::optional<std::string> before = inserted ? std::nullopt : std::move(it->second);
  it->second = std::string(value);
  if (const std::size_t size = bytes_with_unit(); size > limit_bytes_) {
    if (inserted) {
      unit_.erase(it);
    } else {
      it->second = std::move(before);
    }
    return Error{ExitCode::kFailure, "leader state: full (" + std::to_string(size) + " bytes would exceed the limit of " +
                                         std::to_string(limit_bytes_) + "; app.leader_state_mib)"};
  }
  return ok_status();
}

Status LeaderStateStore::erase(std::string_view key) {
  if (auto problem = abi::state_entry_problem(key.size(), std::nullopt)) return Error{ExitCode::kFailure, *problem};
  unit_[std::string(key)] = std::nullopt;
  return ok_status();
}

void LeaderStateStore::commit_unit() {
  for (auto& [key, value] : unit_) {
    if (const auto found = committed_.find(key); found != committed_.end()) {
      bytes_ -= found->first.size() + found->second.size();
      committed_.erase(found);
    }
    if (value) {
      bytes_ += key.size() + value->size();
      committed_.emplace(key, std::move(*value));
    }
  }
  unit_.clear();
}

void LeaderStateStore::drop_unit() { unit_.clear(); }

std::size_t LeaderStateStore::bytes_with_unit() const {
  std::size_t size = bytes_;
  for (const auto& [key, value] : unit_) {
    if (const auto found = committed_.find(key); found != committed_.end()) size -= found->first.size() + found->second.size();
    if (value) size += key.size() + value->size();
  }
  return size;
}

}  // namespace faust
