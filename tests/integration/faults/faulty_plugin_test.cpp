// Agents that fail, throw, block, or get messages they cannot read: one real faust-host worker
// on the real broker, running the test plugin `faulty` (faulty_plugin.cpp) under each on_error
// policy. Messages are injected with `faust-host send`; the agent topic has one partition, so
// the n-th message sent has offset n-1 and the messages are handled in the order sent.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "../broker_env.h"
#include "../support/http_get.h"
#include "../support/prometheus_text.h"
#include "../support/worker_cluster.h"

namespace faust::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr auto kHandledDeadline = 20s;

// An app with the one agent `faulty` on a one-partition topic. `extra_sections`: e.g. a kafka: section.
ClusterManifest faulty_manifest(const std::string& on_error, int max_retries = 3,
                                const std::string& value_serializer = "raw",
                                const std::string& extra_sections = "") {
  ClusterManifest manifest;
  manifest.value_serializer = value_serializer;
  manifest.app_lines = "  topic_partitions: 1\n";
  manifest.sections = std::string("agents:\n  faulty:\n    library: ") + FAUST_FAULTY_PLUGIN + "\n" +
                      "    on_error: " + on_error + "\n" + "    max_retries: " + std::to_string(max_retries) +
                      "\n" + extra_sections;
  return manifest;
}

std::string agent_topic(const WorkerCluster& cluster) { return cluster.app_id() + "-faulty"; }

bool log_has(const WorkerProcess& process, const std::string& text) {
  return process.log().find(text) != std::string::npos;
}

void send_ok(WorkerCluster& cluster, const std::string& value, const std::filesystem::path& manifest = {}) {
  const CommandResult sent = cluster.send("faulty", value, manifest);
  ASSERT_EQ(sent.exit_code, 0) << "faust-host send " << value << ": " << sent.output;
}

json agent_status(std::uint16_t port) {
  const auto reply = http_get(port, "/status");
  EXPECT_TRUE(reply && reply->status == 200);
  if (!reply) return json();
  const json status = json::parse(reply->body);
  EXPECT_EQ(status["agents"].size(), 1u) << reply->body;
  return status["agents"].empty() ? json() : status["agents"][0];
}

double metric(std::uint16_t port, const std::string& series) {
  const auto reply = http_get(port, "/metrics");
  if (!reply || reply->status != 200) return -1;
  return prometheus_sample(reply->body, series).value_or(-1);
}

