// The tutorial on a 3-node Kafka cluster that each test starts for itself
// (`scripts/kafka-broker.sh start-cluster`, a state folder of its own; not the single broker of
// scripts/test.sh): three workers, topics replicated 3, and the broker that coordinates the
// leader group, or the leader's transactions, stops (SIGTERM, data kept) while they run.
// Leadership and greetings must continue, at most one worker may say it leads at any sample,
// and every acknowledged greeting must be printed; then the node comes back.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "kafka_cluster.h"
#include "support/broker_control.h"
#include "support/worker_cluster.h"

namespace faust::testing {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;
using SystemClock = std::chrono::system_clock;

constexpr std::size_t kNodes = 3;
constexpr std::size_t kWorkers = 3;
// New acknowledged greetings that prove the leader's path works (a second of ticks at 0.2 s).
constexpr std::size_t kGreetingsToResume = 5;
constexpr auto kResumeDeadline = 45s;
constexpr auto kSamplePeriod = 20ms;

double millis(SteadyClock::duration duration) { return std::chrono::duration<double, std::milli>(duration).count(); }

// What /leader of every worker said, sample by sample.
class LeaderSampler {
 public:
  void sample(WorkerCluster& cluster) {
    const auto leaders = cluster.leaders();
    const auto now = SteadyClock::now();
    ++samples_;
    if (leaders.size() > 1 && several_.empty()) {
      std::ostringstream text;
      text << "sample " << samples_ << ": workers";
      for (const auto index : leaders) text << " " << index;
      text << " all say is_leader: true";
      several_ = text.str();
    }
    if (leaders.size() > 1) ++samples_with_several_;
    if (leaders.empty()) {
      if (!leaderless_since_) leaderless_since_ = now;
      return;
    }
    if (leaderless_since_) {
      longest_leaderless_ = std::max(longest_leaderless_, now - *leaderless_since_);
      leaderless_since_.reset();
    }
    if (!current_ || *current_ != leaders.front()) {
      if (current_) ++changes_;
      current_ = leaders.front();
    }
  }

  std::size_t samples() const { return samples_; }
  std::size_t samples_with_several() const { return samples_with_several_; }
  const std::string& first_several() const { return several_; }
  std::optional<std::size_t> current() const { return current_; }
  int changes() const { return changes_; }
  // The longest run of samples in which no worker said it leads.
  SteadyClock::duration longest_leaderless() const {
    if (!leaderless_since_) return longest_leaderless_;
    return std::max(longest_leaderless_, SteadyClock::now() - *leaderless_since_);
  }

 private:
  std::size_t samples_ = 0;
  std::size_t samples_with_several_ = 0;
  std::string several_;
  std::optional<std::size_t> current_;
  int changes_ = 0;
  std::optional<SteadyClock::time_point> leaderless_since_;
  SteadyClock::duration longest_leaderless_{};
};

// The longest time between two committed leader transactions of publish_greetings (by the
// workers' log times), counted from the last commit before `from`.
double longest_commit_gap_ms(const WorkerCluster& cluster, SystemClock::time_point from) {
  const std::string committed = committed_leader_transaction("publish_greetings");
  std::vector<SystemClock::time_point> times;
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    for (const auto& line : cluster.worker(i).process->log_lines()) {
      if (line.find(committed) == std::string::npos) continue;
      if (const auto time = log_time(line)) times.push_back(*time);
    }
  }
  std::sort(times.begin(), times.end());
  auto first = std::lower_bound(times.begin(), times.end(), from);
  if (first != times.begin()) --first;
  double longest = 0;
  for (auto it = first; it != times.end() && std::next(it) != times.end(); ++it) {
    longest = std::max(longest, std::chrono::duration<double, std::milli>(*std::next(it) - *it).count());
  }
  return longest;
}

// A kafka-broker.sh verb run in the background while the test samples /leader, then waits for
// kGreetingsToResume new acknowledged greetings counted from the moment the script ended.
struct Phase {
  std::optional<int> exit_code;
  std::string script_output;
  double script_seconds = 0;  // from the start of the phase until the script ended
  bool greetings_resumed = false;
  double resumed_seconds = 0;  // from the start of the phase until the new greetings were in
};

