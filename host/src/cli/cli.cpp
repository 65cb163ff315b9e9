#include "cli/cli.h"

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <optional>
#include <sstream>

#include <CLI/CLI.hpp>
#include <date/date.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "cli/broker_check.h"
#include "cli/redaction.h"
#include "isolation/plugin_runner.h"
#include "manifest/manifest.h"
#include "runtime/agents/dead_letter_replay.h"
#include "worker/plugin_bindings.h"
#include "worker/worker.h"
#include "worker/worker_services.h"

namespace faust {
namespace {

struct Options {
  std::string manifest;
  std::string loglevel = "info";
  std::string logfile;
  std::string broker;
  std::optional<int> web_port;
  std::string web_bind;
  std::string web_host;
  bool without_web = false;
  std::string send_agent;
  std::optional<std::string> send_value;
  std::optional<std::string> send_key;
  std::optional<std::string> send_dead_letter;  // "all" or "PARTITION:OFFSET"
  bool check_broker = false;
};

// The log goes through a RedactingSink; the returned one gets the manifest's secrets once loaded.
Result<std::shared_ptr<RedactingSink>> setup_logging(const Options& options) {
  std::shared_ptr<spdlog::sinks::sink> output;
  if (options.logfile.empty()) {
    output = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  } else {
    try {
      output = std::make_shared<spdlog::sinks::basic_file_sink_mt>(options.logfile);
    } catch (const spdlog::spdlog_ex& e) {
      return Error{ExitCode::kFailure, "cannot open log file " + options.logfile + ": " + e.what()};
    }
  }
  auto redacting = std::make_shared<RedactingSink>(std::move(output));
  auto logger = std::make_shared<spdlog::logger>("faust-host", redacting);
  logger->set_pattern("[%Y-%m-%d %H:%M:%S,%e] [%P] [%^%l%$] %v");
  logger->set_level(spdlog::level::from_str(options.loglevel == "warning" ? "warn" : options.loglevel));
  logger->flush_on(spdlog::level::trace);  // tail -f and tests see each line as it happens
  spdlog::set_default_logger(logger);
  return redacting;
}

// The manifest with the command line's overrides applied.
Result<Manifest> load(const Options& options) {
  auto manifest = load_manifest(options.manifest);
  if (!manifest) return manifest;
  if (!options.broker.empty()) {
    auto broker = parse_broker_url(options.broker);
    if (!broker) return Error{ExitCode::kUsage, "--broker: " + broker.error().message};
    manifest->app.broker = std::move(broker).value();
  }
  if (options.web_port) manifest->web.port = static_cast<std::uint16_t>(*options.web_port);
  if (!options.web_bind.empty()) manifest->web.bind = options.web_bind;
  if (options.without_web) manifest->web.enabled = false;
  return manifest;
}

// Services for `check`: plugins are created and may log, but nothing is sent.
class CheckServices final : public HostServices {
 public:
  explicit CheckServices(std::string app_id) : app_id_(std::move(app_id)) {}
  void log(const ComponentRef& from, faust_log_level /*level*/, std::string_view message) override {
    spdlog::info("[{}] {}", from.name, message);
  }
  Status send(const ComponentRef& /*from*/, OutgoingMessage /*message*/) override {
    return Error{ExitCode::kFailure, "check: nothing is sent while checking"};
  }
  bool is_leader() const override { return false; }
  const std::string& app_id() const override { return app_id_; }
  bool wait_for_stop(const ComponentRef& /*from*/, std::chrono::milliseconds /*timeout*/) override { return true; }
  // Checked as a worker checks them, in a registry thrown away with the check.
  Result<faust_metric*> create_metric(const ComponentRef& from, const faust_metric_spec& spec) override {
    return metrics_.plugins().create(from.plugin, spec);
  }
  Result<std::shared_ptr<void>> register_page(const ComponentRef& from, const std::string& path,
                                              PageHandler handler) override {
    return pages_.add(from.plugin, path, std::move(handler));
  }

