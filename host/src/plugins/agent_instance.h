#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "faust/plugin.h"
#include "plugins/host_services.h"
#include "plugins/incoming_message.h"
#include "plugins/plugin_instance.h"
#include "plugins/plugin_library.h"

namespace faust {

// One instance of a plugin agent. Call handle() from one thread at a time; different instances
// may run on different threads at once.
class AgentInstance {
 public:
  // Creates the instance through the plugin's create(); fails with kPluginCreateFailed.
  static Result<AgentInstance> create(std::shared_ptr<const PluginLibrary> library,
                                      const faust_agent_def& def, HostServices& services,
                                      ComponentRef component, ConfigMap config,
                                std::shared_ptr<const PluginInstance> shared = {});

  // Hands one message to the plugin. A plugin error becomes
  // Error{kFailure, "<plugin> agent '<name>' failed: <message>"}.
  Status handle(const IncomingMessage& message);
  // Whether the plugin handles this agent's messages in batches too (ABI 1.2).
  bool handles_batches() const { return handle_batch_ != nullptr; }
  // Hands the plugin messages of one partition at once; only when handles_batches().
  Status handle_batch(std::span<const IncomingMessage> messages);

  const ComponentRef& component() const { return instance_.component(); }

 private:
  AgentInstance(PluginInstance instance, const faust_agent_def& def, faust_agent_handle_batch_fn batch_fn);
  // Calls the plugin, turning its error into Error{kFailure, "<plugin> agent '<name>' failed: ..."}.
  template <typename Call>
  Status call(Call&& body);

  PluginInstance instance_;
  faust_agent_handle_fn handle_;
  faust_agent_handle_batch_fn handle_batch_;
  // Reused across messages so a steady stream does not allocate: the ABI wants a NUL-terminated
  // topic and an array of C headers.
  std::string topic_;
  std::vector<faust_header> headers_;
  std::vector<faust_message> batch_;
  std::vector<std::vector<faust_header>> batch_headers_;
};

}  // namespace faust
