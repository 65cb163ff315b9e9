#include "worker/plugin_bindings.h"

#include "plugins/loaded_components.h"
#include "plugins/plugin_registry.h"
#include "plugins/plugin_search_path.h"
#include "worker/worker_services.h"

namespace faust {
namespace {

// Checks the message against the app's serializers, then hands the plugin a view of it.
MessageHandler lane_handler(AgentInstance& instance, const AppConfig& app) {
  return [&instance, key_serializer = app.key_serializer,
          value_serializer = app.value_serializer](const ConsumedMessage& message) -> Status {
    auto refuse = [&](const Status& status) -> Status {
      return Error{ExitCode::kFailure, "agent '" + instance.component().name + "': " + status.error().message};
    };
    if (auto status = check_serialized(value_serializer, message.value, "message value"); !status) return refuse(status);
    if (message.key) {
      if (auto status = check_serialized(key_serializer, *message.key, "message key"); !status) return refuse(status);
    }
    IncomingMessage view;
    if (message.key) view.key = std::string_view(*message.key);
    view.value = message.value;
    view.headers = message.headers;
    view.topic = message.source.topic;
    view.partition = message.source.partition;
    view.offset = message.offset;
    view.timestamp_ms = message.timestamp_ms;
    return instance.handle(view);
  };
}

}  // namespace

Result<PluginBindings> bind_plugins(const Manifest& manifest, HostServices& services) {
  PluginRegistry registry;  // the instances keep their libraries loaded after it is gone
  const auto search_dirs = default_plugin_search_dirs();
  auto loaded = instantiate(manifest, services, registry, search_dirs);
  if (!loaded) return loaded.error();
  // Handlers refer into these vectors, which never change size again.
  auto components = std::make_shared<LoadedComponents>(std::move(loaded).value());

  PluginBindings bindings;
  bindings.plugins = components->plugins;
  for (auto& agent : components->agents) {
    AgentBinding binding{agent.config.name, manifest.agent_topic(agent.config), agent.config.on_error,
                         agent.config.max_retries, {}};
    for (auto& instance : agent.instances) binding.lanes.push_back(lane_handler(instance, manifest.app));
    // Its writer comes from the worker, which owns the sends.
    binding.dead_letter.topic = manifest.dead_letter_topic(agent.config);
    binding.dead_letter.plugin = agent.instances.front().component().plugin;
    (agent.config.on_leader ? bindings.leader_agents : bindings.agents).push_back(std::move(binding));
  }
  for (auto& timer : components->timers) {
    bindings.timers.push_back(TimerBinding{timer.config.name, timer.config.interval, timer.config.on_leader,
                                           [&instance = timer.instance] { return instance.tick(); },
                                           timer.config.cron});
  }
  for (auto& service : components->services) {
    ServiceInstance& instance = service.instance;
    bindings.services.push_back(ServiceBinding{
        service.config.name, service.config.stop_timeout, [&instance] { return instance.start(); },
        [&instance](std::int32_t generation, std::chrono::system_clock::time_point established_at) {
          return instance.elected(ServiceTerm{generation, established_at});
        },
        instance.has_lead() ? std::function<Status()>([&instance] { return instance.lead(); }) : nullptr,
        [&instance] { return instance.revoked(); }, [&instance] { return instance.stop(); }, components});
  }
  bindings.instances = std::move(components);
  return bindings;
}

}  // namespace faust
