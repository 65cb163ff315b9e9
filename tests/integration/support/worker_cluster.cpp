#include "worker_cluster.h"

#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <regex>
#include <stdexcept>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "../broker_env.h"
#include "http_get.h"

namespace faust::testing {
namespace {

std::string unique_suffix() {
  std::random_device device;
  return std::to_string(::getpid()) + "-" + std::to_string(device() % 1000000);
}

const std::string kTick = "[publish_greetings] PUBLISHING ON LEADER!";
const std::string kSent = "[publish_greetings] sent greeting ";
const std::string kPrinted = "[say] ";

}  // namespace

WorkerCluster::WorkerCluster(const std::string& name, ClusterSettings settings)
    : WorkerCluster(name, settings, ClusterManifest{}) {}

WorkerCluster::WorkerCluster(const std::string& name, ClusterSettings settings, ClusterManifest manifest)
    : settings_(settings) {
  app_id_ = manifest.app_id.empty() ? "it-" + name + "-" + unique_suffix() : manifest.app_id;
  dir_ = std::filesystem::temp_directory_path() / app_id_;
  std::filesystem::create_directories(dir_);
  manifest_ = write_manifest("leader.yaml", manifest);
}

std::filesystem::path WorkerCluster::write_manifest(const std::string& file_name, const ClusterManifest& manifest) const {
  const auto path = dir_ / file_name;
  std::ofstream out(path);
  out << "app:\n"
      << "  id: " << app_id_ << "\n"
      << "  broker: kafka://" << broker_address() << "\n"
      << "  value_serializer: " << manifest.value_serializer << "\n"
      << "  session_timeout: " << settings_.session_timeout << "\n"
      << "  heartbeat_interval: " << settings_.heartbeat_interval << "\n"
      << manifest.app_lines;
  if (manifest.sections.empty()) {
    out << "agents:\n  say:\n    library: say\n"
        << "timers:\n  publish_greetings:\n    library: publish_greetings\n"
        << "    interval: " << settings_.greeting_interval << "\n    on_leader: true\n";
  } else {
    out << manifest.sections;
  }
  return path;
}

WorkerCluster::~WorkerCluster() {
  for (auto& worker : workers_) worker.process.reset();  // kills what still runs
  // A failed test keeps the workers' whole logs for a look afterwards.
  if (::testing::Test::HasFailure()) {
    std::cerr << "[ cluster ] the workers' logs are kept in " << dir_.string() << "\n";
    return;
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::size_t WorkerCluster::start_worker(const StartOptions& options) { return start_worker(options, manifest_); }

std::size_t WorkerCluster::start_worker(const StartOptions& options, const std::filesystem::path& manifest) {
  const std::size_t index = workers_.size();
  const auto log = dir_ / ("worker-" + std::to_string(index) + ".log");
  // debug: the host logs each committed leader transaction only at that level.
  std::vector<std::string> args{"--manifest", manifest.string(), "--web-port", "0", "-l", "debug"};
  args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());
  Worker worker;
  worker.process = std::make_unique<WorkerProcess>(FAUST_HOST_BINARY, args, log, options.environment);
  if (!options.wait_serving) {
    workers_.push_back(std::move(worker));
    return index;
  }
  if (!worker.process->wait_for_log("web: serving", std::chrono::seconds(30))) {
    throw std::runtime_error("worker " + std::to_string(index) + " serves no web port; log:\n" + worker.process->log());
  }
  static const std::regex kServing(R"(web: serving http://[^:]+:(\d+)/)");
  std::smatch match;
  const std::string text = worker.process->log();
  if (!std::regex_search(text, match, kServing)) throw std::runtime_error("no web port in log:\n" + text);
  worker.web_port = static_cast<std::uint16_t>(std::stoi(match[1]));
  if (options.wait_ready && !worker.process->wait_for_log("worker ready", std::chrono::seconds(30))) {
    throw std::runtime_error("worker " + std::to_string(index) + " not ready within 30 s; log:\n" + worker.process->log());
  }
  workers_.push_back(std::move(worker));
  return index;
}

CommandResult WorkerCluster::run_faust_host(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
  const auto output_file = dir_ / ("command-" + std::to_string(commands_run_++) + ".log");
  WorkerProcess command(FAUST_HOST_BINARY, args, output_file);
  CommandResult result;
  if (const auto code = command.wait_exit(timeout)) result.exit_code = *code;
  result.output = command.log();
  return result;
}

CommandResult WorkerCluster::send(const std::string& agent, const std::string& value,
                                  const std::filesystem::path& manifest) {
  return run_faust_host({"send", agent, value, "--manifest", (manifest.empty() ? manifest_ : manifest).string()});
}

std::optional<bool> WorkerCluster::is_leader(std::size_t index) {
  auto& worker = workers_.at(index);
  if (worker.paused || !worker.process->running()) return std::nullopt;
  const auto reply = http_get(worker.web_port, "/leader");
  if (!reply || reply->status != 200) return std::nullopt;
  const auto body = nlohmann::json::parse(reply->body, nullptr, false);
  if (body.is_discarded()) return std::nullopt;
  return body.value("is_leader", false);
}

std::vector<std::size_t> WorkerCluster::leaders() {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    if (is_leader(i).value_or(false)) out.push_back(i);
  }
  return out;
}

std::vector<std::int32_t> WorkerCluster::assigned_partitions(std::size_t index, const std::string& topic) {
  auto& worker = workers_.at(index);
  if (worker.paused || !worker.process->running()) return {};
  const auto reply = http_get(worker.web_port, "/assignment");
  if (!reply || reply->status != 200) return {};
  const auto body = nlohmann::json::parse(reply->body, nullptr, false);
  if (body.is_discarded() || !body.contains(topic)) return {};
  return body.at(topic).get<std::vector<std::int32_t>>();
}

std::vector<SentGreeting> WorkerCluster::sent_greetings(std::size_t index) const {
  std::vector<SentGreeting> out;
  for (const auto& line : workers_.at(index).process->log_lines()) {
    const auto at = line.find(kSent);
    if (at == std::string::npos) continue;
    const auto logged = log_time(line).value_or(std::chrono::system_clock::time_point());
    out.push_back(SentGreeting{line.substr(at + kSent.size()), logged});
  }
  return out;
}

// A tick queues its greeting in the tick's transaction ("sent greeting X"); the greeting counts
// once the host logged that transaction committed, before the worker's next tick began.
std::vector<std::string> WorkerCluster::acknowledged_greetings() const {
  const std::string committed = committed_leader_transaction("publish_greetings");
  std::vector<std::string> out;
  for (const auto& worker : workers_) {
    std::vector<std::string> queued;
    for (const auto& line : worker.process->log_lines()) {
      if (line.find(kTick) != std::string::npos) {
        queued.clear();
      } else if (const auto at = line.find(kSent); at != std::string::npos) {
        queued.push_back(line.substr(at + kSent.size()));
      } else if (line.find(committed) != std::string::npos) {
        out.insert(out.end(), queued.begin(), queued.end());
        queued.clear();
      }
    }
  }
  return out;
}

std::map<std::string, int> WorkerCluster::printed_greetings() const {
  std::map<std::string, int> out;
  for (const auto& worker : workers_) {
    for (const auto& line : worker.process->log_lines()) {
      if (const auto at = line.find(kPrinted); at != std::string::npos) ++out[line.substr(at + kPrinted.size())];
    }
  }
  return out;
}

std::vector<std::size_t> WorkerCluster::printers_of(const std::string& greeting) const {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    if (workers_[i].process->log().find(kPrinted + greeting + "\n") != std::string::npos) out.push_back(i);
  }
  return out;
}

