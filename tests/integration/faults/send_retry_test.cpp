// An agent's send that starts during a broker outage longer than the 30 s send timeout. The
// send is pipelined: the worker queues it again when the broker has not taken it in time, until
// it does; the message's offset is committed only after that. (Before, the send failed after 30 s, on_error: skip logged
// "skipped", librdkafka dropped the record at its own 30 s message timeout, and the offset was
// committed once the broker was back: the output was lost.)
//
// The agent `forward` of the test plugin gated_forwarder holds each message before its send
// until a gate file exists; the test opens the gate once the broker is stopped, so the send starts
// inside the outage. Every other test on this broker would notice, so this one runs alone (CTest
// RUN_SERIAL, label "serial").
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "../broker_env.h"
#include "../support/broker_control.h"
#include "../support/committed_reader.h"
#include "../support/http_get.h"
#include "../support/prometheus_text.h"
#include "../support/worker_cluster.h"

namespace faust::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Longer than the host's 30 s send timeout and librdkafka's 30 s message timeout, which it sets.
constexpr auto kOutage = 40s;
// After the broker's return the worker may first wait out a request the starting broker took
// and never answered: librdkafka's socket.timeout.ms (60 s) is on the path, as is a rejoin after
// the session's end (the message is then handled again).
constexpr auto kDeliveredDeadline = 120s;
// The worker keeps its partitions through the outage, as with Faust's default of 60 s: the
// message in hand is then neither abandoned nor handled again after a rejoin, so what the test
// sees is the send being retried.
constexpr ClusterSettings kKeepsItsPartitions{.session_timeout = 90.0, .heartbeat_interval = 1.0};
const std::string kValue = "through-the-outage";

// Agents `forward` (on_error: skip, the default, named here because it is what is tested) and
// `forward_sink`, on one-partition topics; `forward` holds each message until `send_gate` exists.
ClusterManifest forwarder_manifest(const std::filesystem::path& send_gate) {
  ClusterManifest manifest;
  manifest.app_lines = "  topic_partitions: 1\n";
  manifest.sections = std::string("agents:\n") +                                    //
                      "  forward:\n    library: " + FAUST_GATED_FORWARDER_PLUGIN + "\n" +  //
                      "    on_error: skip\n" +                                           //
                      "    config:\n      send_gate: " + send_gate.string() + "\n" +     //
                      "  forward_sink:\n    library: " + FAUST_GATED_FORWARDER_PLUGIN + "\n";
  return manifest;
}

// Lines saying that a send to `topic` is tried again (an agent's pipelined send: queued again).
std::size_t send_retries_logged(const WorkerProcess& process, const std::string& topic) {
  std::size_t count = 0;
  for (const auto& line : process.log_lines()) {
    if (line.find("send to topic '" + topic + "' ") != std::string::npos &&
        line.find("queued again") != std::string::npos) {
      ++count;
    }
  }
  return count;
}

double send_retries_metric(std::uint16_t port) {
  const auto reply = http_get(port, "/metrics");
  if (!reply || reply->status != 200) return -1;
  return prometheus_sample(reply->body, "faust_send_retries_total{target=\"forward_sink\"}").value_or(-1);
}

nlohmann::json sends_status(std::uint16_t port) {
  const auto reply = http_get(port, "/status");
  if (!reply || reply->status != 200) return {};
  return nlohmann::json::parse(reply->body, nullptr, false).value("sends", nlohmann::json());
}

