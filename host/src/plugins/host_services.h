#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/headers.h"
#include "common/plugin_page.h"
#include "common/result.h"
#include "faust/plugin.h"

namespace faust {

// Which agent, timer or service instance is calling the host.
struct ComponentRef {
  // kPlugin: the plugin-wide part (ABI 1.4), named after the plugin.
  enum class Kind { kAgent, kTimer, kService, kPlugin };
  Kind kind = Kind::kAgent;
  std::string name;    // agent/timer/service name from the manifest; the plugin's for kPlugin
  std::string plugin;  // plugin name from its descriptor
  bool on_leader = false;  // a timer or agent with on_leader: true (its sends are fenced)
};

// "agent", "timer", "service" or "plugin-wide part".
inline const char* component_kind_name(ComponentRef::Kind kind) {
  switch (kind) {
    case ComponentRef::Kind::kAgent:
      return "agent";
    case ComponentRef::Kind::kTimer:
      return "timer";
    case ComponentRef::Kind::kService:
      return "service";
    case ComponentRef::Kind::kPlugin:
      break;
  }
  return "plugin-wide part";
}

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
  // Returns once the broker acknowledged the message, or with the reason it was not sent; from an
  // agent's handler, once it is queued (see faust_host_api.send).
  virtual Status send(const ComponentRef& from, OutgoingMessage message) = 0;
  // ABI 1.3: waits until the sends `from` made in the call in progress are acknowledged.
  virtual Status await_sends(const ComponentRef& /*from*/) { return ok_status(); }
  virtual bool is_leader() const = 0;
  virtual const std::string& app_id() const = 0;

  // ABI 1.1.
  // Waits up to `timeout` for `from` to be asked to stop (a service's term ended, or the worker
  // stops); true once it is.
  virtual bool wait_for_stop(const ComponentRef& from, std::chrono::milliseconds timeout) = 0;
  // A metric of `from`'s plugin, exported with its plugin label; lives as long as the services.
  virtual Result<faust_metric*> create_metric(const ComponentRef& from, const faust_metric_spec& spec) = 0;
  // Serves `handler` at /plugins/<plugin>/<path> until the returned registration is destroyed
  // (which waits for a call in progress).
  virtual Result<std::shared_ptr<void>> register_page(const ComponentRef& from, const std::string& path,
                                                      PageHandler handler) = 0;

  // The leader state (ABI 1.1), for leader work only; a host without a leader term (check, tests)
  // keeps these defaults, which refuse.
  using StateEntries = std::vector<std::pair<std::string, std::string>>;
  virtual Result<std::optional<std::string>> state_get(const ComponentRef& /*from*/, std::string_view /*key*/) {
    return not_in_term();
  }
  virtual Status state_put(const ComponentRef& /*from*/, std::string_view /*key*/, std::string_view /*value*/) {
    return not_in_term();
  }
  virtual Status state_delete(const ComponentRef& /*from*/, std::string_view /*key*/) { return not_in_term(); }
  virtual Result<StateEntries> state_scan(const ComponentRef& /*from*/, std::string_view /*prefix*/) {
    return not_in_term();
  }

 protected:
  static Error not_in_term() { return Error{ExitCode::kFailure, "leader state: not in a leader term"}; }
};

}  // namespace faust
