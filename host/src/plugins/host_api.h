#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "faust/plugin.h"
#include "manifest/manifest.h"
#include "plugins/host_services.h"

namespace faust {
class PluginInstance;
}

// What the opaque faust_host_context of the C ABI is on the host side: one per agent or timer
// instance, alive exactly as long as the instance. Strings handed to the plugin from here
// (app id, config values) therefore live as long as the instance, as plugin.h promises.
struct faust_host_context {
  faust::HostServices& services;
  faust::ComponentRef component;
  faust::ConfigMap config;
  std::string app_id;
  // The instance's page registrations: dropped before the instance is destroyed, so no page
  // handler runs into a destroyed instance.
  std::vector<std::shared_ptr<void>> pages;
  // The plugin-wide part (ABI 1.4) the instance reaches through shared_object, or null. Held, so
  // it is destroyed after the plugin's last instance.
  std::shared_ptr<const faust::PluginInstance> shared;
};

namespace faust {

// The host-API table every plugin instance receives. Its functions forward to the context's
// HostServices and never let an exception reach plugin code.
const faust_host_api& host_api();

// Checks (abi::send_request_problem) and converts what a plugin asked to send.
Result<OutgoingMessage> to_outgoing_message(const faust_send_request* request);

}  // namespace faust
