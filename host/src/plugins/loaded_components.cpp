#include "plugins/loaded_components.h"

#include <algorithm>
#include <map>
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

// The name of the library's component an entry uses: the one named like the entry or, failing
// that, the library's only one of its kind. kPluginNameUnknown when there is none, or several to
// choose from.
template <typename Config>
Result<std::string> component_of(const Manifest& manifest, const char* kind, const Config& config,
                                 const std::vector<std::string>& provided, const PluginInfo& info) {
  if (std::find(provided.begin(), provided.end(), config.name) != provided.end()) return config.name;
  if (provided.size() == 1) return provided.front();
  const std::string where = config.library_at.empty() ? manifest.file.string() : config.library_at;
  std::string message = where + ": " + kind + " '" + config.name + "': plugin " + info.file.string() +
                        " provides no " + kind + " '" + config.name + "'";
  if (provided.empty()) {
    message += " (agents: " + join_or_none(info.agents) + "; timers: " + join_or_none(info.timers) +
               "; services: " + join_or_none(info.services) + ")";
  } else {
    message += " and " + std::to_string(provided.size()) + " " + kind + "s to choose from (" + join_or_none(provided) +
               "): name the entry after one of them";
  }
  return Error{ExitCode::kPluginNameUnknown, std::move(message)};
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

// Creates the plugin-wide part (ABI 1.4) of each library that has one, before any instance.
Result<std::map<const PluginLibrary*, std::shared_ptr<const PluginInstance>>> create_shared_parts(
    const std::vector<std::shared_ptr<const PluginLibrary>>& libraries, HostServices& services) {
  std::map<const PluginLibrary*, std::shared_ptr<const PluginInstance>> parts;
  for (const auto& library : libraries) {
    Result<std::shared_ptr<const PluginInstance>> part = create_shared_part(library, services);
    if (!part) return part.error();
    if (*part != nullptr) parts.emplace(library.get(), std::move(*part));
  }
  return parts;
}

// Where an entry's plugin code runs: an in-process one's library gets its plugin-wide part here;
// an isolated one needs its factory.
template <typename Config>
Status place(const Config& config, const char* kind, bool can_isolate, const std::shared_ptr<const PluginLibrary>& library,
             std::vector<std::shared_ptr<const PluginLibrary>>& in_process) {
  if (config.isolation == Isolation::kInProcess) {
    in_process.push_back(library);
    return ok_status();
  }
  if (can_isolate) return ok_status();
  return Error{ExitCode::kFailure,
               config.library_at + ": " + kind + " '" + config.name + "': isolation: process is not available here"};
}

// A manifest entry matched to the definition its library provides, before anything is created.
template <typename Config, typename Def>
struct Match {
  const Config* config;
  const Def* def;
  std::shared_ptr<const PluginLibrary> library;
};

}  // namespace

Result<std::shared_ptr<const PluginInstance>> create_shared_part(const std::shared_ptr<const PluginLibrary>& library,
                                                                 HostServices& services) {
  const faust_shared_def* def = library->shared_def();
  if (def == nullptr) return std::shared_ptr<const PluginInstance>();
  ComponentRef component;
  component.kind = ComponentRef::Kind::kPlugin;
  component.name = library->info().name;
  component.plugin = library->info().name;
  Result<PluginInstance> part = PluginInstance::create(library, library->info().name.c_str(), def->create,
                                                       def->destroy, services, std::move(component), {});
  if (!part) return part.error();
  return std::make_shared<const PluginInstance>(std::move(*part));
}

