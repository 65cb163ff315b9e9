#pragma once

#include <memory>

#include "common/result.h"
#include "faust/plugin.h"
#include "plugins/host_services.h"
#include "plugins/plugin_instance.h"
#include "plugins/plugin_library.h"
#include "plugins/timer_calls.h"

namespace faust {

// One instance of a plugin timer, in the worker. Call tick() from one thread at a time.
class TimerInstance final : public TimerCalls {
 public:
  // Creates the instance through the plugin's create(); fails with kPluginCreateFailed.
  static Result<TimerInstance> create(std::shared_ptr<const PluginLibrary> library,
                                      const faust_timer_def& def, HostServices& services,
                                      ComponentRef component, ConfigMap config,
                                std::shared_ptr<const PluginInstance> shared = {});

  Status tick() override;
  const ComponentRef& component() const override { return instance_.component(); }

 private:
  TimerInstance(PluginInstance instance, const faust_timer_def& def);

  PluginInstance instance_;
  faust_timer_tick_fn tick_;
};

}  // namespace faust
