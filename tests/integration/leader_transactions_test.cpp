// One transaction per on_leader tick: a real faust-host worker on the real broker runs the test
// plugin `tick_batches` (fixtures/tick_batches_plugin.cpp), whose timer sends "tick-<n>-<i>"
// messages to the agent `batch_sink` on a one-partition topic. A read_committed reader of that
// topic (as the agents read) checks what becomes visible, and when.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "broker_env.h"
#include "support/committed_reader.h"
#include "support/worker_cluster.h"

namespace faust::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kReadDeadline = 90s;

// One worker of an app whose only components are tick_batches' timer (on the leader, with
// `config`) and its batch_sink agent, on one-partition topics.
ClusterManifest tick_batches_manifest(double interval, const std::string& config) {
  ClusterManifest manifest;
  manifest.app_lines = "  topic_partitions: 1\n";
  manifest.sections = std::string("agents:\n  batch_sink:\n    library: ") + FAUST_TICK_BATCHES_PLUGIN +
                      "\ntimers:\n  tick_batches:\n    library: " + FAUST_TICK_BATCHES_PLUGIN +
                      "\n    interval: " + std::to_string(interval) +
                      "\n    on_leader: true\n    config:\n" + config;
  return manifest;
}

struct TickMessage {
  int tick = 0;
  int index = 0;
};

// "tick-<n>-<i>" as tick_batches writes it.
std::optional<TickMessage> parse_tick_message(const std::string& value) {
  TickMessage message;
  char end = '\0';
  if (std::sscanf(value.c_str(), "tick-%d-%d%c", &message.tick, &message.index, &end) != 2) {
    return std::nullopt;
  }
  return message;
}

// What a read_committed reader read of the ticks, in offset order, and whether each tick was
// whole in every view sampled meanwhile. A view is the partition below a last stable offset
// sampled while the ticks ran: all a reader could read at that moment.
class TickLedger {
 public:
  explicit TickLedger(int per_tick) : per_tick_(per_tick) {}

  // A view; later samples never end lower.
  void sample(std::int64_t last_stable_offset) {
    ++samples_;
    if (views_.empty() || views_.back() < last_stable_offset) views_.push_back(last_stable_offset);
  }

  // Records the next message. A sample is always above every offset read when it was taken, so
  // the first message at or above a view's end comes right after the view's last message: the
  // counts then are the view's.
  void add(const CommittedReader::Record& record) {
    while (views_checked_ < views_.size() && views_[views_checked_] <= record.offset) {
      check_view(views_[views_checked_++]);
    }
    const auto message = parse_tick_message(record.value);
    if (!message) {
      ADD_FAILURE() << "not a tick_batches message: " << record.value;
      return;
    }
    int& seen = seen_[message->tick];
    EXPECT_EQ(message->index, seen) << "tick " << message->tick
                                    << " out of order or repeated: " << record.value;
    ++seen;
  }

  int seen(int tick) const {
    const auto it = seen_.find(tick);
    return it == seen_.end() ? 0 : it->second;
  }
  // The first view that held part of a tick; empty while there is none.
  const std::string& partial_view() const { return partial_view_; }
  std::size_t views_checked() const { return views_checked_; }
  std::size_t samples() const { return samples_; }

 private:
  void check_view(std::int64_t end) {
    if (!partial_view_.empty()) return;
    for (const auto& [tick, seen] : seen_) {
      if (seen == per_tick_) continue;
      partial_view_ = "below the last stable offset " + std::to_string(end) + " are " + std::to_string(seen) +
                      " of the " + std::to_string(per_tick_) + " messages of tick " + std::to_string(tick);
      return;
    }
  }

  int per_tick_;
  std::map<int, int> seen_;
  std::vector<std::int64_t> views_;  // the distinct samples, ascending
  std::size_t samples_ = 0;
  std::size_t views_checked_ = 0;
  std::string partial_view_;
};

std::string sink_topic(const WorkerCluster& cluster) { return cluster.app_id() + "-batch_sink"; }

