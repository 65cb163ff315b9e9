// Every endpoint of the web port, read over HTTP from real workers on the real broker.
#include <signal.h>

#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/http_get.h"
#include "support/prometheus_text.h"
#include "support/worker_cluster.h"

namespace faust::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

json get_json(std::uint16_t port, const std::string& path, int expected_status = 200) {
  const auto reply = http_get(port, path);
  EXPECT_TRUE(reply.has_value()) << path;
  if (!reply) return json();
  EXPECT_EQ(reply->status, expected_status) << path << ": " << reply->body;
  EXPECT_NE(reply->headers.find("Content-Type: application/json"), std::string::npos) << path;
  return json::parse(reply->body);
}

std::string get_metrics(std::uint16_t port) {
  const auto reply = http_get(port, "/metrics");
  EXPECT_TRUE(reply.has_value());
  if (!reply) return {};
  EXPECT_EQ(reply->status, 200);
  EXPECT_NE(reply->headers.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << reply->headers;
  return reply->body;
}

double metric(std::uint16_t port, const std::string& series) {
  return prometheus_sample(get_metrics(port), series).value_or(-1);
}

TEST(WebEndpoints, EveryEndpointDescribesTheRunningWorker) {
  WorkerCluster cluster("web");
  cluster.start_worker();
  cluster.start_worker();
  ASSERT_TRUE(eventually(20s, [&] { return cluster.leaders() == std::vector<std::size_t>{0}; }));
  const auto leader_port = cluster.worker(0).web_port;
  const auto follower_port = cluster.worker(1).web_port;

  EXPECT_EQ(get_json(leader_port, "/"), json({{"status", "OK"}}));
  EXPECT_EQ(get_json(leader_port, "/livez")["status"], "alive");
  EXPECT_EQ(get_json(follower_port, "/readyz")["status"], "ready");

  const json leader = get_json(leader_port, "/leader/");
  EXPECT_EQ(leader["is_leader"], true);
  EXPECT_GE(leader["generation"].get<int>(), 1);
  EXPECT_EQ(leader["member_id"].get<std::string>().rfind(cluster.app_id() + "-", 0), 0u) << leader.dump();
  EXPECT_FALSE(leader["since"].get<std::string>().empty());
  EXPECT_EQ(get_json(follower_port, "/leader")["is_leader"], false);

  // The two workers share the agent topic's 8 partitions without overlap.
  const std::string topic = cluster.app_id() + "-say";
  ASSERT_TRUE(eventually(20s, [&] {
    std::size_t total = 0;
    for (auto port : {leader_port, follower_port}) {
      const json assignment = get_json(port, "/assignment");
      if (assignment.contains(topic)) total += assignment[topic].size();
    }
    return total == 8;
  }));
  std::set<int> partitions;
  for (auto port : {leader_port, follower_port}) {
    const json assignment = get_json(port, "/assignment");
    for (int p : assignment[topic]) EXPECT_TRUE(partitions.insert(p).second) << "partition " << p;
  }
  EXPECT_EQ(partitions, (std::set<int>{0, 1, 2, 3, 4, 5, 6, 7}));

  ASSERT_TRUE(eventually(20s, [&] { return cluster.acknowledged_greetings().size() >= 3; }));
  const json status = get_json(leader_port, "/status");
  EXPECT_EQ(status["app"], cluster.app_id());
  EXPECT_EQ(status["version"], FAUST_HOST_VERSION);
  EXPECT_EQ(status["broker"], "up");
  EXPECT_EQ(status["ready"], true);
  EXPECT_GT(status["uptime_seconds"].get<double>(), 0.0);
  ASSERT_EQ(status["agents"].size(), 1u);
  EXPECT_EQ(status["agents"][0]["name"], "say");
  ASSERT_EQ(status["timers"].size(), 1u);
  EXPECT_EQ(status["timers"][0]["name"], "publish_greetings");
  EXPECT_GE(status["timers"][0]["fires"].get<int>(), 3);
  std::set<std::string> plugins;
  for (const auto& plugin : status["plugins"]) {
    plugins.insert(plugin["name"].get<std::string>());
    EXPECT_EQ(plugin["abi"], "1.4");
  }
  EXPECT_EQ(plugins, (std::set<std::string>{"say", "publish_greetings"}));

  const std::string metrics = get_metrics(leader_port);
  EXPECT_TRUE(prometheus_format_problems(metrics).empty()) << prometheus_format_problems(metrics).front();
  EXPECT_EQ(prometheus_sample(metrics, "faust_is_leader"), 1.0);
  EXPECT_EQ(prometheus_sample(metrics, "faust_build_info{version=\"" FAUST_HOST_VERSION "\"}"), 1.0);
  EXPECT_EQ(prometheus_sample(metrics, "faust_up"), 1.0);
  EXPECT_GE(prometheus_sample(metrics, "faust_rebalances_total").value_or(0), 1.0);
  EXPECT_GE(prometheus_sample(metrics, "faust_timer_fires_total{timer=\"publish_greetings\"}").value_or(0), 3.0);
  EXPECT_EQ(metric(follower_port, "faust_is_leader"), 0.0);

  // Messages are counted as they are handled.
  auto handled = [&] {
    return metric(leader_port, "faust_agent_messages_total{agent=\"say\"}") +
           metric(follower_port, "faust_agent_messages_total{agent=\"say\"}");
  };
  const double before = handled();
  EXPECT_TRUE(eventually(20s, [&] { return handled() >= before + 3; }));

  // is_leader flips on failover.
  cluster.worker(0).process->signal(SIGINT);
  ASSERT_TRUE(cluster.worker(0).process->wait_exit(20s).has_value());
  EXPECT_TRUE(eventually(20s, [&] { return metric(follower_port, "faust_is_leader") == 1.0; }));
  EXPECT_EQ(get_json(follower_port, "/leader")["is_leader"], true);
}

TEST(WebEndpoints, AnUnreachableBrokerKeepsTheWorkerAliveButNotReady) {
  WorkerCluster cluster("unreachable");
  // Port 1 on loopback: nothing listens there, connections are refused at once.
  const auto index = cluster.start_worker({.wait_ready = false, .extra_args = {"--broker", "kafka://127.0.0.1:1"}});
  auto& worker = cluster.worker(index);
  EXPECT_TRUE(worker.process->wait_for_log("retrying in", 30s)) << worker.process->log();
  EXPECT_EQ(get_json(worker.web_port, "/livez")["status"], "alive");
  const json ready = get_json(worker.web_port, "/readyz", 503);
  EXPECT_EQ(ready["status"], "not ready");
  EXPECT_FALSE(ready["reason"].get<std::string>().empty());
  EXPECT_TRUE(worker.process->running());
  worker.process->signal(SIGINT);
  const auto code = worker.process->wait_exit(15s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0);
}

}  // namespace
}  // namespace faust::testing
