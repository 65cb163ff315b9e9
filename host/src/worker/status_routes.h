#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "manifest/manifest.h"
#include "metrics/metrics.h"
#include "plugins/plugin_info.h"
#include "runtime/agents/agent_runner.h"
#include "runtime/leadership/leader_elector.h"
#include "runtime/services/service_runner.h"
#include "runtime/timers/timer_service.h"
#include "transport/transport.h"
#include "web/router.h"
#include "worker/worker_services.h"

namespace faust {

// What the web port reads. Every accessor returns a snapshot, so handlers never block.
struct WorkerView {
  const Manifest* manifest = nullptr;
  const Metrics* metrics = nullptr;
  const std::vector<PluginInfo>* plugins = nullptr;
  const LeaderElector* elector = nullptr;
  const AgentRunner* agents = nullptr;
  const TimerService* timers = nullptr;
  const ServiceRunner* service_runner = nullptr;
  const Transport* transport = nullptr;
  const WorkerServices* services = nullptr;
  std::chrono::steady_clock::time_point started;
  // Empty when ready; otherwise why not (for /readyz).
  std::function<std::string()> not_ready_reason;
};

// /, /livez, /readyz, /leader, /assignment, /status and /metrics.
Router make_status_routes(const WorkerView& view);

// The /metrics response: Metrics::serialize() with the Prometheus text content type.
HttpResponse metrics_http_response(const Metrics& metrics);

}  // namespace faust
