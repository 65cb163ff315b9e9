#include "isolation/isolated_agent.h"

#include <spdlog/spdlog.h>

#include <map>
#include <utility>

namespace faust::isolation {
namespace {

constexpr std::size_t kCrashRecords = 16;

// "topic[3]@17", or for a batch "a batch of 10 messages of topic[3]@17..26".
std::string in_hand(std::span<const IncomingMessage> messages, bool batch) {
  const IncomingMessage& first = messages.front();
  std::string where = std::string(first.topic) + "[" + std::to_string(first.partition) + "]@" + std::to_string(first.offset);
  if (!batch) return where;
  return "a batch of " + std::to_string(messages.size()) + " messages of " + where + ".." +
         std::to_string(messages.back().offset);
}

ChildSpec child_spec(const AgentConfig& config, const std::filesystem::path& library_file, const char* def_name,
                     ComponentRef component) {
  component.kind = ComponentRef::Kind::kAgent;
  return ChildSpec{library_file, def_name, std::move(component), config.config,
                   ProcessLimits{config.handler_timeout, config.memory_limit_mib, config.max_restarts_per_minute}};
}

}  // namespace

Result<std::unique_ptr<AgentCalls>> IsolatedAgent::start(const AgentConfig& config, const PluginLibrary& library,
                                                         const char* def_name, ComponentRef component,
                                                         HostServices& services, const IsolationSettings& settings,
                                                         std::shared_ptr<RestartBudget> restarts) {
  ChildSpec spec = child_spec(config, library.file(), def_name, std::move(component));
  std::unique_ptr<IsolatedAgent> agent(new IsolatedAgent(config, spec, services, settings, std::move(restarts)));
  if (settings.versions) {
    // A new version is checked in a child of its own, apart from every lane, then let go. The
    // check holds no versions of its own: the agent's record does not keep itself alive.
    IsolationSettings apart = settings;
    apart.versions = nullptr;
    auto check = [spec, &services, apart](const AgentVersion& version) {
      ChildSpec next = spec;
      next.library_file = version.library_file;
      next.config = version.config;
      PluginProcess probe(std::move(next), services, apart);
      return probe.start();
    };
    agent->versions_ = settings.versions->join(
        config.name, spec.component.plugin,
        AgentVersion{library.file(), stamp_of(library.file()), config.config}, check);
    std::lock_guard lock(agent->versions_->mutex);
    agent->version_ = agent->versions_->current;
    agent->version_number_ = agent->versions_->number.load(std::memory_order_relaxed);
  }
  if (Status started = agent->process_.start(); !started) return started.error();
  return std::unique_ptr<AgentCalls>(std::move(agent));
}

IsolatedAgent::IsolatedAgent(const AgentConfig& config, ChildSpec spec, HostServices& services,
                             IsolationSettings settings, std::shared_ptr<RestartBudget> restarts)
    : config_(config),
      version_(std::make_shared<const AgentVersion>(AgentVersion{spec.library_file, std::nullopt, config.config})),
      process_(std::move(spec), services, std::move(settings), std::move(restarts)) {}

void IsolatedAgent::swap_version() {
  std::shared_ptr<const AgentVersion> next;
  {
    std::lock_guard lock(versions_->mutex);
    next = versions_->current;
    version_number_ = versions_->number.load(std::memory_order_relaxed);
  }
  if (next == version_) return;
  // The running child stands aside while the new one starts, and comes back if it does not.
  const int old_pid = process_.pid();
  const std::string old_process = old_pid != 0 ? "process " + std::to_string(old_pid) : "no process";
  const std::string head = process_.label() + ": ";
  if (Status started = process_.replace(next->library_file, next->config); !started) {
    spdlog::error("{}{} not swapped in, {} keeps the lane: {}", head, next->library_file.string(), old_process,
                  started.error().message);
    return;
  }
  version_ = std::move(next);
  spdlog::info("{}swapped to {}: process {} took over the lane from {}", head, version_->library_file.string(),
               process_.pid(), old_process);
}

IsolatedAgent::Poisoned* IsolatedAgent::crash_record(const IncomingMessage& message) {
  for (Poisoned& record : crash_records_) {
    if (record.offset == message.offset && record.partition == message.partition && record.topic == message.topic) {
      return &record;
    }
  }
  return nullptr;
}

Status IsolatedAgent::handle(const IncomingMessage& message) { return call(std::span(&message, 1), false); }

Status IsolatedAgent::handle_batch(std::span<const IncomingMessage> messages) {
  if (messages.empty()) return ok_status();
  return call(messages, true);
}

Status IsolatedAgent::call(std::span<const IncomingMessage> messages, bool batch) {
  if (versions_ && versions_->number.load(std::memory_order_acquire) != version_number_) swap_version();
  Poisoned* record = batch ? nullptr : crash_record(messages.front());
  if (record != nullptr && record->crashes >= config_.max_crashes) return Error{ExitCode::kFailure, record->error};

  request_.clear();
  FrameWriter out(request_, FrameType::kHandle);
  out.u8(batch ? 1 : 0);
  write_messages(out, messages);
  out.finish();

  while (true) {
    if (Status running = process_.restart(); !running) return running;
    PluginProcess::Outcome result = process_.call(request_);
    if (result.answered) {
      if (record != nullptr) record->crashes = 0;
      return std::move(result.status);
    }
    const std::string where = in_hand(messages, batch);
    const std::string head =
        process_.label() + ": process " + std::to_string(result.pid) + " " + result.how + " while handling " + where;
    if (batch) {
      spdlog::error("{}; restarting it, the batch goes again message by message", head);
      return Error{ExitCode::kFailure, process_.what() + " failed: its process " + result.how + " handling a batch"};
    }
    if (record == nullptr) {
      if (crash_records_.size() == kCrashRecords) crash_records_.pop_front();
      const IncomingMessage& message = messages.front();
      crash_records_.push_back(Poisoned{std::string(message.topic), message.partition, message.offset, 0, {}});
      record = &crash_records_.back();
    }
    ++record->crashes;
    const std::string count = "crash " + std::to_string(record->crashes) + " of max_crashes " +
                              std::to_string(config_.max_crashes);
    // A leader-only agent's sends and state writes went into the leader's open transaction: the
    // call fails, so the transaction aborts, and the runner's on_error decides what comes next.
    if (record->crashes < config_.max_crashes && !result.sends_flushed && !config_.on_leader) {
      spdlog::error("{} ({}); restarting it and handling the message again", head, count);
      continue;
    }
    if (config_.on_leader && record->crashes < config_.max_crashes) {
      spdlog::error("{} ({}); restarting it, its leader transaction is aborted and on_error {} applies to the message",
                    head, count, on_error_name(config_.on_error));
      return Error{ExitCode::kFailure,
                   process_.what() + " failed: its process " + result.how + " handling this message (" + count + ")"};
    }
    spdlog::error("{} ({}); restarting it, on_error {} applies to the message", head, count,
                  on_error_name(config_.on_error));
    record->error = process_.what() + " failed: its process " + result.how + " handling this message (" + count + ")";
    if (result.sends_flushed) record->crashes = config_.max_crashes;  // handed-on sends: not again
    return Error{ExitCode::kFailure, record->error};
  }
}

std::function<Result<std::unique_ptr<AgentCalls>>(const AgentConfig&, const PluginLibrary&, const char*, ComponentRef)>
isolated_agent_factory(HostServices& services, IsolationSettings settings) {
  // One restart budget per agent, shared by its lanes.
  auto budgets = std::make_shared<std::map<std::string, std::shared_ptr<RestartBudget>>>();
  return [&services, settings = std::move(settings), budgets](const AgentConfig& config, const PluginLibrary& library,
                                                              const char* def_name, ComponentRef component) {
    std::shared_ptr<RestartBudget>& budget = (*budgets)[config.name];
    if (!budget) budget = std::make_shared<RestartBudget>(config.max_restarts_per_minute);
    return IsolatedAgent::start(config, library, def_name, std::move(component), services, settings, budget);
  };
}

}  // namespace faust::isolation
