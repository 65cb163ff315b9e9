#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "metrics/plugin_metrics.h"

namespace faust {

// The content type Prometheus expects for its text exposition format.
inline constexpr std::string_view kPrometheusTextContentType = "text/plain; version=0.0.4; charset=utf-8";

// Handles hold the labelled series directly, so hot paths bump atomics without a label lookup.
// They stay valid as long as the Metrics that made them; all methods are thread-safe.
class AgentMetrics {
 public:
  // One message went through the handler (whether or not it failed), taking `handler_time`.
  void message_handled(std::chrono::nanoseconds handler_time) const;
  // The handler failed for one message.
  void handler_failed() const;
  // A message the handler gave up on was written to the dead-letter topic.
  void dead_lettered() const;

 private:
  friend class Metrics;
  AgentMetrics(prometheus::Counter& messages, prometheus::Counter& errors, prometheus::Counter& dead_lettered,
               prometheus::Histogram& handler_duration)
      : messages_(&messages), errors_(&errors), dead_lettered_(&dead_lettered), handler_duration_(&handler_duration) {}

  prometheus::Counter* messages_;
  prometheus::Counter* errors_;
  prometheus::Counter* dead_lettered_;
  prometheus::Histogram* handler_duration_;
};

class TimerMetrics {
 public:
  // The timer fired `lateness` after its scheduled tick (negative counts as on time).
  void fired(std::chrono::nanoseconds lateness) const;
  // Ticks dropped because the previous run was still going (runs never overlap).
  void skipped(std::uint64_t ticks) const;

 private:
  friend class Metrics;
  TimerMetrics(prometheus::Counter& fires, prometheus::Counter& skipped_ticks,
               prometheus::Histogram& lateness)
      : fires_(&fires), skipped_ticks_(&skipped_ticks), lateness_(&lateness) {}

  prometheus::Counter* fires_;
  prometheus::Counter* skipped_ticks_;
  prometheus::Histogram* lateness_;
};

// Sends to one target (an agent name or a topic).
class SendMetrics {
 public:
  void sent() const;
  void failed() const;
  // The broker did not take it (outage): tried again.
  void retried() const;

 private:
  friend class Metrics;
  SendMetrics(prometheus::Counter& sends, prometheus::Counter& errors, prometheus::Counter& retries)
      : sends_(&sends), errors_(&errors), retries_(&retries) {}

  prometheus::Counter* sends_;
  prometheus::Counter* errors_;
  prometheus::Counter* retries_;
};

// The worker's Prometheus metrics (served at /metrics). Thread-safe: agents, timers and the
// transport update it from their threads while the web port serializes it.
class Metrics {
 public:
  explicit Metrics(std::string_view version = FAUST_HOST_VERSION);
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  AgentMetrics agent(const std::string& name);
  TimerMetrics timer(const std::string& name);
  SendMetrics send_target(const std::string& target);

  void set_leader(bool leader);
  void rebalance();
  // An isolated plugin's process crashed or hung (reason: signal, exit, timeout or protocol).
  void plugin_crashed(const std::string& plugin, const std::string& reason);
  // A reload offered an isolated plugin's agent a new version (outcome: swapped or refused).
  void plugin_reloaded(const std::string& plugin, const std::string& outcome);
  // A reload (SIGHUP) read the manifest (outcome: applied, or refused as a whole).
  void manifest_reloaded(const std::string& outcome);
  void set_lag(const std::string& topic, std::int32_t partition, std::int64_t lag);
  // Drops the lag series of a partition this worker no longer owns, so it does not go stale.
  void remove_lag(const std::string& topic, std::int32_t partition);
  // 1 while the worker serves; set to 0 while it shuts down.
  void set_up(bool up);

  // The Prometheus text exposition format (0.0.4) of every metric.
  std::string serialize() const;

  // The metrics plugins create, in this registry.
  PluginMetrics& plugins() { return *plugins_; }

 private:
  std::unique_ptr<prometheus::Registry> registry_;
  std::unique_ptr<PluginMetrics> plugins_;
  prometheus::Family<prometheus::Counter>& agent_messages_;
  prometheus::Family<prometheus::Counter>& agent_errors_;
  prometheus::Family<prometheus::Counter>& agent_dead_lettered_;
  prometheus::Family<prometheus::Histogram>& agent_handler_duration_;
  prometheus::Family<prometheus::Counter>& timer_fires_;
  prometheus::Family<prometheus::Counter>& timer_skipped_ticks_;
  prometheus::Family<prometheus::Histogram>& timer_lateness_;
  prometheus::Family<prometheus::Counter>& sends_;
  prometheus::Family<prometheus::Counter>& send_errors_;
  prometheus::Family<prometheus::Counter>& send_retries_;
  // send_target() runs on every send: the families' own lookup builds and hashes a label set.
  std::mutex send_targets_mutex_;
  std::unordered_map<std::string, SendMetrics> send_targets_;
  prometheus::Family<prometheus::Gauge>& consumer_lag_;
  prometheus::Gauge& is_leader_;
  prometheus::Counter& rebalances_;
  prometheus::Family<prometheus::Counter>& plugin_crashes_;
  prometheus::Family<prometheus::Counter>& plugin_reloads_;
  prometheus::Family<prometheus::Counter>& manifest_reloads_;
  prometheus::Gauge& up_;
};

}  // namespace faust
