// The crawler example (plugins/crawler, configs/crawler.yaml) on real workers and the real
// broker, with a feed server inside the test. Three workers keep 20 subscriptions with a 2 s
// period for about a minute while the leader is stopped (SIGINT) and the next one killed
// (SIGKILL). From the crawl topic as a read_committed reader sees it (what the leaders'
// transactions let through) and from the workers' logs:
//   - each source's dispatches form one chain: the first has no since_ms, each later one's
//     since_ms is the previous one's dispatched_ms (a fenced or repeated dispatch would break it);
//   - no source is dispatched twice in one period, and none waits longer than a period plus the
//     failover it lived through;
//   - every dispatch was fetched by some worker.
// Then all workers stop and three new ones start: the subscriptions are all still there, and
// each chain goes on where it stopped.
//
// Needs the host's leader-only agents (on_leader: true) and leader state.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "broker_env.h"
#include "feed_server.h"
#include "support/committed_reader.h"
#include "support/http_get.h"
#include "support/worker_cluster.h"

namespace faust::testing {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using SystemClock = std::chrono::system_clock;

constexpr int kSources = 20;
constexpr std::int64_t kPeriodMs = 2000;
constexpr std::int64_t kTickMs = 1000;
constexpr std::int32_t kCrawlPartitions = 4;
// Scheduling noise allowed on top of the tick interval: a tick's own run, the commit, the clock.
constexpr std::int64_t kSlackMs = 400;

ClusterManifest crawler_manifest() {
  ClusterManifest manifest;
  manifest.app_lines = "  topic_partitions: " + std::to_string(kCrawlPartitions) + "\n";
  manifest.sections =
      "agents:\n"
      "  subscriptions:\n    library: crawler\n    on_leader: true\n"
      "  crawl:\n    library: crawler\n    concurrency: 2\n    config:\n      timeout: \"5\"\n"
      "      allow_private_addresses: \"true\"\n"
      "timers:\n"
      "  dispatch:\n    library: crawler\n    interval: 1.0\n    on_leader: true\n";
  return manifest;
}

std::int64_t ms_of(SystemClock::time_point when) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count();
}

std::int64_t now_ms() { return ms_of(SystemClock::now()); }

struct Dispatch {
  std::optional<std::int64_t> since_ms;
  std::int64_t dispatched_ms = 0;
};

// Every committed dispatch on the crawl topic, by URL, in dispatch order.
std::map<std::string, std::vector<Dispatch>> committed_dispatches(const std::string& topic) {
  std::map<std::string, std::vector<Dispatch>> out;
  for (std::int32_t partition = 0; partition < kCrawlPartitions; ++partition) {
    CommittedReader reader(broker_address(), topic, partition);
    while (const auto record = reader.next(2s)) {
      const json value = json::parse(record->value, nullptr, false);
      if (value.is_discarded()) {
        ADD_FAILURE() << "unreadable dispatch: " << record->value;
        continue;
      }
      Dispatch dispatch;
      dispatch.dispatched_ms = value.at("dispatched_ms").get<std::int64_t>();
      if (!value.at("since_ms").is_null()) dispatch.since_ms = value.at("since_ms").get<std::int64_t>();
      out[value.at("url").get<std::string>()].push_back(dispatch);
    }
  }
  for (auto& [url, dispatches] : out) {
    std::sort(dispatches.begin(), dispatches.end(),
              [](const Dispatch& a, const Dispatch& b) { return a.dispatched_ms < b.dispatched_ms; });
  }
  return out;
}

// A time without a leader: from the signal to the moment another worker said it leads.
struct Failover {
  std::int64_t from_ms = 0;
  std::int64_t to_ms = 0;
};

// The subscriptions page of the leader: the number of subscriptions it lists.
std::optional<std::size_t> listed_subscriptions(WorkerCluster& cluster, std::size_t leader) {
  const auto reply = http_get(cluster.worker(leader).web_port, "/plugins/crawler/subscriptions");
  if (!reply || reply->status != 200) return std::nullopt;
  const json page = json::parse(reply->body, nullptr, false);
  if (page.is_discarded() || !page.value("leader", false) || page["as_of"].is_null()) return std::nullopt;
  return page["subscriptions"].size();
}

