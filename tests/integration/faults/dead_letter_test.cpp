// on_error: dead_letter on the real broker: one faust-host worker runs the test plugin `faulty`
// (faulty_plugin.cpp), which fails on values starting with "fail" until its marker file exists.
// A mix of ordinary and marked messages goes in with `faust-host send`; every marked one must end
// up in the dead-letter topic, unchanged and with its headers, every other one handled once, the
// input committed to its end; once the plugin is "fixed", `faust-host send --dead-letter all`
// has each marked message handled once, and a second replay sends nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "../broker_env.h"
#include "../support/committed_reader.h"
#include "../support/http_get.h"
#include "../support/prometheus_text.h"
#include "../support/worker_cluster.h"

namespace faust::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr int kMessages = 30;
constexpr int kPartitions = 2;
constexpr int kMaxRetries = 1;

bool marked(int i) { return i % 5 == 2; }
// Two digits each, so that no value is a part of another in the log.
std::string value_of(int i) {
  return (marked(i) ? "fail-" : "ok-") + std::string(i < 10 ? "0" : "") + std::to_string(i);
}
std::string key_of(int i) { return "key-" + std::to_string(i); }

using Headers = std::vector<std::pair<std::string, std::string>>;

std::string header(const Headers& headers, const std::string& name) {
  for (auto it = headers.rbegin(); it != headers.rend(); ++it) {
    if (it->first == name) return it->second;
  }
  return "<missing " + name + ">";
}

struct Stored {
  std::int32_t partition = 0;
  CommittedReader::Record record;
};

// Every record of `topic` now, read_committed, by value.
std::map<std::string, std::vector<Stored>> read_all(const std::string& topic) {
  std::map<std::string, std::vector<Stored>> out;
  for (std::int32_t partition = 0; partition < kPartitions; ++partition) {
    CommittedReader reader(broker_address(), topic, partition);
    const auto end = reader.last_stable_offset(10s);
    EXPECT_TRUE(end.has_value()) << topic;
    std::int64_t next = 0;
    while (end && next < *end) {
      const auto record = reader.next(10s);
      if (!record) {
        ADD_FAILURE() << topic << "[" << partition << "]: nothing at offset " << next << " of " << *end;
        break;
      }
      next = record->offset + 1;
      out[record->value].push_back(Stored{partition, *record});
    }
  }
  return out;
}

double metric(std::uint16_t port, const std::string& series) {
  const auto reply = http_get(port, "/metrics");
  if (!reply || reply->status != 200) return -1;
  return prometheus_sample(reply->body, series).value_or(-1);
}

class DeadLetterTest : public ::testing::Test {
 protected:
  DeadLetterTest()
      : fixed_marker_(std::filesystem::temp_directory_path() / unique_name("it-dead-letter-fixed")),
        cluster_("dead-letter", {}, manifest("dead_letter")) {}
  ~DeadLetterTest() override { std::filesystem::remove(fixed_marker_); }

  ClusterManifest manifest(const std::string& on_error) const {
    ClusterManifest manifest;
    manifest.app_lines = "  topic_partitions: " + std::to_string(kPartitions) + "\n";
    manifest.sections = std::string("agents:\n  faulty:\n    library: ") + FAUST_FAULTY_PLUGIN + "\n" +
                        "    on_error: " + on_error + "\n    max_retries: " + std::to_string(kMaxRetries) +
                        "\n    config:\n      fixed_by: " + fixed_marker_.string() + "\n";
    return manifest;
  }

  CommandResult faust_host(std::vector<std::string> args, const std::filesystem::path& manifest = {}) {
    args.push_back("--manifest");
    args.push_back((manifest.empty() ? cluster_.manifest_path() : manifest).string());
    return cluster_.run_faust_host(args);
  }

  std::string agent_topic() const { return cluster_.app_id() + "-faulty"; }
  std::string dead_letter_topic() const { return cluster_.app_id() + "-faulty-dead-letter"; }

  const std::filesystem::path fixed_marker_;
  WorkerCluster cluster_;
};

