#include "worker/plugin_bindings.h"

#include "plugins/loaded_components.h"
#include "plugins/plugin_registry.h"
#include "plugins/plugin_search_path.h"
#include "worker/worker_services.h"

namespace faust {
namespace {

// Checks the message against the app's serializers.
Status check_message(const AgentCalls& instance, const AppConfig& app, const ConsumedMessage& message) {
  auto refuse = [&](const Status& status) -> Status {
    return Error{ExitCode::kFailure, "agent '" + instance.component().name + "': " + status.error().message};
  };
  if (auto status = check_serialized(app.value_serializer, message.value, "message value"); !status) return refuse(status);
  if (message.key) {
    if (auto status = check_serialized(app.key_serializer, *message.key, "message key"); !status) return refuse(status);
  }
  return ok_status();
}

IncomingMessage view_of(const ConsumedMessage& message) {
  IncomingMessage view;
  if (message.key) view.key = std::string_view(*message.key);
  view.value = message.value;
  view.headers = message.headers;
  view.topic = message.source.topic;
  view.partition = message.source.partition;
  view.offset = message.offset;
  view.timestamp_ms = message.timestamp_ms;
  return view;
}

// Checks the message against the app's serializers, then hands the plugin a view of it.
MessageHandler lane_handler(AgentCalls& instance, const AppConfig& app) {
  return [&instance, &app](const ConsumedMessage& message) -> Status {
    if (auto status = check_message(instance, app, message); !status) return status;
    return instance.handle(view_of(message));
  };
}

// The same for a batch: a message the serializers refuse fails the batch, so it is then found
// and dealt with alone.
BatchHandler lane_batch_handler(AgentCalls& instance, const AppConfig& app) {
  return [&instance, &app, views = std::vector<IncomingMessage>()](std::span<const ConsumedMessage> messages) mutable {
    views.clear();
    for (const auto& message : messages) {
      if (auto status = check_message(instance, app, message); !status) return status;
      views.push_back(view_of(message));
    }
    return instance.handle_batch(views);
  };
}

// What a lane of `agent` takes at a time: the manifest's `batch:`, else one message, except for
// agents whose every unit is a transaction or whose plugin handles batches.
BatchConfig batch_of(const AgentConfig& agent, bool handles_batches) {
  if (agent.batch) return *agent.batch;
  if (agent.processing_guarantee == ProcessingGuarantee::kExactlyOnce || handles_batches) return kDefaultBatch;
  return BatchConfig{};
}

}  // namespace

Result<PluginBindings> bind_plugins(const Manifest& manifest, HostServices& services,
                                    const isolation::IsolationSettings& isolation) {
  PluginRegistry registry;  // the instances keep their libraries loaded after it is gone
  const auto search_dirs = default_plugin_search_dirs();
  auto loaded = instantiate(manifest, services, registry, search_dirs, isolation::isolators(services, isolation));
  if (!loaded) return loaded.error();
  // Handlers refer into these vectors, which never change size again.
  auto components = std::make_shared<LoadedComponents>(std::move(loaded).value());

  PluginBindings bindings;
  bindings.plugins = components->plugins;
  for (auto& agent : components->agents) {
    AgentBinding binding;
    binding.name = agent.config.name;
    binding.topic = manifest.agent_topic(agent.config);
    binding.on_error = agent.config.on_error;
    binding.max_retries = agent.config.max_retries;
    binding.max_in_flight = agent.config.max_in_flight;
    binding.commit_interval = agent.config.commit_interval;
    const bool handles_batches = agent.instances.front()->handles_batches();
    binding.guarantee = agent.config.processing_guarantee;
    binding.batch = batch_of(agent.config, handles_batches);
    // An isolated instance takes a batch in one call even when its plugin handles messages alone.
    const bool batch_calls =
        handles_batches || (agent.instances.front()->takes_batches() && binding.batch.max_messages > 1);
    for (auto& instance : agent.instances) {
      binding.lanes.push_back(lane_handler(*instance, manifest.app));
      if (batch_calls) binding.batch_lanes.push_back(lane_batch_handler(*instance, manifest.app));
    }
    binding.transactional_id = [&manifest, &config = agent.config](const std::string& instance, std::size_t lane) {
      return manifest.agent_transactional_id(config, instance, lane);
    };
    // Its writer comes from the worker, which owns the sends.
    binding.dead_letter.topic = manifest.dead_letter_topic(agent.config);
    binding.dead_letter.plugin = agent.instances.front()->component().plugin;
    (agent.config.on_leader ? bindings.leader_agents : bindings.agents).push_back(std::move(binding));
  }
  for (auto& timer : components->timers) {
    TimerCalls& instance = *timer.instance;
    bindings.timers.push_back(TimerBinding{timer.config.name, timer.config.interval, timer.config.on_leader,
                                           [&instance] { return instance.tick(); }, timer.config.cron,
                                           [&instance] { instance.prepare(); }});
  }
  for (auto& service : components->services) {
    ServiceCalls& instance = *service.instance;
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
