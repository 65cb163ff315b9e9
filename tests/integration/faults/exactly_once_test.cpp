// Exactly-once processing under worker faults. The agent `copy` (test plugin copy) copies
// 100,000 numbered messages ("000000" .. "099999", key = value) from its 8-partition topic to an
// output topic while three real faust-host workers are hit, each fault landing in the middle of
// the copy (spaced by how much of the output a read_committed reader has seen, not by time):
//  1. SIGKILL of a worker mid-batch; a replacement joins (a rebalance mid-batch for the others);
//  2. SIGINT of another worker (it must exit 0); a replacement joins;
//  3. SIGSTOP of a third worker until every partition it held has moved on (longer than the
//     session timeout), then SIGCONT: a zombie that still believes it owns its partitions.
// Then the whole output is read read_committed and each number counted.
//
// With `processing_guarantee: exactly_once` every number must be there exactly once. The same
// run with the default at_least_once must lose nothing either, and must show repeated numbers:
// at-least-once handles again what a killed or paused worker handled but did not commit. That is
// what makes the exactly-once assertion meaningful: the faults do cause duplicates when nothing
// prevents them.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdint>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "../broker_env.h"
#include "../support/broker_control.h"
#include "../support/committed_reader.h"
#include "../support/topic_seeder.h"
#include "../support/worker_cluster.h"

namespace faust::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr std::int64_t kMessages = 100'000;
constexpr int kInputPartitions = 8;
constexpr std::size_t kWorkers = 3;
// Slows each copy so that the copy outlasts the three faults: with 8 partitions at most 8
// handlers copy at once, so the copy takes at least 100,000 × 3 ms / 8 = 37.5 s, however fast the
// sends are.
constexpr int kCopyDelayMicros = 3000;
// Short, as in the other fault tests, so that a killed or paused worker's partitions move quickly.
constexpr ClusterSettings kFastFailover{.session_timeout = 2.0, .heartbeat_interval = 0.3};
constexpr auto kFaultDeadline = 60s;  // for the copy to reach the point where a fault is due
constexpr auto kCopyDeadline = 120s;  // for the copy to finish after the last fault
// The output stays unchanged this long before it is counted: a zombie's late copies have landed.
constexpr auto kQuietPeriod = 3s;

enum class Guarantee { kAtLeastOnce, kExactlyOnce };

const char* const kCrashMarkers[] = {"[critical]",      "AddressSanitizer", "LeakSanitizer",
                                     "ThreadSanitizer", "runtime error:",   "terminate called"};

// What the test did to a worker, which decides how it must end.
enum class Fate { kRunning, kKilled, kInterrupted };

ClusterManifest copy_manifest(Guarantee guarantee, const std::string& output_topic) {
  ClusterManifest manifest;
  manifest.app_lines = "  topic_partitions: " + std::to_string(kInputPartitions) + "\n";
  manifest.sections = std::string("agents:\n") +                           //
                      "  copy:\n    library: " + FAUST_COPY_PLUGIN + "\n" +  //
                      "    concurrency: 4\n";
  if (guarantee == Guarantee::kExactlyOnce) {
    manifest.sections += "    processing_guarantee: exactly_once\n"
                         "    batch:\n      max_messages: 200\n      max_wait: 0.2\n";
  }
  manifest.sections += "    config:\n      to: " + output_topic + "\n" +
                       "      delay_us: " + std::to_string(kCopyDelayMicros) + "\n";
  return manifest;
}

// Every copy in the output topic (one partition), read read_committed from its beginning and
// counted per number.
class OutputTally {
 public:
  OutputTally(const std::string& broker, const std::string& topic)
      : reader_(broker, topic), copies_(static_cast<std::size_t>(kMessages), 0) {}

  // Counts what the reader got since the last call, for at most 200 ms: while the copy runs, a
  // copy arrives every millisecond or so, and a read until a quiet moment may not end for as long
  // as the copy lasts (each fault would then land late, or after the end).
  void read_new() {
    const auto until = Clock::now() + 200ms;
    while (Clock::now() < until) {
      const auto record = reader_.next(10ms);
      if (!record) break;
      ++total_;
      const std::optional<std::int64_t> number = parse(record->value);
      if (!number) {
        if (foreign_.empty()) foreign_ = record->value;
        ++foreign_count_;
        continue;
      }
      if (copies_[static_cast<std::size_t>(*number)]++ == 0) ++distinct_;
    }
  }

