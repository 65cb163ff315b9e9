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

#include "common/plugin_metric.h"
#include "isolation/agent_versions.h"
#include "isolation/frame.h"
#include "isolation/restart_budget.h"
#include "isolation/runner_process.h"
#include "manifest/manifest.h"
#include "plugins/agent_calls.h"
#include "plugins/host_services.h"
#include "plugins/plugin_library.h"

namespace faust::isolation {

struct IsolationSettings {
  // Run as `<runner> plugin-runner --fd 3`: the worker's own executable (tests name the built one).
  std::filesystem::path runner = "/proc/self/exe";
  // Counts a crash of `plugin`'s process: reason "signal", "exit", "timeout", "memory" or
  // "protocol".
  std::function<void(const std::string& plugin, const char* reason)> crashed;
  // Stops the worker with this error (an agent past its max_restarts_per_minute); without it the
  // call that would restart once too often only fails.
  std::function<void(const Error& error)> fatal;
  // How often a child's resident memory is read while a call is in hand, with memory_limit_mib.
  std::chrono::milliseconds memory_check_interval{10};
  // Where a reload publishes new versions of the agents (each lane joins its agent's record);
  // null: the versions the agents started with stay.
  std::shared_ptr<AgentVersions> versions;
};

// One lane's instance of an agent with `isolation: process`, in a `faust-host plugin-runner`
// child of its own. Each handle or handle_batch is one frame to the child; the host calls the
// plugin makes meanwhile are answered on the calling (lane) thread through `services`, as if the
// plugin ran here. The sends of a call are held until the child answers, so a call that crashes
// leaves none behind and can run again.
//
// A child that dies, sends something malformed, does not answer within the agent's
// handler_timeout (time spent answering its host calls excluded) or is found past its
// memory_limit_mib of resident memory is killed if need be, logged with the message in hand,
// counted, and started again (at once after one crash, then after a backoff of 100 ms doubling to
// 5 s while calls keep crashing). A single message is then handled again, until it has crashed
// max_crashes times: its call fails with the crash as the error, so the agent's on_error applies,
// and the message is not handed to the plugin again (on_error's retries fail at once). A batch
// that crashes fails at once: the lane handles its messages again one by one.
//
// A child's memory is read only while a call is in hand, at most every memory_check_interval:
// when the call starts and while it runs, so a fast stream of messages pays one read per
// interval, not one per message. A restart past the agent's max_restarts_per_minute (counted over
// all its lanes) is refused and stops the worker instead.
//
// A reload: before each call the lane looks whether its agent has a new version (a number
// compared, see AgentVersions). If so it starts a child of the new version beside the running
// one, then asks the old child to exit (it is between calls) and reaps it; a new child that fails
// to start is logged and the old one keeps handling. So the swap happens at a message boundary on
// the lane's own thread: a message is handled by one version, and an open transaction simply
// goes on with the new child's sends. A lane without messages keeps its old child until its next
// call.
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
  // Asks the child to destroy the instance and exit; kills it if it does not in time.
  ~IsolatedAgent() override;

  Status handle(const IncomingMessage& message) override;
  bool handles_batches() const override { return handles_batches_; }
  // A batch is one call to the child, which hands a plugin without handle_batch its messages one
  // by one and stops at the first that fails, as the lane would.
  bool takes_batches() const override { return true; }
  Status handle_batch(std::span<const IncomingMessage> messages) override;
  const ComponentRef& component() const override { return component_; }

  // The child's process id; 0 while none runs (between a crash and the next call).
  int child_pid() const;

 private:
  IsolatedAgent(const AgentConfig& config, const std::filesystem::path& library_file, const char* def_name,
                ComponentRef component, HostServices& services, IsolationSettings settings,
                std::shared_ptr<RestartBudget> restarts);

  // How one request to the child ended: answered (the answer's payload), or the child is gone.
  struct Exchange {
    bool answered = false;
    std::string answer;
    Status sends = ok_status();  // handing the call's sends on, once answered
    bool sends_flushed = false;  // some sends were handed on before the answer (await_sends)
    const char* reason = "";     // crashed: the crash metric's reason
    std::string how;             // crashed: "killed by signal 11 (SIGSEGV)", ...
  };

  Status call(std::span<const IncomingMessage> messages, bool batch);
  Status start_child();
  // A new version was published: its child replaces the running one, or the running one stays.
  void swap_version();
  // Asks a child between calls to destroy its instance and exit; kills it if it does not in time.
  void retire(std::unique_ptr<RunnerProcess> child) const;
  Exchange exchange(std::string_view request, FrameType answer);
  // Answers one kCall into `reply`; false when it is malformed.
  bool serve_call(std::string_view payload, std::string& reply);
  void apply_metric(std::string_view payload);
  Exchange crashed(const char* reason, std::string how);
  // Past memory_limit_mib: the child is killed and the exchange ends as a crash.
  std::optional<Exchange> over_memory_limit();
  // Restarts the child after a crash, within the agent's max_restarts_per_minute.
  Status restart_child();
  // The child closed its end or cannot be written to: reaped, with how it ended.
  Exchange ended();
  // Waits before a restart while calls keep crashing; false when the worker stops meanwhile.
  bool back_off();

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
  std::shared_ptr<const AgentVersion> version_;  // what this lane's child runs
  std::shared_ptr<AgentVersions::Agent> versions_;  // null without reloads
  std::uint64_t version_number_ = 0;
  const std::string def_name_;
  ComponentRef component_;
  const std::string what_;  // "<plugin> agent '<name>'", in errors
  HostServices& services_;
  IsolationSettings settings_;
  bool handles_batches_ = false;
  std::unique_ptr<RunnerProcess> child_;
  std::shared_ptr<RestartBudget> restarts_;
  int consecutive_crashes_ = 0;
  std::chrono::steady_clock::time_point next_memory_check_{};
  std::deque<Poisoned> crash_records_;
  // The worker's metrics the child created, by the id the child knows them by.
  std::vector<faust_metric*> metrics_;
  std::string request_;  // reused: a steady stream does not allocate
};

// Sets up an IsolatedAgentFactory-compatible function for instantiate().
std::function<Result<std::unique_ptr<AgentCalls>>(const AgentConfig&, const PluginLibrary&, const char*, ComponentRef)>
isolated_agent_factory(HostServices& services, IsolationSettings settings);

}  // namespace faust::isolation
