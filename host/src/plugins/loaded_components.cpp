#include "plugins/loaded_components.h"

#include <algorithm>
#include <memory>
#include <string>

#include "plugins/plugin_search_path.h"

namespace faust {
namespace {

std::string join_or_none(const std::vector<std::string>& names) {
  if (names.empty()) return "none";
  std::string text;
  for (const std::string& name : names) {
    if (!text.empty()) text += ", ";
    text += name;
  }
  return text;
}

Error name_unknown(const Manifest& manifest, const char* kind, const std::string& name,
                   const PluginInfo& info) {
  return Error{ExitCode::kPluginNameUnknown, manifest.file.string() + ": " + kind + " '" + name +
                                                 "': plugin " + info.file.string() + " provides no " + kind +
                                                 " '" + name + "' (agents: " + join_or_none(info.agents) +
                                                 "; timers: " + join_or_none(info.timers) +
                                                 "; services: " + join_or_none(info.services) + ")"};
}

// Resolves and loads one library, remembering it in `used` the first time.
Result<std::shared_ptr<const PluginLibrary>> load_library(
    const std::string& library, PluginRegistry& registry, std::span<const std::filesystem::path> search_dirs,
    std::vector<std::shared_ptr<const PluginLibrary>>& used) {
  Result<std::filesystem::path> file = resolve_plugin_library(library, search_dirs);
  if (!file) return file.error();
  Result<std::shared_ptr<const PluginLibrary>> loaded = registry.load(*file);
  if (!loaded) return loaded;
  if (std::find(used.begin(), used.end(), *loaded) == used.end()) used.push_back(*loaded);
  return loaded;
}

ComponentRef component_ref(const std::string& name, const PluginLibrary& library, bool on_leader) {
  ComponentRef ref;
  ref.name = name;
  ref.plugin = library.info().name;
  ref.on_leader = on_leader;
  return ref;
}

// A manifest entry matched to the definition its library provides, before anything is created.
template <typename Config, typename Def>
struct Match {
  const Config* config;
  const Def* def;
  std::shared_ptr<const PluginLibrary> library;
};

}  // namespace

Result<LoadedComponents> instantiate(const Manifest& manifest, HostServices& services,
                                     PluginRegistry& registry,
                                     std::span<const std::filesystem::path> search_dirs) {
  std::vector<std::shared_ptr<const PluginLibrary>> used;
  std::vector<Match<AgentConfig, faust_agent_def>> agents;
  std::vector<Match<TimerConfig, faust_timer_def>> timers;
  std::vector<Match<ServiceConfig, faust_service_def>> service_matches;

  for (const AgentConfig& agent : manifest.agents) {
    Result<std::shared_ptr<const PluginLibrary>> library =
        load_library(agent.library, registry, search_dirs, used);
    if (!library) return library.error();
    const faust_agent_def* def = (*library)->find_agent(agent.name);
    if (def == nullptr) return name_unknown(manifest, "agent", agent.name, (*library)->info());
    agents.push_back({&agent, def, *library});
  }
  for (const TimerConfig& timer : manifest.timers) {
    Result<std::shared_ptr<const PluginLibrary>> library =
        load_library(timer.library, registry, search_dirs, used);
    if (!library) return library.error();
    const faust_timer_def* def = (*library)->find_timer(timer.name);
    if (def == nullptr) return name_unknown(manifest, "timer", timer.name, (*library)->info());
    timers.push_back({&timer, def, *library});
  }
  for (const ServiceConfig& service : manifest.services) {
    Result<std::shared_ptr<const PluginLibrary>> library =
        load_library(service.library, registry, search_dirs, used);
    if (!library) return library.error();
    const faust_service_def* def = (*library)->find_service(service.name);
    if (def == nullptr) return name_unknown(manifest, "service", service.name, (*library)->info());
    service_matches.push_back({&service, def, *library});
  }

  LoadedComponents loaded;
  for (const auto& library : used) loaded.plugins.push_back(library->info());
  for (const auto& [config, def, library] : agents) {
    LoadedAgent agent{*config, {}};
    const int count = std::max(config->concurrency, 1);
    agent.instances.reserve(static_cast<std::size_t>(count));
    for (int n = 0; n < count; ++n) {
      Result<AgentInstance> instance = AgentInstance::create(
          library, *def, services, component_ref(config->name, *library, config->on_leader), config->config);
      if (!instance) return instance.error();
      agent.instances.push_back(std::move(*instance));
    }
    loaded.agents.push_back(std::move(agent));
  }
  for (const auto& [config, def, library] : timers) {
    Result<TimerInstance> instance = TimerInstance::create(
        library, *def, services, component_ref(config->name, *library, config->on_leader), config->config);
    if (!instance) return instance.error();
    loaded.timers.push_back(LoadedTimer{*config, std::move(*instance)});
  }
  for (const auto& [config, def, library] : service_matches) {
    Result<ServiceInstance> instance = ServiceInstance::create(
        library, *def, services, component_ref(config->name, *library, false), config->config);
    if (!instance) return instance.error();
    loaded.services.push_back(LoadedService{*config, std::move(*instance)});
  }
  return loaded;
}

}  // namespace faust
