#include "worker/worker.h"

#include <condition_variable>
#include <csignal>
#include <mutex>
#include <optional>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "metrics/metrics.h"
#include "runtime/agents/agent_runner.h"
#include "runtime/leadership/leader_agent_runner.h"
#include "runtime/leadership/leader_elector.h"
#include "runtime/timers/timer_service.h"
#include "transport/kafka/kafka_transport.h"
#include "transport/memory/memory_transport.h"
#include "web/web_server.h"
#include "worker/manifest_reload.h"
#include "worker/plugin_bindings.h"
#include "worker/status_routes.h"
#include "worker/worker_services.h"

namespace faust {
namespace {

using Clock = std::chrono::steady_clock;

// Lets start-up waits end early when the worker is asked to stop.
class StopFlag {
 public:
  void set() {
    {
      std::lock_guard lock(mutex_);
      stopped_ = true;
    }
    cv_.notify_all();
  }
  bool is_set() const {
    std::lock_guard lock(mutex_);
    return stopped_;
  }
  // Returns true if stopped while waiting.
  bool wait_for(Clock::duration duration) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, duration, [&] { return stopped_; });
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool stopped_ = false;
};

std::vector<TopicSpec> topics_of(const Manifest& manifest) {
  const int replication = manifest.app.topic_replication;
  std::vector<TopicSpec> topics;
  for (const auto& agent : manifest.agents) {
    // A leader-only agent's topic has one partition: one leader reads it, in order.
    const int partitions = agent.on_leader ? 1 : manifest.app.topic_partitions;
    topics.push_back(TopicSpec{manifest.agent_topic(agent), partitions, replication, false});
    if (const std::string dead_letters = manifest.dead_letter_topic(agent); !dead_letters.empty()) {
      topics.push_back(TopicSpec{dead_letters, partitions, replication, false});
    }
  }
  topics.push_back(TopicSpec{manifest.leader_topic(), 1, replication, false});
  topics.push_back(TopicSpec{manifest.leader_state_topic(), 1, replication, true});
  return topics;
}

GroupOptions group_options(const Manifest& manifest, std::string group_id) {
  GroupOptions options;
  options.group_id = std::move(group_id);
  options.session_timeout = manifest.app.session_timeout;
  options.heartbeat_interval = manifest.app.heartbeat_interval;
  return options;
}

}  // namespace

Result<std::unique_ptr<Transport>> make_transport(const Manifest& manifest, std::function<void(const Error&)> on_fatal) {
  const BrokerUrl& broker = manifest.app.broker;
  if (broker.scheme == "memory") return std::unique_ptr<Transport>(std::make_unique<MemoryTransport>());
  if (broker.scheme != "kafka") {
    return Error{ExitCode::kManifestInvalid, manifest.file.string() + ": broker scheme '" + broker.scheme + "' is not supported"};
  }
  KafkaSettings settings;
  settings.bootstrap_servers = broker.bootstrap_servers();
  settings.properties = manifest.kafka;
  settings.leader_transactional_id = manifest.app.id + "-leader";
  for (const auto& agent : manifest.agents) settings.leader_topics.push_back(manifest.agent_topic(agent));
  settings.leader_topics.push_back(manifest.leader_state_topic());
  settings.client_id = worker_client_id(manifest.app.id);
  settings.on_fatal = std::move(on_fatal);
  auto transport = KafkaTransport::create(settings);
  if (!transport) return transport.error();
  return std::unique_ptr<Transport>(std::move(transport).value());
}

// One run of a worker: its parts, built in order, and the three things that drive them, each in
// its own method: start-up (beside the io_context, since it waits for the broker), shutdown
// (one ordered sequence, whoever asks), and signal handling (installed before anything else).
//
// Members are declared so that destruction runs the right way round: the web port and the
// runtime go first, then the plugin instances (while the transport they may still call lives),
// then the transport.
class WorkerRun {
 public:
  WorkerRun(const Manifest& manifest, const std::string& web_host)
      : manifest_(manifest),
        web_host_(web_host),
        signals_(io_, SIGINT, SIGTERM),
        reload_signals_(io_, SIGHUP),
        services_(manifest_, metrics_, [this](const Error& error) {
          // The first fatal error stops the worker and is its reason; later ones (the same refused
          // password seen by each client) would only repeat it.
          {
            std::lock_guard lock(fatal_mutex_);
            if (fatal_reason_) return;
            fatal_reason_ = error.message;
          }
          spdlog::critical("{}", error.message);
          boost::asio::post(io_, [this, code = error.code] { shut_down(code); });
        }) {
    // First, so that a signal during start-up stops the worker in order instead of killing it.
    signals_.async_wait([this](const boost::system::error_code& error, int signal) { on_signal(error, signal); });
    // SIGHUP reloads; it never ends the worker (its default action would).
    reload_signals_.async_wait([this](const boost::system::error_code& error, int) { on_reload_signal(error); });
  }

