#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "isolation/agent_versions.h"
#include "isolation/plugin_process.h"
#include "isolation/restart_budget.h"
#include "manifest/manifest.h"
#include "plugins/agent_calls.h"
#include "plugins/host_services.h"
#include "plugins/plugin_library.h"

namespace faust::isolation {

// One lane's instance of an agent with `isolation: process`, in a `faust-host plugin-runner`
// child of its own (a PluginProcess). Each handle or handle_batch is one call to the child; the
// sends of a call are held until the child answers, so a call that crashes leaves none behind and
// can run again.
//
// After a crash, a hang or a memory overrun (see PluginProcess) the call's message in hand is
// logged and the child started again. A single message is then handled again, until it has
// crashed max_crashes times: its call fails with the crash as the error, so the agent's on_error
// applies, and the message is not handed to the plugin again (on_error's retries fail at once). A
// batch that crashes fails at once: the lane handles its messages again one by one. A leader-only
// agent's call (on_leader) fails at every crash instead, as its sends and state writes went into
// the leader's open transaction, which must abort: the runner's on_error decides whether the
// message is handled again (in a new transaction), up to max_crashes crashes. A restart past
// the agent's max_restarts_per_minute (counted over all its lanes) is refused and stops the worker.
//
// A reload: before each call the lane looks whether its agent has a new version (a number
// compared, see AgentVersions). If so it starts a child of the new version beside the running
// one, then asks the old child to exit (it is between calls) and reaps it; a new child that fails
// to start is logged and the old one keeps handling (PluginProcess::replace). So the swap happens
// at a message boundary on the lane's own thread: a message is handled by one version, and an
// open transaction simply goes on with the new child's sends. A lane without messages keeps its
// old child until its next call.
class IsolatedAgent final : public AgentCalls {
 public:
  // Starts the child and creates the instance in it; the plugin's own refusal keeps its exit code.
  // `restarts` is shared by the agent's lanes; null: one of its own.
  static Result<std::unique_ptr<AgentCalls>> start(const AgentConfig& config, const PluginLibrary& library,
                                                   const char* def_name, ComponentRef component,
                                                   HostServices& services, const IsolationSettings& settings,
                                                   std::shared_ptr<RestartBudget> restarts = nullptr);
  IsolatedAgent(const IsolatedAgent&) = delete;
  IsolatedAgent& operator=(const IsolatedAgent&) = delete;
  ~IsolatedAgent() override = default;

  Status handle(const IncomingMessage& message) override;
  bool handles_batches() const override { return process_.ready_flag(); }
  // A batch is one call to the child, which hands a plugin without handle_batch its messages one
  // by one and stops at the first that fails, as the lane would.
  bool takes_batches() const override { return true; }
  Status handle_batch(std::span<const IncomingMessage> messages) override;
  const ComponentRef& component() const override { return process_.component(); }

  // The child's process id; 0 while none runs (between a crash and the next call).
  int child_pid() const { return process_.pid(); }

 private:
  IsolatedAgent(const AgentConfig& config, ChildSpec spec, HostServices& services, IsolationSettings settings,
                std::shared_ptr<RestartBudget> restarts);

  Status call(std::span<const IncomingMessage> messages, bool batch);
  // A new version was published: its child replaces the running one, or the running one stays.
  void swap_version();

  // The messages a poison message's later calls fail with at once: a few are enough, as the
  // lane retries a message right after its failure.
  struct Poisoned {
    std::string topic;
    std::int32_t partition = 0;
    std::int64_t offset = 0;
    int crashes = 0;
    std::string error;
  };
  Poisoned* crash_record(const IncomingMessage& message);

  const AgentConfig config_;  // its `config` is the first version's; version_ has the current one
  std::shared_ptr<const AgentVersion> version_;     // what this lane's child runs
  std::shared_ptr<AgentVersions::Agent> versions_;  // null without reloads
  std::uint64_t version_number_ = 0;
  PluginProcess process_;
  std::deque<Poisoned> crash_records_;
  std::string request_;  // reused: a steady stream does not allocate
};

// Sets up an IsolatedAgentFactory-compatible function for instantiate().
std::function<Result<std::unique_ptr<AgentCalls>>(const AgentConfig&, const PluginLibrary&, const char*, ComponentRef)>
isolated_agent_factory(HostServices& services, IsolationSettings settings);

}  // namespace faust::isolation