  std::int64_t total() const { return total_; }
  std::int64_t distinct() const { return distinct_; }
  std::int64_t missing() const { return kMessages - distinct_; }
  std::int64_t duplicates() const { return total_ - foreign_count_ - distinct_; }
  std::int64_t foreign_count() const { return foreign_count_; }
  const std::string& first_foreign() const { return foreign_; }
  // The first number without a copy, or with more than one; -1 when none.
  std::int64_t first_number_with_copies(bool more_than_one) const {
    for (std::size_t n = 0; n < copies_.size(); ++n) {
      if (more_than_one ? copies_[n] > 1 : copies_[n] == 0) return static_cast<std::int64_t>(n);
    }
    return -1;
  }

 private:
  static std::optional<std::int64_t> parse(const std::string& value) {
    if (value.size() != numbered_value(0).size() || value.find_first_not_of("0123456789") != std::string::npos) {
      return std::nullopt;
    }
    const std::int64_t number = std::stoll(value);
    return number < kMessages ? std::optional(number) : std::nullopt;
  }

  CommittedReader reader_;
  std::vector<int> copies_;
  std::int64_t total_ = 0;
  std::int64_t distinct_ = 0;
  std::int64_t foreign_count_ = 0;
  std::string foreign_;
};

// The group's committed offset of each input partition; -1 for none, or where the broker did not answer.
std::vector<std::int64_t> committed_offsets(GroupOffsetReader& group, const std::string& topic) {
  std::vector<std::int64_t> offsets;
  for (int partition = 0; partition < kInputPartitions; ++partition) {
    offsets.push_back(group.committed(topic, partition, 5s).value_or(-1));
  }
  return offsets;
}

std::string describe(const std::vector<std::int64_t>& offsets) {
  std::ostringstream text;
  for (std::size_t p = 0; p < offsets.size(); ++p) text << (p == 0 ? "" : " ") << p << ":" << offsets[p];
  return text.str();
}

std::string tail(const std::string& log) { return log.substr(log.size() > 3000 ? log.size() - 3000 : 0); }

// A worker's warning and error lines (the last `most` of them): what a failed copy is read from
// where only the test's output is kept (the whole logs stay in the cluster's folder).
std::string warnings(const std::string& log, std::size_t most = 80) {
  std::vector<std::string> lines;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    if (line.find("[warning]") != std::string::npos || line.find("[error]") != std::string::npos) {
      lines.push_back(line.substr(0, 400));
    }
  }
  std::string kept;
  for (std::size_t i = lines.size() > most ? lines.size() - most : 0; i < lines.size(); ++i) kept += lines[i] + "\n";
  return kept;
}

