#pragma once

#include <span>

#include "common/result.h"
#include "plugins/host_services.h"
#include "plugins/incoming_message.h"

namespace faust {

// What the worker calls on one instance (lane) of a plugin agent, wherever its code runs: in the
// worker (AgentInstance) or in a child process (isolation: process). Called from one thread at a
// time; different instances may run on different threads at once.
class AgentCalls {
 public:
  virtual ~AgentCalls() = default;
  // Hands one message to the plugin. A plugin error becomes
  // Error{kFailure, "<plugin> agent '<name>' failed: <message>"}.
  virtual Status handle(const IncomingMessage& message) = 0;
  // Whether the plugin handles this agent's messages in batches too (ABI 1.2).
  virtual bool handles_batches() const = 0;
  // Whether handle_batch may be called: the plugin handles batches, or the instance hands a batch
  // to handle() message by message where its code runs (an isolated one: one call for the batch).
  virtual bool takes_batches() const { return handles_batches(); }
  // Hands the plugin messages of one partition at once; only when takes_batches().
  virtual Status handle_batch(std::span<const IncomingMessage> messages) = 0;
  virtual const ComponentRef& component() const = 0;
};

}  // namespace faust
