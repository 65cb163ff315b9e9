#include "broker_control.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/types.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "../broker_env.h"
#include "http_get.h"

namespace faust::testing {
namespace {

// Whether `pid` is the broker JVM (not a process that reused the id, nor a zombie), as the
// script itself decides it.
bool is_broker_process(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline");
  std::stringstream command_line;
  command_line << in.rdbuf();
  std::string text = command_line.str();
  for (char& c : text) c = c == '\0' ? ' ' : c;
  return text.find("kafka.Kafka ") != std::string::npos;
}

}  // namespace

std::filesystem::path broker_state_file() {
  if (const std::string file = detail::env_or_empty("FAUST_BROKER_STATE_FILE"); !file.empty()) return file;
  if (const std::string dir = detail::env_or_empty("FAUST_BROKER_STATE"); !dir.empty()) {
    return std::filesystem::path(dir) / "broker.env";
  }
  return FAUST_DEFAULT_BROKER_STATE_FILE;
}

std::string why_broker_not_controllable() {
  const std::string broker = broker_address();
  if (broker.empty()) return "no test broker";
  const auto state_file = broker_state_file();
  if (detail::broker_from_state_file(state_file) != broker) {
    return "cannot stop or start the test broker: " + state_file.string() + " does not describe " + broker +
           " (set FAUST_BROKER_STATE to the folder the broker was started with)";
  }
  return {};
}

std::unique_ptr<WorkerProcess> start_broker_restart(const std::filesystem::path& log) {
  // The script reads its state folder from the environment it inherits.
  ::setenv("FAUST_BROKER_STATE", broker_state_file().parent_path().c_str(), 1);
  const std::vector<std::string> args{FAUST_KAFKA_BROKER_SCRIPT, "restart"};
  return std::make_unique<WorkerProcess>("/bin/bash", args, log);
}

bool stop_broker(std::chrono::seconds timeout) {
  const std::string pid_text = detail::state_file_value(broker_state_file().string(), "FAUST_BROKER_PID");
  if (pid_text.empty()) return false;
  const auto pid = static_cast<pid_t>(std::stol(pid_text));
  if (!is_broker_process(pid)) return false;
  ::kill(pid, SIGTERM);
  if (eventually(timeout, [&] { return !is_broker_process(pid); })) return true;
  ::kill(pid, SIGKILL);
  return eventually(std::chrono::seconds(10), [&] { return !is_broker_process(pid); });
}

Readiness readiness(std::uint16_t port) {
  const auto reply = http_get(port, "/readyz");
  if (!reply) return {};
  const auto body = nlohmann::json::parse(reply->body, nullptr, false);
  return {reply->status, body.is_discarded() ? std::string() : body.value("reason", "")};
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace faust::testing