 private:
  std::string app_id_;
  Metrics metrics_;
  PluginPages pages_{1};
};

// "2026-11-30 09:00 +01:00 (08:00 UTC)": a run in the timer's zone, and in UTC (with the date
// when it differs); just "2026-11-30 09:00 UTC" for a UTC timer.
std::string describe_run(const CronSchedule& schedule, std::chrono::system_clock::time_point run) {
  const auto utc = date::floor<std::chrono::minutes>(run);
  if (schedule.zone_name() == "UTC") return date::format("%F %R UTC", utc);
  const auto local = date::floor<std::chrono::minutes>(schedule.to_local(run));
  const auto offset = std::chrono::duration_cast<std::chrono::minutes>(schedule.utc_offset(run)).count();
  char sign_and_offset[16];
  std::snprintf(sign_and_offset, sizeof(sign_and_offset), "%c%02d:%02d", offset < 0 ? '-' : '+',
                static_cast<int>(std::abs(offset) / 60), static_cast<int>(std::abs(offset) % 60));
  const bool same_day = date::floor<date::days>(local).time_since_epoch() == date::floor<date::days>(utc).time_since_epoch();
  return date::format("%F %R ", local) + sign_and_offset + " (" + date::format(same_day ? "%R" : "%F %R", utc) +
         " UTC)";
}

// ", isolation: process (handler_timeout 30 s, max_restarts_per_minute 10)" for an isolated timer or
// service; nothing otherwise.
std::string describe_isolation(Isolation isolation, const ProcessLimits& limits) {
  if (isolation != Isolation::kProcess) return {};
  std::ostringstream out;
  out << ", isolation: process (handler_timeout " << std::chrono::duration<double>(limits.handler_timeout).count()
      << " s";
  if (limits.memory_limit_mib > 0) out << ", memory_limit_mib " << limits.memory_limit_mib;
  out << ", max_restarts_per_minute " << limits.max_restarts_per_minute << ")";
  return out.str();
}

std::string describe_timer(const TimerConfig& timer) {
  std::ostringstream out;
  out << "timer " << timer.name << ": ";
  if (timer.cron) {
    out << "cron \"" << timer.cron->expression_text() << "\" (" << timer.cron->zone_name() << ")";
  } else {
    out << "every " << timer.interval.count() << " s";
  }
  if (timer.on_leader) out << ", on leader only";
  out << describe_isolation(timer.isolation, timer.limits);
  if (timer.cron) {
    out << ": next runs ";
    auto run = std::chrono::system_clock::now();
    for (int i = 0; i < 3; ++i) {
      run = timer.cron->next_after(run);
      out << (i > 0 ? ", " : "") << describe_run(*timer.cron, run);
    }
  }
  return out.str();
}

int run_check(const Manifest& manifest) {
  CheckServices services(manifest.app.id);
  auto bindings = bind_plugins(manifest, services);
  if (!bindings) {
    std::cerr << "faust-host: " << bindings.error().message << "\n";
    return to_int(bindings.error().code);
  }
  std::cout << "manifest " << manifest.file.string() << ": OK\n";
  std::cout << "app " << manifest.app.id << ", broker " << manifest.app.broker.scheme << "://"
            << manifest.app.broker.bootstrap_servers() << "\n";
  for (const auto& plugin : bindings->plugins) {
    std::cout << "plugin " << plugin.name << " " << plugin.version << " (ABI " << plugin.abi << ") from "
              << plugin.file.string() << "\n";
  }
  for (const auto& agent : manifest.agents) {
    std::cout << "agent " << agent.name << ": topic " << manifest.agent_topic(agent) << ", concurrency "
              << agent.concurrency << ", on_error " << on_error_name(agent.on_error);
    if (agent.on_error == OnError::kRetry || agent.on_error == OnError::kDeadLetter) {
      std::cout << " (max_retries " << agent.max_retries << ")";
    }
    if (agent.on_error == OnError::kDeadLetter) {
      std::cout << ", dead-letter topic " << manifest.dead_letter_topic(agent);
    }
    for (const auto& binding : bindings->agents) {
      if (binding.name != agent.name) continue;
      if (binding.guarantee == ProcessingGuarantee::kExactlyOnce) std::cout << ", exactly_once";
      if (binding.batch.max_messages > 1) {
        std::cout << ", batches of up to " << binding.batch.max_messages << " (max_wait "
                  << std::chrono::duration<double>(binding.batch.max_wait).count() << " s"
                  << (binding.batch_lanes.empty()                   ? ""
                      : agent.isolation == Isolation::kProcess ? ", one call per batch"
                                                                : ", handle_batch")
                  << ")";
      }
    }
    if (agent.isolation == Isolation::kProcess) {
      std::cout << ", isolation: process (max_crashes " << agent.max_crashes << ", handler_timeout "
                << std::chrono::duration<double>(agent.handler_timeout).count() << " s";
      if (agent.memory_limit_mib > 0) std::cout << ", memory_limit_mib " << agent.memory_limit_mib;
      std::cout << ", max_restarts_per_minute " << agent.max_restarts_per_minute << ")";
    }
    std::cout << "\n";
  }
  for (const auto& timer : manifest.timers) std::cout << describe_timer(timer) << "\n";
  for (const auto& service : manifest.services) {
    std::cout << "service " << service.name << ": stop_timeout "
              << std::chrono::duration<double>(service.stop_timeout).count() << " s"
              << describe_isolation(service.isolation, service.limits) << "\n";
  }
  return 0;
}

int send_usage_error(const std::string& message) {
  std::cerr << "faust-host: send: " << message << "\n";
  return to_int(ExitCode::kUsage);
}

// `--dead-letter PARTITION:OFFSET`: both whole numbers, nothing else.
std::optional<TopicReadRequest::Position> parse_position(const std::string& text) {
  const auto colon = text.find(':');
  if (colon == std::string::npos) return std::nullopt;
  TopicReadRequest::Position position;
  const auto read = [](std::string_view digits, auto& out) {
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), out);
    return !digits.empty() && error == std::errc() && end == digits.data() + digits.size() && out >= 0;
  };
  if (!read(std::string_view(text).substr(0, colon), position.partition) ||
      !read(std::string_view(text).substr(colon + 1), position.offset)) {
    return std::nullopt;
  }
  return position;
}