std::size_t line_count(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

TEST(FaultyPlugin, OnErrorSkipLogsTheErrorCountsItAndHandlesLaterMessages) {
  WorkerCluster cluster("faulty-skip", {}, faulty_manifest("skip"));
  auto& worker = cluster.worker(cluster.start_worker());
  for (const char* value : {"ok-1", "fail-1", "throw-1", "ok-2"}) send_ok(cluster, value);
  ASSERT_TRUE(worker.process->wait_for_log("[faulty] handled ok-2", kHandledDeadline))
      << worker.process->log();

  const std::string topic = agent_topic(cluster);
  const auto& process = *worker.process;
  EXPECT_TRUE(log_has(process, "[faulty] handled ok-1"));
  // The error names the plugin and the agent, the message's place, and the policy applied.
  EXPECT_TRUE(log_has(process, "[error] faulty agent 'faulty' failed: refused fail-1 at " + topic +
                                   "[0]@1; skipped (on_error: skip)"))
      << process.log();
  // A non-std exception is caught inside the plugin (SDK trampoline) and becomes an error.
  EXPECT_TRUE(log_has(process, "[error] faulty agent 'faulty' failed: unknown exception at " + topic +
                                   "[0]@2; skipped (on_error: skip)"))
      << process.log();
  EXPECT_EQ(count_lines(process, "[faulty] received fail-1"), 1u) << "skip never retries";

  const json agent = agent_status(worker.web_port);
  EXPECT_EQ(agent["name"], "faulty");
  EXPECT_EQ(agent["errors"], 2);
  EXPECT_EQ(agent["messages_handled"], 2);
  EXPECT_EQ(agent["last_error"], "faulty agent 'faulty' failed: unknown exception");
  EXPECT_EQ(metric(worker.web_port, "faust_agent_errors_total{agent=\"faulty\"}"), 2.0);
  EXPECT_TRUE(worker.process->running());
  EXPECT_FALSE(log_has(process, "[critical]")) << process.log();
}

TEST(FaultyPlugin, OnErrorRetryTriesAFailingMessageOncePlusMaxRetriesThenSkipsIt) {
  WorkerCluster cluster("faulty-retry", {}, faulty_manifest("retry", 2));
  auto& worker = cluster.worker(cluster.start_worker());
  send_ok(cluster, "fail-r");
  send_ok(cluster, "ok-r");
  ASSERT_TRUE(worker.process->wait_for_log("[faulty] handled ok-r", kHandledDeadline))
      << worker.process->log();

  const std::string at = " at " + agent_topic(cluster) + "[0]@0";
  const auto& process = *worker.process;
  EXPECT_EQ(count_lines(process, "[faulty] received fail-r"), 3u) << process.log();
  EXPECT_TRUE(
      log_has(process, "[warning] faulty agent 'faulty' failed: refused fail-r" + at + "; retry 1 of 2"));
  EXPECT_TRUE(
      log_has(process, "[warning] faulty agent 'faulty' failed: refused fail-r" + at + "; retry 2 of 2"));
  EXPECT_TRUE(log_has(process, "[error] faulty agent 'faulty' failed: refused fail-r" + at +
                                   "; skipped after 2 retries (on_error: retry)"))
      << process.log();
  EXPECT_EQ(count_lines(process, "[faulty] received ok-r"), 1u);
  const json agent = agent_status(worker.web_port);
  EXPECT_EQ(agent["errors"], 3) << "every failed attempt counts";
  EXPECT_EQ(agent["messages_handled"], 1);
  EXPECT_TRUE(worker.process->running());
}

TEST(FaultyPlugin, OnErrorStopExitsWith22AndLeavesTheFailingMessageUncommitted) {
  WorkerCluster cluster("faulty-stop", {}, faulty_manifest("stop"));
  auto& stopping = cluster.worker(cluster.start_worker());
  send_ok(cluster, "ok-s1");
  ASSERT_TRUE(stopping.process->wait_for_log("[faulty] handled ok-s1", kHandledDeadline))
      << stopping.process->log();
  send_ok(cluster, "fail-stop");
  const auto code = stopping.process->wait_exit(20s);
  ASSERT_TRUE(code.has_value()) << "on_error: stop did not stop the worker:\n" << stopping.process->log();
  EXPECT_EQ(*code, 22) << stopping.process->log();
  const std::string topic = agent_topic(cluster);
  EXPECT_TRUE(log_has(*stopping.process, "[critical] agent 'faulty' stopped the worker at " + topic +
                                             "[0]@1: faulty agent 'faulty' failed: refused fail-stop"))
      << stopping.process->log();
  EXPECT_TRUE(log_has(*stopping.process, "stopping the worker (on_error: stop)"));

  // A worker of the same app with on_error: skip gets the failing message again (its offset was
  // not committed) but not the one handled before it (committed on the way out).
  send_ok(cluster, "ok-s2");
  const auto skip_manifest = cluster.write_manifest("skip.yaml", faulty_manifest("skip"));
  auto& successor = cluster.worker(cluster.start_worker({}, skip_manifest));
  ASSERT_TRUE(successor.process->wait_for_log("[faulty] handled ok-s2", kHandledDeadline))
      << successor.process->log();
  EXPECT_EQ(count_lines(*successor.process, "[faulty] received fail-stop"), 1u) << successor.process->log();
  EXPECT_TRUE(
      log_has(*successor.process, "refused fail-stop at " + topic + "[0]@1; skipped (on_error: skip)"));
  EXPECT_FALSE(log_has(*successor.process, "received ok-s1")) << "a handled message was redelivered";
}

TEST(FaultyPlugin, ABlockingHandlerIsReportedAndTheWorkerStaysLive) {
  WorkerCluster cluster("faulty-block", {}, faulty_manifest("skip"));
  auto& worker = cluster.worker(cluster.start_worker());
  const auto& process = *worker.process;
  send_ok(cluster, "block:13");
  send_ok(cluster, "ok-b");
  ASSERT_TRUE(process.wait_for_log("[faulty] received block:13", kHandledDeadline)) << process.log();
  const auto blocked_at = first_log_time(process, "[faulty] received block:13", {});
  ASSERT_TRUE(blocked_at.has_value());

  // The slow-handler check warns every 10 s while a handler runs; the web port keeps answering.
  const std::string stalled = "[warning] agent 'faulty' handler has been running for 10 s at " +
                              agent_topic(cluster) + "[0]@0; its partition is stalled";
  int livez_answers = 0;
  int livez_failures = 0;
  const bool warned = eventually(14s, [&] {
    const auto reply = http_get(worker.web_port, "/livez");
    if (reply && reply->status == 200) {
      ++livez_answers;
    } else {
      ++livez_failures;
    }
    return log_has(process, stalled);
  });
  EXPECT_TRUE(warned) << "no stall warning within 14 s of the handler starting:\n" << process.log();
  if (const auto warned_at = first_log_time(process, "its partition is stalled", *blocked_at)) {
    const double after = std::chrono::duration<double>(*warned_at - *blocked_at).count();
    std::cout << "[ report ] stall warning " << after << " s after the handler started\n";
    EXPECT_LE(after, 12.0);
  }
  EXPECT_EQ(livez_failures, 0) << livez_answers << " /livez answers";
  EXPECT_GT(livez_answers, 0);
  EXPECT_FALSE(log_has(process, "[faulty] handled ok-b")) << "the partition was stalled behind the handler";

  ASSERT_TRUE(process.wait_for_log("[faulty] handled ok-b", kHandledDeadline)) << process.log();
  EXPECT_TRUE(log_has(process, "[faulty] handled block:13"));
  EXPECT_TRUE(worker.process->running());
}

TEST(MalformedMessages, ANonJsonValueGoesToTheErrorPathAndTheNextValueIsHandled) {
  WorkerCluster cluster("malformed", {}, faulty_manifest("skip", 3, "json"));
  // Another manifest of the same app that lets a non-JSON value into the topic.
  const auto raw_manifest = cluster.write_manifest("raw.yaml", faulty_manifest("skip", 3, "raw"));
  auto& worker = cluster.worker(cluster.start_worker());

  // `send` itself refuses what the app's serializer would refuse.
  const CommandResult refused = cluster.send("faulty", "not json {");
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_EQ(refused.output, "faust-host: send: value is not valid JSON (serializer: json)\n");

  send_ok(cluster, "not json {", raw_manifest);
  send_ok(cluster, R"({"n": 1})");
  const auto& process = *worker.process;
  ASSERT_TRUE(process.wait_for_log(R"([faulty] handled {"n": 1})", kHandledDeadline)) << process.log();
  EXPECT_TRUE(
      log_has(process, "[error] agent 'faulty': message value is not valid JSON (serializer: json) at " +
                           agent_topic(cluster) + "[0]@0; skipped (on_error: skip)"))
      << process.log();
  EXPECT_FALSE(log_has(process, "received not json")) << "the plugin got a value its serializer refuses";
  EXPECT_EQ(agent_status(worker.web_port)["errors"], 1);
  EXPECT_TRUE(worker.process->running());
}

// Creates `topic` with one partition and a larger max.message.bytes than the broker's default.
std::string create_topic_for_large_messages(const std::string& topic, const std::string& max_message_bytes) {
  const std::string broker = broker_address();
  std::string error(512, '\0');
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", broker.c_str(), error.data(), error.size());
  std::unique_ptr<rd_kafka_t, decltype(&rd_kafka_destroy)> admin(
      rd_kafka_new(RD_KAFKA_PRODUCER, conf, error.data(), error.size()), &rd_kafka_destroy);
  if (!admin) {
    rd_kafka_conf_destroy(conf);
    return "cannot create admin client: " + std::string(error.c_str());
  }
  std::unique_ptr<rd_kafka_NewTopic_t, decltype(&rd_kafka_NewTopic_destroy)> new_topic(
      rd_kafka_NewTopic_new(topic.c_str(), 1, 1, error.data(), error.size()), &rd_kafka_NewTopic_destroy);
  if (!new_topic) return error.c_str();
  rd_kafka_NewTopic_set_config(new_topic.get(), "max.message.bytes", max_message_bytes.c_str());
  std::unique_ptr<rd_kafka_queue_t, decltype(&rd_kafka_queue_destroy)> queue(rd_kafka_queue_new(admin.get()),
                                                                             &rd_kafka_queue_destroy);
  rd_kafka_NewTopic_t* topics[] = {new_topic.get()};
  rd_kafka_CreateTopics(admin.get(), topics, 1, nullptr, queue.get());
  std::unique_ptr<rd_kafka_event_t, decltype(&rd_kafka_event_destroy)> event(
      rd_kafka_queue_poll(queue.get(), 30'000), &rd_kafka_event_destroy);
  if (!event) return "no CreateTopics result within 30 s";
  if (rd_kafka_event_error(event.get()) != RD_KAFKA_RESP_ERR_NO_ERROR)
    return rd_kafka_event_error_string(event.get());
  std::size_t count = 0;
  const rd_kafka_topic_result_t** results =
      rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event.get()), &count);
  if (count != 1) return "CreateTopics returned " + std::to_string(count) + " results";
  if (rd_kafka_topic_result_error(results[0]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return rd_kafka_topic_result_error_string(results[0]);
  }
  return {};
}

class DeliveryReport : public RdKafka::DeliveryReportCb {
 public:
  void dr_cb(RdKafka::Message& message) override {
    error = message.err();
    delivered = true;
  }
  RdKafka::ErrorCode error = RdKafka::ERR_NO_ERROR;
  bool delivered = false;
};

// Produces one message and waits for its delivery report; the error text, empty on success.
std::string produce_large(const std::string& topic, const std::string& value) {
  std::string error;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  DeliveryReport report;
  for (const auto& [key, setting] : std::map<std::string, std::string>{
           {"bootstrap.servers", broker_address()}, {"message.max.bytes", "8000000"}}) {
    if (conf->set(key, setting, error) != RdKafka::Conf::CONF_OK) return error;
  }
  if (conf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(&report), error) != RdKafka::Conf::CONF_OK)
    return error;
  std::unique_ptr<RdKafka::Producer> producer(RdKafka::Producer::create(conf.get(), error));
  if (!producer) return error;
  const auto queued =
      producer->produce(topic, 0, RdKafka::Producer::RK_MSG_COPY, const_cast<char*>(value.data()),
                        value.size(), nullptr, 0, 0, nullptr);
  if (queued != RdKafka::ERR_NO_ERROR) return RdKafka::err2str(queued);
  producer->flush(30'000);
  if (!report.delivered) return "no delivery report within 30 s";
  return report.error == RdKafka::ERR_NO_ERROR ? std::string() : RdKafka::err2str(report.error);
}

TEST(MalformedMessages, AnOversizeValueIsRefusedBySendInOneLineOrHandledWhenTheTopicAllowsIt) {
  WorkerCluster cluster("oversize", {}, faulty_manifest("skip", 3, "json"));
  // A topic that takes 4 MiB messages; the worker finds it in place and uses it as it is.
  ASSERT_EQ(create_topic_for_large_messages(agent_topic(cluster), "4194304"), "");
  auto& worker = cluster.worker(cluster.start_worker());

  // Larger than the producer's message.max.bytes: refused before anything reaches the broker.
  // (`send` takes its value on the command line, and Linux caps one argument at 128 KiB.)
  const auto tight_manifest = cluster.write_manifest(
      "tight.yaml", faulty_manifest("skip", 3, "json", "kafka:\n  message.max.bytes: 65536\n"));
  const std::string large_json = "\"" + std::string(100 * 1024, 'a') + "\"";
  const CommandResult refused = cluster.send("faulty", large_json, tight_manifest);
  std::cout << "[ report ] 100 KiB value over a 64 KiB producer limit: exit " << refused.exit_code << ", "
            << refused.output;
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.exit_code, -1) << "send hung";
  EXPECT_EQ(line_count(refused.output), 1u) << refused.output;
  EXPECT_EQ(refused.output.rfind("faust-host: ", 0), 0u) << refused.output;
  EXPECT_NE(refused.output.find("Message size too large"), std::string::npos) << refused.output;

  // 2 MiB, over librdkafka's 1 MiB default fetch size per partition: still consumed and handled.
  const std::string huge_json = "\"" + std::string(2 * 1024 * 1024, 'b') + "\"";
  ASSERT_EQ(produce_large(agent_topic(cluster), huge_json), "");
  send_ok(cluster, R"("after the large one")");
  const auto& process = *worker.process;
  ASSERT_TRUE(process.wait_for_log(R"([faulty] handled "after the large one")", kHandledDeadline))
      << process.log();
  EXPECT_TRUE(log_has(process,
                      "[faulty] handled " + std::to_string(huge_json.size()) + " bytes starting with \"bbbb"))
      << process.log();
  EXPECT_EQ(agent_status(worker.web_port)["errors"], 0);
  EXPECT_TRUE(worker.process->running());
}

}  // namespace
}  // namespace faust::testing
