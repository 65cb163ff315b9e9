// The broker goes away and comes back (`scripts/kafka-broker.sh restart`: same data, same port)
// under running workers. Every other test on this broker would notice, so this one runs alone
// (CTest RUN_SERIAL, label "serial").
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "../support/broker_control.h"
#include "../support/http_get.h"
#include "../support/worker_cluster.h"

namespace faust::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST(BrokerRestart, WorkersRideOutABrokerRestartAndLoseNothingAcknowledged) {
  ASSERT_EQ(why_broker_not_controllable(), "");

  WorkerCluster cluster("broker-restart");
  cluster.start_worker();
  cluster.start_worker();
  ASSERT_TRUE(eventually(20s, [&] { return cluster.leaders().size() == 1; }));
  ASSERT_TRUE(eventually(20s, [&] { return cluster.acknowledged_greetings().size() >= 3; }));
  for (std::size_t i = 0; i < cluster.size(); ++i)
    ASSERT_EQ(readiness(cluster.worker(i).web_port).status, 200);

  const auto restart_log = std::filesystem::temp_directory_path() / (cluster.app_id() + "-restart.log");
  const auto restart_began = Clock::now();
  const auto restart = start_broker_restart(restart_log);

  // While the broker is away every worker stays alive and says why it is not ready.
  std::vector<std::optional<double>> unready_after(cluster.size());
  std::vector<std::string> other_reasons;
  int livez_failures = 0;
  std::optional<int> restart_code;
  const bool restarted = eventually(120s, [&] {
    for (std::size_t i = 0; i < cluster.size(); ++i) {
      const auto port = cluster.worker(i).web_port;
      const Readiness ready = readiness(port);
      if (ready.status == 503 && ready.reason == "broker unreachable") {
        if (!unready_after[i]) unready_after[i] = seconds_since(restart_began);
      } else if (ready.status != 200) {
        other_reasons.push_back(std::to_string(ready.status) + " " + ready.reason);
      }
      const auto livez = http_get(port, "/livez");
      if (!livez || livez->status != 200) ++livez_failures;
    }
    restart_code = restart->wait_exit(0ms);
    return restart_code.has_value();
  });
  const double restart_seconds = seconds_since(restart_began);
  ASSERT_TRUE(restarted) << "the broker restart did not finish within 120 s:\n" << restart->log();
  ASSERT_EQ(*restart_code, 0) << restart->log();
  EXPECT_EQ(livez_failures, 0);

  for (std::size_t i = 0; i < cluster.size(); ++i) {
    EXPECT_TRUE(unready_after[i].has_value()) << "worker " << i << " never reported the broker unreachable";
    EXPECT_TRUE(cluster.worker(i).process->running()) << cluster.worker(i).process->log();
  }
  std::vector<double> ready_again_after(cluster.size(), -1);
  const bool all_ready = eventually(60s, [&] {
    bool all = true;
    for (std::size_t i = 0; i < cluster.size(); ++i) {
      if (ready_again_after[i] >= 0) continue;
      if (readiness(cluster.worker(i).web_port).status == 200) {
        ready_again_after[i] = seconds_since(restart_began);
      } else {
        all = false;
      }
    }
    return all;
  });
  EXPECT_TRUE(all_ready) << "a worker did not become ready again within 60 s of the broker's return";

  // Greetings resume, and nothing acknowledged before, during or after the outage is lost.
  const std::size_t after_restart = cluster.acknowledged_greetings().size();
  EXPECT_TRUE(eventually(60s, [&] { return cluster.acknowledged_greetings().size() >= after_restart + 3; }))
      << "no greetings after the restart";
  const double greeting_again_after = seconds_since(restart_began);
  expect_acknowledged_greetings_printed(cluster, 30s);
  expect_workers_running_without_critical(cluster);

  std::cout << "[ report ] broker restart took " << restart_seconds
            << " s; /readyz 503 (broker unreachable) after";
  for (const auto& after : unready_after)
    std::cout << " " << (after ? std::to_string(*after) : std::string("never")) << " s";
  std::cout << "; 200 again after";
  for (const double after : ready_again_after) std::cout << " " << after << " s";
  std::cout << "; 3 new greetings by " << greeting_again_after << " s; "
            << cluster.acknowledged_greetings().size()
            << " acknowledged in all; other /readyz answers seen: " << other_reasons.size()
            << (other_reasons.empty() ? "" : " (first: " + other_reasons.front() + ")") << "\n";
  std::filesystem::remove(restart_log);
}

}  // namespace
}  // namespace faust::testing