void copy_through_worker_faults(Guarantee guarantee) {
  const bool exactly_once = guarantee == Guarantee::kExactlyOnce;
  const std::string broker = broker_address();
  ASSERT_FALSE(broker.empty());
  const std::string output_topic = unique_name("it-copy-output");
  WorkerCluster cluster(exactly_once ? "exactly-once" : "at-least-once", kFastFailover,
                        copy_manifest(guarantee, output_topic));
  const std::string input_topic = cluster.app_id() + "-copy";

  // The manifest first: a host that refuses it says why in one line.
  const CommandResult check = cluster.run_faust_host({"check", "--manifest", cluster.manifest_path().string()});
  ASSERT_EQ(check.exit_code, 0) << "faust-host check refuses the manifest:\n" << check.output;

  const TopicSeeder seeder(broker);
  ASSERT_EQ(seeder.create_topics({{input_topic, kInputPartitions}, {output_topic, 1}}), "");
  OutputTally output(broker, output_topic);
  GroupOffsetReader group(broker, cluster.app_id());
  std::vector<Fate> fates;
  for (std::size_t i = 0; i < kWorkers; ++i) {
    cluster.start_worker();
    fates.push_back(Fate::kRunning);
  }
  // The numbers go in once all three workers have joined (in about a second, far faster than the
  // copy), so the faults land where they are due rather than while the group still forms.
  const auto copy_started = Clock::now();
  const std::map<std::int32_t, std::int64_t> input_ends = seeder.produce_numbered(input_topic, kMessages);
  ASSERT_EQ(input_ends.size(), static_cast<std::size_t>(kInputPartitions)) << "numbers on some partitions only";
  const double produce_seconds = seconds_since(copy_started);
  // Waits until `fraction` of the numbers have arrived; returns how many had.
  auto await_copied = [&](double fraction) {
    const bool reached = eventually(kFaultDeadline, [&] {
      output.read_new();
      return output.distinct() >= static_cast<std::int64_t>(fraction * static_cast<double>(kMessages));
    });
    EXPECT_TRUE(reached) << output.distinct() << " of " << kMessages << " numbers copied after "
                         << kFaultDeadline.count() << " s; wanted " << fraction * 100 << " %";
    return output.distinct();
  };
  auto replace = [&] {
    cluster.start_worker();
    fates.push_back(Fate::kRunning);
  };

  // 1. SIGKILL: what the worker handled since its last commit is handled again by the next owner.
  const std::size_t killed = 0;
  const std::int64_t copied_at_kill = await_copied(0.10);
  cluster.worker(killed).process->signal(SIGKILL);
  fates[killed] = Fate::kKilled;
  const auto kill_exit = cluster.worker(killed).process->wait_exit(10s);
  ASSERT_TRUE(kill_exit.has_value()) << "SIGKILLed worker still runs";
  EXPECT_EQ(*kill_exit, 128 + SIGKILL);
  replace();

  // 2. SIGINT: an orderly exit, mid-copy.
  const std::size_t interrupted = 1;
  const std::int64_t copied_at_interrupt = await_copied(0.30);
  cluster.worker(interrupted).process->signal(SIGINT);
  fates[interrupted] = Fate::kInterrupted;
  const auto interrupt_exit = cluster.worker(interrupted).process->wait_exit(30s);
  ASSERT_TRUE(interrupt_exit.has_value()) << "worker " << interrupted << " did not exit within 30 s of SIGINT";
  EXPECT_EQ(*interrupt_exit, 0) << tail(cluster.worker(interrupted).process->log());
  replace();

  // 3. SIGSTOP until the group has moved on without the worker (every input partition is another
  //    worker's), then SIGCONT: the worker wakes up mid-batch, still believing it owns its
  //    partitions.
  const std::size_t zombie = 2;
  const std::int64_t copied_at_pause = await_copied(0.50);
  cluster.worker(zombie).process->signal(SIGSTOP);
  cluster.worker(zombie).paused = true;
  const auto paused_at = Clock::now();
  std::set<std::int32_t> held_by_others;
  const bool partitions_moved = eventually(kFaultDeadline, [&] {
    output.read_new();
    held_by_others.clear();
    for (std::size_t i = 0; i < cluster.size(); ++i) {
      if (i == zombie || fates[i] != Fate::kRunning) continue;
      for (const std::int32_t partition : cluster.assigned_partitions(i, input_topic)) held_by_others.insert(partition);
    }
    return held_by_others.size() == static_cast<std::size_t>(kInputPartitions) &&
           seconds_since(paused_at) > kFastFailover.session_timeout;
  });
  const double pause_seconds = seconds_since(paused_at);
  cluster.worker(zombie).process->signal(SIGCONT);
  cluster.worker(zombie).paused = false;
  output.read_new();
  const std::int64_t copied_at_resume = output.distinct();
  EXPECT_TRUE(partitions_moved) << "the other workers held only " << held_by_others.size() << " of "
                                << kInputPartitions << " partitions " << kFaultDeadline.count()
                                << " s into the pause";
  EXPECT_LT(copied_at_resume, kMessages) << "the copy ended before the paused worker resumed: no zombie was tested";

  // The end: every input partition committed to its end, every number arrived, and then nothing
  // more for a quiet period.
  std::vector<std::int64_t> committed_at_end;
  const bool all_committed = eventually(kCopyDeadline, [&] {
    output.read_new();
    if (output.distinct() < kMessages) return false;
    committed_at_end = committed_offsets(group, input_topic);
    for (int p = 0; p < kInputPartitions; ++p) {
      if (committed_at_end[p] != input_ends.at(p)) return false;
    }
    return true;
  }, 200ms);
  const double copy_seconds = seconds_since(copy_started);
  std::vector<std::int64_t> input_end_offsets;
  for (const auto& [partition, end] : input_ends) input_end_offsets.push_back(end);
  EXPECT_TRUE(all_committed) << output.distinct() << " of " << kMessages << " numbers copied; committed "
                             << describe(committed_at_end) << ", input ends " << describe(input_end_offsets);
  std::int64_t total_before = -1;
  auto quiet_since = Clock::now();
  eventually(kCopyDeadline, [&] {
    output.read_new();
    if (output.total() != total_before) {
      total_before = output.total();
      quiet_since = Clock::now();
    }
    return Clock::now() - quiet_since >= kQuietPeriod;
  }, 200ms);

  // Workers: the interrupted one exited 0 (checked above); the others still run and exit 0 on SIGINT.
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    if (fates[i] != Fate::kRunning) continue;
    auto& process = *cluster.worker(i).process;
    EXPECT_TRUE(process.running()) << "worker " << i << " ended by itself\n" << tail(process.log());
    process.signal(SIGINT);
  }
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    auto& process = *cluster.worker(i).process;
    if (fates[i] == Fate::kRunning) {
      const auto code = process.wait_exit(30s);
      EXPECT_TRUE(code.has_value()) << "worker " << i << " did not exit within 30 s of the final SIGINT";
      if (code) {
        EXPECT_EQ(*code, 0) << "worker " << i << "\n" << tail(process.log());
      }
    }
    const std::string log = process.log();
    for (const char* marker : kCrashMarkers) {
      const auto at = log.find(marker);
      EXPECT_EQ(at, std::string::npos) << "worker " << i << " logged '" << marker
                                       << "': " << log.substr(at == std::string::npos ? 0 : at, 300);
    }
  }

  std::cout << "[ report ] " << (exactly_once ? "exactly_once" : "at_least_once") << ": " << kMessages
            << " numbers produced in " << produce_seconds << " s, copied in " << copy_seconds << " s by "
            << cluster.size() << " workers; SIGKILL at " << copied_at_kill << ", SIGINT at " << copied_at_interrupt
            << ", SIGSTOP at " << copied_at_pause << " for " << pause_seconds << " s, SIGCONT at " << copied_at_resume
            << " numbers copied; output: " << output.total() << " copies, " << output.missing() << " missing, "
            << output.duplicates() << " duplicates, " << output.foreign_count() << " foreign\n";
  ::testing::Test::RecordProperty("duplicates", std::to_string(output.duplicates()));
  ::testing::Test::RecordProperty("missing", std::to_string(output.missing()));

  EXPECT_EQ(output.foreign_count(), 0) << "values that are no input number, first: " << output.first_foreign();
  EXPECT_EQ(output.missing(), 0) << "numbers never copied, first: " << output.first_number_with_copies(false);
  if (output.missing() > 0) {
    for (std::size_t i = 0; i < cluster.size(); ++i) {
      std::cout << "[ worker " << i << " ] warnings and errors:\n" << warnings(cluster.worker(i).process->log());
    }
  }
  if (exactly_once) {
    EXPECT_EQ(output.duplicates(), 0) << "numbers copied more than once, first: "
                                      << output.first_number_with_copies(true);
  } else {
    EXPECT_GT(output.duplicates(), 0)
        << "at-least-once handles again what a killed or paused worker handled but did not commit, so these "
           "faults must repeat some numbers; without that, no duplicate under exactly_once would prove anything";
  }
}

TEST(ExactlyOnceCopy, EachNumberArrivesOnceThroughAKillAnInterruptAndAZombie) {
  copy_through_worker_faults(Guarantee::kExactlyOnce);
}

TEST(ExactlyOnceCopy, AtLeastOnceRepeatsNumbersThroughTheSameFaults) {
  copy_through_worker_faults(Guarantee::kAtLeastOnce);
}

}  // namespace
}  // namespace faust::testing
