#include "worker/status_routes.h"

#include <nlohmann/json.hpp>

namespace faust {
namespace {

using nlohmann::json;

HttpResponse json_response(int status, const json& body) { return HttpResponse{status, "application/json", body.dump()}; }

std::string iso8601(std::chrono::system_clock::time_point time) {
  if (time.time_since_epoch().count() == 0) return {};
  const std::time_t t = std::chrono::system_clock::to_time_t(time);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

const char* broker_state_name(BrokerState state) {
  switch (state) {
    case BrokerState::kConnecting: return "connecting";
    case BrokerState::kUp: return "up";
    case BrokerState::kDown: return "down";
  }
  return "unknown";
}

json leader_json(const LeaderElector& elector) {
  const LeadershipSnapshot snap = elector.snapshot();
  const LeaderTermSnapshot term = elector.term().snapshot();
  return json{{"is_leader", elector.is_leader()},
              {"joined", snap.joined},
              {"since", iso8601(snap.since)},
              {"generation", snap.generation},
              {"member_id", snap.member_id},
              {"term",
               {{"state", term_state_name(term.state)},
                {"generation", term.generation},
                {"established_at", iso8601(term.established_at)},
                {"terms_established", term.terms},
                {"transactions_committed", term.committed},
                {"transactions_aborted", term.aborted},
                {"problem", term.problem},
                {"leader_state",
                 {{"entries", term.state_entries},
                  {"bytes", term.state_bytes},
                  {"restored_at", iso8601(term.state_restored_at)},
                  {"restore_ms", term.state_restore_took.count()}}}}}};
}

json assignment_json(const AgentRunner& agents) {
  json out = json::object();
  for (const auto& [topic, partitions] : agents.assignment()) out[topic] = partitions;
  return out;
}

}  // namespace

HttpResponse metrics_http_response(const Metrics& metrics) {
  return HttpResponse{200, std::string(kPrometheusTextContentType), metrics.serialize()};
}

Router make_status_routes(const WorkerView& view) {
  Router router;
  router.add("/", [] { return json_response(200, json{{"status", "OK"}}); });
  router.add("/livez", [] { return json_response(200, json{{"status", "alive"}}); });
  router.add("/readyz", [view] {
    const std::string reason = view.not_ready_reason();
    if (!reason.empty()) return json_response(503, json{{"status", "not ready"}, {"reason", reason}});
    return json_response(200, json{{"status", "ready"}});
  });
  router.add("/leader", [view] { return json_response(200, leader_json(*view.elector)); });
  router.add("/assignment", [view] { return json_response(200, assignment_json(*view.agents)); });
  router.add("/metrics", [view] { return metrics_http_response(*view.metrics); });
  router.add("/status", [view] {
    json agents = json::array();
    for (const auto& agent : view.agents->snapshot()) {
      const AgentConfig* config = view.manifest->find_agent(agent.name);
      const std::string dead_letter_topic = config != nullptr ? view.manifest->dead_letter_topic(*config) : "";
      agents.push_back({{"name", agent.name},
                        {"processing_guarantee",
                         agent.guarantee == ProcessingGuarantee::kExactlyOnce ? "exactly_once" : "at_least_once"},
                        {"batch_max_messages", agent.batch_max_messages},
                        {"messages_handled", agent.handled},
                        {"batches", agent.batches},
                        {"units_retried", agent.units_retried},
                        {"errors", agent.errors},
                        {"dead_lettered", agent.dead_lettered},
                        {"dead_letter_topic", dead_letter_topic.empty() ? json(nullptr) : json(dead_letter_topic)},
                        {"queued_messages", agent.queued_messages},
                        {"queued_bytes", agent.queued_bytes},
                        {"last_error", agent.last_error}});
    }
    json timers = json::array();
    for (const auto& timer : view.timers->snapshot()) {
      timers.push_back({{"name", timer.name},
                        {"fires", timer.fires},
                        {"skipped_ticks", timer.skipped_ticks},
                        {"last_run", iso8601(timer.last_run)},
                        {"last_error", timer.last_error}});
    }
    json services = json::array();
    for (const auto& service : view.service_runner->snapshot()) {
      services.push_back({{"name", service.name},
                          {"state", service.state},
                          {"terms", service.terms},
                          {"last_error", service.last_error}});
    }
    json plugins = json::array();
    for (const auto& plugin : *view.plugins) {
      plugins.push_back({{"name", plugin.name}, {"version", plugin.version}, {"abi", plugin.abi}, {"file", plugin.file.string()}});
    }
    const auto uptime = std::chrono::duration<double>(std::chrono::steady_clock::now() - view.started).count();
    const auto retries = view.services->send_retries();
    return json_response(200, json{{"app", view.manifest->app.id},
                                   {"version", FAUST_HOST_VERSION},
                                   {"uptime_seconds", uptime},
                                   {"ready", view.not_ready_reason().empty()},
                                   {"broker", broker_state_name(view.transport->broker_state())},
                                   {"leader", leader_json(*view.elector)},
                                   {"assignment", assignment_json(*view.agents)},
                                   {"agents", agents},
                                   {"sends", {{"waiting_for_broker", retries.waiting}, {"retries", retries.total}}},
                                   {"timers", timers},
                                   {"services", services},
                                   {"plugins", plugins}});
  });
  return router;
}

}  // namespace faust
