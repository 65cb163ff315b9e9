#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/plugin_metric.h"
#include "isolation/agent_versions.h"
#include "isolation/frame.h"
#include "isolation/restart_budget.h"
#include "isolation/runner_process.h"
#include "manifest/manifest.h"
#include "plugins/host_services.h"

namespace faust::isolation {

struct IsolationSettings {
  // Run as `<runner> plugin-runner --fd 3`: the worker's own executable (tests name the built one).
  std::filesystem::path runner = "/proc/self/exe";
  // Counts a crash of `plugin`'s process: reason "signal", "exit", "timeout", "memory" or
  // "protocol".
  std::function<void(const std::string& plugin, const char* reason)> crashed;
  // Stops the worker with this error (an entry past its max_restarts_per_minute); without it the
  // call that would restart once too often only fails.
  std::function<void(const Error& error)> fatal;
  // How often a child's resident memory is read while a call is in hand, with memory_limit_mib.
  std::chrono::milliseconds memory_check_interval{10};
  // Where a reload publishes new versions of the isolated agents (each lane joins its agent's
  // record); null: the versions the agents started with stay.
  std::shared_ptr<AgentVersions> versions;
};

// What one child runs, and its limits.
struct ChildSpec {
  std::filesystem::path library_file;
  std::string def_name;    // the plugin's agent, timer or service definition
  ComponentRef component;  // its kind says what the runner creates; its name is the manifest's entry
  ConfigMap config;
  ProcessLimits limits;
};

// The child of a timer's or a service's entry (`kind`): `def_name` of `library_file`, with the
// entry's config and limits.
template <typename EntryConfig>
ChildSpec entry_child(ComponentRef::Kind kind, const EntryConfig& entry, std::filesystem::path library_file,
                      const char* def_name, ComponentRef component) {
  component.kind = kind;
  return ChildSpec{std::move(library_file), def_name, std::move(component), entry.config, entry.limits};
}

// The worker's side of one plugin instance (an agent lane's, a timer's or a service's) in a
// `faust-host plugin-runner` child: starts the child, sends it one request at a time and answers
// the plugin's host calls meanwhile on the calling thread through `services`, as if the plugin
// ran here; tells how a child that did not answer ended (crash classification and counting);
// restarts it within the entry's max_restarts_per_minute, after a backoff while calls keep
// crashing.
//
// A child that dies, sends something malformed, does not answer within handler_timeout (time
// spent answering its host calls excluded) or is found past memory_limit_mib of resident memory
// is killed if need be, counted, and left down until restart(). Its memory is read only while a
// call is in hand, at most every memory_check_interval: when the call starts and while it runs.
//
// With a delivery unit in hand (UnitSends::current(), an agent's lane), the sends of a call are
// held until the child answers, so a call that crashes leaves none behind; so are a timer's, then
// handed to the worker's send path (an on_leader timer's: its tick's transaction).
class PluginProcess {
 public:
  // `restarts` may be shared with other instances of the entry (an agent's lanes); null: one of
  // its own.
  PluginProcess(ChildSpec spec, HostServices& services, IsolationSettings settings,
                std::shared_ptr<RestartBudget> restarts = nullptr);
  PluginProcess(const PluginProcess&) = delete;
  PluginProcess& operator=(const PluginProcess&) = delete;
  // Asks the child to destroy the instance and exit; kills it if it does not in time.
  ~PluginProcess();

  // Starts the child and creates the instance in it; the plugin's own refusal keeps its exit code.
  Status start();
  // After a crash: starts a new child, within max_restarts_per_minute (past it the worker is
  // stopped and this fails with kPluginRestartLimit), after the backoff (none after one crash;
  // 100 ms doubling to 5 s while calls keep crashing). Nothing to do while a child runs.
  Status restart();
  // Starts a child of `library_file` with `config` beside the running one (a new version of the
  // plugin, at a call boundary) and, once it is ready, asks the running one to exit; a child that
  // does not start is the error, and the running one stays. Later restarts start the new version.
  Status replace(std::filesystem::path library_file, ConfigMap config);
  bool running() const { return child_ != nullptr; }
  // The child's process id; 0 while none runs (between a crash and the next call).
  int pid() const { return child_ ? static_cast<int>(child_->pid()) : 0; }
  // What the runner said of the instance when it started: for an agent whether its plugin handles
  // batches, for a service whether it has lead.
  bool ready_flag() const { return ready_flag_; }

  // How one call to the child ended: answered with kResult, or the child is gone.
  struct Outcome {
    bool answered = false;
    // Answered: the plugin's error, else how handing the call's sends on went.
    Status status = ok_status();
    bool sends_flushed = false;  // some sends were handed on before the answer (await_sends)
    const char* reason = "";     // crashed: the crash metric's reason
    std::string how;             // crashed: "killed by signal 11 (SIGSEGV)", ...
    int pid = 0;                 // the child that took the call
  };
  // Sends `request` (a frame the runner answers with kResult) to the running child.
  Outcome call(std::string_view request);

  const ComponentRef& component() const { return spec_.component; }
  const ProcessLimits& limits() const { return spec_.limits; }
  // "<plugin> agent '<name>'", as in the plugin's own errors.
  const std::string& what() const { return what_; }
  // "agent '<name>' (plugin <plugin>)", as log lines name it.
  const std::string& label() const { return label_; }

 private:
  // How one request to the child ended: answered (the answer's payload), or the child is gone.
  struct Exchange {
    bool answered = false;
    std::string answer;
    Status sends = ok_status();  // handing the call's sends on, once answered
    bool sends_flushed = false;
    const char* reason = "";
    std::string how;
  };

  Exchange exchange(std::string_view request, FrameType answer);
  // Answers one kCall into `reply`; false when it is malformed.
  bool serve_call(std::string_view payload, std::string& reply);
  // The leader state's calls (an on_leader timer's, a service's in its term).
  bool serve_state_call(HostCall call, FrameReader& in, std::string& reply);
  void apply_metric(std::string_view payload);
  Exchange crashed(const char* reason, std::string how);
  // Past memory_limit_mib: the child is killed and the exchange ends as a crash.
  std::optional<Exchange> over_memory_limit();
  // The child closed its end or cannot be written to: reaped, with how it ended.
  Exchange ended();
  // Waits before a restart while calls keep crashing; false when the worker stops meanwhile.
  bool back_off();
  // Asks a child between calls to destroy its instance and exit; kills it if it does not in time.
  void retire(std::unique_ptr<RunnerProcess> child) const;
  // Hands a timer's held sends on, in order, until one fails.
  Status send_held();

  ChildSpec spec_;  // its library file and config change with replace()
  const std::string what_;
  const std::string label_;
  HostServices& services_;
  IsolationSettings settings_;
  std::shared_ptr<RestartBudget> restarts_;
  std::unique_ptr<RunnerProcess> child_;
  bool ready_flag_ = false;
  int consecutive_crashes_ = 0;
  std::chrono::steady_clock::time_point next_memory_check_{};
  // The worker's metrics the child created, by the id the child knows them by.
  std::vector<faust_metric*> metrics_;
  // A timer's sends during the call in hand (see above).
  bool holding_sends_ = false;
  std::vector<OutgoingMessage> held_;
};

}  // namespace faust::isolation
