// The tutorial end to end: several real faust-host workers on the real test broker.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <iostream>

#include <gtest/gtest.h>

#include "support/worker_cluster.h"

namespace faust::testing {
namespace {

using namespace std::chrono_literals;
using SystemClock = std::chrono::system_clock;

constexpr auto kElectionDeadline = 20s;

double millis_between(SystemClock::time_point from, SystemClock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

// Waits until every acknowledged greeting has been printed at least once; reports duplicates.
void expect_nothing_lost(WorkerCluster& cluster, std::chrono::milliseconds timeout) {
  const bool all_printed = eventually(timeout, [&] { return cluster.unprinted_greetings().empty(); });
  const auto missing = cluster.unprinted_greetings();
  EXPECT_TRUE(all_printed) << missing.size() << " acknowledged greeting(s) never printed, first: "
                           << (missing.empty() ? "" : missing.front());
  int duplicates = 0;
  for (const auto& [greeting, count] : cluster.printed_greetings()) duplicates += count > 1 ? count - 1 : 0;
  const auto acknowledged = cluster.acknowledged_greetings().size();
  std::cout << "[ report ] " << acknowledged << " greetings acknowledged, " << duplicates
            << " printed more than once (at-least-once redelivery)\n";
  ::testing::Test::RecordProperty("acknowledged", static_cast<int>(acknowledged));
  ::testing::Test::RecordProperty("duplicates", duplicates);
}

// Waits for exactly one leader among the running workers, which must be one of `candidates`.
std::size_t await_single_leader(WorkerCluster& cluster, const std::vector<std::size_t>& candidates) {
  std::vector<std::size_t> leaders;
  const bool elected = eventually(kElectionDeadline, [&] {
    leaders = cluster.leaders();
    return leaders.size() == 1;
  });
  EXPECT_TRUE(elected) << "leaders seen: " << leaders.size();
  if (leaders.size() != 1) return SIZE_MAX;
  EXPECT_NE(std::find(candidates.begin(), candidates.end(), leaders.front()), candidates.end());
  return leaders.front();
}

// Greetings sent after the new leader took over; proves the timer runs on it.
bool greetings_continue(WorkerCluster& cluster, std::size_t at_least) {
  const std::size_t before = cluster.acknowledged_greetings().size();
  return eventually(20s, [&] { return cluster.acknowledged_greetings().size() >= before + at_least; });
}

TEST(LeaderElection, ThreeWorkersElectOneLeaderAndEachGreetingIsPrintedOnce) {
  WorkerCluster cluster("three");
  for (int i = 0; i < 3; ++i) cluster.start_worker();

  const std::size_t leader = await_single_leader(cluster, {0, 1, 2});
  EXPECT_EQ(leader, 0u) << "the first worker to join leads";
  ASSERT_TRUE(eventually(30s, [&] { return cluster.acknowledged_greetings().size() >= 12; }));
  const auto sent = cluster.acknowledged_greetings();
  ASSERT_TRUE(eventually(10s, [&] {
    const auto printed = cluster.printed_greetings();
    return std::all_of(sent.begin(), sent.end(), [&](const std::string& g) { return printed.count(g) > 0; });
  }));
  std::set<std::size_t> printers;
  for (const auto& greeting : sent) {
    const auto by = cluster.printers_of(greeting);
    EXPECT_EQ(by.size(), 1u) << "greeting " << greeting << " printed by " << by.size() << " workers";
    EXPECT_EQ(cluster.printed_greetings()[greeting], 1) << "greeting " << greeting;
    printers.insert(by.begin(), by.end());
  }
  EXPECT_GE(printers.size(), 2u) << "greetings spread over the workers' partitions";
  // Only the leader ran the on_leader timer.
  for (std::size_t i = 1; i < cluster.size(); ++i) {
    EXPECT_EQ(cluster.worker(i).process->log().find("PUBLISHING ON LEADER!"), std::string::npos) << "worker " << i;
  }
}

TEST(LeaderElection, SigintOfTheLeaderElectsOneSurvivorAndExitsZero) {
  WorkerCluster cluster("sigint");
  for (int i = 0; i < 3; ++i) cluster.start_worker();
  ASSERT_EQ(await_single_leader(cluster, {0, 1, 2}), 0u);
  ASSERT_TRUE(eventually(20s, [&] { return !cluster.acknowledged_greetings().empty(); }));

  const auto signalled = SystemClock::now() - 1ms;
  cluster.worker(0).process->signal(SIGINT);
  const auto exit_code = cluster.worker(0).process->wait_exit(20s);
  ASSERT_TRUE(exit_code.has_value()) << "the old leader did not exit";
  EXPECT_EQ(*exit_code, 0) << cluster.worker(0).process->log();
  // Leaving is not losing: the leader hands the partition over as it leaves the group.
  EXPECT_NE(cluster.worker(0).process->log().find("leadership released: left the group"), std::string::npos);
  EXPECT_EQ(cluster.worker(0).process->log().find("lost leadership"), std::string::npos);

  const std::size_t successor = await_single_leader(cluster, {1, 2});
  ASSERT_NE(successor, SIZE_MAX);
  EXPECT_TRUE(greetings_continue(cluster, 3));
  const auto& process = *cluster.worker(successor).process;
  const auto elected = first_log_time(process, "this worker is now the leader", signalled);
  const auto first_tick = first_log_time(process, "PUBLISHING ON LEADER!", signalled);
  ASSERT_TRUE(elected && first_tick);
  std::cout << "[ report ] SIGINT failover: new leader elected after " << millis_between(signalled, *elected)
            << " ms, its first tick after " << millis_between(signalled, *first_tick) << " ms (interval "
            << cluster.settings().greeting_interval * 1000 << " ms)\n";
  EXPECT_LT(millis_between(signalled, *elected), 5000.0);
  expect_nothing_lost(cluster, 15s);
}

TEST(LeaderElection, SigkillOfTheLeaderIsRecoveredAfterTheSessionTimeout) {
  WorkerCluster cluster("sigkill");
  for (int i = 0; i < 3; ++i) cluster.start_worker();
  ASSERT_EQ(await_single_leader(cluster, {0, 1, 2}), 0u);
  ASSERT_TRUE(eventually(20s, [&] { return !cluster.acknowledged_greetings().empty(); }));

  const auto killed = SystemClock::now() - 1ms;
  cluster.worker(0).process->signal(SIGKILL);
  ASSERT_TRUE(cluster.worker(0).process->wait_exit(5s).has_value());

  const std::size_t successor = await_single_leader(cluster, {1, 2});
  ASSERT_NE(successor, SIZE_MAX);
  EXPECT_TRUE(greetings_continue(cluster, 3));
  const auto elected = first_log_time(*cluster.worker(successor).process, "this worker is now the leader", killed);
  ASSERT_TRUE(elected.has_value());
  const double session_ms = cluster.settings().session_timeout * 1000;
  std::cout << "[ report ] SIGKILL failover: new leader elected after " << millis_between(killed, *elected)
            << " ms (session timeout " << session_ms << " ms)\n";
  EXPECT_LT(millis_between(killed, *elected), session_ms + 5000.0);
  expect_nothing_lost(cluster, 20s);
}

TEST(LeaderElection, AJoiningWorkerDoesNotTakeLeadership) {
  WorkerCluster cluster("join");
  for (int i = 0; i < 3; ++i) cluster.start_worker();
  ASSERT_EQ(await_single_leader(cluster, {0, 1, 2}), 0u);

  const std::size_t newcomer = cluster.start_worker();
  // The newcomer is in the group once it holds agent partitions.
  ASSERT_TRUE(eventually(20s, [&] {
    return cluster.worker(newcomer).process->log().find("agents assigned") != std::string::npos;
  }));
  const auto leaders = cluster.leaders();
  ASSERT_EQ(leaders.size(), 1u);
  EXPECT_EQ(leaders.front(), 0u);
  EXPECT_EQ(cluster.worker(0).process->log().find("lost leadership"), std::string::npos);
  EXPECT_NE(cluster.worker(newcomer).process->log().find("this worker is a follower"), std::string::npos);
}

// Once the joiners are in, the leader's ticks go on: the group has settled (a takeover happens in
// the rebalance of the join). Then worker 0 must be the only leader it ever had.
void expect_worker_0_kept_leading(WorkerCluster& cluster) {
  const std::size_t before = cluster.sent_greetings(0).size();
  EXPECT_TRUE(eventually(15s, [&] { return cluster.sent_greetings(0).size() >= before + 4; }))
      << "the leader stopped ticking";
  EXPECT_EQ(cluster.leaders(), std::vector<std::size_t>{0});
  EXPECT_EQ(count_lines(*cluster.worker(0).process, "this worker is now the leader"), 1u) << "a new term";
  EXPECT_EQ(cluster.worker(0).process->log().find("lost leadership"), std::string::npos);
  for (std::size_t i = 1; i < cluster.size(); ++i) {
    EXPECT_EQ(cluster.worker(i).process->log().find("leader term established"), std::string::npos)
        << "worker " << i << " took leadership";
  }
}

// The worker's wall clock really runs `behind` seconds behind: its latest log line says so.
void expect_clock_behind(const WorkerProcess& process, int behind) {
  const auto lines = process.log_lines();
  ASSERT_FALSE(lines.empty());
  const auto logged = log_time(lines.back());
  ASSERT_TRUE(logged.has_value()) << lines.back();
  const double lag = std::chrono::duration<double>(SystemClock::now() - *logged).count();
  EXPECT_NEAR(lag, behind, 5.0) << "the worker's clock is not skewed (libfaketime)";
}

// A start race: workers that made their ids before the leader made its own, but joined after
// it led. Here their clocks run 20 s and 40 s behind, so their ids (and member ids) sort first.
TEST(LeaderElection, WorkersWhoseIdsSayTheyAreOlderJoinLaterWithoutTakingLeadership) {
  WorkerCluster cluster("race");
  cluster.start_worker();
  ASSERT_EQ(await_single_leader(cluster, {0}), 0u);
  for (const int behind : {20, 40}) {
    WorkerCluster::StartOptions older;
    older.environment = skewed_clock(-behind);
    const std::size_t index = cluster.start_worker(older);  // ready: a member of the leader group
    expect_clock_behind(*cluster.worker(index).process, behind);
  }
  expect_worker_0_kept_leading(cluster);
}

// A worker whose clock is an hour behind joins a running group: the leader stays. Killing the
// leader still moves leadership to one of the others, the skewed one included.
TEST(LeaderElection, AWorkerWithAClockAnHourBehindDoesNotTakeLeadershipAndFailoverStillWorks) {
  WorkerCluster cluster("skew");
  cluster.start_worker();
  ASSERT_EQ(await_single_leader(cluster, {0}), 0u);
  cluster.start_worker();
  WorkerCluster::StartOptions behind;
  behind.environment = skewed_clock(-3600);
  const std::size_t skewed = cluster.start_worker(behind);
  expect_clock_behind(*cluster.worker(skewed).process, 3600);
  expect_worker_0_kept_leading(cluster);

  cluster.worker(0).process->signal(SIGKILL);
  ASSERT_TRUE(cluster.worker(0).process->wait_exit(5s).has_value());
  const std::size_t successor = await_single_leader(cluster, {1, 2});
  ASSERT_NE(successor, SIZE_MAX);
  EXPECT_TRUE(greetings_continue(cluster, 3));
  std::cout << "[ report ] after the SIGKILL worker " << successor << (successor == skewed ? " (clock an hour behind)" : "")
            << " leads\n";
}

TEST(LeaderElection, NothingAcknowledgedIsLostAcrossSigintAndSigkillFailovers) {
  WorkerCluster cluster("lossless");
  for (int i = 0; i < 3; ++i) cluster.start_worker();
  ASSERT_EQ(await_single_leader(cluster, {0, 1, 2}), 0u);
  ASSERT_TRUE(eventually(20s, [&] { return cluster.acknowledged_greetings().size() >= 4; }));

  cluster.worker(0).process->signal(SIGINT);
  ASSERT_TRUE(cluster.worker(0).process->wait_exit(20s).has_value());
  const std::size_t second = await_single_leader(cluster, {1, 2});
  ASSERT_NE(second, SIZE_MAX);
  ASSERT_TRUE(greetings_continue(cluster, 4));

  cluster.worker(second).process->signal(SIGKILL);
  ASSERT_TRUE(cluster.worker(second).process->wait_exit(5s).has_value());
  const std::size_t third = await_single_leader(cluster, {1, 2});
  ASSERT_NE(third, SIZE_MAX);
  EXPECT_NE(third, second);
  ASSERT_TRUE(greetings_continue(cluster, 4));
  expect_nothing_lost(cluster, 20s);
}

}  // namespace
}  // namespace faust::testing
