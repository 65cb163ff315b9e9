#include "metrics/metrics.h"

#include <prometheus/text_serializer.h>

#include <algorithm>

namespace faust {
namespace {

using prometheus::Histogram;

double seconds(std::chrono::nanoseconds duration) {
  return std::chrono::duration<double>(std::max(duration, std::chrono::nanoseconds::zero())).count();
}

// Handlers range from a map lookup to a slow downstream call.
const Histogram::BucketBoundaries& handler_duration_buckets() {
  static const Histogram::BucketBoundaries buckets{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                   0.005,   0.01,   0.025,   0.05,   0.1,   0.25,
                                                   0.5,     1.0,    2.5,     5.0,    10.0};
  return buckets;
}

// A timer is late by scheduling jitter normally and by a blocked io_context when unhealthy.
const Histogram::BucketBoundaries& lateness_buckets() {
  static const Histogram::BucketBoundaries buckets{0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05,
                                                   0.1,    0.5,    1.0,   2.5,   5.0,  10.0};
  return buckets;
}

prometheus::Labels lag_labels(const std::string& topic, std::int32_t partition) {
  return {{"topic", topic}, {"partition", std::to_string(partition)}};
}

}  // namespace

void AgentMetrics::message_handled(std::chrono::nanoseconds handler_time) const {
  messages_->Increment();
  handler_duration_->Observe(seconds(handler_time));
}

void AgentMetrics::handler_failed() const { errors_->Increment(); }

void AgentMetrics::dead_lettered() const { dead_lettered_->Increment(); }

void TimerMetrics::fired(std::chrono::nanoseconds lateness) const {
  fires_->Increment();
  lateness_->Observe(seconds(lateness));
}

void TimerMetrics::skipped(std::uint64_t ticks) const {
  skipped_ticks_->Increment(static_cast<double>(ticks));
}

void SendMetrics::sent() const { sends_->Increment(); }

void SendMetrics::failed() const { errors_->Increment(); }

void SendMetrics::retried() const { retries_->Increment(); }

Metrics::Metrics(std::string_view version)
    : registry_(std::make_unique<prometheus::Registry>()),
      plugins_(std::make_unique<PluginMetrics>(*registry_)),
      agent_messages_(prometheus::BuildCounter()
                          .Name("faust_agent_messages_total")
                          .Help("Messages handled by an agent, including failed ones")
                          .Register(*registry_)),
      agent_errors_(prometheus::BuildCounter()
                        .Name("faust_agent_errors_total")
                        .Help("Messages whose agent handler failed")
                        .Register(*registry_)),
      agent_dead_lettered_(prometheus::BuildCounter()
                               .Name("faust_agent_dead_lettered_total")
                               .Help("Messages an agent gave up on, written to its dead-letter topic")
                               .Register(*registry_)),
      agent_handler_duration_(prometheus::BuildHistogram()
                                  .Name("faust_agent_handler_duration_seconds")
                                  .Help("Time an agent handler took for one message")
                                  .Register(*registry_)),
      timer_fires_(prometheus::BuildCounter()
                       .Name("faust_timer_fires_total")
                       .Help("Times a timer ran")
                       .Register(*registry_)),
      timer_skipped_ticks_(prometheus::BuildCounter()
                               .Name("faust_timer_skipped_ticks_total")
                               .Help("Timer ticks skipped because the previous run had not finished")
                               .Register(*registry_)),
      timer_lateness_(prometheus::BuildHistogram()
                          .Name("faust_timer_lateness_seconds")
                          .Help("How long after its scheduled tick a timer ran")
                          .Register(*registry_)),
      sends_(prometheus::BuildCounter()
                 .Name("faust_sends_total")
                 .Help("Messages sent to an agent or topic")
                 .Register(*registry_)),
      send_errors_(prometheus::BuildCounter()
                       .Name("faust_send_errors_total")
                       .Help("Sends to an agent or topic that failed")
                       .Register(*registry_)),
      send_retries_(prometheus::BuildCounter()
                        .Name("faust_send_retries_total")
                        .Help("Sends tried again because the broker did not take them (an outage)")
                        .Register(*registry_)),
      consumer_lag_(prometheus::BuildGauge()
                        .Name("faust_consumer_lag")
                        .Help("Messages between the committed offset and the end of a partition")
                        .Register(*registry_)),
      is_leader_(prometheus::BuildGauge()
                     .Name("faust_is_leader")
                     .Help("1 while this worker is the leader, else 0")
                     .Register(*registry_)
                     .Add({})),
      rebalances_(prometheus::BuildCounter()
                      .Name("faust_rebalances_total")
                      .Help("Consumer group rebalances this worker went through")
                      .Register(*registry_)
                      .Add({})),
      plugin_crashes_(prometheus::BuildCounter()
                          .Name("faust_plugin_crashes_total")
                          .Help("Times the process of an isolated plugin (isolation: process) crashed, hung or grew "
                                "past its memory limit and was restarted; reason: signal, exit, timeout, memory or "
                                "protocol")
                          .Register(*registry_)),
      plugin_reloads_(prometheus::BuildCounter()
                          .Name("faust_plugin_reloads_total")
                          .Help("New versions (library file or config) a reload offered an isolated agent's plugin: "
                                "swapped in, or refused by their checks (the running version stays)")
                          .Register(*registry_)),
      manifest_reloads_(prometheus::BuildCounter()
                            .Name("faust_manifest_reloads_total")
                            .Help("Reloads (SIGHUP) of the manifest: applied, or refused as a whole (a manifest "
                                  "that does not parse, or a change a running worker cannot take on)")
                            .Register(*registry_)),
      up_(prometheus::BuildGauge()
              .Name("faust_up")
              .Help("1 while the worker serves, 0 while it shuts down")
              .Register(*registry_)
              .Add({})) {
  prometheus::BuildGauge()
      .Name("faust_build_info")
      .Help("Always 1; labelled with the faust-host version")
      .Register(*registry_)
      .Add({{"version", std::string(version)}})
      .Set(1);
  up_.Set(1);
}

AgentMetrics Metrics::agent(const std::string& name) {
  const prometheus::Labels labels{{"agent", name}};
  return AgentMetrics(agent_messages_.Add(labels), agent_errors_.Add(labels), agent_dead_lettered_.Add(labels),
                      agent_handler_duration_.Add(labels, handler_duration_buckets()));
}

TimerMetrics Metrics::timer(const std::string& name) {
  const prometheus::Labels labels{{"timer", name}};
  return TimerMetrics(timer_fires_.Add(labels), timer_skipped_ticks_.Add(labels),
                      timer_lateness_.Add(labels, lateness_buckets()));
}

SendMetrics Metrics::send_target(const std::string& target) {
  std::lock_guard lock(send_targets_mutex_);
  if (const auto known = send_targets_.find(target); known != send_targets_.end()) return known->second;
  const prometheus::Labels labels{{"target", target}};
  return send_targets_
      .emplace(target, SendMetrics(sends_.Add(labels), send_errors_.Add(labels), send_retries_.Add(labels)))
      .first->second;
}

void Metrics::set_leader(bool leader) { is_leader_.Set(leader ? 1 : 0); }

void Metrics::rebalance() { rebalances_.Increment(); }

void Metrics::plugin_crashed(const std::string& plugin, const std::string& reason) {
  plugin_crashes_.Add({{"plugin", plugin}, {"reason", reason}}).Increment();
}

void Metrics::plugin_reloaded(const std::string& plugin, const std::string& outcome) {
  plugin_reloads_.Add({{"plugin", plugin}, {"outcome", outcome}}).Increment();
}

void Metrics::manifest_reloaded(const std::string& outcome) { manifest_reloads_.Add({{"outcome", outcome}}).Increment(); }

void Metrics::set_lag(const std::string& topic, std::int32_t partition, std::int64_t lag) {
  consumer_lag_.Add(lag_labels(topic, partition)).Set(static_cast<double>(lag));
}

void Metrics::remove_lag(const std::string& topic, std::int32_t partition) {
  const prometheus::Labels labels = lag_labels(topic, partition);
  if (consumer_lag_.Has(labels)) consumer_lag_.Remove(&consumer_lag_.Add(labels));
}

void Metrics::set_up(bool up) { up_.Set(up ? 1 : 0); }

std::string Metrics::serialize() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace faust