Result<LoadedComponents> instantiate(const Manifest& manifest, HostServices& services,
                                     PluginRegistry& registry,
                                     std::span<const std::filesystem::path> search_dirs,
                                     const Isolators& isolate) {
  std::vector<std::shared_ptr<const PluginLibrary>> used;
  // The libraries whose code runs in this process: only these get their plugin-wide part here.
  std::vector<std::shared_ptr<const PluginLibrary>> in_process;
  std::vector<Match<AgentConfig, faust_agent_def>> agents;
  std::vector<Match<TimerConfig, faust_timer_def>> timers;
  std::vector<Match<ServiceConfig, faust_service_def>> service_matches;

  for (const AgentConfig& agent : manifest.agents) {
    Result<std::shared_ptr<const PluginLibrary>> library =
        load_library(agent.library, registry, search_dirs, used);
    if (!library) return library.error();
    Result<std::string> component = component_of(manifest, "agent", agent, (*library)->info().agents, (*library)->info());
    if (!component) return component.error();
    const faust_agent_def* def = (*library)->find_agent(*component);
    agents.push_back({&agent, def, *library});
    if (Status placed = place(agent, "agent", isolate.agent != nullptr, *library, in_process); !placed) {
      return placed.error();
    }
  }
  for (const TimerConfig& timer : manifest.timers) {
    Result<std::shared_ptr<const PluginLibrary>> library =
        load_library(timer.library, registry, search_dirs, used);
    if (!library) return library.error();
    Result<std::string> component = component_of(manifest, "timer", timer, (*library)->info().timers, (*library)->info());
    if (!component) return component.error();
    const faust_timer_def* def = (*library)->find_timer(*component);
    timers.push_back({&timer, def, *library});
    if (Status placed = place(timer, "timer", isolate.timer != nullptr, *library, in_process); !placed) {
      return placed.error();
    }
  }
  for (const ServiceConfig& service : manifest.services) {
    Result<std::shared_ptr<const PluginLibrary>> library =
        load_library(service.library, registry, search_dirs, used);
    if (!library) return library.error();
    Result<std::string> component = component_of(manifest, "service", service, (*library)->info().services, (*library)->info());
    if (!component) return component.error();
    const faust_service_def* def = (*library)->find_service(*component);
    service_matches.push_back({&service, def, *library});
    if (Status placed = place(service, "service", isolate.service != nullptr, *library, in_process); !placed) {
      return placed.error();
    }
  }

  LoadedComponents loaded;
  for (const auto& library : used) loaded.plugins.push_back(library->info());
  std::erase_if(used, [&](const auto& library) {
    return std::find(in_process.begin(), in_process.end(), library) == in_process.end();
  });
  auto shared = create_shared_parts(used, services);
  if (!shared) return shared.error();
  const auto shared_of = [&](const std::shared_ptr<const PluginLibrary>& library) {
    const auto found = shared->find(library.get());
    return found == shared->end() ? nullptr : found->second;
  };
  for (const auto& [config, def, library] : agents) {
    LoadedAgent agent{*config, {}};
    const int count = std::max(config->concurrency, 1);
    agent.instances.reserve(static_cast<std::size_t>(count));
    for (int n = 0; n < count; ++n) {
      ComponentRef component = component_ref(config->name, *library, config->on_leader);
      if (config->isolation == Isolation::kProcess) {
        component.kind = ComponentRef::Kind::kAgent;
        Result<std::unique_ptr<AgentCalls>> isolated = isolate.agent(*config, *library, def->name, std::move(component));
        if (!isolated) return isolated.error();
        agent.instances.push_back(std::move(*isolated));
        continue;
      }
      Result<AgentInstance> instance = AgentInstance::create(library, *def, services, std::move(component),
                                                             config->config, shared_of(library));
      if (!instance) return instance.error();
      agent.instances.push_back(std::make_unique<AgentInstance>(std::move(*instance)));
    }
    loaded.agents.push_back(std::move(agent));
  }
  for (const auto& [config, def, library] : timers) {
    ComponentRef component = component_ref(config->name, *library, config->on_leader);
    if (config->isolation == Isolation::kProcess) {
      Result<std::unique_ptr<TimerCalls>> isolated = isolate.timer(*config, *library, def->name, std::move(component));
      if (!isolated) return isolated.error();
      loaded.timers.push_back(LoadedTimer{*config, std::move(*isolated)});
      continue;
    }
    Result<TimerInstance> instance =
        TimerInstance::create(library, *def, services, std::move(component), config->config, shared_of(library));
    if (!instance) return instance.error();
    loaded.timers.push_back(LoadedTimer{*config, std::make_unique<TimerInstance>(std::move(*instance))});
  }
  for (const auto& [config, def, library] : service_matches) {
    ComponentRef component = component_ref(config->name, *library, false);
    if (config->isolation == Isolation::kProcess) {
      Result<std::unique_ptr<ServiceCalls>> isolated =
          isolate.service(*config, *library, def->name, std::move(component));
      if (!isolated) return isolated.error();
      loaded.services.push_back(LoadedService{*config, std::move(*isolated)});
      continue;
    }
    Result<ServiceInstance> instance =
        ServiceInstance::create(library, *def, services, std::move(component), config->config, shared_of(library));
    if (!instance) return instance.error();
    loaded.services.push_back(LoadedService{*config, std::make_unique<ServiceInstance>(std::move(*instance))});
  }
  return loaded;
}

}  // namespace faust
