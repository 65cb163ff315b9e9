#include "worker/worker.h"

#include <condition_variable>
#include <csignal>
#include <mutex>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "metrics/metrics.h"
#include "runtime/agent_runner.h"
#include "runtime/leader_elector.h"
#include "runtime/timer_service.h"
#include "transport/kafka/kafka_transport.h"
#include "transport/memory/memory_transport.h"
#include "web/web_server.h"
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
  std::vector<TopicSpec> topics;
  for (const auto& agent : manifest.agents) {
    topics.push_back(TopicSpec{manifest.agent_topic(agent), manifest.app.topic_partitions, manifest.app.topic_replication});
  }
  topics.push_back(TopicSpec{manifest.leader_topic(), 1, manifest.app.topic_replication});
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

Result<std::unique_ptr<Transport>> make_transport(const Manifest& manifest) {
  const BrokerUrl& broker = manifest.app.broker;
  if (broker.scheme == "memory") return std::unique_ptr<Transport>(std::make_unique<MemoryTransport>());
  if (broker.scheme != "kafka") {
    return Error{ExitCode::kManifestInvalid, manifest.file.string() + ": broker scheme '" + broker.scheme + "' is not supported"};
  }
  KafkaSettings settings;
  settings.bootstrap_servers = broker.bootstrap_servers();
  settings.properties = manifest.kafka;
  settings.leader_transactional_id = manifest.app.id + "-leader";
  settings.client_id = time_ordered_client_id(manifest.app.id);
  auto transport = KafkaTransport::create(settings);
  if (!transport) return transport.error();
  return std::unique_ptr<Transport>(std::move(transport).value());
}

Worker::Worker(Manifest manifest, std::string web_host) : manifest_(std::move(manifest)), web_host_(std::move(web_host)) {}

