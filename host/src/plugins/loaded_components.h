#pragma once

#include <filesystem>
#include <span>
#include <vector>

#include "common/result.h"
#include "manifest/manifest.h"
#include "plugins/agent_instance.h"
#include "plugins/host_services.h"
#include "plugins/plugin_info.h"
#include "plugins/plugin_registry.h"
#include "plugins/service_instance.h"
#include "plugins/timer_instance.h"

namespace faust {

// An agent from the manifest with its `concurrency` instances, one per worker thread.
struct LoadedAgent {
  AgentConfig config;
  std::vector<AgentInstance> instances;
};

// A timer from the manifest with its one instance (ticks never overlap).
struct LoadedTimer {
  TimerConfig config;
  TimerInstance instance;
};

// A service from the manifest with its one instance.
struct LoadedService {
  ServiceConfig config;
  ServiceInstance instance;
};

// Everything a manifest asked for, created and ready to run. Instances hold their libraries, so
// this may outlive the registry that loaded them.
struct LoadedComponents {
  std::vector<PluginInfo> plugins;  // the libraries the manifest uses, in manifest order
  std::vector<LoadedAgent> agents;  // in manifest order
  std::vector<LoadedTimer> timers;  // in manifest order
  std::vector<LoadedService> services;  // in manifest order
};

// Loads every library the manifest names (bare names are looked up in `search_dirs`), checks that
// each provides the agent or timer named (kPluginNameUnknown otherwise), then creates
// the plugin-wide part of each library that has one (ABI 1.4), then `concurrency` instances per
// agent and one per timer and service, each holding its plugin's part. All libraries are loaded and checked
// before any instance is created, so a refusal never runs plugin code.
Result<LoadedComponents> instantiate(const Manifest& manifest, HostServices& services,
                                     PluginRegistry& registry,
                                     std::span<const std::filesystem::path> search_dirs);

}  // namespace faust
