#pragma once

#include <memory>
#include <string>

#include "isolation/plugin_process.h"
#include "manifest/manifest.h"
#include "plugins/host_services.h"
#include "plugins/plugin_library.h"
#include "plugins/timer_calls.h"

namespace faust::isolation {

// A timer with `isolation: process`, in a `faust-host plugin-runner` child (a PluginProcess). Each
// tick is one call to the child, handler_timeout its timeout; the plugin's host calls meanwhile
// (sends, is_leader, the leader state of an on_leader timer, ...) are answered on the timer's
// thread, inside the tick's leader unit for an on_leader timer.
//
// A tick whose child crashes, hangs or grows past memory_limit_mib is logged with how the child
// ended and fails, so an on_leader timer's transaction is aborted (its sends and state writes
// dropped) at once and the leader's term goes on. The child is started again before the next tick
// (prepare(), outside its transaction: at once after one crash, then after a backoff while ticks
// keep crashing), so the schedule keeps going and the next tick runs in the new child. A restart
// past max_restarts_per_minute stops the worker instead.
class IsolatedTimer final : public TimerCalls {
 public:
  static Result<std::unique_ptr<TimerCalls>> start(const TimerConfig& config, const PluginLibrary& library,
                                                   const char* def_name, ComponentRef component,
                                                   HostServices& services, const IsolationSettings& settings);

  // Starts a new child after a crash (with the backoff while ticks keep crashing).
  void prepare() override;
  Status tick() override;
  const ComponentRef& component() const override { return process_.component(); }
  // The child's process id; 0 while none runs (its restart failed).
  int child_pid() const { return process_.pid(); }

 private:
  IsolatedTimer(ChildSpec spec, HostServices& services, IsolationSettings settings)
      : process_(std::move(spec), services, std::move(settings)) {}

  PluginProcess process_;
  std::string request_;
};

}  // namespace faust::isolation
