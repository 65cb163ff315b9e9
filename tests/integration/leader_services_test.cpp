// Services (ABI 1.1) on real workers and the real broker: the test plugin `term_watch`
// (fixtures/term_watch_plugin.cpp) logs its service's calls, so the workers' logs show when each
// worker believed it held a term. Across SIGINT and SIGKILL failovers, elected and revoked must
// follow leadership: strictly alternating on each worker, and never two open terms at once.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/http_get.h"
#include "support/worker_cluster.h"

namespace faust::testing {
namespace {

using namespace std::chrono_literals;
using SystemClock = std::chrono::system_clock;

ClusterManifest term_watch_manifest() {
  ClusterManifest manifest;
  manifest.app_lines = "  topic_partitions: 1\n";
  manifest.sections = std::string("agents:\n  term_sink:\n    library: ") + FAUST_TERM_WATCH_PLUGIN +
                      "\nservices:\n  term_watch:\n    library: " + FAUST_TERM_WATCH_PLUGIN +
                      "\n    stop_timeout: 2\n";
  return manifest;
}

// One worker's term as its log shows it: from "elected" to "revoked" (or to `end`, when the
// worker was killed before it could revoke).
struct LoggedTerm {
  std::size_t worker = 0;
  SystemClock::time_point elected;
  std::optional<SystemClock::time_point> revoked;
};

// The service's calls in one worker's log, in order ("started", "elected 3", "revoked", ...).
std::vector<std::pair<std::string, SystemClock::time_point>> service_calls(const WorkerProcess& process) {
  std::vector<std::pair<std::string, SystemClock::time_point>> calls;
  const std::string tag = "[term_watch] ";
  for (const std::string& line : process.log_lines()) {
    const auto at = line.find(tag);
    const auto when = log_time(line);
    if (at == std::string::npos || !when) continue;
    calls.emplace_back(line.substr(at + tag.size()), *when);
  }
  return calls;
}

// Checks each worker's calls alternate (started, then elected/revoked pairs, then stopped) and
// returns its terms.
std::vector<LoggedTerm> terms_of(WorkerCluster& cluster) {
  std::vector<LoggedTerm> terms;
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    const auto calls = service_calls(*cluster.worker(i).process);
    bool open = false;
    bool started = false;
    for (const auto& [call, when] : calls) {
      if (call == "started") {
        EXPECT_FALSE(started) << "worker " << i << " started twice";
        started = true;
      } else if (call.rfind("elected ", 0) == 0) {
        EXPECT_TRUE(started) << "worker " << i << ": elected before started";
        EXPECT_FALSE(open) << "worker " << i << ": elected twice without revoked";
        open = true;
        terms.push_back(LoggedTerm{i, when, std::nullopt});
      } else if (call == "revoked") {
        EXPECT_TRUE(open) << "worker " << i << ": revoked without elected";
        open = false;
        terms.back().revoked = when;
      } else if (call == "stopped") {
        EXPECT_FALSE(open) << "worker " << i << ": stopped inside a term";
      }
    }
  }
  return terms;
}

TEST(LeaderServices, ElectedAndRevokedFollowLeadershipThroughSigintAndSigkillWithNeverTwoOpenTerms) {
  WorkerCluster cluster("services", ClusterSettings{}, term_watch_manifest());
  for (int i = 0; i < 3; ++i) cluster.start_worker();

  const std::size_t first = await_single_leader(cluster);
  ASSERT_NE(first, SIZE_MAX);
  ASSERT_TRUE(cluster.worker(first).process->wait_for_log("[term_watch] elected", 10s));
  // What elected sent committed with the term: the sink agent (on some worker) handled it.
  ASSERT_TRUE(eventually(20s, [&] {
    for (std::size_t i = 0; i < cluster.size(); ++i) {
      if (count_lines(*cluster.worker(i).process, "sink elected-") > 0) return true;
    }
    return false;
  }));

  cluster.worker(first).process->signal(SIGINT);
  const auto exit_code = cluster.worker(first).process->wait_exit(20s);
  ASSERT_TRUE(exit_code.has_value());
  EXPECT_EQ(*exit_code, 0);
  const auto& stopped_log = *cluster.worker(first).process;
  // Every term it had ended before it stopped: one lead per elected.
  EXPECT_EQ(count_lines(stopped_log, "[term_watch] lead returned"), count_lines(stopped_log, "[term_watch] elected"))
      << stopped_log.log();
  EXPECT_EQ(count_lines(stopped_log, "[term_watch] stopped"), 1u);

  const std::size_t second = await_single_leader(cluster);
  ASSERT_NE(second, SIZE_MAX);
  ASSERT_TRUE(cluster.worker(second).process->wait_for_log("[term_watch] elected", 10s));
  const auto killed = SystemClock::now();
  cluster.worker(second).process->signal(SIGKILL);
  ASSERT_TRUE(cluster.worker(second).process->wait_exit(10s).has_value());

  const std::size_t third = await_single_leader(cluster);
  ASSERT_NE(third, SIZE_MAX);
  ASSERT_TRUE(cluster.worker(third).process->wait_for_log("[term_watch] elected", 10s));

  auto terms = terms_of(cluster);
  ASSERT_GE(terms.size(), 3u);
  for (auto& term : terms) {
    if (term.worker == second && !term.revoked) term.revoked = killed;  // it died leading
  }
  std::sort(terms.begin(), terms.end(), [](const LoggedTerm& a, const LoggedTerm& b) { return a.elected < b.elected; });
  for (std::size_t i = 1; i < terms.size(); ++i) {
    const LoggedTerm& before = terms[i - 1];
    ASSERT_TRUE(before.revoked.has_value()) << "worker " << before.worker << "'s term never ended, yet worker "
                                            << terms[i].worker << " was elected";
    EXPECT_LE(*before.revoked, terms[i].elected)
        << "worker " << terms[i].worker << " was elected while worker " << before.worker << " held its term";
    std::cout << "[ report ] term of worker " << before.worker << " ended "
              << std::chrono::duration_cast<std::chrono::milliseconds>(terms[i].elected - *before.revoked).count()
              << " ms before worker " << terms[i].worker << " was elected\n";
  }
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    EXPECT_EQ(count_lines(*cluster.worker(i).process, "[critical]"), 0u) << cluster.worker(i).process->log();
  }
}

