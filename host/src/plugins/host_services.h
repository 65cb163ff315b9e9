#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "faust/plugin.h"

namespace faust {

// Which agent or timer instance is calling the host.
struct ComponentRef {
  enum class Kind { kAgent, kTimer };
  Kind kind = Kind::kAgent;
  std::string name;    // agent/timer name from the manifest
  std::string plugin;  // plugin name from its descriptor
  bool on_leader = false;  // a timer with on_leader: true (its sends are fenced)
};

using Headers = std::vector<std::pair<std::string, std::string>>;

// A send request in host terms. Exactly one of agent and topic is non-empty.
struct OutgoingMessage {
  std::string agent;
  std::string topic;
  std::optional<std::string> key;
  std::string value;
  Headers headers;
};

// What the host offers plugins; the runtime implements it, tests record through a fake.
class HostServices {
 public:
  virtual ~HostServices() = default;
  virtual void log(const ComponentRef& from, faust_log_level level, std::string_view message) = 0;
  // Returns once the broker acknowledged the message, or with the reason it was not sent.
  virtual Status send(const ComponentRef& from, OutgoingMessage message) = 0;
  virtual bool is_leader() const = 0;
  virtual const std::string& app_id() const = 0;
};

}  // namespace faust
