#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "faust/plugin.h"
#include "plugins/agent_calls.h"
#include "plugins/host_services.h"
#include "plugins/incoming_message.h"
#include "plugins/plugin_instance.h"
#include "plugins/plugin_library.h"

namespace faust {

// One instance of a plugin agent, in the worker's process.
class AgentInstance final : public AgentCalls {
 public:
  // Creates the instance through the plugin's create(); fails with kPluginCreateFailed.
  static Result<AgentInstance> create(std::shared_ptr<const PluginLibrary> library,
                                      const faust_agent_def& def, HostServices& services,
                                      ComponentRef component, ConfigMap config,
                                std::shared_ptr<const PluginInstance> shared = {});

  Status handle(const IncomingMessage& message) override;
  bool handles_batches() const override { return handle_batch_ != nullptr; }
  Status handle_batch(std::span<const IncomingMessage> messages) override;
  const ComponentRef& component() const override { return instance_.component(); }

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
