#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "recording_host_services.h"
#include "runtime/agents/delivery_unit.h"

namespace faust::isolation {

// Records plugin calls like the host's fake, routes sends to the unit in hand as the worker does,
// waits for real in wait_for_stop (until stop() is called, as a worker's fatal error or a term's
// end would), and keeps a leader state of its own, as a leader term would.
class Services final : public testing::RecordingHostServices {
 public:
  Status send(const ComponentRef& from, OutgoingMessage message) override {
    if (UnitSends* unit = UnitSends::current()) {
      return unit->send(ProducedRecord{message.agent, message.key, message.value, message.headers});
    }
    return RecordingHostServices::send(from, std::move(message));
  }
  bool wait_for_stop(const ComponentRef& /*from*/, std::chrono::milliseconds timeout) override {
    std::unique_lock lock(stop_mutex_);
    return stop_wake_.wait_for(lock, timeout, [&] { return stopping_; });
  }
  void stop() {
    std::lock_guard lock(stop_mutex_);
    stopping_ = true;
    stop_wake_.notify_all();
  }

  Result<std::optional<std::string>> state_get(const ComponentRef& /*from*/, std::string_view key) override {
    std::lock_guard lock(state_mutex_);
    const auto found = state_.find(std::string(key));
    if (found == state_.end()) return std::optional<std::string>();
    return std::optional<std::string>(found->second);
  }
  Status state_put(const ComponentRef& /*from*/, std::string_view key, std::string_view value) override {
    std::lock_guard lock(state_mutex_);
    state_[std::string(key)] = value;
    return ok_status();
  }
  std::optional<std::string> state(const std::string& key) const {
    std::lock_guard lock(state_mutex_);
    const auto found = state_.find(key);
    return found == state_.end() ? std::nullopt : std::optional<std::string>(found->second);
  }

 private:
  std::mutex stop_mutex_;
  std::condition_variable stop_wake_;
  bool stopping_ = false;
  mutable std::mutex state_mutex_;
  std::map<std::string, std::string> state_;
};

}  // namespace faust::isolation