  ~WorkerRun() {
    if (reloader_.joinable()) reloader_.join();  // it uses the plugin services and bindings
    if (stopper_.joinable()) stopper_.join();  // it joined start-up, if shutdown ran
    if (startup_.joinable()) startup_.join();
    // Plugins may still call the host from their destructors: they get a clean error, and the
    // transport they would reach is still there.
    services_.attach(nullptr, nullptr);
    service_runner_.reset();  // it holds the service instances too
    bindings_.reset();
  }

  ExitCode run();

 private:
  Status build();
  void start_up();
  void shut_down(ExitCode code);
  void on_signal(const boost::system::error_code& error, int signal);
  void on_reload_signal(const boost::system::error_code& error);
  // Reloads until no SIGHUP is pending; on reloader_.
  void reload_while_asked();
  std::string not_ready_reason() const;

  const Manifest& manifest_;
  const std::string& web_host_;
  const Clock::time_point started_ = Clock::now();
  boost::asio::io_context io_;
  boost::asio::signal_set signals_;
  boost::asio::signal_set reload_signals_;
  Metrics metrics_;
  StopFlag stop_;
  std::atomic<bool> ready_{false};
  std::atomic<int> exit_code_{to_int(ExitCode::kOk)};
  std::once_flag shutdown_once_;
  mutable std::mutex fatal_mutex_;
  std::optional<std::string> fatal_reason_;  // why the worker stops, when an error stops it
  WorkerServices services_;
  std::unique_ptr<Transport> transport_;
  std::optional<PluginBindings> bindings_;
  std::unique_ptr<ServiceRunner> service_runner_;
  std::unique_ptr<LeaderAgentRunner> leader_agents_;
  std::unique_ptr<LeaderElector> elector_;
  std::unique_ptr<AgentRunner> agents_;
  std::unique_ptr<TimerService> timers_;
  std::unique_ptr<WebServer> web_;
  std::thread startup_;
  std::thread stopper_;
  // Where a reload publishes the isolated agents' new versions.
  const std::shared_ptr<isolation::AgentVersions> versions_ = std::make_shared<isolation::AgentVersions>();
  // One reload at a time, beside the io_context (a new version's start blocks); a SIGHUP during
  // one asks for one more after it.
  std::mutex reload_mutex_;
  bool reload_pending_ = false;
  bool reloading_ = false;
  std::thread reloader_;
};