// `send AGENT --dead-letter all|PARTITION:OFFSET`: the agent's dead-lettered messages back to it.
int run_replay(const Manifest& manifest, const AgentConfig& agent,
               std::optional<TopicReadRequest::Position> only, Transport& transport) {
  const DeadLetterReplay replay{agent.name, manifest.dead_letter_topic(agent), manifest.agent_topic(agent),
                                manifest.app.id + "-" + agent.name + "-dead-letter-replay", only};
  auto replayed = replay_dead_letters(transport, replay, [&](const ConsumedMessage& record) {
    std::cout << "replayed " << record.source.topic << "/" << record.source.partition << "@" << record.offset
              << " to agent " << agent.name << " (topic " << replay.agent_topic << ")\n"
              << std::flush;
  });
  if (!replayed) {
    std::cerr << "faust-host: send: " << replayed.error().message << "\n";
    return to_int(replayed.error().code);
  }
  if (!replay.only) {
    std::cout << "replayed " << *replayed << " dead-lettered message(s) of agent " << agent.name << " from "
              << replay.dead_letter_topic << "\n";
  }
  return 0;
}

int run_send(const Manifest& manifest, const Options& options) {
  if (manifest.app.broker.scheme == "memory") {
    std::cerr << "faust-host: send: memory:// topics live inside each worker; there is no broker to send to\n";
    return to_int(ExitCode::kUsage);
  }
  const AgentConfig* agent = manifest.find_agent(options.send_agent);
  if (agent == nullptr) {
    return send_usage_error("no agent named '" + options.send_agent + "' in " + manifest.file.string());
  }
  const bool replay = options.send_dead_letter.has_value();
  if (replay && (options.send_value || options.send_key)) {
    return send_usage_error("--dead-letter replays stored messages; give no value or --key with it");
  }
  if (!replay && !options.send_value) return send_usage_error("a value to send is required (or --dead-letter)");
  if (replay && agent->on_error != OnError::kDeadLetter) {
    return send_usage_error("agent '" + agent->name + "' has no dead-letter topic (its on_error is " +
                            on_error_name(agent->on_error) + ", not dead_letter)");
  }
  std::optional<TopicReadRequest::Position> only;  // --dead-letter PARTITION:OFFSET
  if (replay && *options.send_dead_letter != "all") {
    only = parse_position(*options.send_dead_letter);
    if (!only) {
      return send_usage_error("--dead-letter: expected 'all' or PARTITION:OFFSET (e.g. 3:1207), got '" +
                              *options.send_dead_letter + "'");
    }
  }
  if (!replay) {
    if (auto status = check_serialized(manifest.app.value_serializer, *options.send_value, "value"); !status) {
      return send_usage_error(status.error().message);
    }
  }
  // A refused password or ACL arrives from a client thread; it, not the timeout it causes, is
  // what the command reports.
  std::mutex refusal_mutex;
  std::optional<Error> refusal;
  auto transport = make_transport(manifest, [&](const Error& error) {
    std::lock_guard lock(refusal_mutex);
    if (!refusal) refusal = error;
  });
  if (!transport) {
    std::cerr << "faust-host: " << transport.error().message << "\n";
    return to_int(transport.error().code);
  }
  const auto refused = [&]() -> std::optional<Error> {
    std::lock_guard lock(refusal_mutex);
    return refusal;
  };
  const std::string topic = manifest.agent_topic(*agent);
  std::vector<TopicSpec> topics{TopicSpec{topic, manifest.app.topic_partitions, manifest.app.topic_replication}};
  if (replay) {
    // As the workers create it: an app whose workers never ran has nothing dead-lettered yet.
    topics.push_back(TopicSpec{manifest.dead_letter_topic(*agent), manifest.app.topic_partitions,
                               manifest.app.topic_replication});
  }
  if (auto status = (*transport)->ensure_topics(topics, std::chrono::seconds(10)); !status) {
    const Error error = refused().value_or(status.error());
    if (error.code == ExitCode::kKafkaAuthentication || error.code == ExitCode::kKafkaAuthorization) {
      std::cerr << "faust-host: " << error.message << "\n";
      return to_int(error.code);
    }
    std::cerr << "faust-host: broker " << manifest.app.broker.bootstrap_servers() << ": " << status.error().message << "\n";
    return to_int(ExitCode::kBrokerUnreachable);
  }
  if (replay) return run_replay(manifest, *agent, only, **transport);
  ProducedRecord record{topic, options.send_key, *options.send_value, {}};
  if (auto status = (*transport)->send(record, std::chrono::seconds(10)); !status) {
    if (const auto error = refused()) {
      std::cerr << "faust-host: " << error->message << "\n";
      return to_int(error->code);
    }
    std::cerr << "faust-host: " << status.error().message << "\n";
    // A timeout means no broker took it; anything else (e.g. too large) is a refusal.
    const bool unreachable = status.error().message.find("timed out") != std::string::npos ||
                             status.error().message.find("not acknowledged") != std::string::npos;
    return to_int(unreachable ? ExitCode::kBrokerUnreachable : ExitCode::kFailure);
  }
  std::cout << "sent to agent " << agent->name << " (topic " << topic << ")\n";
  return 0;
}

}  // namespace