// Checks one source's chain and spacing; `failovers` excuse longer gaps.
void expect_dispatched_once_per_period(const std::string& url, const std::vector<Dispatch>& dispatches,
                                       const std::vector<Failover>& failovers) {
  ASSERT_FALSE(dispatches.empty()) << url << " was never dispatched";
  EXPECT_FALSE(dispatches.front().since_ms.has_value()) << url << ": the first dispatch has a since_ms";
  for (std::size_t i = 1; i < dispatches.size(); ++i) {
    const Dispatch& before = dispatches[i - 1];
    const Dispatch& after = dispatches[i];
    EXPECT_EQ(after.since_ms, before.dispatched_ms)
        << url << ": dispatch " << i << " at " << after.dispatched_ms << " does not follow the one at "
        << before.dispatched_ms << " (a repeated, lost or fenced dispatch)";
    const std::int64_t gap = after.dispatched_ms - before.dispatched_ms;
    EXPECT_GE(gap, kPeriodMs - kTickMs - kSlackMs) << url << ": dispatched twice in one period, at "
                                                   << before.dispatched_ms << " and " << after.dispatched_ms;
    std::int64_t allowed = kPeriodMs + kTickMs + kSlackMs;
    for (const Failover& failover : failovers) {
      if (failover.from_ms < after.dispatched_ms && failover.to_ms > before.dispatched_ms) {
        // The new leader's first tick comes one interval after its term starts.
        allowed += failover.to_ms - failover.from_ms + kTickMs;
      }
    }
    EXPECT_LE(gap, allowed) << url << ": " << gap << " ms between dispatches at " << before.dispatched_ms << " and "
                            << after.dispatched_ms << " (allowed " << allowed << " ms)";
  }
}

// Every dispatch was fetched by some worker: its crawl agent logged it.
void expect_every_dispatch_fetched(const std::vector<const WorkerCluster*>& clusters,
                                   const std::map<std::string, std::vector<Dispatch>>& dispatched) {
  std::vector<std::string> missing;
  const bool all = eventually(30s, [&] {
    std::string logs;
    for (const WorkerCluster* cluster : clusters) {
      for (std::size_t i = 0; i < cluster->size(); ++i) logs += cluster->worker(i).process->log();
    }
    missing.clear();
    for (const auto& [url, dispatches] : dispatched) {
      for (const Dispatch& dispatch : dispatches) {
        const std::string line = "[crawl] fetched " + url + " ";
        const std::string stamp = "dispatched_ms=" + std::to_string(dispatch.dispatched_ms) + " ";
        bool found = false;
        for (std::size_t at = logs.find(line); at != std::string::npos && !found; at = logs.find(line, at + 1)) {
          const std::size_t end = logs.find('\n', at);
          found = logs.substr(at, end - at).find(stamp) != std::string::npos;
        }
        if (!found) missing.push_back(url + " " + stamp);
      }
    }
    return missing.empty();
  }, 500ms);
  EXPECT_TRUE(all) << missing.size() << " dispatches never fetched, the first: " << missing.front();
}

std::string rss_feed(int source) {
  return "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>feed " + std::to_string(source) +
         "</title><item><title>story</title><link>http://example.test/" + std::to_string(source) +
         "</link><pubDate>Mon, 02 Jan 2006 15:04:05 GMT</pubDate></item></channel></rss>";
}