class KafkaClusterFailover : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const char* previous = std::getenv("FAUST_TEST_BROKER")) previous_broker_ = previous;
    const auto began = SteadyClock::now();
    ASSERT_EQ(kafka_.start(), "");
    std::cout << "[ report ] 3-node cluster " << kafka_.bootstrap() << " started in " << seconds_since(began)
              << " s\n";
    // WorkerCluster writes app.broker of its manifests from FAUST_TEST_BROKER (broker_env.h).
    ::setenv("FAUST_TEST_BROKER", kafka_.bootstrap().c_str(), 1);
  }

  void TearDown() override {
    if (HasFailure()) {
      kafka_.keep_logs();
      if (workers_) {
        std::error_code ignored;
        std::filesystem::copy(workers_->manifest_path().parent_path(), kafka_.state_dir() / "workers",
                              std::filesystem::copy_options::recursive, ignored);
      }
    }
    workers_.reset();  // before the cluster stops
    if (kafka_.bootstrap().empty()) return;  // FAUST_TEST_BROKER untouched
    if (previous_broker_) {
      ::setenv("FAUST_TEST_BROKER", previous_broker_->c_str(), 1);
    } else {
      ::unsetenv("FAUST_TEST_BROKER");
    }
  }

  // Three workers of the tutorial, topics replicated 3: one leads and greetings flow.
  void start_workers(const std::string& name) {
    ClusterSettings settings;
    settings.session_timeout = 3.0;
    settings.greeting_interval = 0.2;
    ClusterManifest manifest;
    manifest.app_lines = "  topic_replication: 3\n";
    workers_ = std::make_unique<WorkerCluster>(name, settings, manifest);
    for (std::size_t i = 0; i < kWorkers; ++i) workers_->start_worker();
    ASSERT_TRUE(eventually(30s, [&] { return workers_->leaders().size() == 1; })) << "no single leader";
    ASSERT_TRUE(eventually(30s, [&] { return workers_->acknowledged_greetings().size() >= kGreetingsToResume; }))
        << "no greetings on the cluster";
  }

  Phase run_phase(const std::vector<std::string>& script_args, const std::string& log_name,
                  std::chrono::milliseconds deadline) {
    WorkerCluster& cluster = *workers_;
    Phase phase;
    const auto began = SteadyClock::now();
    const auto script = kafka_.run_script_in_background(script_args, log_name);
    std::size_t acknowledged_when_done = 0;
    phase.greetings_resumed = eventually(
        deadline,
        [&] {
          sampler_.sample(cluster);
          if (!phase.exit_code) {
            phase.exit_code = script->wait_exit(0ms);
            if (!phase.exit_code) return false;
            phase.script_seconds = seconds_since(began);
            acknowledged_when_done = cluster.acknowledged_greetings().size();
            return false;
          }
          return cluster.acknowledged_greetings().size() >= acknowledged_when_done + kGreetingsToResume;
        },
        kSamplePeriod);
    phase.resumed_seconds = seconds_since(began);
    phase.script_output = script->log();
    return phase;
  }

  // Stops `node` (SIGTERM, data kept) under the running workers, checks they carry on, starts
  // it again and checks the same.
  void stop_node_under_load(int node, const std::string& role) {
    WorkerCluster& cluster = *workers_;
    sampler_.sample(cluster);
    const auto leader_before = sampler_.current();
    const auto stop_began = SystemClock::now() - 1ms;
    const std::string node_text = std::to_string(node);

    const Phase stopped = run_phase({"stop-node", node_text}, "stop-node.log", kResumeDeadline);
    ASSERT_EQ(stopped.exit_code, 0) << "stop-node " << node << ":\n" << stopped.script_output;
    const double stop_gap_ms = longest_commit_gap_ms(cluster, stop_began);
    const double stop_leaderless_ms = millis(sampler_.longest_leaderless());
    const auto leader_after_stop = sampler_.current();
    EXPECT_TRUE(stopped.greetings_resumed)
        << "fewer than " << kGreetingsToResume << " new acknowledged greetings within "
        << std::chrono::seconds(kResumeDeadline).count() << " s of stopping " << role << " (node " << node << ")";

    const auto start_began = SystemClock::now() - 1ms;
    const Phase restarted = run_phase({"start-node", node_text}, "start-node.log", 120s);
    ASSERT_EQ(restarted.exit_code, 0) << "start-node " << node << ":\n" << restarted.script_output;
    EXPECT_TRUE(restarted.greetings_resumed) << "fewer than " << kGreetingsToResume
                                             << " new acknowledged greetings after node " << node << " came back";
    const double start_gap_ms = longest_commit_gap_ms(cluster, start_began);

    // The node catches up: every partition has all its replicas in sync again.
    const auto catch_up_began = SteadyClock::now();
    std::string gaps;
    EXPECT_TRUE(eventually(
        60s,
        [&] {
          sampler_.sample(cluster);
          gaps = kafka_.replication_gaps(kNodes);
          return gaps.empty();
        },
        250ms))
        << "node " << node << " did not catch up within 60 s: " << gaps;
    const double caught_up_seconds = seconds_since(catch_up_began);

    for (std::size_t i = 0; i < cluster.size(); ++i) {
      WorkerProcess& process = *cluster.worker(i).process;
      if (process.running()) continue;
      const auto lines = process.log_lines();
      std::cout << "[ report ] worker " << i << " ended with exit code " << process.wait_exit(0ms).value_or(-1)
                << "; its last log line: " << (lines.empty() ? std::string() : lines.back()) << "\n";
    }
    EXPECT_EQ(sampler_.samples_with_several(), 0u) << sampler_.first_several();
    EXPECT_EQ(cluster.leaders().size(), 1u) << "no single leader at the end";
    expect_acknowledged_greetings_printed(cluster, 30s);
    expect_workers_running_without_critical(cluster);

    int duplicates = 0;
    for (const auto& [greeting, count] : cluster.printed_greetings()) duplicates += count > 1 ? count - 1 : 0;
    const auto acknowledged = cluster.acknowledged_greetings().size();
    const auto worker_name = [](std::optional<std::size_t> index) {
      return index ? "worker " + std::to_string(*index) : std::string("none");
    };
    std::cout << "[ report ] stopped " << role << " (node " << node << ") in " << stopped.script_seconds
              << " s; 5 new acknowledged greetings " << stopped.resumed_seconds
              << " s after the stop began; longest gap between committed greetings " << stop_gap_ms
              << " ms; longest time no worker said it leads " << stop_leaderless_ms << " ms; leader "
              << worker_name(leader_before) << " -> " << worker_name(leader_after_stop) << "\n"
              << "[ report ] start-node " << node << " took " << restarted.script_seconds
              << " s; 5 new greetings after " << restarted.resumed_seconds
              << " s; longest gap between committed greetings " << start_gap_ms << " ms; all replicas in sync "
              << caught_up_seconds << " s later; leader now " << worker_name(sampler_.current()) << " ("
              << sampler_.changes() << " leader changes)\n"
              << "[ report ] " << sampler_.samples() << " /leader samples of " << kWorkers
              << " workers, none with two leaders: " << (sampler_.samples_with_several() == 0 ? "yes" : "NO")
              << "; " << acknowledged << " greetings acknowledged, " << duplicates
              << " printed more than once (at-least-once redelivery)\n";
    RecordProperty("stop_node_seconds", std::to_string(stopped.script_seconds));
    RecordProperty("greetings_resumed_seconds", std::to_string(stopped.resumed_seconds));
    RecordProperty("longest_commit_gap_ms", std::to_string(stop_gap_ms));
    RecordProperty("longest_leaderless_ms", std::to_string(stop_leaderless_ms));
    RecordProperty("acknowledged", static_cast<int>(acknowledged));
    RecordProperty("duplicates", duplicates);
  }

  // The __transaction_state partition that `node` last logged an InitProducerId of
  // `transactional_id` on ("Initialized transactionalId ID with producerId ... on partition
  // __transaction_state-P"), -1 when none.
  int logged_initialized_partition(int node, const std::string& transactional_id) const {
    std::ifstream log(kafka_.node_log(node));
    const std::string initialized = "Initialized transactionalId " + transactional_id + " with producerId ";
    const std::string on_partition = " on partition __transaction_state-";
    int partition = -1;
    for (std::string line; std::getline(log, line);) {
      if (line.find(initialized) == std::string::npos) continue;
      if (const auto at = line.find(on_partition); at != std::string::npos) {
        partition = std::atoi(line.c_str() + at + on_partition.size());
      }
    }
    return partition;
  }
  // What each node logged of `transactional_id`, for a failure message.
  std::string initialized_partitions(const std::string& transactional_id) const {
    std::string out;
    for (int node = 1; node <= static_cast<int>(kNodes); ++node) {
      const int partition = logged_initialized_partition(node, transactional_id);
      out += " node " + std::to_string(node) + ": " +
             (partition < 0 ? std::string("none") : "partition " + std::to_string(partition)) + ";";
    }
    return out;
  }

  KafkaTestCluster kafka_;
  std::unique_ptr<WorkerCluster> workers_;
  LeaderSampler sampler_;
  std::optional<std::string> previous_broker_;
};

