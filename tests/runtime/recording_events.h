#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "runtime/runtime_events.h"

namespace faust::testing {

// RuntimeEvents that remember what they were told.
class RecordingEvents final : public RuntimeEvents {
 public:
  void agent_handled(const std::string&, std::chrono::nanoseconds, const Status& result) override {
    std::lock_guard lock(mutex_);
    ++handled_;
    if (!result) ++failed_;
  }
  void timer_fired(const std::string&, std::chrono::nanoseconds lateness, const Status&) override {
    std::lock_guard lock(mutex_);
    lateness_.push_back(lateness);
  }
  void timer_skipped(const std::string&, std::uint64_t missed) override {
    std::lock_guard lock(mutex_);
    skipped_ += missed;
  }
  void leadership_changed(bool leader, std::int32_t) override {
    std::lock_guard lock(mutex_);
    leadership_.push_back(leader);
  }
  void rebalanced() override {}
  void consumer_lag(const TopicPartition&, std::int64_t) override {}
  void fatal(const Error& error) override {
    std::lock_guard lock(mutex_);
    fatal_.push_back(error);
  }

  int handled() const { std::lock_guard lock(mutex_); return handled_; }
  int failed() const { std::lock_guard lock(mutex_); return failed_; }
  std::vector<std::chrono::nanoseconds> lateness() const { std::lock_guard lock(mutex_); return lateness_; }
  std::uint64_t skipped() const { std::lock_guard lock(mutex_); return skipped_; }
  std::vector<bool> leadership() const { std::lock_guard lock(mutex_); return leadership_; }
  std::vector<Error> fatal_errors() const { std::lock_guard lock(mutex_); return fatal_; }

 private:
  mutable std::mutex mutex_;
  int handled_ = 0;
  int failed_ = 0;
  std::vector<std::chrono::nanoseconds> lateness_;
  std::uint64_t skipped_ = 0;
  std::vector<bool> leadership_;
  std::vector<Error> fatal_;
};

}  // namespace faust::testing
