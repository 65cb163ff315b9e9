#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "manifest/manifest.h"
#include "metrics/metrics.h"
#include "plugins/host_services.h"
#include "runtime/runtime_events.h"
#include "transport/transport.h"
#include "web/plugin_pages.h"

namespace faust {

class LeaderElector;
class LeaderTerm;
class ServiceRunner;

// The worker's side of the plugin boundary and of the runtime's reports: routes plugin sends
// to topics (fenced for on_leader timers), checks serializers, and keeps the metrics.
class WorkerServices final : public HostServices, public RuntimeEvents {
 public:
  using FatalHandler = std::function<void(const Error&)>;

  WorkerServices(const Manifest& manifest, Metrics& metrics, FatalHandler on_fatal);

  // Wired once the parts exist; until then (and after attach(nullptr, nullptr)) sends fail.
  void attach(Transport* transport, LeaderElector* elector, ServiceRunner* service_runner = nullptr);
  // From here on a send the broker does not take fails instead of being tried again.
  void stop_retrying();

  // Sends tried again right now because the broker does not take them, and in all.
  struct SendRetries {
    std::uint64_t waiting = 0;
    std::uint64_t total = 0;
  };
  SendRetries send_retries() const { return SendRetries{retrying_.load(), retries_.load()}; }

  // Writes a record to `agent`'s dead-letter topic, tried again across broker outages like a
  // plugin's send; counts it once the broker acknowledged it.
  Status write_dead_letter(const std::string& agent, const ProducedRecord& record);

  // HostServices
  void log(const ComponentRef& from, faust_log_level level, std::string_view message) override;
  Status send(const ComponentRef& from, OutgoingMessage message) override;
  Status await_sends(const ComponentRef& from) override;
  void send_requeued(const std::string& topic) override;
  bool is_leader() const override;
  const std::string& app_id() const override { return manifest_.app.id; }
  bool wait_for_stop(const ComponentRef& from, std::chrono::milliseconds timeout) override;
  Result<faust_metric*> create_metric(const ComponentRef& from, const faust_metric_spec& spec) override;
  Result<std::shared_ptr<void>> register_page(const ComponentRef& from, const std::string& path,
                                              PageHandler handler) override;
  Result<std::optional<std::string>> state_get(const ComponentRef& from, std::string_view key) override;
  Status state_put(const ComponentRef& from, std::string_view key, std::string_view value) override;
  Status state_delete(const ComponentRef& from, std::string_view key) override;
  Result<StateEntries> state_scan(const ComponentRef& from, std::string_view prefix) override;

  // The plugins' pages, for the web server. They exist before it: plugins register them while
  // they are created.
  PluginPages& pages() { return pages_; }

  // RuntimeEvents
  void agent_handled(const std::string& agent, std::chrono::nanoseconds took, const Status& result) override;
  void timer_fired(const std::string& timer, std::chrono::nanoseconds lateness, const Status& result) override;
  void timer_skipped(const std::string& timer, std::uint64_t missed_ticks) override;
  void leadership_changed(bool leader, std::int32_t generation) override;
  void rebalanced() override;
  void consumer_lag(const TopicPartition& partition, std::int64_t lag) override;
  void fatal(const Error& error) override;

 private:
  Result<ProducedRecord> to_record(OutgoingMessage message) const;
  // The leader term `from` does leader work in (an on_leader timer or agent, a service in its
  // term), or null when it does not.
  LeaderTerm* leader_work_term(const ComponentRef& from) const;
  Status send_until_taken(Transport& transport, const ProducedRecord& record, const SendMetrics& counters);

  const Manifest& manifest_;
  Metrics& metrics_;
  FatalHandler on_fatal_;
  std::atomic<Transport*> transport_{nullptr};
  std::atomic<LeaderElector*> elector_{nullptr};
  std::atomic<ServiceRunner*> service_runner_{nullptr};
  // Built up front and then only read, so runtime threads share them without locks.
  std::map<std::string, AgentMetrics, std::less<>> agent_metrics_;
  std::map<std::string, TimerMetrics, std::less<>> timer_metrics_;
  mutable std::mutex retry_mutex_;
  std::condition_variable retry_wake_;
  bool retrying_stopped_ = false;
  std::atomic<std::uint64_t> retrying_{0};
  std::atomic<std::uint64_t> retries_{0};
  PluginPages pages_;
};

// Checks a value against a serializer: `json` must parse, `raw` takes any bytes.
Status check_serialized(Serializer serializer, std::string_view bytes, const char* what);

}  // namespace faust
