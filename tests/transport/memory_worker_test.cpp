// The tutorial on the memory:// broker through the real faust-host binary: one worker, always the
// leader, greets itself; its web port serves /readyz and /metrics; SIGINT stops it cleanly.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "http_get.h"
#include "worker_process.h"

namespace faust::testing {
namespace {

using namespace std::chrono_literals;

class TempFolder {
 public:
  TempFolder() {
    std::string pattern = (std::filesystem::temp_directory_path() / "memory_worker_test.XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempFolder() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

std::string read_file(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// configs/leader-memory.yaml with greetings every 0.2 s instead of 2 s.
std::filesystem::path fast_manifest(const TempFolder& folder) {
  std::string manifest = read_file(FAUST_MEMORY_MANIFEST);
  const std::string interval = "interval: 2.0";
  const auto at = manifest.find(interval);
  if (at == std::string::npos) throw std::runtime_error("no '" + interval + "' in " FAUST_MEMORY_MANIFEST);
  manifest.replace(at, interval.size(), "interval: 0.2");
  const auto file = folder.path() / "leader-memory.yaml";
  std::ofstream(file) << manifest;
  return file;
}

// The web port a worker logged ("web: serving http://127.0.0.1:PORT/"), or 0.
std::uint16_t served_port(const std::string& log) {
  std::smatch match;
  if (!std::regex_search(log, match, std::regex(R"(web: serving http://127\.0\.0\.1:(\d+)/)"))) return 0;
  return static_cast<std::uint16_t>(std::stoi(match[1].str()));
}

std::vector<std::string> captures(const std::string& log, const std::regex& pattern) {
  std::vector<std::string> out;
  for (auto it = std::sregex_iterator(log.begin(), log.end(), pattern); it != std::sregex_iterator(); ++it) {
    out.push_back((*it)[1].str());
  }
  return out;
}

// Greetings that were both sent by the timer and printed by the agent.
std::vector<std::string> greetings_handled(const std::string& log) {
  static const std::regex sent_line(R"(\[publish_greetings\] sent greeting (\S+))");
  static const std::regex said_line(R"(\[say\] (\S+))");
  const std::vector<std::string> said = captures(log, said_line);
  const std::set<std::string> said_set(said.begin(), said.end());
  std::vector<std::string> handled;
  for (const auto& greeting : captures(log, sent_line)) {
    if (said_set.count(greeting) > 0) handled.push_back(greeting);
  }
  return handled;
}

TEST(MemoryWorker, RunsTheTutorialWithoutABroker) {
  TempFolder folder;
  const auto manifest = fast_manifest(folder);
  WorkerProcess worker(FAUST_HOST_BINARY, {"--manifest", manifest.string(), "--web-port", "0", "-l", "info"},
                       folder.path() / "worker.log");

  ASSERT_TRUE(worker.wait_for_log("worker ready", 30s)) << worker.log();
  const std::string log = worker.log();
  const std::uint16_t port = served_port(log);
  ASSERT_NE(port, 0) << log;
  EXPECT_NE(log.find("this worker is now the leader (generation 1)"), std::string::npos) << log;

  // Each greeting the leader sends reaches `say` in the same process.
  ASSERT_TRUE(eventually(30s, [&] { return greetings_handled(worker.log()).size() >= 3; })) << worker.log();
  const auto ready = http_get(port, "/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200) << ready->body;
  const auto metrics = http_get(port, "/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_NE(metrics->body.find("faust_is_leader 1"), std::string::npos) << metrics->body;
  EXPECT_NE(metrics->body.find("faust_timer_fires_total{timer=\"publish_greetings\"}"), std::string::npos)
      << metrics->body;

  worker.signal(SIGINT);
  const auto exit_code = worker.wait_exit(30s);
  ASSERT_TRUE(exit_code) << "still running after SIGINT\n" << worker.log();
  EXPECT_EQ(*exit_code, 0) << worker.log();
  EXPECT_TRUE(worker.wait_for_log("stopped", 1s)) << worker.log();
  EXPECT_EQ(worker.log().find("[error]"), std::string::npos) << worker.log();
}

TEST(MemoryWorker, PluginsCallingTheHostWhileTheWorkerStopsGetACleanAnswer) {
  TempFolder folder;
  const auto manifest = folder.path() / "late.yaml";
  std::ofstream(manifest) << "app:\n  id: late-app\n  broker: memory://\n"
                             "timers:\n  late_caller:\n    library: " FAUST_TEST_FIXTURE_DIR "/sdk_probe.so\n"
                             "    interval: 3600\n    on_leader: true\n";
  WorkerProcess worker(FAUST_HOST_BINARY, {"--manifest", manifest.string(), "--web-port", "0", "-l", "info"},
                       folder.path() / "worker.log");
  ASSERT_TRUE(worker.wait_for_log("this worker is now the leader", 30s)) << worker.log();
  worker.signal(SIGINT);
  const auto exit_code = worker.wait_exit(30s);
  ASSERT_TRUE(exit_code) << "still running after SIGINT\n" << worker.log();
  EXPECT_EQ(*exit_code, 0) << worker.log();
  // The instance is destroyed after leadership ended and before the transport is gone.
  EXPECT_NE(worker.log().find("[late_caller] late is_leader=false"), std::string::npos) << worker.log();
  EXPECT_NE(worker.log().find("[late_caller] late send refused: send: the worker is not running"), std::string::npos)
      << worker.log();
}

TEST(MemoryWorker, CheckAcceptsTheMemoryManifest) {
  TempFolder folder;
  WorkerProcess check(FAUST_HOST_BINARY, {"check", "--manifest", FAUST_MEMORY_MANIFEST},
                      folder.path() / "check.log");

  const auto exit_code = check.wait_exit(30s);
  ASSERT_TRUE(exit_code);
  EXPECT_EQ(*exit_code, 0) << check.log();
  EXPECT_NE(check.log().find("app leader-example, broker memory://"), std::string::npos) << check.log();
}

TEST(MemoryWorker, CheckShowsTheNextRunsOfACronTimer) {
  TempFolder folder;
  const auto manifest = folder.path() / "cron.yaml";
  std::ofstream(manifest) << "app: {id: cron-example, broker: 'memory://'}\n"
                             "agents: {say: {library: say}}\n"
                             "timers:\n"
                             "  publish_greetings:\n"
                             "    library: publish_greetings\n"
                             "    cron: '0 9 * * mon-fri'\n"
                             "    timezone: Europe/Berlin\n";
  WorkerProcess check(FAUST_HOST_BINARY, {"check", "--manifest", manifest.string()}, folder.path() / "check.log");
  const auto exit_code = check.wait_exit(30s);
  ASSERT_TRUE(exit_code);
  EXPECT_EQ(*exit_code, 0) << check.log();
  // 09:00 in Berlin is 08:00 UTC in winter (+01:00) and 07:00 UTC in summer (+02:00).
  const std::string run = R"(\d{4}-\d\d-\d\d 09:00 (\+01:00 \(08:00 UTC\)|\+02:00 \(07:00 UTC\)))";
  EXPECT_TRUE(std::regex_search(check.log(), std::regex("timer publish_greetings: cron \"0 9 \\* \\* mon-fri\" "
                                                        "\\(Europe/Berlin\\): next runs " +
                                                        run + ", " + run + ", " + run + "\n")))
      << check.log();
}

TEST(MemoryWorker, CheckShowsADeadLetterAgentAndItsTopic) {
  TempFolder folder;
  const auto manifest = folder.path() / "dead-letter.yaml";
  std::ofstream(manifest) << "app: {id: dl-example, broker: 'memory://'}\n"
                             "agents:\n"
                             "  say: {library: say, on_error: dead_letter, max_retries: 2}\n";
  WorkerProcess check(FAUST_HOST_BINARY, {"check", "--manifest", manifest.string()}, folder.path() / "check.log");
  const auto exit_code = check.wait_exit(30s);
  ASSERT_TRUE(exit_code);
  EXPECT_EQ(*exit_code, 0) << check.log();
  EXPECT_NE(check.log().find("agent say: topic dl-example-say, concurrency 1, on_error dead_letter (max_retries 2), "
                             "dead-letter topic dl-example-say-dead-letter\n"),
            std::string::npos)
      << check.log();
}

TEST(MemoryWorker, CheckListsServices) {
  TempFolder folder;
  const auto manifest = folder.path() / "services.yaml";
  std::ofstream(manifest) << "app: {id: svc-example, broker: 'memory://'}\n"
                             "services:\n"
                             "  probe_service:\n"
                             "    library: " FAUST_TEST_FIXTURE_DIR "/leader_probe.so\n"
                             "    stop_timeout: 2.5\n";
  WorkerProcess check(FAUST_HOST_BINARY, {"check", "--manifest", manifest.string()}, folder.path() / "check.log");
  const auto exit_code = check.wait_exit(30s);
  ASSERT_TRUE(exit_code);
  EXPECT_EQ(*exit_code, 0) << check.log();
  EXPECT_NE(check.log().find("\nservice probe_service: stop_timeout 2.5 s\n"), std::string::npos)
      << check.log();
}

// A plugin's metrics and pages through a real worker's web port.
TEST(MemoryWorker, ServesPluginMetricsAndPages) {
  TempFolder folder;
  const auto manifest = folder.path() / "pages.yaml";
  std::ofstream(manifest) << "app:\n  id: pages-app\n  broker: memory://\n"
                             "web:\n  page_timeout: 0.3\n"
                             "timers:\n  observer:\n    library: " FAUST_TEST_FIXTURE_DIR "/metrics_pages.so\n"
                             "    interval: 0.05\n    config:\n      level: 2\n      sleep_ms: 2000\n";
  WorkerProcess worker(FAUST_HOST_BINARY, {"--manifest", manifest.string(), "--web-port", "0", "-l", "info"},
                       folder.path() / "worker.log");
  ASSERT_TRUE(worker.wait_for_log("worker ready", 30s)) << worker.log();
  const std::string log = worker.log();
  const std::uint16_t port = served_port(log);
  ASSERT_NE(port, 0) << log;

  std::string metrics;
  ASSERT_TRUE(eventually(30s, [&] {
    const auto reply = http_get(port, "/metrics");
    metrics = reply ? reply->body : "";
    return metrics.find("probe_level{plugin=\"metrics_pages\"} 2") != std::string::npos;  // after a tick
  })) << metrics;
  EXPECT_NE(metrics.find("# TYPE probe_ticks_total counter"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("probe_tick_seconds_bucket{plugin=\"metrics_pages\",le=\"0.1\"} 0"), std::string::npos)
      << metrics;

  const auto stats = http_get(port, "/plugins/metrics_pages/stats?v=1");
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->status, 200);
  EXPECT_TRUE(std::regex_match(stats->body, std::regex("ticks=[0-9]+ query=v=1"))) << stats->body;
  const auto failed = http_get(port, "/plugins/metrics_pages/fail");
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->status, 500);
  EXPECT_EQ(failed->body, "page failed: no stats yet\n");
  EXPECT_EQ(http_get(port, "/plugins/metrics_pages/none")->status, 404);
  const auto slow = http_get(port, "/plugins/metrics_pages/slow");
  ASSERT_TRUE(slow);
  EXPECT_EQ(slow->status, 503);

  worker.signal(SIGINT);
  const auto exit_code = worker.wait_exit(30s);
  ASSERT_TRUE(exit_code) << "still running after SIGINT\n" << worker.log();
  EXPECT_EQ(*exit_code, 0) << worker.log();
}

TEST(MemoryWorker, CheckRefusesABadPluginMetricName) {
  TempFolder folder;
  const auto manifest = folder.path() / "bad-metric.yaml";
  std::ofstream(manifest) << "app:\n  id: bad-app\n  broker: memory://\n"
                             "timers:\n  configured:\n    library: " FAUST_TEST_FIXTURE_DIR "/metrics_pages.so\n"
                             "    interval: 1\n    config:\n      name: faust_mine\n";
  WorkerProcess check(FAUST_HOST_BINARY, {"check", "--manifest", manifest.string()}, folder.path() / "check.log");
  const auto exit_code = check.wait_exit(30s);
  ASSERT_TRUE(exit_code);
  EXPECT_NE(*exit_code, 0) << check.log();
  EXPECT_NE(check.log().find("metric 'faust_mine' of plugin 'metrics_pages': names starting with 'faust_' are "
                             "faust-host's own"),
            std::string::npos)
      << check.log();
}

}  // namespace
}  // namespace faust::testing