TEST_F(DeadLetterTest, MarkedMessagesAreDeadLetteredWithTheirHeadersAndAReplayHandlesThemOnceFixed) {
  auto& worker = cluster_.worker(cluster_.start_worker());
  const WorkerProcess& process = *worker.process;
  for (int i = 0; i < kMessages; ++i) {
    const CommandResult sent = faust_host({"send", "faulty", value_of(i), "-k", key_of(i)});
    ASSERT_EQ(sent.exit_code, 0) << sent.output;
  }
  std::vector<int> marked_ones;
  for (int i = 0; i < kMessages; ++i) {
    if (marked(i)) marked_ones.push_back(i);
  }
  const auto dead_lettered_all = [&] {
    return count_lines(process, "(on_error: dead_letter)") >= marked_ones.size() &&
           count_lines(process, "[faulty] handled ok-") >= kMessages - marked_ones.size();
  };
  ASSERT_TRUE(eventually(60s, dead_lettered_all)) << process.log();

  // Every ordinary message handled exactly once; every marked one tried 1 + max_retries times.
  for (int i = 0; i < kMessages; ++i) {
    const std::string value = value_of(i);
    if (marked(i)) {
      EXPECT_EQ(count_lines(process, "[faulty] received " + value), 1u + kMaxRetries) << value;
      EXPECT_EQ(count_lines(process, "[faulty] handled " + value), 0u) << value;
    } else {
      EXPECT_EQ(count_lines(process, "[faulty] handled " + value), 1u) << value << "\n" << process.log();
    }
  }

  // Each marked message is in the dead-letter topic once, unchanged, with its headers.
  const auto originals = read_all(agent_topic());
  const auto dead_letters = read_all(dead_letter_topic());
  std::size_t dead_letter_records = 0;
  for (const auto& [value, records] : dead_letters) dead_letter_records += records.size();
  EXPECT_EQ(dead_letter_records, marked_ones.size());
  for (const int i : marked_ones) {
    const std::string value = value_of(i);
    ASSERT_EQ(originals.count(value), 1u) << value;
    ASSERT_EQ(dead_letters.count(value), 1u) << value << " is not in " << dead_letter_topic();
    const Stored& original = originals.at(value).front();
    ASSERT_EQ(dead_letters.at(value).size(), 1u) << value << " dead-lettered more than once";
    const CommittedReader::Record& record = dead_letters.at(value).front().record;
    EXPECT_EQ(record.key, key_of(i));
    const Headers& headers = record.headers;
    ASSERT_EQ(headers.size(), 8u) << value;
    EXPECT_EQ(header(headers, "faust.dead-letter.agent"), "faulty");
    EXPECT_EQ(header(headers, "faust.dead-letter.plugin"), "faulty");
    EXPECT_EQ(header(headers, "faust.dead-letter.error"), "faulty agent 'faulty' failed: refused " + value);
    EXPECT_EQ(header(headers, "faust.dead-letter.attempts"), std::to_string(1 + kMaxRetries));
    EXPECT_EQ(header(headers, "faust.dead-letter.topic"), agent_topic());
    EXPECT_EQ(header(headers, "faust.dead-letter.partition"), std::to_string(original.partition));
    EXPECT_EQ(header(headers, "faust.dead-letter.offset"), std::to_string(original.record.offset));
    EXPECT_EQ(header(headers, "faust.dead-letter.timestamp"), std::to_string(original.record.timestamp_ms));
    EXPECT_TRUE(process.log().find(
                    "refused " + value + " at " + agent_topic() + "[" + std::to_string(original.partition) +
                    "]@" + std::to_string(original.record.offset) + "; written to dead-letter topic " +
                    dead_letter_topic() + " after 2 attempt(s) (on_error: dead_letter)") != std::string::npos)
        << process.log();
  }

  // The input is committed to its end: nothing is left for a restart to redo.
  GroupOffsetReader group(broker_address(), cluster_.app_id());
  for (std::int32_t partition = 0; partition < kPartitions; ++partition) {
    CommittedReader reader(broker_address(), agent_topic(), partition);
    const auto end = reader.last_stable_offset(10s);
    ASSERT_TRUE(end.has_value());
    EXPECT_TRUE(eventually(10s, [&] { return group.committed(agent_topic(), partition, 5s) == *end; }))
        << "partition " << partition << ": committed "
        << group.committed(agent_topic(), partition, 5s).value_or(-2) << ", end " << *end;
  }

  // Counted in /metrics and /status.
  EXPECT_EQ(metric(worker.web_port, "faust_agent_dead_lettered_total{agent=\"faulty\"}"),
            static_cast<double>(marked_ones.size()));
  const auto reply = http_get(worker.web_port, "/status");
  ASSERT_TRUE(reply && reply->status == 200);
  const json agent = json::parse(reply->body)["agents"][0];
  EXPECT_EQ(agent["dead_lettered"], marked_ones.size()) << reply->body;
  EXPECT_EQ(agent["dead_letter_topic"], dead_letter_topic()) << reply->body;
  EXPECT_EQ(agent["messages_handled"], kMessages - marked_ones.size()) << reply->body;

  // Fixed: a replay has each marked message handled once, with its key and where it came from.
  { std::ofstream(fixed_marker_) << "fixed\n"; }
  const CommandResult replay = faust_host({"send", "faulty", "--dead-letter", "all"});
  ASSERT_EQ(replay.exit_code, 0) << replay.output;
  EXPECT_NE(replay.output.find("replayed " + std::to_string(marked_ones.size()) +
                               " dead-lettered message(s) of agent faulty from " + dead_letter_topic()),
            std::string::npos)
      << replay.output;
  for (const int i : marked_ones) {
    const std::string value = value_of(i);
    EXPECT_TRUE(process.wait_for_log("[faulty] handled " + value, 30s)) << value << "\n" << process.log();
    const Stored& dead_letter = dead_letters.at(value).front();
    EXPECT_NE(
        replay.output.find("replayed " + dead_letter_topic() + "/" + std::to_string(dead_letter.partition) +
                           "@" + std::to_string(dead_letter.record.offset) + " to agent faulty"),
        std::string::npos)
        << replay.output;
  }
  const auto after_replay = read_all(agent_topic());
  for (const int i : marked_ones) {
    const std::string value = value_of(i);
    ASSERT_EQ(after_replay.at(value).size(), 2u) << value << ": the original and its replay";
    const CommittedReader::Record& replayed = after_replay.at(value).back().record;
    EXPECT_EQ(replayed.key, key_of(i));
    const Stored& dead_letter = dead_letters.at(value).front();
    EXPECT_EQ(
        replayed.headers,
        (Headers{{"faust.replayed-from", dead_letter_topic() + "/" + std::to_string(dead_letter.partition) +
                                             "@" + std::to_string(dead_letter.record.offset)}}));
  }

  // A second replay finds nothing new.
  const CommandResult again = faust_host({"send", "faulty", "--dead-letter", "all"});
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("replayed 0 dead-lettered message(s)"), std::string::npos) << again.output;

  // One message by its position, on purpose a second time: handled once more.
  const Stored& first = dead_letters.at(value_of(marked_ones.front())).front();
  const std::string position = std::to_string(first.partition) + ":" + std::to_string(first.record.offset);
  const CommandResult one = faust_host({"send", "faulty", "--dead-letter", position});
  ASSERT_EQ(one.exit_code, 0) << one.output;
  EXPECT_TRUE(eventually(30s, [&] {
    return count_lines(process, "[faulty] handled " + value_of(marked_ones.front())) == 2;
  })) << process.log();

  std::this_thread::sleep_for(1s);  // time for anything replayed twice to show
  for (const int i : marked_ones) {
    const auto expected = i == marked_ones.front() ? 2u : 1u;
    EXPECT_EQ(count_lines(process, "[faulty] handled " + value_of(i)), expected) << value_of(i);
  }
  EXPECT_EQ(count_lines(process, "(on_error: dead_letter)"), marked_ones.size())
      << "nothing dead-lettered again";
  expect_workers_running_without_critical(cluster_);
}

