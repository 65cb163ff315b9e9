#include "plugins/service_instance.h"

#include <cstring>
#include <utility>

#include "faust/detail/abi_checks.hpp"
#include "plugins/error_buffer.h"

namespace faust {

Result<ServiceInstance> ServiceInstance::create(std::shared_ptr<const PluginLibrary> library,
                                                const faust_service_def& def, HostServices& services,
                                                ComponentRef component, ConfigMap config, std::shared_ptr<const PluginInstance> shared) {
  component.kind = ComponentRef::Kind::kService;
  Result<PluginInstance> instance = PluginInstance::create(std::move(library), def.name, def.create, def.destroy,
                                                           services, std::move(component), std::move(config), std::move(shared));
  if (!instance) return instance.error();
  return ServiceInstance(std::move(*instance), def);
}

ServiceInstance::ServiceInstance(PluginInstance instance, const faust_service_def& def)
    : instance_(std::move(instance)) {
  // The plugin's def may be smaller than ours (an older 1.x): read only what it has.
  std::memcpy(&def_, &def, std::min<std::size_t>(def.struct_size, sizeof def_));
}

template <typename Call>
Status ServiceInstance::call(const char* callback, Call&& call_plugin_function) {
  faust_error error;
  error.message[0] = '\0';
  const faust_status status = call_plugin(error, FAUST_ERROR, [&] { return call_plugin_function(&error); });
  if (status == FAUST_OK) return ok_status();
  const ComponentRef& ref = component();
  return Error{ExitCode::kFailure,
               ref.plugin + " service '" + ref.name + "' " + callback + " failed: " + read_error(error)};
}

Status ServiceInstance::start() {
  if (def_.start == nullptr) return ok_status();
  return call("start", [&](faust_error* error) { return def_.start(instance_.object(), error); });
}

Status ServiceInstance::elected(const ServiceTerm& term) {
  if (def_.elected == nullptr) return ok_status();
  const faust_term c_term{static_cast<std::uint32_t>(sizeof(faust_term)), term.generation,
                          std::chrono::duration_cast<std::chrono::milliseconds>(
                              term.established_at.time_since_epoch())
                              .count()};
  return call("elected", [&](faust_error* error) { return def_.elected(instance_.object(), &c_term, error); });
}

Status ServiceInstance::lead() {
  if (def_.lead == nullptr) return ok_status();
  return call("lead", [&](faust_error* error) { return def_.lead(instance_.object(), error); });
}

// revoked() and stop() cannot fail by the ABI; an exception thrown across it still can.
Status ServiceInstance::revoked() {
  if (def_.revoked == nullptr) return ok_status();
  return call("revoked", [&](faust_error* /*error*/) {
    def_.revoked(instance_.object());
    return FAUST_OK;
  });
}

Status ServiceInstance::stop() {
  if (def_.stop == nullptr) return ok_status();
  return call("stop", [&](faust_error* /*error*/) {
    def_.stop(instance_.object());
    return FAUST_OK;
  });
}

}  // namespace faust