ExitCode Worker::run() {
  const auto started = Clock::now();
  boost::asio::io_context io;
  Metrics metrics;
  StopFlag stop;
  std::atomic<bool> ready{false};
  std::atomic<int> exit_code{to_int(ExitCode::kOk)};
  std::once_flag shutdown_once;
  std::thread stopper;
  std::function<void(ExitCode)> shutdown;  // set below, once every part exists

  WorkerServices services(manifest_, metrics, [&](const Error& error) {
    spdlog::critical("{}", error.message);
    boost::asio::post(io, [&, code = error.code] { shutdown(code); });
  });

  auto bindings = bind_plugins(manifest_, services);
  if (!bindings) {
    spdlog::critical("{}", bindings.error().message);
    return bindings.error().code;
  }
  for (const auto& plugin : bindings->plugins) {
    spdlog::info("loaded plugin {} {} (ABI {}) from {}", plugin.name, plugin.version, plugin.abi, plugin.file.string());
  }

  auto transport = make_transport(manifest_);
  if (!transport) {
    spdlog::critical("{}", transport.error().message);
    return transport.error().code;
  }
  GroupOptions leader_group = group_options(manifest_, manifest_.app.id + "-__leader");
  leader_group.topics = {manifest_.leader_topic()};
  LeaderElector elector(**transport, manifest_.app.id, leader_group, services,
                        LeaderTermOptions{.establish_within = manifest_.app.session_timeout});
  GroupOptions agent_group = group_options(manifest_, manifest_.app.id);
  agent_group.on_lag = [&services](const TopicPartition& partition, std::int64_t lag) {
    services.consumer_lag(partition, lag);
  };
  agent_group.client_id = time_ordered_client_id(manifest_.app.id);
  AgentRunner agents(**transport, agent_group, std::move(bindings->agents), services);
  TimerService timers(
      std::move(bindings->timers),
      [&elector](const std::string& timer, const std::function<Status()>& tick) {
        return elector.term().run_unit(timer, tick);
      },
      services);
  services.attach(transport->get(), &elector);

  WorkerView view{&manifest_, &metrics, &bindings->plugins, &elector, &agents, &timers, transport->get(), started, {}};
  view.not_ready_reason = [&]() -> std::string {
    if (stop.is_set()) return "shutting down";
    if ((*transport)->broker_state() == BrokerState::kDown) return "broker unreachable";
    if (!ready) return "joining the consumer group";
    if (const auto term = elector.term().snapshot(); !term.problem.empty() && !elector.is_leader()) {
      return "leadership: " + term.problem;
    }
    if (!agents.assigned()) return "rebalancing the consumer group";
    return {};
  };
  std::unique_ptr<WebServer> web;
  if (manifest_.web.enabled) {
    web = std::make_unique<WebServer>(io, WebServerOptions{manifest_.web.bind, manifest_.web.port, {}}, make_status_routes(view));
    if (auto status = web->start(); !status) {
      spdlog::critical("{}", status.error().message);
      return status.error().code;
    }
    spdlog::info("web: serving http://{}:{}/", web_host_.empty() ? manifest_.web.bind : web_host_, web->port());
  }
  metrics.set_up(true);

  // Start-up blocks on the broker, so it runs beside the io_context, which keeps serving
  // /livez and a 503 /readyz meanwhile.
  std::thread startup([&] {
    auto backoff = std::chrono::seconds(1);
    while (!stop.is_set()) {
      // Short attempts: shutdown waits for the one in progress.
      auto status = (*transport)->ensure_topics(topics_of(manifest_), std::chrono::seconds(3));
      if (status) break;
      spdlog::warn("broker {}: {}; retrying in {} s", manifest_.app.broker.bootstrap_servers(), status.error().message,
                   backoff.count());
      if (stop.wait_for(backoff)) return;
      backoff = std::min(backoff * 2, std::chrono::seconds(30));
    }
    if (stop.is_set()) return;
    if (auto status = elector.start(); !status) return services.fatal(status.error());
    if (auto status = agents.start(); !status) return services.fatal(status.error());
    auto last_note = Clock::now();
    while (!(elector.snapshot().joined && agents.joined())) {
      if (stop.wait_for(std::chrono::milliseconds(20))) return;
      if (Clock::now() - last_note > std::chrono::seconds(10)) {
        spdlog::info("still joining the consumer groups...");
        last_note = Clock::now();
      }
    }
    timers.start();
    ready = true;
    spdlog::info("worker ready: app '{}', {} agent(s), {} timer(s), in {:.3f} s", manifest_.app.id,
                 manifest_.agents.size(), manifest_.timers.size(),
                 std::chrono::duration<double>(Clock::now() - started).count());
  });

  shutdown = [&](ExitCode code) {
    std::call_once(shutdown_once, [&] {
      exit_code = to_int(code);
      spdlog::info("stopping: timers, then leadership, then agents (committing offsets)...");
      ready = false;
      stop.set();
      metrics.set_up(false);
      // The order matters: no leader sends once timers stop; leaving the leader group next lets
      // a successor take over while this worker is still finishing its in-flight messages.
      stopper = std::thread([&] {
        if (startup.joinable()) startup.join();
        timers.stop();
        elector.stop();
        agents.stop();
        if (auto status = (*transport)->flush(std::chrono::seconds(10)); !status) spdlog::warn("{}", status.error().message);
        boost::asio::post(io, [&] {
          if (web) web->stop();
          io.stop();
        });
      });
    });
  };

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  std::function<void(const boost::system::error_code&, int)> on_signal = [&](const boost::system::error_code& error,
                                                                             int signal_number) {
    if (error) return;
    if (stop.is_set()) {
      spdlog::warn("second signal ({}): exiting at once", strsignal(signal_number));
      std::_Exit(128 + signal_number);
    }
    spdlog::info("signal {} received", strsignal(signal_number));
    shutdown(ExitCode::kOk);
    signals.async_wait(on_signal);
  };
  signals.async_wait(on_signal);

  io.run();
  if (stopper.joinable()) stopper.join();  // it joined start-up, if shutdown ran
  if (startup.joinable()) startup.join();
  spdlog::info("stopped");
  return static_cast<ExitCode>(exit_code.load());
}

}  // namespace faust