TEST(SendRetry, AnAgentsSendOutlastsAnOutageLongerThanTheSendTimeoutAndItsOffsetIsCommittedAfterIt) {
  ASSERT_EQ(why_broker_not_controllable(), "");
  const std::string broker = broker_address();

  WorkerCluster cluster("send-retry", kKeepsItsPartitions, forwarder_manifest("/nonexistent"));
  const auto send_gate = cluster.manifest_path().parent_path() / "send-gate";
  const auto manifest = cluster.write_manifest("gated.yaml", forwarder_manifest(send_gate));
  auto& worker = cluster.worker(cluster.start_worker({}, manifest));
  const WorkerProcess& process = *worker.process;
  const std::string input = cluster.app_id() + "-forward";
  const std::string output = cluster.app_id() + "-forward_sink";

  const CommandResult sent = cluster.send("forward", kValue, manifest);
  ASSERT_EQ(sent.exit_code, 0) << sent.output;
  ASSERT_TRUE(process.wait_for_log("[forward] holding " + kValue, 20s)) << process.log();
  {
    GroupOffsetReader offsets(broker, cluster.app_id());
    EXPECT_EQ(offsets.committed(input, 0, 10s), -1) << "committed while its handler is held";
  }

  const auto stopped_at = Clock::now();
  ASSERT_TRUE(stop_broker(30s)) << "no broker process to stop";
  std::ofstream(send_gate).put('\n');

  // The send fails after its 30 s timeout, inside the outage, and is tried again.
  const bool retried_in_outage =
      eventually(kOutage, [&] { return send_retries_logged(process, output) > 0; });
  EXPECT_TRUE(retried_in_outage) << "no retry of the send within the outage:\n" << process.log();
  const double retries_in_outage = send_retries_metric(worker.web_port);
  const nlohmann::json sends_in_outage = sends_status(worker.web_port);
  // The outage itself: the one fixed wait of the test.
  eventually(kOutage, [&] { return Clock::now() - stopped_at >= kOutage; }, 200ms);

  const auto restart_log = cluster.manifest_path().parent_path() / "broker-restart.log";
  const auto restart = start_broker_restart(restart_log);
  const auto restart_code = restart->wait_exit(120s);
  ASSERT_TRUE(restart_code.has_value()) << "the broker did not start again within 120 s:\n" << restart->log();
  ASSERT_EQ(*restart_code, 0) << restart->log();
  const double outage_seconds = seconds_since(stopped_at);
  const auto reachable_at = Clock::now();

  // The forwarded message arrives, and the input's offset is committed, never before the output
  // is there: each round asks for the committed offset first and the output's end second.
  GroupOffsetReader offsets(broker, cluster.app_id());
  CommittedReader output_reader(broker, output);
  std::int64_t committed = -1;
  std::int64_t output_end = 0;
  bool committed_before_output = false;
  const bool done = eventually(kDeliveredDeadline, [&] {
    committed = offsets.committed(input, 0, 2s).value_or(committed);
    output_end = output_reader.last_stable_offset(2s).value_or(output_end);
    if (committed >= 1 && output_end < 1) committed_before_output = true;
    return committed >= 1 && output_end >= 1;
  });
  const double done_after = seconds_since(reachable_at);
  EXPECT_TRUE(done) << "within " << kDeliveredDeadline.count()
                    << " s of the broker's return: committed offset " << committed
                    << ", output end offset " << output_end << "\n"
                    << process.log();
  EXPECT_FALSE(committed_before_output) << "the input's offset was committed while the output was missing";
  EXPECT_EQ(committed, 1);

  // What arrived is the message, at least once (a send the broker took just as its wait timed
  // out may be there twice).
  std::int64_t copies = 0;
  for (auto record = output_reader.next(5s); record; record = output_reader.next(1s)) {
    EXPECT_EQ(record->value, kValue);
    ++copies;
  }
  EXPECT_GE(copies, 1);

  EXPECT_EQ(count_lines(process, "skipped"), 0u) << process.log();
  EXPECT_EQ(count_lines(process, "[forward] forwarded " + kValue), 1u) << process.log();
  EXPECT_GE(retries_in_outage, 1.0) << "faust_send_retries_total{target=\"forward_sink\"} during the outage";
  EXPECT_GE(send_retries_metric(worker.web_port), retries_in_outage);
  EXPECT_GE(sends_in_outage.value("retries", 0), 1) << sends_in_outage.dump();
  EXPECT_EQ(sends_status(worker.web_port).value("waiting_for_broker", -1), 0);
  expect_workers_running_without_critical(cluster);

  std::cout << "[ report ] broker away " << outage_seconds << " s; send retried "
            << send_retries_logged(process, output) << " time(s); output and commit " << done_after
            << " s after the broker answered again; " << copies
            << " copy(ies) of the message in the output\n";
}

}  // namespace
}  // namespace faust::testing
