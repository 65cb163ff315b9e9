#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "isolation/isolators.h"
#include "manifest/manifest.h"
#include "plugins/host_services.h"
#include "plugins/plugin_info.h"
#include "runtime/agents/agent_runner.h"
#include "runtime/services/service_runner.h"
#include "runtime/timers/timer_service.h"

namespace faust {

// The manifest's agents, timers and services, loaded from their plugins and instantiated, in the runtime's
// terms. Holds the instances (and so their libraries) for as long as it lives.
struct PluginBindings {
  std::vector<PluginInfo> plugins;
  std::vector<AgentBinding> agents;
  std::vector<AgentBinding> leader_agents;  // on_leader: true
  std::vector<TimerBinding> timers;
  std::vector<ServiceBinding> services;
  std::shared_ptr<void> instances;
};

// Loads every plugin the manifest names (search path: FAUST_HOST_PLUGIN_PATH, then the
// installation's plugin folder) and creates the instances, those of agents, timers and services
// with `isolation: process` in child processes started as `isolation` says. Errors carry the loader's exit code.
Result<PluginBindings> bind_plugins(const Manifest& manifest, HostServices& services,
                                    const isolation::IsolationSettings& isolation = {});

}  // namespace faust