// Plugins first, so a bad plugin fails before anything connects; then the transport, the
// runtime and the web port.
Status WorkerRun::build() {
  isolation::IsolationSettings isolation;
  isolation.crashed = [this](const std::string& plugin, const char* reason) { metrics_.plugin_crashed(plugin, reason); };
  isolation.fatal = [this](const Error& error) { services_.fatal(error); };
  isolation.versions = versions_;
  auto bindings = bind_plugins(manifest_, services_, isolation);
  if (!bindings) return bindings.error();
  bindings_ = std::move(bindings).value();
  for (AgentBinding& agent : bindings_->agents) {
    if (agent.dead_letter.topic.empty()) continue;
    agent.dead_letter.write = [this, name = agent.name](const ProducedRecord& record) {
      return services_.write_dead_letter(name, record);
    };
  }
  for (const auto& plugin : bindings_->plugins) {
    spdlog::info("loaded plugin {} {} (ABI {}) from {}", plugin.name, plugin.version, plugin.abi, plugin.file.string());
  }

  auto transport = make_transport(manifest_, [this](const Error& error) { services_.fatal(error); });
  if (!transport) return transport.error();
  transport_ = std::move(transport).value();

  const LeaderRunner run_as_leader = [this](const std::string& unit, const std::function<Status()>& work) {
    return elector_->term().run_unit(unit, work);
  };
  service_runner_ = std::make_unique<ServiceRunner>(std::move(bindings_->services), run_as_leader);
  leader_agents_ = std::make_unique<LeaderAgentRunner>(*transport_, manifest_.leader_agents_group(),
                                                       std::move(bindings_->leader_agents), services_);
  GroupOptions leader_group = group_options(manifest_, manifest_.app.id + "-__leader");
  leader_group.topics = {manifest_.leader_topic()};
  LeaderTermOptions term_options;
  term_options.establish_within = manifest_.app.session_timeout;
  term_options.state_topic = manifest_.leader_state_topic();
  term_options.state_limit_bytes = static_cast<std::size_t>(manifest_.app.leader_state_mib) * 1024 * 1024;
  // A term opens with the services' elected, then the leader-only agents start; it closes the
  // other way round.
  elector_ = std::make_unique<LeaderElector>(*transport_, manifest_.app.id, leader_group, services_, term_options,
                                             TermHooks{[this](std::int32_t generation) {
                                                         service_runner_->term_opening(generation);
                                                         leader_agents_->term_opening(generation);
                                                       },
                                                       [this](std::int32_t generation) {
                                                         leader_agents_->term_closed(generation);
                                                         service_runner_->term_closed(generation);
                                                       }});
  leader_agents_->attach(&elector_->term());
  GroupOptions agent_group = group_options(manifest_, manifest_.app.id);
  agent_group.on_lag = [this](const TopicPartition& partition, std::int64_t lag) {
    services_.consumer_lag(partition, lag);
  };
  agent_group.client_id = worker_client_id(manifest_.app.id);
  agent_group.incremental_rebalance = manifest_.app.incremental_rebalance;
  AgentRunnerOptions agent_options;
  agent_options.pause_above_bytes = static_cast<std::size_t>(manifest_.app.agent_queue_mib) * 1024 * 1024;
  agents_ = std::make_unique<AgentRunner>(*transport_, agent_group, std::move(bindings_->agents), services_,
                                          agent_options);
  timers_ = std::make_unique<TimerService>(std::move(bindings_->timers), run_as_leader, services_);
  services_.attach(transport_.get(), elector_.get(), service_runner_.get());

  if (manifest_.web.enabled) {
    WorkerView view{&manifest_,      &metrics_,         &bindings_->plugins, elector_.get(),
                    agents_.get(),   timers_.get(),     service_runner_.get(), transport_.get(),
                    &services_,      started_,          [this] { return not_ready_reason(); }};
    WebLimits limits;
    limits.page_timeout = manifest_.web.page_timeout;
    web_ = std::make_unique<WebServer>(io_, WebServerOptions{manifest_.web.bind, manifest_.web.port, limits},
                                       make_status_routes(view), &services_.pages());
    if (auto status = web_->start(); !status) return status;
    spdlog::info("web: serving http://{}:{}/", web_host_.empty() ? manifest_.web.bind : web_host_, web_->port());
  }
  metrics_.set_up(true);
  return ok_status();
}

std::string WorkerRun::not_ready_reason() const {
  if (stop_.is_set()) {
    std::lock_guard lock(fatal_mutex_);
    return fatal_reason_ ? "shutting down: " + *fatal_reason_ : "shutting down";
  }
  if (transport_->broker_state() == BrokerState::kDown) return "broker unreachable";
  if (!ready_) return "joining the consumer group";
  if (!agents_->assigned()) return "rebalancing the consumer group";
  if (const auto term = elector_->term().snapshot(); !term.problem.empty() && !elector_->is_leader()) {
    return "leadership: " + term.problem;
  }
  return {};
}

// Blocks on the broker, so it runs beside the io_context, which keeps serving /livez and a 503
// /readyz meanwhile.
void WorkerRun::start_up() {
  auto backoff = std::chrono::seconds(1);
  while (!stop_.is_set()) {
    // Short attempts: shutdown waits for the one in progress.
    auto status = transport_->ensure_topics(topics_of(manifest_), std::chrono::seconds(3));
    if (status) break;
    if (status.error().code != ExitCode::kBrokerUnreachable) return services_.fatal(status.error());
    spdlog::warn("broker {}: {}; retrying in {} s", manifest_.app.broker.bootstrap_servers(), status.error().message,
                 backoff.count());
    if (stop_.wait_for(backoff)) return;
    backoff = std::min(backoff * 2, std::chrono::seconds(30));
  }
  if (stop_.is_set()) return;
  // Before joining the leader group, so a service's start precedes its first elected.
  service_runner_->start();
  if (auto status = elector_->start(); !status) return services_.fatal(status.error());
  if (auto status = agents_->start(); !status) return services_.fatal(status.error());
  auto last_note = Clock::now();
  while (!(elector_->snapshot().joined && agents_->joined())) {
    if (stop_.wait_for(std::chrono::milliseconds(20))) return;
    if (Clock::now() - last_note > std::chrono::seconds(10)) {
      spdlog::info("still joining the consumer groups...");
      last_note = Clock::now();
    }
  }
  timers_->start();
  ready_ = true;
  spdlog::info("worker ready: app '{}', {} agent(s), {} timer(s), {} service(s), in {:.3f} s", manifest_.app.id,
               manifest_.agents.size(), manifest_.timers.size(), manifest_.services.size(),
               std::chrono::duration<double>(Clock::now() - started_).count());
}

