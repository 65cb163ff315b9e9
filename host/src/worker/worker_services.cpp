#include "worker/worker_services.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "runtime/agents/delivery_unit.h"
#include "runtime/leadership/leader_elector.h"
#include "runtime/services/service_runner.h"

namespace faust {
namespace {

constexpr auto kSendTimeout = std::chrono::seconds(30);

spdlog::level::level_enum to_spdlog(faust_log_level level) {
  switch (level) {
    case FAUST_LOG_TRACE: return spdlog::level::trace;
    case FAUST_LOG_DEBUG: return spdlog::level::debug;
    case FAUST_LOG_INFO: return spdlog::level::info;
    case FAUST_LOG_WARN: return spdlog::level::warn;
    case FAUST_LOG_ERROR: return spdlog::level::err;
  }
  return spdlog::level::info;
}

}  // namespace

Status check_serialized(Serializer serializer, std::string_view bytes, const char* what) {
  if (serializer == Serializer::kJson && !nlohmann::json::accept(bytes)) {
    return Error{ExitCode::kFailure, std::string(what) + " is not valid JSON (serializer: json)"};
  }
  return ok_status();
}

WorkerServices::WorkerServices(const Manifest& manifest, Metrics& metrics, FatalHandler on_fatal)
    : manifest_(manifest), metrics_(metrics), on_fatal_(std::move(on_fatal)) {
  for (const auto& agent : manifest_.agents) agent_metrics_.emplace(agent.name, metrics_.agent(agent.name));
  for (const auto& timer : manifest_.timers) timer_metrics_.emplace(timer.name, metrics_.timer(timer.name));
}

void WorkerServices::attach(Transport* transport, LeaderElector* elector, ServiceRunner* service_runner) {
  transport_ = transport;
  elector_ = elector;
  service_runner_ = service_runner;
}

void WorkerServices::log(const ComponentRef& from, faust_log_level level, std::string_view message) {
  spdlog::log(to_spdlog(level), "[{}] {}", from.name, message);
}

bool WorkerServices::wait_for_stop(const ComponentRef& from, std::chrono::milliseconds timeout) {
  if (ServiceRunner* runner = service_runner_.load(); runner != nullptr && from.kind == ComponentRef::Kind::kService) {
    return runner->wait_for_stop(from.name, timeout);
  }
  std::unique_lock lock(retry_mutex_);
  return retry_wake_.wait_for(lock, timeout, [&] { return retrying_stopped_; });
}

Result<faust_metric*> WorkerServices::create_metric(const ComponentRef& from, const faust_metric_spec& spec) {
  return metrics_.plugins().create(from.plugin, spec);
}

Result<std::shared_ptr<void>> WorkerServices::register_page(const ComponentRef& from, const std::string& path,
                                                            PageHandler handler) {
  return pages_.add(from.plugin, path, std::move(handler));
}

LeaderTerm* WorkerServices::leader_work_term(const ComponentRef& from) const {
  LeaderElector* elector = elector_.load();
  if (elector == nullptr) return nullptr;
  ServiceRunner* runner = service_runner_.load();
  const bool leader_work = from.kind == ComponentRef::Kind::kService
                               ? runner != nullptr && runner->in_term(from.name)
                               : from.on_leader;  // an on_leader timer or a leader-only agent
  return leader_work ? &elector->term() : nullptr;
}

Result<std::optional<std::string>> WorkerServices::state_get(const ComponentRef& from, std::string_view key) {
  LeaderTerm* term = leader_work_term(from);
  if (term == nullptr) return not_in_term();
  return term->state_get(key);
}

Status WorkerServices::state_put(const ComponentRef& from, std::string_view key, std::string_view value) {
  LeaderTerm* term = leader_work_term(from);
  if (term == nullptr) return not_in_term();
  return term->state_put(key, value);
}

Status WorkerServices::state_delete(const ComponentRef& from, std::string_view key) {
  LeaderTerm* term = leader_work_term(from);
  if (term == nullptr) return not_in_term();
  return term->state_delete(key);
}

Result<HostServices::StateEntries> WorkerServices::state_scan(const ComponentRef& from, std::string_view prefix) {
  LeaderTerm* term = leader_work_term(from);
  if (term == nullptr) return not_in_term();
  return term->state_scan(prefix);
}

bool WorkerServices::is_leader() const {
  const LeaderElector* elector = elector_.load();
  return elector != nullptr && elector->is_leader();
}

Result<ProducedRecord> WorkerServices::to_record(OutgoingMessage message) const {
  ProducedRecord record;
  if (!message.agent.empty()) {
    const AgentConfig* agent = manifest_.find_agent(message.agent);
    if (agent == nullptr) return Error{ExitCode::kFailure, "send: no agent named '" + message.agent + "' in the manifest"};
    record.topic = manifest_.agent_topic(*agent);
  } else {
    record.topic = std::move(message.topic);
  }
  if (auto status = check_serialized(manifest_.app.value_serializer, message.value, "send: value"); !status) {
    return status.error();
  }
  if (message.key) {
    if (auto status = check_serialized(manifest_.app.key_serializer, *message.key, "send: key"); !status) {
      return status.error();
    }
  }
  record.key = std::move(message.key);
  record.value = std::move(message.value);
  record.headers = std::move(message.headers);
  return record;
}

Status WorkerServices::send(const ComponentRef& from, OutgoingMessage message) {
  const std::string& target = message.agent.empty() ? message.topic : message.agent;
  SendMetrics counters = metrics_.send_target(target);
  Transport* transport = transport_.load();
  if (transport == nullptr) {
    counters.failed();
    return Error{ExitCode::kFailure, "send: the worker is not running (not connected yet, or stopping)"};
  }
  auto record = to_record(std::move(message));
  if (!record) {
    counters.failed();
    return record.error();
  }
  // An on_leader timer's sends belong to the leader's term: fenced, and inside a tick queued in
  // the tick's transaction.
  // An agent's send belongs to the message or unit its lane is handling: pipelined, or in a
  // batch or transaction.
  LeaderElector* elector = elector_.load();
  Status status = ok_status();
  if (leader_work_term(from) != nullptr) {
    status = elector->term().send(*record);
  } else if (UnitSends* unit = UnitSends::current()) {
    status = unit->send(*record);
  } else {
    status = send_until_taken(*transport, *record, counters);
  }
  if (!status) {
    counters.failed();
    return status;
  }
  counters.sent();
  return status;
}

Status WorkerServices::await_sends(const ComponentRef& from) {
  if (leader_work_term(from) != nullptr) return ok_status();  // delivered with the leader's unit
  UnitSends* unit = UnitSends::current();
  return unit == nullptr ? ok_status() : unit->await_acknowledged();
}

Status WorkerServices::write_dead_letter(const std::string& agent, const ProducedRecord& record) {
  SendMetrics counters = metrics_.send_target(record.topic);
  Transport* transport = transport_.load();
  Status status = transport == nullptr
                      ? Status(Error{ExitCode::kFailure, "the worker is not running (not connected yet, or stopping)"})
                      : send_until_taken(*transport, record, counters);
  if (!status) {
    counters.failed();
    return status;
  }
  counters.sent();
  if (const auto it = agent_metrics_.find(agent); it != agent_metrics_.end()) it->second.dead_lettered();
  return status;
}

// An outage is not the message's fault: the send is tried again (the message in hand stays
// uncommitted meanwhile) until the broker takes it or the worker stops.
Status WorkerServices::send_until_taken(Transport& transport, const ProducedRecord& record, const SendMetrics& counters) {
  auto backoff = std::chrono::seconds(1);
  while (true) {
    Status status = transport.send(record, kSendTimeout);
    if (status || status.error().code != ExitCode::kBrokerUnreachable) return status;
    std::unique_lock lock(retry_mutex_);
    if (!retrying_stopped_) {
      counters.retried();
      ++retries_;
      spdlog::warn("{}; retrying in {} s (the message being handled stays uncommitted until then)",
                   status.error().message, backoff.count());
      ++retrying_;
      retry_wake_.wait_for(lock, backoff, [&] { return retrying_stopped_; });
      --retrying_;
    }
    if (retrying_stopped_) {
      return Error{status.error().code, status.error().message + " (not retried: the worker is stopping)"};
    }
    backoff = std::min(backoff * 2, std::chrono::seconds(30));
  }
}

// Counted like a retried send, under the target a plugin names: the agent whose topic it is, or
// the topic.
void WorkerServices::send_requeued(const std::string& topic) {
  std::string target = topic;
  for (const auto& agent : manifest_.agents) {
    if (manifest_.agent_topic(agent) == topic) target = agent.name;
  }
  metrics_.send_target(target).retried();
  std::lock_guard lock(retry_mutex_);
  ++retries_;
}

void WorkerServices::stop_retrying() {
  {
    std::lock_guard lock(retry_mutex_);
    retrying_stopped_ = true;
  }
  retry_wake_.notify_all();
}

void WorkerServices::agent_handled(const std::string& agent, std::chrono::nanoseconds took, const Status& result) {
  const auto it = agent_metrics_.find(agent);
  if (it == agent_metrics_.end()) return;
  it->second.message_handled(took);
  if (!result) it->second.handler_failed();
}

void WorkerServices::timer_fired(const std::string& timer, std::chrono::nanoseconds lateness, const Status& /*result*/) {
  if (const auto it = timer_metrics_.find(timer); it != timer_metrics_.end()) it->second.fired(lateness);
}

void WorkerServices::timer_skipped(const std::string& timer, std::uint64_t missed_ticks) {
  if (const auto it = timer_metrics_.find(timer); it != timer_metrics_.end()) it->second.skipped(missed_ticks);
}

void WorkerServices::leadership_changed(bool leader, std::int32_t /*generation*/) { metrics_.set_leader(leader); }

void WorkerServices::rebalanced() { metrics_.rebalance(); }

void WorkerServices::consumer_lag(const TopicPartition& partition, std::int64_t lag) {
  metrics_.set_lag(partition.topic, partition.partition, lag);
}

void WorkerServices::fatal(const Error& error) { on_fatal_(error); }

}  // namespace faust
