// A paused leader wakes up believing it leads: its sends must be fenced at the broker.
#include <signal.h>

#include <iostream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/http_get.h"
#include "support/worker_cluster.h"

namespace faust::testing {
namespace {

using namespace std::chrono_literals;
using SystemClock = std::chrono::system_clock;

TEST(FencedLeadership, APausedLeaderCannotDeliverAfterItsSuccessorTookOver) {
  WorkerCluster cluster("fenced", ClusterSettings{.session_timeout = 3.0, .heartbeat_interval = 0.3,
                                                 .greeting_interval = 0.2});
  for (int i = 0; i < 3; ++i) cluster.start_worker();
  ASSERT_TRUE(eventually(20s, [&] { return cluster.leaders() == std::vector<std::size_t>{0}; }));
  ASSERT_TRUE(eventually(20s, [&] { return cluster.acknowledged_greetings().size() >= 3; }));

  auto& old_leader = cluster.worker(0);
  old_leader.process->signal(SIGSTOP);
  old_leader.paused = true;
  const auto paused_at = SystemClock::now();
  std::vector<std::size_t> leaders;
  ASSERT_TRUE(eventually(30s, [&] {
    leaders = cluster.leaders();
    return leaders.size() == 1;
  }));
  const auto& successor = *cluster.worker(leaders.front()).process;
  ASSERT_TRUE(successor.wait_for_log("sent greeting", 20s));
  const auto successor_first = first_log_time(successor, "sent greeting", paused_at);
  ASSERT_TRUE(successor_first.has_value());

  const auto resumed_at = SystemClock::now();
  old_leader.process->signal(SIGCONT);
  old_leader.paused = false;
  // The old leader ends as a follower and keeps running.
  ASSERT_TRUE(eventually(30s, [&] {
    const auto reply = http_get(old_leader.web_port, "/leader");
    return reply && reply->status == 200 && !nlohmann::json::parse(reply->body)["is_leader"].get<bool>();
  }));
  EXPECT_TRUE(old_leader.process->running());
  // Let the successor go on for a while, so anything the old leader slipped out would show.
  const std::size_t sent = cluster.acknowledged_greetings().size();
  ASSERT_TRUE(eventually(20s, [&] { return cluster.acknowledged_greetings().size() >= sent + 5; }));

  // Nothing the old leader acknowledged is newer than the successor's first greeting...
  for (const auto& line : old_leader.process->log_lines()) {
    if (line.find("sent greeting") == std::string::npos) continue;
    const auto time = log_time(line);
    ASSERT_TRUE(time.has_value());
    EXPECT_LT(*time, *successor_first) << "old leader delivered after the successor took over: " << line;
  }
  // ...and every greeting an agent printed was acknowledged by the leader of its time: an
  // aborted (fenced) transaction is never read by the read_committed agents.
  const auto acknowledged = cluster.acknowledged_greetings();
  const std::set<std::string> acknowledged_set(acknowledged.begin(), acknowledged.end());
  for (const auto& [greeting, count] : cluster.printed_greetings()) {
    EXPECT_EQ(acknowledged_set.count(greeting), 1u) << "printed but never acknowledged: " << greeting;
  }
  const std::string log = old_leader.process->log();
  const bool tried = log.find("fenced") != std::string::npos;
  std::cout << "[ report ] paused leader resumed " << std::chrono::duration<double>(resumed_at - paused_at).count()
            << " s after SIGSTOP; " << (tried ? "it tried to send and was fenced by the broker"
                                              : "it noticed the lost leadership before its next tick")
            << "\n";
}

}  // namespace
}  // namespace faust::testing
