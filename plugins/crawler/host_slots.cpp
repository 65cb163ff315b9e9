#include "host_slots.hpp"

#include <cctype>

namespace crawler {

std::string url_host(std::string_view url) {
  const std::size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return {};
  std::string_view authority = url.substr(scheme + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
  if (!authority.empty() && authority.front() == '[') {
    authority = authority.substr(0, authority.find(']') + 1);
  } else {
    authority = authority.substr(0, authority.find(':'));
  }
  std::string host(authority);
  for (char& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return host;
}

HostSlots::Slot HostSlots::acquire(const std::string& host, std::size_t limit,
                                   std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  if (!freed_.wait_until(lock, deadline, [&] { return busy_[host] < limit; })) {
    if (busy_[host] == 0) busy_.erase(host);
    return {};
  }
  ++busy_[host];
  return Slot(this, host);
}

std::size_t HostSlots::in_use(const std::string& host) const {
  std::lock_guard lock(mutex_);
  const auto found = busy_.find(host);
  return found == busy_.end() ? 0 : found->second;
}

void HostSlots::release(const std::string& host) {
  {
    std::lock_guard lock(mutex_);
    if (--busy_[host] == 0) busy_.erase(host);
  }
  freed_.notify_all();
}

}  // namespace crawler
