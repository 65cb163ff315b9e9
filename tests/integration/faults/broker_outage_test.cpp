// The broker is away for longer than any timeout the leader has: stopped (its data kept) under two
// workers of the tutorial, and started again with the same data and port 45 s later. That outlasts
// the 30 s send and commit timeouts and the session timeout, so whatever the leader had in flight
// failed or timed out meanwhile; its term must still recover. Every other test on this broker
// would notice, so this one runs alone (CTest RUN_SERIAL, label "serial").
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "../support/broker_control.h"
#include "../support/http_get.h"
#include "../support/worker_cluster.h"

namespace faust::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kOutage = 45s;
constexpr auto kResumeDeadline = 10s;

// Each worker's last "timer ... failed" line, to say why greetings did not resume.
std::string last_tick_failures(const WorkerCluster& cluster) {
  std::string out;
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    std::string last = "none";
    for (const auto& line : cluster.worker(i).process->log_lines()) {
      if (line.find("timer 'publish_greetings' failed") != std::string::npos) last = line;
    }
    out += "\n  worker " + std::to_string(i) + ": " + last;
  }
  return out;
}

TEST(BrokerOutage, GreetingsResumeWithOneLeaderAfterAnOutageLongerThanEveryTimeout) {
  ASSERT_EQ(why_broker_not_controllable(), "");

  WorkerCluster cluster("broker-outage");
  cluster.start_worker();
  cluster.start_worker();
  ASSERT_TRUE(eventually(20s, [&] { return cluster.leaders().size() == 1; }));
  ASSERT_TRUE(eventually(20s, [&] { return cluster.printed_greetings().size() >= 3; }));

  const auto stopped_at = Clock::now();
  ASSERT_TRUE(stop_broker(30s)) << "no broker process to stop";
  // The workers stay alive all along.
  int livez_failures = 0;
  eventually(kOutage + 5s, [&] {
    for (std::size_t i = 0; i < cluster.size(); ++i) {
      const auto livez = http_get(cluster.worker(i).web_port, "/livez");
      if (!livez || livez->status != 200) ++livez_failures;
    }
    return Clock::now() - stopped_at >= kOutage;
  });
  EXPECT_EQ(livez_failures, 0);
  const auto acknowledged_before = cluster.acknowledged_greetings();
  const std::set<std::string> before(acknowledged_before.begin(), acknowledged_before.end());
  const std::size_t printed_before = cluster.printed_greetings().size();

  const auto restart_log = std::filesystem::temp_directory_path() / (cluster.app_id() + "-restart.log");
  const auto restart = start_broker_restart(restart_log);
  const auto restart_code = restart->wait_exit(120s);
  const auto reachable_at = Clock::now();
  const std::string restart_output = restart->log();
  std::filesystem::remove(restart_log);
  ASSERT_TRUE(restart_code.has_value()) << "the broker did not start again within 120 s:\n" << restart_output;
  ASSERT_EQ(*restart_code, 0) << restart_output;
  const double outage_seconds = seconds_since(stopped_at);
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    ASSERT_TRUE(cluster.worker(i).process->running()) << "worker " << i << "\n"
                                                      << cluster.worker(i).process->log();
  }

  // Greetings resume within 10 s of the broker's return: new ones commit.
  auto new_greetings = [&] {
    std::vector<std::string> out;
    for (const auto& greeting : cluster.acknowledged_greetings()) {
      if (before.count(greeting) == 0) out.push_back(greeting);
    }
    return out;
  };
  const bool resumed = eventually(kResumeDeadline, [&] { return !new_greetings().empty(); });
  const double resumed_after = seconds_since(reachable_at);
  EXPECT_TRUE(resumed) << "no new greeting committed within " << kResumeDeadline.count()
                       << " s of the broker's return; new greetings printed: "
                       << cluster.printed_greetings().size() - printed_before
                       << "; each worker's last failed tick:" << last_tick_failures(cluster);
  ASSERT_TRUE(resumed);
  // They go on, from exactly one leader.
  EXPECT_TRUE(eventually(10s, [&] { return new_greetings().size() >= 5; })) << last_tick_failures(cluster);
  EXPECT_EQ(cluster.leaders().size(), 1u);

  // Every greeting that committed, before, during or after the outage, is printed.
  expect_acknowledged_greetings_printed(cluster, 30s);
  expect_workers_running_without_critical(cluster);

  std::cout << "[ report ] broker away " << outage_seconds << " s; first new greeting committed "
            << resumed_after << " s after it answered again; " << new_greetings().size() << " new greetings, "
            << cluster.acknowledged_greetings().size() << " acknowledged in all\n";
}

}  // namespace
}  // namespace faust::testing
