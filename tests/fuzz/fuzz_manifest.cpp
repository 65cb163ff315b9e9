// Manifests come from users' files: any bytes must give a Manifest or a one-line error that names
// the file, never a crash, hang or leak.

#include <cctype>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "manifest/kafka_properties.h"
#include "manifest/manifest.h"

namespace {

using faust::fuzz::require;

constexpr std::string_view kFile = "fuzz.yaml";

// "fuzz.yaml: message" or "fuzz.yaml:LINE:COL: message" (manifest.h).
bool names_the_file(std::string_view message) {
  if (message.substr(0, kFile.size()) != kFile) return false;
  std::string_view rest = message.substr(kFile.size());
  const auto skip_number = [&rest] {
    std::size_t digits = 0;
    while (digits < rest.size() && std::isdigit(static_cast<unsigned char>(rest[digits])) != 0) ++digits;
    rest.remove_prefix(digits);
    return digits > 0;
  };
  if (rest.substr(0, 2) == ": ") return rest.size() > 2;
  if (rest.empty() || rest.front() != ':') return false;
  rest.remove_prefix(1);
  if (!skip_number() || rest.empty() || rest.front() != ':') return false;
  rest.remove_prefix(1);
  if (!skip_number()) return false;
  return rest.substr(0, 2) == ": " && rest.size() > 2;
}

// What an accepted manifest promises to the rest of the host.
void check_accepted(const faust::Manifest& manifest) {
  require(!manifest.app.id.empty() && manifest.app.id.size() <= 200, "app.id is a name of 1..200 characters",
          manifest.app.id);
  require(manifest.app.broker.scheme == "kafka" || manifest.app.broker.scheme == "memory",
          "the broker scheme is kafka or memory", manifest.app.broker.scheme);
  require((manifest.app.broker.scheme == "kafka") == !manifest.app.broker.servers.empty(),
          "kafka:// has servers and memory:// has none");
  const auto in_range = [](auto duration, faust::DurationRange range) {
    const double seconds = std::chrono::duration<double>(duration).count();
    return std::isfinite(seconds) && seconds >= range.min_seconds && seconds <= range.max_seconds;
  };
  require(in_range(manifest.app.session_timeout, faust::kSessionTimeoutRange),
          "the session timeout is in range");
  require(in_range(manifest.app.heartbeat_interval, faust::kHeartbeatIntervalRange) &&
              manifest.app.heartbeat_interval < manifest.app.session_timeout,
          "the heartbeat interval is in range and less than the session timeout");
  for (const auto& [key, value] : manifest.kafka) {
    require(!faust::refused_kafka_property(key), "no kafka property the host sets", key);
  }
  require(!manifest.agents.empty() || !manifest.timers.empty(), "at least one agent or timer");
  require(manifest.leader_topic().size() <= 249, "the leader topic fits Kafka's limit",
          manifest.leader_topic());
  for (const faust::AgentConfig& agent : manifest.agents) {
    require(!agent.name.empty() && !agent.library.empty(), "agents have a name and a library", agent.name);
    require(manifest.find_agent(agent.name) == &agent, "agent names are unique", agent.name);
    const std::string topic = manifest.agent_topic(agent);
    require(!topic.empty() && topic.size() <= 249, "agent topics fit Kafka's limit", topic);
    require(agent.concurrency >= 1 && agent.concurrency <= 1024, "agent concurrency in 1..1024");
    require(agent.max_retries >= 0 && agent.max_retries <= 1000, "agent max_retries in 0..1000");
  }
  for (const faust::TimerConfig& timer : manifest.timers) {
    require(!timer.name.empty() && !timer.library.empty(), "timers have a name and a library", timer.name);
    require(manifest.find_agent(timer.name) == nullptr, "timer names differ from agent names", timer.name);
    require(in_range(timer.interval, faust::kTimerIntervalRange), "timer intervals are in range", timer.name);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const faust::Result<faust::Manifest> result = faust::parse_manifest(text, std::string(kFile));
  if (result.ok()) {
    check_accepted(result.value());
    return 0;
  }
  const faust::Error& error = result.error();
  require(error.code == faust::ExitCode::kManifestInvalid, "manifest errors exit with kManifestInvalid",
          error.message);
  require(faust::fuzz::is_one_line(error.message), "manifest errors are one line", error.message);
  require(names_the_file(error.message), "manifest errors start with 'fuzz.yaml: ' or 'fuzz.yaml:LINE:COL: '",
          error.message);
  return 0;
}