TEST_F(DeadLetterTest, SendRefusesWhatItCannotReplayInOneLine) {
  const auto skip_manifest = cluster_.write_manifest("skip.yaml", manifest("skip"));
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"send", "nobody", "--dead-letter", "all"}, "faust-host: send: no agent named 'nobody' in "},
      {{"send", "faulty", "--dead-letter", "3"},
       "faust-host: send: --dead-letter: expected 'all' or PARTITION:OFFSET (e.g. 3:1207), got '3'\n"},
      {{"send", "faulty", "--dead-letter", "0:-1"},
       "faust-host: send: --dead-letter: expected 'all' or PARTITION:OFFSET (e.g. 3:1207), got '0:-1'\n"},
      {{"send", "faulty", "v", "--dead-letter", "all"},
       "faust-host: send: --dead-letter replays stored messages; give no value or --key with it\n"},
      {{"send", "faulty"}, "faust-host: send: a value to send is required (or --dead-letter)\n"},
  };
  for (const auto& [args, message] : cases) {
    const CommandResult result = faust_host(args);
    EXPECT_EQ(result.exit_code, 2) << result.output;
    EXPECT_EQ(result.output.substr(0, message.size()), message);
    EXPECT_EQ(std::count(result.output.begin(), result.output.end(), '\n'), 1) << result.output;
  }
  const CommandResult no_dead_letter = faust_host({"send", "faulty", "--dead-letter", "all"}, skip_manifest);
  EXPECT_EQ(no_dead_letter.exit_code, 2);
  EXPECT_EQ(
      no_dead_letter.output,
      "faust-host: send: agent 'faulty' has no dead-letter topic (its on_error is skip, not dead_letter)\n");

  const CommandResult past_end = faust_host({"send", "faulty", "--dead-letter", "1:5"});
  EXPECT_EQ(past_end.exit_code, 1) << past_end.output;
  // Its last line: librdkafka may log a warning of its own before it.
  const std::string refusal = "faust-host: send: " + dead_letter_topic() + "[1] has no offset 5 (it is empty)\n";
  EXPECT_TRUE(past_end.output == refusal || past_end.output.ends_with("\n" + refusal)) << past_end.output;

  const CommandResult unreachable =
      faust_host({"send", "faulty", "--dead-letter", "all", "--broker", "kafka://127.0.0.1:1"});
  EXPECT_EQ(unreachable.exit_code, 21) << unreachable.output;
  EXPECT_NE(unreachable.output.find("\nfaust-host: broker 127.0.0.1:1: "), std::string::npos)
      << unreachable.output;
}

}  // namespace
}  // namespace faust::testing
