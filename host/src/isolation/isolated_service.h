#pragma once

#include <memory>
#include <optional>
#include <string>

#include "isolation/plugin_process.h"
#include "manifest/manifest.h"
#include "plugins/host_services.h"
#include "plugins/plugin_library.h"
#include "plugins/service_calls.h"

namespace faust::isolation {

// A service with `isolation: process`, in a `faust-host plugin-runner` child (a PluginProcess).
// Each callback is one call to the child; the plugin's host calls meanwhile (wait_for_stop, sends,
// the leader state in a term, ...) are answered on the service's thread. handler_timeout bounds
// the plugin's own time between host calls, so a lead that waits in wait_for_stop is not timed
// while it waits.
//
// A callback whose child crashes, hangs or grows past memory_limit_mib is logged and fails. The
// next callback starts a new child (after a backoff while calls keep crashing) and brings it to
// where the service is: start, then elected(term) when in a term, so elected and revoked still
// alternate in every child. A lead that crashes is run again in the new child until its term
// ends. A revoked or stop with no child running has nothing to tell and succeeds. A restart past
// max_restarts_per_minute stops the worker.
class IsolatedService final : public ServiceCalls {
 public:
  static Result<std::unique_ptr<ServiceCalls>> create(const ServiceConfig& config, const PluginLibrary& library,
                                                      const char* def_name, ComponentRef component,
                                                      HostServices& services, const IsolationSettings& settings);

  Status start() override;
  Status elected(const ServiceTerm& term) override;
  Status lead() override;
  Status revoked() override;
  Status stop() override;
  bool has_lead() const override { return process_.ready_flag(); }
  const ComponentRef& component() const override { return process_.component(); }
  // The child's process id; 0 while none runs (between a crash and the next callback).
  int child_pid() const { return process_.pid(); }

 private:
  IsolatedService(ChildSpec spec, HostServices& services, IsolationSettings settings)
      : process_(std::move(spec), services, std::move(settings)), services_(services) {}

  struct Called {
    bool crashed = false;
    Status status = ok_status();
  };
  // One callback in the running child, which a crash leaves down.
  Called invoke(ServiceCallback callback, const ServiceTerm* term = nullptr);
  // Starts a child if none runs and replays start and the term's elected to it.
  Status revive();

  PluginProcess process_;
  HostServices& services_;
  bool started_ = false;             // start was called: a new child gets it first
  std::optional<ServiceTerm> term_;  // elected was called and revoked not yet: a new child gets it too
};

}  // namespace faust::isolation
