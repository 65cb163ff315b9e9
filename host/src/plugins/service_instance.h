#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include "common/result.h"
#include "faust/plugin.h"
#include "plugins/host_services.h"
#include "plugins/plugin_instance.h"
#include "plugins/plugin_library.h"
#include "plugins/service_calls.h"

namespace faust {

// One instance of a plugin service (ABI 1.1). Every callback is optional in the plugin: a
// missing one does nothing and succeeds. Call from one thread at a time.
class ServiceInstance final : public ServiceCalls {
 public:
  // Creates the instance through the plugin's create(); fails with kPluginCreateFailed.
  static Result<ServiceInstance> create(std::shared_ptr<const PluginLibrary> library,
                                        const faust_service_def& def, HostServices& services,
                                        ComponentRef component, ConfigMap config,
                                std::shared_ptr<const PluginInstance> shared = {});

  Status start() override;
  Status elected(const ServiceTerm& term) override;
  Status lead() override;
  Status revoked() override;
  Status stop() override;

  bool has_lead() const override { return def_.lead != nullptr; }
  const ComponentRef& component() const override { return instance_.component(); }

 private:
  ServiceInstance(PluginInstance instance, const faust_service_def& def);
  template <typename Call>
  Status call(const char* callback, Call&& call_plugin_function);

  PluginInstance instance_;
  // A copy of the plugin's def, with the callbacks its struct_size does not cover left null.
  faust_service_def def_{};
};

}  // namespace faust
