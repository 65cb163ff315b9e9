#pragma once

#include "common/result.h"
#include "plugins/host_services.h"

namespace faust {

// What the worker calls on a plugin timer, wherever its code runs: in the worker (TimerInstance)
// or in a child process (isolation: process). Called from one thread at a time.
class TimerCalls {
 public:
  virtual ~TimerCalls() = default;
  // Runs one tick. A plugin error becomes Error{kFailure, "<plugin> timer '<name>' failed: <message>"}.
  virtual Status tick() = 0;
  // Called before each tick, outside an on_leader tick's transaction: an isolated timer starts a
  // new child here after a crash, so that neither the crashed tick's abort nor the next tick's
  // transaction waits on a process start.
  virtual void prepare() {}
  virtual const ComponentRef& component() const = 0;
};

}  // namespace faust
