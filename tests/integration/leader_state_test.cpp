// The leader state and leader-only agents on real workers and the real broker, with the test
// plugin `leader_probe` (tests/plugins/fixtures/leader_probe.cpp): its service fills the state
// with 10,000 entries once; its leader-only agent `tally` counts each value in the state and sends
// "<value>=<count>" to a topic. Across a SIGINT and a SIGKILL failover, the new leader restores the
// state and resumes the agent exactly after the last committed message.
#include <signal.h>

#include <chrono>
#include <iostream>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "broker_env.h"
#include "support/committed_reader.h"
#include "support/topic_seeder.h"
#include "support/worker_cluster.h"

namespace faust::testing {
namespace {

using namespace std::chrono_literals;

constexpr int kFill = 10000;

ClusterManifest probe_manifest(const std::string& tallies_topic) {
  ClusterManifest manifest;
  manifest.sections = std::string("agents:\n  tally:\n    library: ") + FAUST_LEADER_PROBE_PLUGIN +
                      "\n    on_leader: true\n    config:\n      topic: " + tallies_topic +
                      "\nservices:\n  probe_service:\n    library: " + FAUST_LEADER_PROBE_PLUGIN +
                      "\n    config:\n      fill: '" + std::to_string(kFill) + "'\n";
  return manifest;
}

// "leader state restored: N entries (B bytes) from R records in T ms" of a worker's last term.
struct Restore {
  long entries = -1;
  long millis = -1;
};
Restore last_restore(const WorkerProcess& process) {
  static const std::regex line(R"(leader state restored: (\d+) entries \(\d+ bytes\) from \d+ records in (\d+) ms)");
  Restore restore;
  for (const std::string& text : process.log_lines()) {
    std::smatch match;
    if (std::regex_search(text, match, line)) restore = Restore{std::stol(match[1]), std::stol(match[2])};
  }
  return restore;
}

TEST(LeaderState, ANewLeaderRestoresTheStateAndTheLeaderOnlyAgentResumesAfterTheLastCommittedMessage) {
  const std::string broker = broker_address();
  ASSERT_FALSE(broker.empty());
  const std::string tallies_prefix = "tallies";
  WorkerCluster cluster("leader-state", ClusterSettings{}, ClusterManifest{});
  const std::string tallies = cluster.app_id() + "-" + tallies_prefix;
  const auto manifest = cluster.write_manifest("probe.yaml", probe_manifest(tallies));
  for (int i = 0; i < 3; ++i) cluster.start_worker({}, manifest);

  const std::size_t first = await_single_leader(cluster);
  ASSERT_NE(first, SIZE_MAX);
  ASSERT_TRUE(cluster.worker(first).process->wait_for_log("[probe_service] filled", 30s))
      << cluster.worker(first).process->log();
  // Segments that roll, so the cleaner can compact the state while it is written.
  const auto config = TopicSeeder(broker).topic_config(cluster.app_id() + "-__leader-state");
  EXPECT_EQ(config.count("cleanup.policy") ? config.at("cleanup.policy") : "", "compact");
  EXPECT_EQ(config.count("segment.ms") ? config.at("segment.ms") : "", "600000");
  EXPECT_EQ(config.count("min.cleanable.dirty.ratio") ? config.at("min.cleanable.dirty.ratio") : "", "0.1");
  // Values sent one by one; the leader-only agent counts them in the leader state.
  int sent = 0;
  const auto send_values = [&](int count) {
    for (int i = 0; i < count; ++i, ++sent) ASSERT_EQ(cluster.send("tally", "a", manifest).exit_code, 0);
  };
  send_values(5);

  CommittedReader reader(broker, tallies);
  std::vector<std::string> read;
  const auto read_until = [&](std::size_t count) {
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (read.size() < count && std::chrono::steady_clock::now() < deadline) {
      if (const auto record = reader.next(200ms)) {
        if (record->value.rfind("a=", 0) == 0) read.push_back(record->value);
      }
    }
  };
  read_until(5);

  cluster.worker(first).process->signal(SIGINT);
  ASSERT_TRUE(cluster.worker(first).process->wait_exit(30s).has_value());
  const std::size_t second = await_single_leader(cluster);
  ASSERT_NE(second, SIZE_MAX);
  ASSERT_TRUE(eventually(30s, [&] { return last_restore(*cluster.worker(second).process).entries >= kFill; }));
  const Restore restored = last_restore(*cluster.worker(second).process);
  std::cout << "[ report ] a new leader restored " << restored.entries << " entries of leader state in "
            << restored.millis << " ms\n";
  EXPECT_EQ(count_lines(*cluster.worker(second).process, "[probe_service] filled"), 0u)
      << "the state came back: the successor did not fill it again";
  send_values(3);
  read_until(8);

  cluster.worker(second).process->signal(SIGKILL);
  ASSERT_TRUE(cluster.worker(second).process->wait_exit(10s).has_value());
  const std::size_t third = await_single_leader(cluster);
  ASSERT_NE(third, SIZE_MAX);
  send_values(2);
  read_until(10);

  std::vector<std::string> expected;
  for (int i = 1; i <= sent; ++i) expected.push_back("a=" + std::to_string(i));
  EXPECT_EQ(read, expected) << "each value counted once, in order, across both failovers";
}

TEST(LeaderState, APausedLeaderResumedOnceItsSuccessorLeadsGetsNoStateWriteOrSendThrough) {
  const std::string broker = broker_address();
  ASSERT_FALSE(broker.empty());
  WorkerCluster cluster("leader-state-zombie", ClusterSettings{}, ClusterManifest{});
  const std::string tallies = cluster.app_id() + "-tallies";
  const auto manifest = cluster.write_manifest("probe.yaml", probe_manifest(tallies));
  for (int i = 0; i < 2; ++i) cluster.start_worker({}, manifest);
  const std::size_t first = await_single_leader(cluster);
  ASSERT_NE(first, SIZE_MAX);
  const std::size_t other = 1 - first;
  int sent = 0;
  const auto send_values = [&](int count) {
    for (int i = 0; i < count; ++i, ++sent) ASSERT_EQ(cluster.send("tally", "a", manifest).exit_code, 0);
  };
  send_values(3);
  CommittedReader reader(broker, tallies);
  std::vector<std::string> read;
  const auto read_until = [&](std::size_t count, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (read.size() < count && std::chrono::steady_clock::now() < deadline) {
      if (const auto record = reader.next(200ms)) {
        if (record->value.rfind("a=", 0) == 0) read.push_back(record->value);
      }
    }
  };
  read_until(3, 60s);

  // Paused past the session timeout: the other worker leads; then the zombie runs again, at once,
  // with its old term, while values keep coming.
  cluster.worker(first).process->signal(SIGSTOP);
  cluster.worker(first).paused = true;
  ASSERT_TRUE(eventually(30s, [&] { return cluster.is_leader(other).value_or(false); }));
  cluster.worker(first).process->signal(SIGCONT);
  cluster.worker(first).paused = false;
  send_values(6);
  read_until(9, 60s);
  read_until(10, 3s);  // anything more would be a zombie's count

  std::vector<std::string> expected;
  for (int i = 1; i <= sent; ++i) expected.push_back("a=" + std::to_string(i));
  EXPECT_EQ(read, expected) << "every count once and in order: nothing of the resumed zombie's term is visible\n"
                            << "zombie:\n"
                            << cluster.worker(first).process->log() << "successor:\n"
                            << cluster.worker(other).process->log();
}

}  // namespace
}  // namespace faust::testing