int run_cli(int argc, char** argv) {
  // `faust-host plugin-runner --fd N`: the child process of an isolated agent, started by a
  // worker only. Not in --help: nothing else has a use for it.
  if (argc == 4 && std::string_view(argv[1]) == "plugin-runner" && std::string_view(argv[2]) == "--fd") {
    int fd = -1;
    const std::string_view text(argv[3]);
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), fd);
    if (error != std::errc() || end != text.data() + text.size() || fd < 0) {
      std::cerr << "faust-host: plugin-runner: --fd: expected a file descriptor, got '" << text << "'\n";
      return to_int(ExitCode::kUsage);
    }
    return isolation::run_plugin_runner(fd);
  }
  Options options;
  CLI::App app{"faust-host: a native worker host for Kafka stream agents"};
  app.set_version_flag("--version", std::string("faust-host ") + FAUST_HOST_VERSION);
  app.add_option("--manifest", options.manifest, "The app's manifest (YAML)")->check(CLI::ExistingFile);
  app.add_option("-l,--loglevel", options.loglevel, "Log level")
      ->check(CLI::IsMember({"trace", "debug", "info", "warning", "warn", "error", "critical"}, CLI::ignore_case));
  app.add_option("-f,--logfile", options.logfile, "Log to this file instead of stderr");
  app.add_option("--broker", options.broker, "Broker URL, overriding the manifest (kafka://host:port;host2:port)");
  app.add_option("--web-port", options.web_port, "Port of the web server (default 6066)")->check(CLI::Range(0, 65535));
  app.add_option("--web-bind", options.web_bind, "Address the web server binds (default 127.0.0.1)");
  app.add_option("--web-host", options.web_host, "Host name this worker's web server is reached by");
  app.add_flag("--without-web", options.without_web, "Do not start the web server");
  auto* worker = app.add_subcommand("worker", "Run a worker (the default)")->fallthrough();
  auto* check = app.add_subcommand("check", "Validate the manifest and load every plugin, without a broker")->fallthrough();
  // `check --broker [URL]`: the subcommand's own --broker, whose URL (the manifest's when none is
  // given) is then checked too.
  std::string check_broker_url;
  auto* check_broker = check->add_option("--broker", check_broker_url,
                                         "Also connect to the broker (URL, or the manifest's) and report, per ACL the "
                                         "app needs, whether its principal has it")
                           ->expected(0, 1);
  auto* send =
      app.add_subcommand("send", "Send a value to an agent, or replay its dead-lettered messages")->fallthrough();
  send->add_option("agent", options.send_agent, "Agent name")->required();
  send->add_option("value", options.send_value, "Value to send (not with --dead-letter)");
  send->add_option("-k,--key", options.send_key, "Key of the message");
  send->add_option("--dead-letter", options.send_dead_letter,
                   "Replay the agent's dead-lettered messages: 'all' (those not replayed before) or PARTITION:OFFSET "
                   "(one message)");
  app.require_subcommand(0, 1);
  try {
    app.parse(argc, argv);
    if (options.manifest.empty()) throw CLI::RequiredError("--manifest");
    options.check_broker = check_broker->count() > 0;
    if (!check_broker_url.empty()) options.broker = check_broker_url;
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : to_int(ExitCode::kUsage);
  }
  auto log = setup_logging(options);
  if (!log) {
    std::cerr << "faust-host: " << log.error().message << "\n";
    return to_int(log.error().code);
  }
  auto manifest = load(options);
  if (!manifest) {
    std::cerr << "faust-host: " << manifest.error().message << "\n";
    return to_int(manifest.error().code);
  }
  const Redaction redaction = [secrets = manifest->secrets](std::string_view text) {
    return redact(text, secrets);
  };
  (*log)->set_redaction(redaction);
  const RedactedConsole console(redaction);
  if (check->parsed()) {
    const int checked = run_check(*manifest);
    if (checked != 0 || !options.check_broker) return checked;
    return run_broker_check(*manifest, std::cout);
  }
  if (send->parsed()) return run_send(*manifest, options);
  (void)worker;
  return to_int(Worker(std::move(manifest).value(), options.web_host).run());
}

}  // namespace faust
