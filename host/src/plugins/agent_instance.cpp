#include "plugins/agent_instance.h"

#include <utility>

#include "plugins/error_buffer.h"

namespace faust {

Result<AgentInstance> AgentInstance::create(std::shared_ptr<const PluginLibrary> library,
                                            const faust_agent_def& def, HostServices& services,
                                            ComponentRef component, ConfigMap config) {
  component.kind = ComponentRef::Kind::kAgent;
  Result<PluginInstance> instance =
      PluginInstance::create(std::move(library), def.name, def.create, def.destroy, services,
                             std::move(component), std::move(config));
  if (!instance) return instance.error();
  return AgentInstance(std::move(*instance), def);
}

AgentInstance::AgentInstance(PluginInstance instance, const faust_agent_def& def)
    : instance_(std::move(instance)), handle_(def.handle) {}

Status AgentInstance::handle(const IncomingMessage& message) {
  if (topic_ != message.topic) topic_.assign(message.topic);
  headers_.clear();
  for (const auto& [key, value] : message.headers) {
    headers_.push_back(faust_header{key.c_str(), value.data(), value.size()});
  }

  faust_message c_message{};
  if (message.key) {
    // An empty key is still a key: only "no key" is NULL.
    c_message.key = message.key->data() == nullptr ? "" : message.key->data();
    c_message.key_size = message.key->size();
  }
  c_message.value = message.value.data() == nullptr ? "" : message.value.data();
  c_message.value_size = message.value.size();
  c_message.headers = headers_.empty() ? nullptr : headers_.data();
  c_message.header_count = headers_.size();
  c_message.topic = topic_.c_str();
  c_message.partition = message.partition;
  c_message.offset = message.offset;
  c_message.timestamp_ms = message.timestamp_ms;

  faust_error error;
  error.message[0] = '\0';
  const faust_status status =
      call_plugin(error, FAUST_ERROR, [&] { return handle_(instance_.object(), &c_message, &error); });
  if (status == FAUST_OK) return ok_status();
  const ComponentRef& ref = component();
  return Error{ExitCode::kFailure, ref.plugin + " agent '" + ref.name + "' failed: " + read_error(error)};
}

}  // namespace faust
