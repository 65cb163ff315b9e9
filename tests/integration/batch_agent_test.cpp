// Batch handlers (ABI 1.2) on a real faust-host worker and the real broker. The test-only
// BatchAgent `batches` (plugin batch_recorder) logs every call it gets (partition, first and last
// offset, count, the values, when it was called and the messages' timestamps) and forwards each
// value to an output topic. Each test runs one worker over fresh topics and checks:
//  - a backlog is handled in batches of at most max_messages, most of them full, in offset order
//    per partition, every message once;
//  - messages trickling in are gathered for max_wait, and a batch that is full is handed over
//    without waiting for max_wait;
//  - a failing batch is handled again message by message, on_error applied to each alone;
//  - the throughput of a 50,000-message backlog in batches of 500 (reported, not asserted).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "broker_env.h"
#include "support/committed_reader.h"
#include "support/topic_seeder.h"
#include "support/worker_cluster.h"

namespace faust::testing {
namespace {

using namespace std::chrono_literals;

constexpr auto kHandledDeadline = 60s;  // for a worker to get through what the test produced

// One call the agent got, as it logged it: handle_batch, or handle() with one message (a batch
// of one, or a message of a failed batch handled alone).
struct AgentCall {
  bool batch = false;
  std::int32_t partition = -1;
  std::int64_t first = -1;
  std::int64_t last = -1;
  std::int64_t count = 0;
  bool in_order = false;
  std::int64_t called_ms = 0;
  std::int64_t first_ts = 0;  // the first message's timestamp
  std::int64_t last_ts = 0;   // the last one's
  std::vector<std::string> values;
};

// The value of " name=" in a log line, up to the next space.
std::string field(const std::string& line, std::string_view name) {
  const std::string marker = " " + std::string(name) + "=";
  const std::size_t at = line.find(marker);
  if (at == std::string::npos) return {};
  const std::size_t start = at + marker.size();
  return line.substr(start, line.find(' ', start) - start);
}

std::int64_t number_field(const std::string& line, std::string_view name) {
  const std::string text = field(line, name);
  return text.empty() ? -1 : std::stoll(text);
}

std::vector<std::string> split_values(const std::string& text) {
  std::vector<std::string> values;
  std::istringstream in(text);
  for (std::string value; std::getline(in, value, ',');) values.push_back(value);
  return values;
}

// Every call the agent logged, in the order it logged them.
std::vector<AgentCall> agent_calls(const WorkerProcess& process) {
  std::vector<AgentCall> calls;
  for (const std::string& line : process.log_lines()) {
    AgentCall call;
    if (line.find("] batch partition=") != std::string::npos) {
      call.batch = true;
      call.first = number_field(line, "first");
      call.last = number_field(line, "last");
      call.count = number_field(line, "count");
      call.in_order = field(line, "in_order") == "1";
      call.first_ts = number_field(line, "first_ts");
      call.last_ts = number_field(line, "last_ts");
      call.values = split_values(field(line, "values"));
    } else if (line.find("] one partition=") != std::string::npos) {
      call.first = call.last = number_field(line, "offset");
      call.count = 1;
      call.in_order = true;
      call.first_ts = call.last_ts = number_field(line, "ts");
      call.values = {field(line, "value")};
    } else {
      continue;
    }
    call.partition = static_cast<std::int32_t>(number_field(line, "partition"));
    call.called_ms = number_field(line, "called_ms");
    calls.push_back(std::move(call));
  }
  return calls;
}

std::int64_t handled_count(const std::vector<AgentCall>& calls) {
  std::int64_t handled = 0;
  for (const AgentCall& call : calls) handled += call.count;
  return handled;
}

std::string describe(const AgentCall& call) {
  return std::string(call.batch ? "batch" : "one") + " " + std::to_string(call.partition) + "@" +
         std::to_string(call.first) + ".." + std::to_string(call.last) + " (" + std::to_string(call.count) + ")";
}

// One worker running the agent `batches` of the plugin batch_recorder over a fresh input topic,
// forwarding to a fresh one-partition output topic.
class BatchRun {
 public:
  struct Setup {
    int partitions = 1;
    int concurrency = 1;
    int max_messages = 1;
    double max_wait = 0;  // seconds
  };

