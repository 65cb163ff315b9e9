// At most N fetches at once per host, across the crawl agent instances of one worker (one per
// concurrency lane): a lane whose source's host is busy waits for a slot, up to a deadline.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

namespace crawler {

// The host part of an http(s) URL, lower case, without user information or port ("" when none).
std::string url_host(std::string_view url);

class HostSlots {
 public:
  // Holds one of the host's slots while alive; empty (held() false) when none came in time.
  class Slot {
   public:
    Slot() = default;
    Slot(HostSlots* owner, std::string host) : owner_(owner), host_(std::move(host)) {}
    Slot(Slot&& other) noexcept : owner_(std::exchange(other.owner_, nullptr)), host_(std::move(other.host_)) {}
    Slot& operator=(Slot&&) = delete;
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot() {
      if (owner_ != nullptr) owner_->release(host_);
    }
    bool held() const { return owner_ != nullptr; }

   private:
    HostSlots* owner_ = nullptr;
    std::string host_;
  };

  // Waits until `host` has fewer than `limit` fetches or `deadline` passes.
  Slot acquire(const std::string& host, std::size_t limit, std::chrono::steady_clock::time_point deadline);
  std::size_t in_use(const std::string& host) const;

 private:
  void release(const std::string& host);

  mutable std::mutex mutex_;
  std::condition_variable freed_;
  std::map<std::string, std::size_t> busy_;  // hosts with at least one fetch
};

}  // namespace crawler