std::vector<std::string> WorkerCluster::unprinted_greetings() const {
  const auto printed = printed_greetings();
  std::vector<std::string> out;
  for (const auto& greeting : acknowledged_greetings()) {
    if (printed.count(greeting) == 0) out.push_back(greeting);
  }
  return out;
}

std::vector<std::string> skewed_clock(int offset_seconds) {
  // Preloading a missing library only warns, and the worker would run on the true clock.
  if (!std::filesystem::exists(FAUST_LIBFAKETIME)) {
    ADD_FAILURE() << "libfaketime not found (" << FAUST_LIBFAKETIME << "): install the package faketime "
                  << "(scripts/setup.sh) and configure the build again";
  }
  const char* asan = std::getenv("ASAN_OPTIONS");
  return {std::string("LD_PRELOAD=") + FAUST_FAKETIME_C11_WAITS + " " + FAUST_LIBFAKETIME,
          (offset_seconds < 0 ? "FAKETIME=" : "FAKETIME=+") + std::to_string(offset_seconds),
          "FAKETIME_DONT_FAKE_MONOTONIC=1",
          // Under AddressSanitizer its runtime must otherwise be the first library loaded.
          std::string("ASAN_OPTIONS=") + (asan != nullptr ? std::string(asan) + ":" : "") + "verify_asan_link_order=0"};
}

void expect_acknowledged_greetings_printed(const WorkerCluster& cluster, std::chrono::milliseconds timeout) {
  const bool all_printed = eventually(timeout, [&] { return cluster.unprinted_greetings().empty(); });
  const auto missing = cluster.unprinted_greetings();
  EXPECT_TRUE(all_printed) << missing.size() << " acknowledged greeting(s) never printed, first: "
                           << (missing.empty() ? "" : missing.front());
}

std::size_t await_single_leader(WorkerCluster& cluster, std::chrono::milliseconds timeout) {
  std::vector<std::size_t> leaders;
  EXPECT_TRUE(eventually(timeout, [&] {
    leaders = cluster.leaders();
    return leaders.size() == 1;
  })) << "no single leader within " << timeout.count() << " ms";
  return leaders.size() == 1 ? leaders.front() : SIZE_MAX;
}

void expect_workers_running_without_critical(const WorkerCluster& cluster) {
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    WorkerProcess& process = *cluster.worker(i).process;
    EXPECT_TRUE(process.running()) << "worker " << i << "\n" << process.log();
    EXPECT_EQ(count_lines(process, "[critical]"), 0u) << "worker " << i << "\n" << process.log();
  }
}

std::string committed_leader_transaction(const std::string& timer) {
  return "committed leader transaction of timer '" + timer + "'";
}

std::optional<std::chrono::system_clock::time_point> log_time(const std::string& line) {
  std::tm tm{};
  int millis = 0;
  if (std::sscanf(line.c_str(), "[%d-%d-%d %d:%d:%d,%d]", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                  &tm.tm_sec, &millis) != 7) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  tm.tm_isdst = -1;
  return std::chrono::system_clock::from_time_t(std::mktime(&tm)) + std::chrono::milliseconds(millis);
}

std::optional<std::chrono::system_clock::time_point> first_log_time(const WorkerProcess& process, const std::string& text,
                                                                    std::chrono::system_clock::time_point after) {
  for (const auto& line : process.log_lines()) {
    if (line.find(text) == std::string::npos) continue;
    const auto time = log_time(line);
    if (time && *time >= after) return time;
  }
  return std::nullopt;
}

}  // namespace faust::testing
