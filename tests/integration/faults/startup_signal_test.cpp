// SIGINT or SIGTERM while a worker is still starting: it stops as it would once running (log
// line, exit code 0, as the README and the man page say), instead of being killed by the signal.
// Two moments of start-up: while a plugin is being created (the test plugin gated_forwarder
// waits in its agent's creation until the test opens a gate file), and while the broker does not
// answer (the worker retries it with backoff).
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "../support/broker_control.h"
#include "../support/worker_cluster.h"

namespace faust::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Longer than one broker attempt of start-up (3 s) and the stop that follows.
constexpr auto kStopDeadline = 10s;

ClusterManifest create_gated_manifest(const std::filesystem::path& create_gate) {
  ClusterManifest manifest;
  manifest.app_lines = "  topic_partitions: 1\n";
  manifest.sections = std::string("agents:\n") +                                         //
                      "  forward:\n    library: " + FAUST_GATED_FORWARDER_PLUGIN + "\n" +  //
                      "    config:\n      create_gate: " + create_gate.string() + "\n" +   //
                      "  forward_sink:\n    library: " + FAUST_GATED_FORWARDER_PLUGIN + "\n";
  return manifest;
}

class StartupSignal : public ::testing::TestWithParam<int> {
 protected:
  int signal_number() const { return GetParam(); }
  std::string signal_received() const { return std::string("signal ") + strsignal(GetParam()) + " received"; }

  // The worker ended by itself within `deadline`, with 0, having logged the signal and its stop,
  // and never became ready.
  void expect_clean_stop(WorkerProcess& process, std::chrono::milliseconds deadline) const {
    const auto exit_code = process.wait_exit(deadline);
    ASSERT_TRUE(exit_code.has_value()) << "still running " << deadline.count() << " ms after the signal:\n"
                                       << process.log();
    EXPECT_EQ(process.killed_by_signal(), 0) << "killed by the signal:\n" << process.log();
    EXPECT_EQ(*exit_code, 0) << process.log();
    EXPECT_TRUE(process.wait_for_log(signal_received(), 0ms)) << process.log();
    EXPECT_EQ(count_lines(process, "[info] stopped"), 1u) << process.log();
    EXPECT_EQ(count_lines(process, "worker ready"), 0u) << process.log();
    EXPECT_EQ(count_lines(process, "[critical]"), 0u) << process.log();
  }
};

TEST_P(StartupSignal, WhileAPluginIsBeingCreatedStopsTheWorkerOnceTheCreationReturns) {
  WorkerCluster cluster("startup-signal-create", {}, create_gated_manifest("/nonexistent"));
  const auto create_gate = cluster.manifest_path().parent_path() / "create-gate";
  const auto manifest = cluster.write_manifest("gated.yaml", create_gated_manifest(create_gate));
  WorkerCluster::StartOptions options;
  options.wait_serving = false;  // it serves its web port only once its plugins exist
  WorkerProcess& process = *cluster.worker(cluster.start_worker(options, manifest)).process;
  ASSERT_TRUE(process.wait_for_log("[forward] creating: waiting for " + create_gate.string(), 20s))
      << process.log();

  process.signal(signal_number());
  // The plugin's creation is the plugin's to finish: the worker waits for it, alive.
  EXPECT_FALSE(eventually(1s, [&] { return !process.running(); }))
      << "ended while the plugin was being created (killed by signal " << process.killed_by_signal() << "):\n"
      << process.log();
  const auto opened_at = Clock::now();
  std::ofstream(create_gate).put('\n');
  expect_clean_stop(process, kStopDeadline);
  std::cout << "[ report ] " << strsignal(signal_number()) << " during a plugin's creation: stopped "
            << seconds_since(opened_at) << " s after the creation was let return\n";
}

TEST_P(StartupSignal, WhileTheBrokerDoesNotAnswerStopsTheWorkerWithinOneAttempt) {
  WorkerCluster cluster("startup-signal-broker");
  // Nothing listens on port 1: every attempt is refused, and start-up retries with backoff.
  WorkerCluster::StartOptions options;
  options.wait_ready = false;
  options.extra_args = {"--broker", "kafka://127.0.0.1:1"};
  WorkerProcess& process = *cluster.worker(cluster.start_worker(options)).process;
  ASSERT_TRUE(process.wait_for_log("broker 127.0.0.1:1: ", 20s)) << process.log();

  const auto signalled_at = Clock::now();
  process.signal(signal_number());
  expect_clean_stop(process, kStopDeadline);
  std::cout << "[ report ] " << strsignal(signal_number()) << " while the broker does not answer: stopped "
            << seconds_since(signalled_at) << " s after the signal\n";
}

std::string signal_name(const ::testing::TestParamInfo<int>& signal) {
  return signal.param == SIGINT ? "Sigint" : "Sigterm";
}

INSTANTIATE_TEST_SUITE_P(Signals, StartupSignal, ::testing::Values(SIGINT, SIGTERM), signal_name);

}  // namespace
}  // namespace faust::testing
