#include "plugins/plugin_instance.h"

#include <string>
#include <utility>

#include "plugins/error_buffer.h"

namespace faust {

Result<PluginInstance> PluginInstance::create(std::shared_ptr<const PluginLibrary> library, const char* name,
                                              faust_create_fn create, faust_destroy_fn destroy,
                                              HostServices& services, ComponentRef component,
                                              ConfigMap config, std::shared_ptr<const PluginInstance> shared) {
  const char* kind = component_kind_name(component.kind);
  const std::string app_id = services.app_id();
  auto context = std::unique_ptr<faust_host_context>(
      new faust_host_context{services, std::move(component), std::move(config), app_id, {}, std::move(shared)});

  faust_error error;
  error.message[0] = '\0';
  void* object = call_plugin(error, static_cast<void*>(nullptr),
                             [&] { return create(&host_api(), context.get(), &error); });
  if (object == nullptr) {
    const std::string what = context->component.kind == ComponentRef::Kind::kPlugin
                                 ? std::string(kind)
                                 : std::string(kind) + " '" + name + "'";
    return Error{ExitCode::kPluginCreateFailed,
                 "plugin " + library->file().string() + ": creating " + what + " failed: " + read_error(error)};
  }
  return PluginInstance(std::move(library), std::move(context),
                        std::unique_ptr<void, Destroyer>(object, Destroyer{destroy}));
}

PluginInstance::PluginInstance(std::shared_ptr<const PluginLibrary> library,
                               std::unique_ptr<faust_host_context> context,
                               std::unique_ptr<void, Destroyer> object)
    : library_(std::move(library)), context_(std::move(context)), object_(std::move(object)) {}

PluginInstance::~PluginInstance() {
  if (context_) context_->pages.clear();  // before object_: no page handler may outlive it
}

}  // namespace faust