// What the host logs once a tick of tick_batches that sent `count` messages committed.
std::string committed_tick(int count) {
  return committed_leader_transaction("tick_batches") + ": " + std::to_string(count) + " message(s)";
}

TEST(LeaderTransactions, TenThousandSendsOfOneTickBecomeVisibleTogether) {
  constexpr int kPerTick = 10'000;
  const std::string broker = broker_address();
  ASSERT_FALSE(broker.empty());
  WorkerCluster cluster("tick-batches", ClusterSettings{},
                        tick_batches_manifest(1.0, "      count: " + std::to_string(kPerTick) + "\n"));
  cluster.start_worker();
  const WorkerProcess& worker = *cluster.worker(0).process;

  // Samples the last stable offset again and again while reading the first two ticks; each
  // sample is checked once the reader has got past it.
  CommittedReader reader(broker, sink_topic(cluster));
  TickLedger ledger(kPerTick);
  const auto deadline = Clock::now() + kReadDeadline;
  while (ledger.seen(2) < kPerTick && ledger.partial_view().empty() && Clock::now() < deadline) {
    if (const auto end = reader.last_stable_offset(5s)) ledger.sample(*end);
    for (int i = 0; i < 1000; ++i) {
      const auto record = reader.next(i == 0 ? 10ms : 0ms);
      if (!record) break;
      ledger.add(*record);
    }
  }
  EXPECT_EQ(ledger.partial_view(), "")
      << "a tick's sends became readable in parts, so they were not one transaction";
  EXPECT_EQ(ledger.seen(1), kPerTick);
  EXPECT_EQ(ledger.seen(2), kPerTick);
  EXPECT_GT(ledger.views_checked(), 0u);
  EXPECT_GE(count_lines(worker, committed_tick(kPerTick)), 2u) << worker.log().substr(0, 20'000);
  EXPECT_EQ(count_lines(worker, "timer 'tick_batches' failed"), 0u) << worker.log().substr(0, 20'000);
  std::cout << "[ report ] " << ledger.seen(1) + ledger.seen(2)
            << " messages of two ticks read; the last stable offset sampled " << ledger.samples()
            << " times, " << ledger.views_checked() << " distinct views of what was committed checked\n";
}

TEST(LeaderTransactions, ATickThatThrowsDeliversNoneOfItsSends) {
  constexpr int kPerTick = 10;
  const std::string broker = broker_address();
  ASSERT_FALSE(broker.empty());
  // Ticks 1 and 3 throw after 5 sends; ticks 2 and 4 send all 10.
  WorkerCluster cluster("tick-throws", ClusterSettings{},
                        tick_batches_manifest(0.5, "      count: " + std::to_string(kPerTick) +
                                                       "\n      throw_after: 5\n"));
  cluster.start_worker();
  const WorkerProcess& worker = *cluster.worker(0).process;

  CommittedReader reader(broker, sink_topic(cluster));
  TickLedger ledger(kPerTick);
  const auto deadline = Clock::now() + kReadDeadline;
  // One partition in send order: by the time tick 4 is read whole, everything of ticks 1 to 3
  // that was ever committed has been read too.
  while (ledger.seen(4) < kPerTick && Clock::now() < deadline) {
    if (const auto record = reader.next(200ms)) ledger.add(*record);
  }
  EXPECT_EQ(ledger.seen(1), 0) << "the first failed tick's sends reached a read_committed reader";
  EXPECT_EQ(ledger.seen(3), 0) << "the second failed tick's sends reached a read_committed reader";
  EXPECT_EQ(ledger.seen(2), kPerTick);
  EXPECT_EQ(ledger.seen(4), kPerTick);
  EXPECT_GE(count_lines(worker, "tick 1 thrown after 5 sends"), 1u) << worker.log();
  EXPECT_GE(count_lines(worker, "timer 'tick_batches' failed"), 2u) << worker.log();
  // The worker logs a commit after the broker took it, so a reader may see tick 4 first.
  EXPECT_TRUE(eventually(10s, [&] { return count_lines(worker, committed_tick(kPerTick)) >= 2u; })) << worker.log();
}

}  // namespace
}  // namespace faust::testing
