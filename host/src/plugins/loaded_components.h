#pragma once

#include <filesystem>
#include <functional>
#include <memory>
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
  std::vector<std::unique_ptr<AgentCalls>> instances;
};

// Starts one instance of an agent with `isolation: process` in a process of its own: the agent
// `def_name` of `library`, for the manifest entry `config`.
using IsolatedAgentFactory = std::function<Result<std::unique_ptr<AgentCalls>>(
    const AgentConfig& config, const PluginLibrary& library, const char* def_name, ComponentRef component)>;

// The same for a timer and for a service with `isolation: process`.
using IsolatedTimerFactory = std::function<Result<std::unique_ptr<TimerCalls>>(
    const TimerConfig& config, const PluginLibrary& library, const char* def_name, ComponentRef component)>;
using IsolatedServiceFactory = std::function<Result<std::unique_ptr<ServiceCalls>>(
    const ServiceConfig& config, const PluginLibrary& library, const char* def_name, ComponentRef component)>;

// How entries with `isolation: process` are started; an entry whose factory is empty is refused.
struct Isolators {
  IsolatedAgentFactory agent;
  IsolatedTimerFactory timer;
  IsolatedServiceFactory service;
};

// A timer from the manifest with its one instance (ticks never overlap).
struct LoadedTimer {
  TimerConfig config;
  std::unique_ptr<TimerCalls> instance;
};

// A service from the manifest with its one instance.
struct LoadedService {
  ServiceConfig config;
  std::unique_ptr<ServiceCalls> instance;
};

// Everything a manifest asked for, created and ready to run. Instances hold their libraries, so
// this may outlive the registry that loaded them.
struct LoadedComponents {
  std::vector<PluginInfo> plugins;  // the libraries the manifest uses, in manifest order
  std::vector<LoadedAgent> agents;  // in manifest order
  std::vector<LoadedTimer> timers;  // in manifest order
  std::vector<LoadedService> services;  // in manifest order
};

// The plugin-wide part (ABI 1.4) of `library`, created; null when it has none.
Result<std::shared_ptr<const PluginInstance>> create_shared_part(const std::shared_ptr<const PluginLibrary>& library,
                                                                 HostServices& services);

// Loads every library the manifest names (bare names are looked up in `search_dirs`), checks that
// each provides the agent or timer named (kPluginNameUnknown otherwise), then creates
// the plugin-wide part of each library that an in-process entry uses (ABI 1.4), then `concurrency`
// instances per agent and one per timer and service, each holding its plugin's part. All libraries
// are loaded and checked before any instance is created, so a refusal never runs plugin code.
// Agents, timers and services with `isolation: process` are started through `isolate`: their
// plugin code never runs in this process (without a factory they are refused).
Result<LoadedComponents> instantiate(const Manifest& manifest, HostServices& services,
                                     PluginRegistry& registry,
                                     std::span<const std::filesystem::path> search_dirs,
                                     const Isolators& isolate = {});

}  // namespace faust