  BatchRun(const std::string& name, const Setup& setup)
      : broker_(broker_address()),
        output_topic_(unique_name("it-batch-output")),
        cluster_(name, ClusterSettings{}, manifest(setup, output_topic_)),
        seeder_(broker_),
        input_topic_(cluster_.app_id() + "-batches") {
    EXPECT_EQ(seeder_.create_topics({{input_topic_, setup.partitions}, {output_topic_, 1}}), "");
  }

  const std::string& broker() const { return broker_; }
  const std::string& input_topic() const { return input_topic_; }
  const std::string& output_topic() const { return output_topic_; }
  const TopicSeeder& seeder() const { return seeder_; }
  WorkerCluster& cluster() { return cluster_; }
  const WorkerProcess& worker() const { return *cluster_.worker(0).process; }

  // Whether the worker still runs (or how it ended), and the end of its log: for a failure message.
  std::string worker_report() {
    WorkerProcess& process = *cluster_.worker(0).process;
    std::string report = "worker ";
    if (process.running()) {
      report += "still runs";
    } else if (process.killed_by_signal() != 0) {
      report += "killed by signal " + std::to_string(process.killed_by_signal());
    } else {
      report += "exited with " + std::to_string(process.wait_exit(0ms).value_or(-1));
    }
    const std::string log = process.log();
    return report + "; its log ends:\n" + log.substr(log.size() > 4000 ? log.size() - 4000 : 0);
  }

  // Starts the worker and waits until it is ready (it has joined the group).
  void start_worker() { cluster_.start_worker(); }

  // Waits until the group has committed each partition's offset of `ends` (partition → the end
  // offset); false at the deadline, or at once when the worker ended.
  bool await_committed(const std::map<std::int32_t, std::int64_t>& ends, std::chrono::milliseconds timeout) {
    GroupOffsetReader group(broker_, cluster_.app_id());
    bool all_committed = false;
    eventually(timeout, [&] {
      if (!cluster_.worker(0).process->running()) return true;
      all_committed = std::all_of(ends.begin(), ends.end(), [&](const auto& end) {
        return group.committed(input_topic_, end.first, 5s).value_or(-1) == end.second;
      });
      return all_committed;
    }, 100ms);
    return all_committed;
  }

 private:
  static ClusterManifest manifest(const Setup& setup, const std::string& output_topic) {
    std::ostringstream wait;
    wait << setup.max_wait;
    ClusterManifest manifest;
    manifest.app_lines = "  topic_partitions: " + std::to_string(setup.partitions) + "\n";
    manifest.sections = std::string("agents:\n") +                                       //
                        "  batches:\n    library: " + FAUST_BATCH_RECORDER_PLUGIN + "\n" +  //
                        "    concurrency: " + std::to_string(setup.concurrency) + "\n" +
                        "    on_error: skip\n"
                        "    batch:\n"
                        "      max_messages: " + std::to_string(setup.max_messages) + "\n" +
                        "      max_wait: " + wait.str() + "\n" +
                        "    config:\n      to: " + output_topic + "\n";
    return manifest;
  }

