#pragma once

#include <memory>

#include "common/result.h"
#include "faust/plugin.h"
#include "plugins/host_services.h"
#include "plugins/plugin_instance.h"
#include "plugins/plugin_library.h"

namespace faust {

// One instance of a plugin timer. Call tick() from one thread at a time.
class TimerInstance {
 public:
  // Creates the instance through the plugin's create(); fails with kPluginCreateFailed.
  static Result<TimerInstance> create(std::shared_ptr<const PluginLibrary> library,
                                      const faust_timer_def& def, HostServices& services,
                                      ComponentRef component, ConfigMap config,
                                std::shared_ptr<const PluginInstance> shared = {});

  // Runs one tick. A plugin error becomes Error{kFailure, "<plugin> timer '<name>' failed: <message>"}.
  Status tick();

  const ComponentRef& component() const { return instance_.component(); }

 private:
  TimerInstance(PluginInstance instance, const faust_timer_def& def);

  PluginInstance instance_;
  faust_timer_tick_fn tick_;
};

}  // namespace faust