// A worker joining rebalances the leader group, and the leader keeps the leader partition: the term
// goes on, and keeps the number its service was told, on /leader too (the group's generation moves on).
TEST(LeaderServices, ATermKeepsItsNumberWhenAJoiningWorkerRebalancesTheGroup) {
  WorkerCluster cluster("term-number", ClusterSettings{}, term_watch_manifest());
  const std::size_t leader = cluster.start_worker();
  const WorkerProcess& log = *cluster.worker(leader).process;
  ASSERT_TRUE(log.wait_for_log("[term_watch] elected ", 20s)) << log.log();
  std::string elected;
  for (const auto& line : log.log_lines()) {
    const auto at = line.find("[term_watch] elected ");
    if (at != std::string::npos) elected = line.substr(at + std::string("[term_watch] elected ").size());
  }
  ASSERT_FALSE(elected.empty()) << log.log();

  cluster.start_worker();
  const std::string resumed = "leader term (generation " + elected + ") goes on in the leader group's generation";
  ASSERT_TRUE(log.wait_for_log(resumed, 30s)) << log.log();
  const auto reply = http_get(cluster.worker(leader).web_port, "/leader");
  ASSERT_TRUE(reply);
  const auto body = nlohmann::json::parse(reply->body);
  EXPECT_EQ(body["term"]["generation"].get<int>(), std::stoi(elected)) << reply->body;
  EXPECT_GT(body["generation"].get<int>(), std::stoi(elected)) << reply->body;
  EXPECT_EQ(count_lines(log, "[term_watch] elected "), 1u) << log.log();
}

}  // namespace
}  // namespace faust::testing
