#pragma once

#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "metrics/metrics.h"
#include "plugins/host_services.h"
#include "web/plugin_pages.h"

namespace faust::testing {

// A HostServices that records what plugins do, in order, and answers sends with a result the
// test chooses. Metrics and pages are the host's own (PluginMetrics, PluginPages).
class RecordingHostServices : public HostServices {
 public:
  struct Event {
    enum class Kind { kLog, kSend };
    Kind kind = Kind::kLog;
    std::string component;  // ComponentRef::name
    std::string plugin;     // ComponentRef::plugin
    faust_log_level level = FAUST_LOG_INFO;
    std::string text;  // the log line, or the value sent
    OutgoingMessage message;
  };

  void log(const ComponentRef& from, faust_log_level level, std::string_view message) override {
    std::lock_guard lock(mutex_);
    events_.push_back(Event{Event::Kind::kLog, from.name, from.plugin, level, std::string(message), {}});
  }

  Status send(const ComponentRef& from, OutgoingMessage message) override {
    std::lock_guard lock(mutex_);
    events_.push_back(
        Event{Event::Kind::kSend, from.name, from.plugin, FAUST_LOG_INFO, message.value, message});
    if (send_error_) return *send_error_;
    return ok_status();
  }

  bool is_leader() const override { return leader_; }
  const std::string& app_id() const override { return app_id_; }
  bool wait_for_stop(const ComponentRef& /*from*/, std::chrono::milliseconds /*timeout*/) override { return true; }
  Result<faust_metric*> create_metric(const ComponentRef& from, const faust_metric_spec& spec) override {
    return metrics_.plugins().create(from.plugin, spec);
  }
  Result<std::shared_ptr<void>> register_page(const ComponentRef& from, const std::string& path,
                                              PageHandler handler) override {
    return pages_.add(from.plugin, path, std::move(handler));
  }

  const Metrics& metrics() const { return metrics_; }
  PluginPages& pages() { return pages_; }
  // The answer to GET `target` (/plugins/<plugin>/<path>), or nullopt when no page has that path.
  std::optional<HttpResponse> get_page(const std::string& target) {
    auto answer = std::make_shared<std::promise<HttpResponse>>();
    if (!pages_.serve(target, [answer](HttpResponse response) { answer->set_value(std::move(response)); })) {
      return std::nullopt;
    }
    return answer->get_future().get();
  }

  void fail_sends_with(std::string message) { send_error_ = Error{ExitCode::kFailure, std::move(message)}; }
  void set_leader(bool leader) { leader_ = leader; }

  std::vector<Event> events() const {
    std::lock_guard lock(mutex_);
    return events_;
  }
  std::vector<std::string> log_lines() const {
    std::vector<std::string> lines;
    for (const Event& event : events()) {
      if (event.kind == Event::Kind::kLog) lines.push_back(event.text);
    }
    return lines;
  }
  std::vector<OutgoingMessage> sent() const {
    std::vector<OutgoingMessage> messages;
    for (const Event& event : events()) {
      if (event.kind == Event::Kind::kSend) messages.push_back(event.message);
    }
    return messages;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<Event> events_;
  std::optional<Error> send_error_;
  bool leader_ = true;
  std::string app_id_ = "leader-example";
  Metrics metrics_;
  PluginPages pages_;
};

}  // namespace faust::testing
