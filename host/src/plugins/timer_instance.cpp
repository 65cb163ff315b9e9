#include "plugins/timer_instance.h"

#include <utility>

#include "plugins/error_buffer.h"

namespace faust {

Result<TimerInstance> TimerInstance::create(std::shared_ptr<const PluginLibrary> library,
                                            const faust_timer_def& def, HostServices& services,
                                            ComponentRef component, ConfigMap config, std::shared_ptr<const PluginInstance> shared) {
  component.kind = ComponentRef::Kind::kTimer;
  Result<PluginInstance> instance =
      PluginInstance::create(std::move(library), def.name, def.create, def.destroy, services,
                             std::move(component), std::move(config), std::move(shared));
  if (!instance) return instance.error();
  return TimerInstance(std::move(*instance), def);
}

TimerInstance::TimerInstance(PluginInstance instance, const faust_timer_def& def)
    : instance_(std::move(instance)), tick_(def.tick) {}

Status TimerInstance::tick() {
  faust_error error;
  error.message[0] = '\0';
  const faust_status status =
      call_plugin(error, FAUST_ERROR, [&] { return tick_(instance_.object(), &error); });
  if (status == FAUST_OK) return ok_status();
  const ComponentRef& ref = component();
  return Error{ExitCode::kFailure, ref.plugin + " timer '" + ref.name + "' failed: " + read_error(error)};
}

}  // namespace faust