  std::string broker_;
  std::string output_topic_;
  WorkerCluster cluster_;
  TopicSeeder seeder_;
  std::string input_topic_;
};

// Per partition, the calls in the order they were made (a partition is one lane's, whose calls
// are logged in order).
std::map<std::int32_t, std::vector<AgentCall>> by_partition(const std::vector<AgentCall>& calls) {
  std::map<std::int32_t, std::vector<AgentCall>> out;
  for (const AgentCall& call : calls) out[call.partition].push_back(call);
  return out;
}

TEST(BatchAgent, ABacklogIsHandledInOffsetOrderInBatchesOfAtMostMaxMessagesMostOfThemFull) {
  ASSERT_FALSE(broker_address().empty());
  constexpr std::int64_t kMessages = 4000;
  constexpr int kMaxMessages = 50;
  // Two lanes for four partitions: each lane takes turns between two partitions' messages.
  BatchRun run("batch-order", {.partitions = 4, .concurrency = 2, .max_messages = kMaxMessages, .max_wait = 0});
  const std::map<std::int32_t, std::int64_t> ends = run.seeder().produce_numbered(run.input_topic(), kMessages);
  ASSERT_EQ(ends.size(), 4u) << "numbers on some partitions only";
  run.start_worker();
  ASSERT_TRUE(run.await_committed(ends, kHandledDeadline))
      << "not every offset committed within " << kHandledDeadline.count() << " s; " << run.worker_report();

  expect_workers_running_without_critical(run.cluster());
  const std::vector<AgentCall> calls = agent_calls(run.worker());
  // (a) Order: within each call, and from call to call of a partition, offsets strictly increase
  // and follow on without a gap, from the partition's first message to its last.
  std::set<std::string> values;
  std::int64_t repeated = 0;
  for (const auto& [partition, partition_calls] : by_partition(calls)) {
    std::int64_t next = 0;
    for (const AgentCall& call : partition_calls) {
      EXPECT_TRUE(call.in_order) << describe(call) << ": not one partition's messages in offset order";
      EXPECT_EQ(call.first, next) << describe(call) << " after offset " << next - 1 << " of partition " << partition;
      EXPECT_EQ(call.last - call.first + 1, call.count) << describe(call) << ": offsets missing inside the batch";
      EXPECT_EQ(static_cast<std::int64_t>(call.values.size()), call.count) << describe(call);
      next = call.last + 1;
      for (const std::string& value : call.values) repeated += values.insert(value).second ? 0 : 1;
    }
    EXPECT_EQ(next, ends.at(partition)) << "partition " << partition << " handled up to " << next;
  }
  EXPECT_EQ(static_cast<std::int64_t>(values.size()), kMessages) << "every produced number handled";
  EXPECT_EQ(repeated, 0) << "numbers handled more than once";

  // (b) Bounded by count: none over max_messages; of a partition's calls all but its last could be
  // full, and with the backlog in place most are.
  std::int64_t batches = 0;
  std::int64_t full = 0;
  std::int64_t largest = 0;
  for (const auto& [partition, partition_calls] : by_partition(calls)) {
    for (std::size_t i = 0; i < partition_calls.size(); ++i) {
      largest = std::max(largest, partition_calls[i].count);
      if (i + 1 == partition_calls.size()) continue;
      ++batches;
      full += partition_calls[i].count == kMaxMessages ? 1 : 0;
    }
  }
  EXPECT_LE(largest, kMaxMessages);
  EXPECT_GE(full * 10, batches * 8) << full << " of " << batches << " batches (not counting each partition's last) "
                                    << "hold max_messages (" << kMaxMessages << ")";
  std::cout << "[ report ] backlog of " << kMessages << " in 4 partitions, 2 lanes: " << calls.size() << " calls, "
            << full << " of " << batches << " full (" << kMaxMessages << "), largest " << largest << "\n";
}

TEST(BatchAgent, MessagesTricklingInAreGatheredForMaxWait) {
  ASSERT_FALSE(broker_address().empty());
  constexpr int kMessages = 40;
  constexpr auto kInterval = 50ms;
  constexpr std::int64_t kMaxWaitMs = 300;
  // Room for the fetch: max_wait counts from when the first message reached the agent's lane,
  // which a consumer fetch may do up to half a second (librdkafka's fetch.wait.max.ms) after it
  // was produced, with later messages in the same fetch.
  constexpr std::int64_t kSlackMs = 500;
  BatchRun run("batch-wait", {.partitions = 1, .concurrency = 1, .max_messages = 1000, .max_wait = 0.3});
  run.start_worker();
  std::vector<std::string> values;
  for (int n = 0; n < kMessages; ++n) values.push_back(numbered_value(n));
  ASSERT_EQ(run.seeder().produce_spaced(run.input_topic(), 0, values, kInterval), kMessages);
  ASSERT_TRUE(run.await_committed({{0, kMessages}}, kHandledDeadline)) << run.worker_report();

  expect_workers_running_without_critical(run.cluster());
  const std::vector<AgentCall> calls = agent_calls(run.worker());
  EXPECT_EQ(handled_count(calls), kMessages);
  // About two seconds of messages, cut into batches of about max_wait each: several batches,
  // several messages in each.
  EXPECT_GE(calls.size(), 3u) << "the batches were not cut by max_wait";
  EXPECT_GE(static_cast<double>(kMessages) / static_cast<double>(calls.size()), 3.0)
      << calls.size() << " calls for " << kMessages << " messages: batches did not gather what came within max_wait";
  std::int64_t widest_span = 0;
  std::int64_t longest_hold = 0;
  for (const AgentCall& call : calls) {
    const std::int64_t span = call.last_ts - call.first_ts;
    const std::int64_t hold = call.called_ms - call.first_ts;  // from the first message to the call
    widest_span = std::max(widest_span, span);
    longest_hold = std::max(longest_hold, hold);
    EXPECT_LE(span, kMaxWaitMs + kSlackMs) << describe(call) << ": its messages span " << span << " ms";
    EXPECT_LE(hold, kMaxWaitMs + 2 * kSlackMs) << describe(call) << ": called " << hold << " ms after its first message";
  }
  std::cout << "[ report ] " << kMessages << " messages one every " << kInterval.count() << " ms, max_wait "
            << kMaxWaitMs << " ms: " << calls.size() << " calls, widest span " << widest_span
            << " ms, longest from a first message to its call " << longest_hold << " ms\n";
}

TEST(BatchAgent, AFullBatchIsHandedOverWithoutWaitingForMaxWait) {
  ASSERT_FALSE(broker_address().empty());
  constexpr int kMaxMessages = 5;
  constexpr int kMessages = 3 * kMaxMessages;
  constexpr std::int64_t kMaxWaitMs = 10'000;
  BatchRun run("batch-full", {.partitions = 1, .concurrency = 1, .max_messages = kMaxMessages, .max_wait = 10});
  run.start_worker();
  std::vector<std::string> values;
  for (int n = 0; n < kMessages; ++n) values.push_back(numbered_value(n));
  ASSERT_EQ(run.seeder().produce_spaced(run.input_topic(), 0, values, 50ms), kMessages);
  // Well within one max_wait of the last message: only full batches were handed over.
  ASSERT_TRUE(run.await_committed({{0, kMessages}}, std::chrono::milliseconds(kMaxWaitMs / 2)))
      << "the three full batches were not all handled within " << kMaxWaitMs / 2 << " ms; " << run.worker_report();

  expect_workers_running_without_critical(run.cluster());
  const std::vector<AgentCall> calls = agent_calls(run.worker());
  ASSERT_EQ(calls.size(), 3u);
  for (const AgentCall& call : calls) {
    EXPECT_TRUE(call.batch) << describe(call);
    EXPECT_EQ(call.count, kMaxMessages) << describe(call);
    EXPECT_LT(call.called_ms - call.first_ts, 2000)
        << describe(call) << ": called " << call.called_ms - call.first_ts << " ms after its first message";
  }
}

TEST(BatchAgent, AFailingBatchIsHandledAgainMessageByMessageAndOnlyTheFailingMessageIsSkipped) {
  ASSERT_FALSE(broker_address().empty());
  constexpr int kMessages = 200;
  constexpr int kMarked = 120;
  const std::string marked = "fail-" + numbered_value(kMarked);
  BatchRun run("batch-fail", {.partitions = 1, .concurrency = 1, .max_messages = 50, .max_wait = 0});
  std::vector<std::string> values;
  for (int n = 0; n < kMessages; ++n) values.push_back(n == kMarked ? marked : numbered_value(n));
  ASSERT_EQ(run.seeder().produce_spaced(run.input_topic(), 0, values, 0ms), kMessages);
  run.start_worker();
  ASSERT_TRUE(run.await_committed({{0, kMessages}}, kHandledDeadline)) << run.worker_report();

  expect_workers_running_without_critical(run.cluster());
  const std::vector<AgentCall> calls = agent_calls(run.worker());
  const auto failed = std::find_if(calls.begin(), calls.end(), [](const AgentCall& call) {
    return call.batch && call.first <= kMarked && kMarked <= call.last;
  });
  ASSERT_NE(failed, calls.end()) << "no batch held offset " << kMarked << "\n" << run.worker_report();
  // Right after the failed batch, its messages one by one, in offset order, each once.
  std::vector<std::int64_t> alone;
  for (auto call = std::next(failed); call != calls.end() && alone.size() < static_cast<std::size_t>(failed->count);
       ++call) {
    alone.push_back(call->batch ? -1 : call->first);
  }
  std::vector<std::int64_t> expected;
  for (std::int64_t offset = failed->first; offset <= failed->last; ++offset) expected.push_back(offset);
  EXPECT_EQ(alone, expected) << "the messages of " << describe(*failed) << " handled alone";
  EXPECT_EQ(count_lines(run.worker(), "); handling its " + std::to_string(failed->count) + " messages one by one"),
            1u);
  // The plugin's message is logged twice: in the batch's warning above, and for the message alone.
  EXPECT_EQ(count_lines(run.worker(), "refusing " + marked), 2u);
  EXPECT_EQ(count_lines(run.worker(), "skipped (on_error: skip)"), 1u) << run.worker_report();

  // The output: every other number, once (what the failed batch sent before it failed was held
  // back and dropped with it), and not the marked message.
  CommittedReader output(run.broker(), run.output_topic());
  std::map<std::string, int> copies;
  while (const auto record = output.next(1500ms)) ++copies[record->value];
  EXPECT_EQ(copies.count(marked), 0u);
  std::vector<std::string> missing;
  std::vector<std::string> repeated;
  for (int n = 0; n < kMessages; ++n) {
    if (n == kMarked) continue;
    const int seen = copies[numbered_value(n)];
    if (seen == 0) missing.push_back(numbered_value(n));
    if (seen > 1) repeated.push_back(numbered_value(n));
  }
  EXPECT_TRUE(missing.empty()) << missing.size() << " numbers never reached the output, first " << missing.front();
  EXPECT_TRUE(repeated.empty()) << repeated.size() << " numbers reached the output twice, first " << repeated.front();
}

TEST(BatchAgent, ReportsTheThroughputOfABacklogInBatchesOf500) {
  ASSERT_FALSE(broker_address().empty());
  constexpr std::int64_t kMessages = 50'000;
  constexpr int kPartitions = 4;
  const auto now_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  BatchRun run("batch-throughput",
               {.partitions = kPartitions, .concurrency = kPartitions, .max_messages = 500, .max_wait = 0});
  const std::map<std::int32_t, std::int64_t> ends = run.seeder().produce_numbered(run.input_topic(), kMessages);
  ASSERT_EQ(ends.size(), static_cast<std::size_t>(kPartitions));
  CommittedReader output(run.broker(), run.output_topic());
  run.start_worker();
  // Every forwarded value acknowledged: the output partition's end reaches the count.
  ASSERT_TRUE(eventually(kHandledDeadline, [&] { return output.last_stable_offset(5s).value_or(0) >= kMessages; },
                         20ms))
      << "not every value forwarded within " << kHandledDeadline.count() << " s; " << run.worker_report();
  const std::int64_t forwarded_at = now_ms();
  ASSERT_TRUE(run.await_committed(ends, kHandledDeadline))
      << "not every offset committed within " << kHandledDeadline.count() << " s; " << run.worker_report();
  const std::int64_t committed_at = now_ms();

  expect_workers_running_without_critical(run.cluster());
  const std::vector<AgentCall> calls = agent_calls(run.worker());
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(handled_count(calls), kMessages);
  std::int64_t first_call = calls.front().called_ms;
  for (const AgentCall& call : calls) first_call = std::min(first_call, call.called_ms);
  const auto rate = [&](std::int64_t end_ms) {
    return static_cast<std::int64_t>(static_cast<double>(kMessages) * 1000.0 /
                                     static_cast<double>(std::max<std::int64_t>(end_ms - first_call, 1)));
  };
  std::cout << "[ report ] batch agent throughput: " << kMessages << " messages in " << kPartitions
            << " partitions (one lane each), " << calls.size() << " calls (mean "
            << static_cast<double>(kMessages) / static_cast<double>(calls.size()) << " messages): " << rate(forwarded_at)
            << " msg/s handled and forwarded (" << forwarded_at - first_call << " ms from the first call to the last "
            << "forwarded value acknowledged), " << rate(committed_at) << " msg/s until every offset was committed ("
            << committed_at - first_call << " ms; offsets commit once a second)\n";
}

}  // namespace
}  // namespace faust::testing