TEST_F(KafkaClusterFailover, StoppingTheLeaderGroupCoordinatorKeepsOneLeaderAndLosesNothing) {
  start_workers("cluster-group");
  if (HasFatalFailure()) return;
  const std::string group = workers_->app_id() + "-__leader";
  GroupDescription described;
  ASSERT_TRUE(eventually(
      20s,
      [&] {
        described = kafka_.describe_group(group);
        return described.coordinator > 0;
      },
      500ms))
      << described.error;
  // The partitioning rule the transaction test relies on names the broker the Admin API names
  // (eventually: on a cluster this fresh, leadership of the partition may still move).
  std::string error;
  int by_rule = -1;
  EXPECT_TRUE(eventually(
      15s,
      [&] {
        by_rule = kafka_.internal_partition("__consumer_offsets", group, &error).leader;
        if (by_rule == described.coordinator) return true;
        if (const auto again = kafka_.describe_group(group); again.coordinator > 0) described = again;
        return false;
      },
      500ms))
      << "by the partitioning rule node " << by_rule << " " << error << ", by DescribeConsumerGroups node "
      << described.coordinator;
  std::cout << "[ report ] leader group " << group << " (" << described.state << ", " << described.members
            << " members) is coordinated by node " << described.coordinator << "\n";
  stop_node_under_load(described.coordinator, "the leader group's coordinator");
}

