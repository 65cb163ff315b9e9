#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/exit_code.h"
#include "manifest/manifest.h"
#include "transport/transport.h"

namespace faust {

// Builds the transport a manifest's broker URL names (Kafka; `memory://` for in-process topics).
// `on_fatal` hears of a client that hit a fatal error (from a transport thread).
Result<std::unique_ptr<Transport>> make_transport(const Manifest& manifest,
                                                  std::function<void(const Error&)> on_fatal = {});

// One faust-host worker: the only place that wires manifest, plugins, transport, leader
// election, agents, timers and the web port together. run() returns when the worker stopped.
class Worker {
 public:
  explicit Worker(Manifest manifest, std::string web_host = {});
  ExitCode run();

 private:
  Manifest manifest_;
  std::string web_host_;
};

}  // namespace faust