void WorkerRun::shut_down(ExitCode code) {
  std::call_once(shutdown_once_, [&] {
    exit_code_ = to_int(code);
    spdlog::info("stopping: timers, then leadership, then agents (committing offsets), then services...");
    ready_ = false;
    stop_.set();
    metrics_.set_up(false);
    // Sends waiting for the broker give up now, and the messages they were for stay
    // uncommitted: the agents learn of the stop first.
    if (agents_) agents_->request_stop();
    services_.stop_retrying();
    // The order matters: no leader sends once timers stop; leaving the leader group next lets
    // a successor take over while this worker is still finishing its in-flight messages.
    stopper_ = std::thread([this] {
      if (startup_.joinable()) startup_.join();
      if (timers_) timers_->stop();
      if (elector_) elector_->stop();  // ends the term first: the services' revoked run now
      if (agents_) agents_->stop();
      if (service_runner_) service_runner_->stop();
      if (transport_) {
        if (auto status = transport_->flush(std::chrono::seconds(10)); !status) spdlog::warn("{}", status.error().message);
      }
      boost::asio::post(io_, [this] {
        if (web_) web_->stop();
        signals_.cancel();
        reload_signals_.cancel();
        io_.stop();
      });
    });
  });
}

void WorkerRun::on_signal(const boost::system::error_code& error, int signal) {
  if (error) return;
  if (stop_.is_set()) {
    spdlog::warn("second signal ({}): exiting at once", strsignal(signal));
    std::_Exit(128 + signal);
  }
  spdlog::info("signal {} received", strsignal(signal));
  shut_down(ExitCode::kOk);
  signals_.async_wait([this](const boost::system::error_code& next, int again) { on_signal(next, again); });
}

void WorkerRun::on_reload_signal(const boost::system::error_code& error) {
  if (error) return;
  reload_signals_.async_wait([this](const boost::system::error_code& next, int) { on_reload_signal(next); });
  if (stop_.is_set()) {
    spdlog::info("signal {} received while stopping: no reload", strsignal(SIGHUP));
    return;
  }
  spdlog::info("signal {} received: reloading {}", strsignal(SIGHUP), manifest_.file.string());
  std::lock_guard lock(reload_mutex_);
  reload_pending_ = true;
  if (reloading_) return;  // the running reload goes again
  reloading_ = true;
  if (reloader_.joinable()) reloader_.join();  // done: it cleared reloading_ on its way out
  reloader_ = std::thread([this] { reload_while_asked(); });
}

void WorkerRun::reload_while_asked() {
  while (true) {
    {
      std::lock_guard lock(reload_mutex_);
      if (!reload_pending_ || stop_.is_set()) {
        reloading_ = false;
        return;
      }
      reload_pending_ = false;
    }
    reload_manifest(manifest_, *versions_, metrics_);
  }
}

ExitCode WorkerRun::run() {
  if (auto status = build(); !status) {
    spdlog::critical("{}", status.error().message);
    return status.error().code;
  }
  startup_ = std::thread([this] { start_up(); });
  io_.run();
  if (reloader_.joinable()) reloader_.join();
  if (stopper_.joinable()) stopper_.join();
  if (startup_.joinable()) startup_.join();
  spdlog::info("stopped");
  return static_cast<ExitCode>(exit_code_.load());
}

Worker::Worker(Manifest manifest, std::string web_host) : manifest_(std::move(manifest)), web_host_(std::move(web_host)) {}

ExitCode Worker::run() { return WorkerRun(manifest_, web_host_).run(); }

}  // namespace faust