TEST_F(KafkaClusterFailover, StoppingTheLeaderTransactionCoordinatorKeepsOneLeaderAndLosesNothing) {
  start_workers("cluster-txn");
  if (HasFatalFailure()) return;
  // The transactional.id of the app's leader role (host/src/worker/worker.cpp).
  const std::string transactional_id = workers_->app_id() + "-leader";
  // The coordinator is the leader of the id's __transaction_state partition, and the broker's own
  // log says so: the coordinator logs each InitProducerId of the id (each leader term fences with
  // one) with the partition. Asked until the two agree: on a cluster this fresh, leadership of the
  // partition may still move.
  std::string error;
  KafkaTestCluster::InternalPartition transactions;
  const bool confirmed = eventually(
      20s,
      [&] {
        transactions = kafka_.transaction_partition(transactional_id, &error);
        return transactions.leader > 0 &&
               logged_initialized_partition(transactions.leader, transactional_id) == transactions.partition;
      },
      500ms);
  ASSERT_TRUE(confirmed) << "by metadata, partition " << transactions.partition
                         << " of __transaction_state led by node " << transactions.leader << " " << error
                         << "; by the nodes' logs:" << initialized_partitions(transactional_id);
  const int coordinator = transactions.leader;
  const GroupDescription group = kafka_.describe_group(workers_->app_id() + "-__leader");
  std::cout << "[ report ] transactions of " << transactional_id << " are coordinated by node " << coordinator
            << " (partition " << transactions.partition << " of __transaction_state; the leader group by node "
            << group.coordinator << ")\n";
  stop_node_under_load(coordinator, "the leader's transaction coordinator");
}

}  // namespace
}  // namespace faust::testing
