// A paused leader wakes up believing it leads. Three workers, a greeting every 0.2 s, and ten
// rounds of: SIGSTOP the leader; ask the other workers' /leader as fast as they answer; the moment
// one says it leads (time T), SIGCONT the old leader. A worker says it leads only once its term's
// transactional producer has fenced every earlier one, so from T on nothing the old leader sends
// may reach an agent, and none of its transactions may commit. Each round pauses the leader the
// previous round elected.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/worker_cluster.h"

namespace faust::testing {
namespace {

using namespace std::chrono_literals;
using SystemClock = std::chrono::system_clock;

constexpr int kRounds = 10;
constexpr auto kLeaderPollPeriod = 5ms;

struct Round {
  std::size_t old_leader = 0;
  std::size_t successor = 0;  // the first other worker that said it leads
  SystemClock::time_point paused;
  // The moment a successor said it leads: just before the /leader request it answered.
  SystemClock::time_point took_over;
  // The end of the round: the old leader is a follower, another worker leads and its greetings
  // reach the agents.
  SystemClock::time_point settled;
};

// Whether a greeting `worker` logged as sent at or after `since` has been printed by a say agent.
bool printed_a_greeting_of(const WorkerCluster& cluster, std::size_t worker, SystemClock::time_point since) {
  const auto printed = cluster.printed_greetings();
  for (const auto& sent : cluster.sent_greetings(worker)) {
    if (sent.logged >= since && printed.count(sent.greeting) > 0) return true;
  }
  return false;
}

// `worker`'s log lines since `since` that say it gained or lost leadership.
std::string leadership_lines(const WorkerCluster& cluster, std::size_t worker, SystemClock::time_point since) {
  std::string out;
  for (const auto& line : cluster.worker(worker).process->log_lines()) {
    const auto time = log_time(line);
    if (!time || *time < since) continue;
    for (const char* text : {"leader term established", "this worker is now the leader", "lost leadership"}) {
      if (line.find(text) != std::string::npos) out += "\n  " + line;
    }
  }
  return out;
}

// Log times have whole milliseconds: a line written at T shows the millisecond T falls in.
SystemClock::time_point to_log_resolution(SystemClock::time_point time) {
  return std::chrono::floor<std::chrono::milliseconds>(time);
}

// Until when the successor's term rules out any output of the old leader: the end of the round,
// unless the successor lost leadership before (the old leader, rejoining the group first, may
// take it back and start a new term of its own) or the old leader was elected again.
SystemClock::time_point end_of_successor_term(const WorkerCluster& cluster, const Round& round) {
  auto until = round.settled;
  for (const auto& [worker, line] : {std::pair{round.successor, "this worker lost leadership"},
                                     std::pair{round.old_leader, "this worker is now the leader"},
                                     std::pair{round.old_leader, "leader term established"}}) {
    if (const auto time = first_log_time(*cluster.worker(worker).process, line, round.took_over)) {
      until = std::min(until, *time);
    }
  }
  return until;
}

// The old leader's transactions that committed after its successor took over. One exception
// is no breach: a tick that queued everything before the pause (so before T) and had its commit
// request at the broker when the process stopped; the broker committed it then, before any
// successor was fenced in, and the worker logs it only on waking up. Returns the breaches and
// counts the exceptions in `in_flight`.
std::vector<std::string> commits_after_takeover(const WorkerCluster& cluster, const Round& round,
                                                int& in_flight) {
  const std::string committed = committed_leader_transaction("publish_greetings");
  const auto took_over = to_log_resolution(round.took_over);
  const auto until = end_of_successor_term(cluster, round);
  std::vector<std::string> breaches;
  bool tick_after_takeover = false;  // the tick now in the log began or sent at or after T
  for (const auto& line : cluster.worker(round.old_leader).process->log_lines()) {
    const auto time = log_time(line);
    if (!time) continue;
    const bool late = *time >= took_over;
    if (line.find("PUBLISHING ON LEADER!") != std::string::npos) {
      tick_after_takeover = late;
    } else if (line.find("sent greeting ") != std::string::npos) {
      tick_after_takeover = tick_after_takeover || late;
    } else if (line.find(committed) != std::string::npos && late && *time < until) {
      if (tick_after_takeover) {
        breaches.push_back(line);
      } else {
        ++in_flight;
      }
    }
  }
  return breaches;
}

TEST(FencedLeadership, APausedLeaderGetsNothingThroughOnceItsSuccessorLeads) {
  WorkerCluster cluster("fenced", ClusterSettings{.session_timeout = 3.0, .heartbeat_interval = 0.3,
                                                 .greeting_interval = 0.2});
  for (int i = 0; i < 3; ++i) cluster.start_worker();
  std::vector<std::size_t> leaders;
  ASSERT_TRUE(eventually(20s, [&] {
    leaders = cluster.leaders();
    return leaders.size() == 1;
  }));
  std::size_t leader = leaders.front();
  auto leading_since = SystemClock::now() - 1s;

  std::vector<Round> rounds;
  for (int number = 1; number <= kRounds; ++number) {
    SCOPED_TRACE("round " + std::to_string(number));
    // The leader's greetings reach the agents: its term is in full swing.
    if (!eventually(20s, [&] { return printed_a_greeting_of(cluster, leader, leading_since); })) {
      ADD_FAILURE() << "worker " << leader << " leads but none of its greetings was printed";
      break;
    }

    Round round;
    round.old_leader = leader;
    auto& old_leader = cluster.worker(leader);
    round.paused = SystemClock::now();
    old_leader.process->signal(SIGSTOP);
    old_leader.paused = true;
    bool found = false;
    const bool succeeded = eventually(
        30s,
        [&] {
          for (std::size_t i = 0; i < cluster.size() && !found; ++i) {
            const auto asked = SystemClock::now();
            if (i != leader && cluster.is_leader(i).value_or(false)) {
              round.took_over = asked;
              round.successor = i;
              found = true;
            }
          }
          return found;
        },
        kLeaderPollPeriod);
    old_leader.process->signal(SIGCONT);
    old_leader.paused = false;
    if (!succeeded) {
      ADD_FAILURE() << "no successor within 30 s of pausing worker " << leader;
      break;
    }

    // The old leader ends as a follower and keeps running; one other worker leads, and its
    // greetings reach the agents.
    std::vector<std::size_t> leaders_now;
    const bool settled = eventually(30s, [&] {
      leaders_now = cluster.leaders();
      return leaders_now.size() == 1 && leaders_now.front() != round.old_leader &&
             cluster.is_leader(round.old_leader) == false &&
             printed_a_greeting_of(cluster, leaders_now.front(), round.took_over);
    });
    round.settled = SystemClock::now();
    rounds.push_back(round);
    EXPECT_TRUE(old_leader.process->running()) << old_leader.process->log();
    if (!settled) {
      ADD_FAILURE() << "30 s after worker " << round.old_leader
                    << " resumed, it is not a follower under one other leader whose greetings are printed; "
                    << "leaders: " << ::testing::PrintToString(leaders_now) << "; its leadership since the pause:"
                    << leadership_lines(cluster, round.old_leader, round.paused);
      break;
    }
    leader = leaders_now.front();
    leading_since = round.took_over;
  }
  EXPECT_EQ(rounds.size(), static_cast<std::size_t>(kRounds));

  // Every greeting whose transaction committed reaches an agent...
  expect_acknowledged_greetings_printed(cluster, 30s);
  // ...and nothing else does: aborted (fenced or failed) transactions are never read.
  const auto acknowledged = cluster.acknowledged_greetings();
  const std::set<std::string> acknowledged_set(acknowledged.begin(), acknowledged.end());
  std::vector<std::string> unacknowledged;
  for (const auto& [greeting, count] : cluster.printed_greetings()) {
    if (acknowledged_set.count(greeting) == 0) unacknowledged.push_back(greeting);
  }
  EXPECT_TRUE(unacknowledged.empty()) << unacknowledged.size()
                                      << " greeting(s) printed but never acknowledged, first: "
                                      << (unacknowledged.empty() ? "" : unacknowledged.front());

  const auto printed = cluster.printed_greetings();
  int late_sends = 0;
  int in_flight_commits = 0;
  std::ostringstream report;
  for (std::size_t r = 0; r < rounds.size(); ++r) {
    const Round& round = rounds[r];
    // No greeting the old leader logged as sent once its successor led is ever printed...
    const auto until = end_of_successor_term(cluster, round);
    for (const auto& sent : cluster.sent_greetings(round.old_leader)) {
      if (sent.logged < to_log_resolution(round.took_over) || sent.logged >= until) continue;
      ++late_sends;
      EXPECT_EQ(printed.count(sent.greeting), 0u)
          << "round " << r + 1 << ": worker " << round.old_leader << " sent greeting " << sent.greeting
          << " after worker " << round.successor << " took over, and an agent printed it";
    }
    // ...and none of its transactions commits after that moment.
    for (const auto& line : commits_after_takeover(cluster, round, in_flight_commits)) {
      ADD_FAILURE() << "round " << r + 1 << ": worker " << round.old_leader << " committed after worker "
                    << round.successor << " took over: " << line;
    }
    report << " " << std::chrono::duration<double>(round.took_over - round.paused).count();
  }
  std::cout << "[ report ] " << rounds.size() << " rounds; successor leading after (s):" << report.str()
            << "; "
            << late_sends << " greeting(s) logged as sent by an old leader after its successor took over; "
            << in_flight_commits << " commit(s) in flight across a pause\n";
}

}  // namespace
}  // namespace faust::testing
