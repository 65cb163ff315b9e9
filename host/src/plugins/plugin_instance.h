#pragma once

#include <memory>

#include "common/result.h"
#include "faust/plugin.h"
#include "manifest/manifest.h"
#include "plugins/host_api.h"
#include "plugins/host_services.h"
#include "plugins/plugin_library.h"

namespace faust {

// One object a plugin created through an agent's, timer's, service's or its plugin-wide part's
// create(), with the context it was
// given and the library its code lives in. Destroys the object through the plugin's destroy()
// first, then the context, then drops its hold on the library. Move-only.
class PluginInstance {
 public:
  // Calls `create`; a failure is kPluginCreateFailed with the plugin's message.
  static Result<PluginInstance> create(std::shared_ptr<const PluginLibrary> library, const char* name,
                                       faust_create_fn create, faust_destroy_fn destroy,
                                       HostServices& services, ComponentRef component, ConfigMap config,
                                       std::shared_ptr<const PluginInstance> shared = {});

  PluginInstance(PluginInstance&&) noexcept = default;
  PluginInstance& operator=(PluginInstance&&) noexcept = default;
  ~PluginInstance();

  void* object() const { return object_.get(); }
  const ComponentRef& component() const { return context_->component; }

 private:
  struct Destroyer {
    faust_destroy_fn destroy = nullptr;
    void operator()(void* object) const noexcept { destroy(object); }
  };

  PluginInstance(std::shared_ptr<const PluginLibrary> library, std::unique_ptr<faust_host_context> context,
                 std::unique_ptr<void, Destroyer> object);

  // Destroyed in reverse order: object, then context, then the library reference.
  std::shared_ptr<const PluginLibrary> library_;
  std::unique_ptr<faust_host_context> context_;
  std::unique_ptr<void, Destroyer> object_;
};

}  // namespace faust
