#include "plugins/agent_instance.h"

#include <algorithm>
#include <utility>

#include "plugins/error_buffer.h"

namespace faust {

Result<AgentInstance> AgentInstance::create(std::shared_ptr<const PluginLibrary> library,
                                            const faust_agent_def& def, HostServices& services,
                                            ComponentRef component, ConfigMap config, std::shared_ptr<const PluginInstance> shared) {
  component.kind = ComponentRef::Kind::kAgent;
  const faust_agent_handle_batch_fn batch_fn = library->find_agent_batch(def.name);
  Result<PluginInstance> instance =
      PluginInstance::create(std::move(library), def.name, def.create, def.destroy, services,
                             std::move(component), std::move(config), std::move(shared));
  if (!instance) return instance.error();
  return AgentInstance(std::move(*instance), def, batch_fn);
}

AgentInstance::AgentInstance(PluginInstance instance, const faust_agent_def& def,
                             faust_agent_handle_batch_fn batch_fn)
    : instance_(std::move(instance)), handle_(def.handle), handle_batch_(batch_fn) {}

namespace {

// The C view of `message`; `headers` receives its header array and must outlive the view.
faust_message c_view(const IncomingMessage& message, const std::string& topic, std::vector<faust_header>& headers) {
  headers.clear();
  for (const auto& [key, value] : message.headers) {
    headers.push_back(faust_header{key.c_str(), value.data(), value.size()});
  }
  faust_message c_message{};
  if (message.key) {
    // An empty key is still a key: only "no key" is NULL.
    c_message.key = message.key->data() == nullptr ? "" : message.key->data();
    c_message.key_size = message.key->size();
  }
  c_message.value = message.value.data() == nullptr ? "" : message.value.data();
  c_message.value_size = message.value.size();
  c_message.headers = headers.empty() ? nullptr : headers.data();
  c_message.header_count = headers.size();
  c_message.topic = topic.c_str();
  c_message.partition = message.partition;
  c_message.offset = message.offset;
  c_message.timestamp_ms = message.timestamp_ms;
  return c_message;
}

}  // namespace

Status AgentInstance::handle(const IncomingMessage& message) {
  if (topic_ != message.topic) topic_.assign(message.topic);
  const faust_message c_message = c_view(message, topic_, headers_);
  return call([&](faust_error& error) { return handle_(instance_.object(), &c_message, &error); });
}

Status AgentInstance::handle_batch(std::span<const IncomingMessage> messages) {
  if (messages.empty()) return ok_status();
  if (topic_ != messages.front().topic) topic_.assign(messages.front().topic);  // one partition per batch
  batch_headers_.resize(std::max(batch_headers_.size(), messages.size()));
  batch_.clear();
  for (std::size_t i = 0; i < messages.size(); ++i) batch_.push_back(c_view(messages[i], topic_, batch_headers_[i]));
  return call([&](faust_error& error) { return handle_batch_(instance_.object(), batch_.data(), batch_.size(), &error); });
}

template <typename Call>
Status AgentInstance::call(Call&& body) {
  faust_error error;
  error.message[0] = '\0';
  const faust_status status = call_plugin(error, FAUST_ERROR, [&] { return body(error); });
  if (status == FAUST_OK) return ok_status();
  const ComponentRef& ref = component();
  return Error{ExitCode::kFailure, ref.plugin + " agent '" + ref.name + "' failed: " + read_error(error)};
}

}  // namespace faust
