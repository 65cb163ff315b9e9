#include "isolation/isolated_timer.h"

#include <spdlog/spdlog.h>

#include <utility>

namespace faust::isolation {

Result<std::unique_ptr<TimerCalls>> IsolatedTimer::start(const TimerConfig& config, const PluginLibrary& library,
                                                         const char* def_name, ComponentRef component,
                                                         HostServices& services, const IsolationSettings& settings) {
  std::unique_ptr<IsolatedTimer> timer(new IsolatedTimer(
      entry_child(ComponentRef::Kind::kTimer, config, library.file(), def_name, std::move(component)), services,
      settings));
  if (Status started = timer->process_.start(); !started) return started.error();
  FrameWriter(timer->request_, FrameType::kTick).finish();
  return std::unique_ptr<TimerCalls>(std::move(timer));
}

void IsolatedTimer::prepare() {
  // Past max_restarts_per_minute the worker stops and says why; any other failure is tried again
  // by the tick.
  if (Status restarted = process_.restart(); !restarted && restarted.error().code != ExitCode::kPluginRestartLimit) {
    spdlog::error("{}", restarted.error().message);
  }
}

Status IsolatedTimer::tick() {
  if (Status running = process_.restart(); !running) return running;
  PluginProcess::Outcome result = process_.call(request_);
  if (result.answered) return std::move(result.status);
  spdlog::error("{}: process {} {} during a tick{}; restarting it for the next tick", process_.label(), result.pid,
                result.how, process_.component().on_leader ? " (its leader transaction is aborted)" : "");
  return Error{ExitCode::kFailure, process_.what() + " failed: its process " + result.how + " during this tick"};
}

}  // namespace faust::isolation