TEST(Crawler, ThreeWorkersDispatchEverySourceOncePerPeriodThroughSigintAndSigkillAndKeepSubscriptionsAcrossRestarts) {
  crawler::testing::FeedServer feeds;
  std::vector<std::string> urls;
  for (int source = 1; source <= kSources; ++source) {
    const std::string path = "/feeds/" + std::to_string(source) + ".xml";
    feeds.set(path, crawler::testing::FeedServer::ok(rss_feed(source)));
    urls.push_back(feeds.url(path));
  }

  WorkerCluster cluster("crawler", ClusterSettings{}, crawler_manifest());
  for (int i = 0; i < 3; ++i) cluster.start_worker();
  const std::size_t first = await_single_leader(cluster);
  ASSERT_NE(first, SIZE_MAX);
  for (const std::string& url : urls) {
    const CommandResult sent = cluster.send("subscriptions", json{{"add", url}, {"period", kPeriodMs / 1000}}.dump());
    ASSERT_EQ(sent.exit_code, 0) << sent.output;
  }
  ASSERT_TRUE(eventually(30s, [&] { return listed_subscriptions(cluster, first) == std::size_t{kSources}; }, 200ms))
      << "the leader's page never listed all " << kSources << " subscriptions";

  std::vector<Failover> failovers;
  std::this_thread::sleep_for(15s);

  Failover stopped{now_ms(), 0};
  cluster.worker(first).process->signal(SIGINT);
  ASSERT_TRUE(cluster.worker(first).process->wait_exit(20s).has_value());
  const std::size_t second = await_single_leader(cluster);
  ASSERT_NE(second, SIZE_MAX);
  stopped.to_ms = now_ms();
  failovers.push_back(stopped);
  std::cout << "[ report ] SIGINT failover: " << stopped.to_ms - stopped.from_ms << " ms\n";
  std::this_thread::sleep_for(15s);

  Failover killed{now_ms(), 0};
  cluster.worker(second).process->signal(SIGKILL);
  ASSERT_TRUE(cluster.worker(second).process->wait_exit(10s).has_value());
  const std::size_t third = await_single_leader(cluster);
  ASSERT_NE(third, SIZE_MAX);
  killed.to_ms = now_ms();
  failovers.push_back(killed);
  std::cout << "[ report ] SIGKILL failover: " << killed.to_ms - killed.from_ms << " ms\n";
  std::this_thread::sleep_for(15s);
  EXPECT_EQ(listed_subscriptions(cluster, third), std::size_t{kSources});

  // Stop everything; start three new workers of the same app.
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    if (cluster.worker(i).process->running()) cluster.worker(i).process->signal(SIGINT);
  }
  const std::int64_t all_stopped = now_ms();
  for (std::size_t i = 0; i < cluster.size(); ++i) ASSERT_TRUE(cluster.worker(i).process->wait_exit(20s).has_value());
  const std::size_t before_restart = cluster.size();
  for (int i = 0; i < 3; ++i) cluster.start_worker();
  const std::size_t restarted = await_single_leader(cluster);
  ASSERT_NE(restarted, SIZE_MAX);
  ASSERT_GE(restarted, before_restart);
  failovers.push_back(Failover{all_stopped, now_ms()});
  EXPECT_TRUE(eventually(30s, [&] { return listed_subscriptions(cluster, restarted) == std::size_t{kSources}; }, 200ms))
      << "after a restart of every worker the leader does not list all " << kSources << " subscriptions";
  std::this_thread::sleep_for(8s);

  const auto dispatched = committed_dispatches(cluster.app_id() + "-crawl");
  EXPECT_EQ(dispatched.size(), std::size_t{kSources});
  std::size_t total = 0;
  for (const std::string& url : urls) {
    const auto found = dispatched.find(url);
    ASSERT_NE(found, dispatched.end()) << url << " was never dispatched";
    expect_dispatched_once_per_period(url, found->second, failovers);
    total += found->second.size();
  }
  std::cout << "[ report ] " << total << " dispatches of " << kSources << " sources\n";
  expect_every_dispatch_fetched({&cluster}, dispatched);
  for (std::size_t i = before_restart; i < cluster.size(); ++i) {
    EXPECT_EQ(count_lines(*cluster.worker(i).process, "[critical]"), 0u) << cluster.worker(i).process->log();
  }
}

}  // namespace
}  // namespace faust::testing
