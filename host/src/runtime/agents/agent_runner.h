#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "runtime/agents/agent_binding.h"
#include "runtime/runtime_events.h"
#include "transport/transport.h"

namespace faust {

class AgentLane;
struct AgentState;

struct AgentSnapshot {
  std::string name;
  ProcessingGuarantee guarantee = ProcessingGuarantee::kAtLeastOnce;
  int batch_max_messages = 1;
  std::uint64_t handled = 0;
  std::uint64_t errors = 0;
  std::uint64_t batches = 0;       // units handled whole (batched or exactly-once agents)
  std::uint64_t units_retried = 0;  // units the broker did not take, run again
  std::uint64_t dead_lettered = 0;  // written to the dead-letter topic
  std::string last_error;
  std::size_t queued_messages = 0;  // fetched, waiting for a handler
  std::size_t queued_bytes = 0;
};

struct AgentRunnerOptions {
  std::chrono::milliseconds commit_interval{1000};
  // Queued messages per lane before its partitions pause. Pausing drops what librdkafka has
  // prefetched for them, so it is kept for real overload, well above a normal backlog.
  std::size_t pause_above = 100000;
  // The same in bytes (keys and values), so a backlog of large messages stays bounded in memory.
  // They resume once both are below half.
  std::size_t pause_above_bytes = 64 * 1024 * 1024;
  // The same for the keys and values of a lane's sends in flight.
  std::size_t max_in_flight_bytes = 32 * 1024 * 1024;
  // At stop, how long the sends in flight have to be acknowledged before the final commit; the
  // messages of those that were not are handled again by their partitions' next owners.
  std::chrono::milliseconds stop_send_wait{5000};
  std::chrono::seconds slow_handler_warning{10};
  // How long a rebalance waits for a handler still working on a revoked partition. It must stay
  // well below the group's rebalance timeout, or the member is evicted; past it the partition is
  // given up without that message, which its next owner handles again.
  std::chrono::milliseconds revoke_wait{3000};
};

// Consumes the agents' topics in the app's consumer group and hands every message to one lane
// of its agent: partition p of an agent with N lanes always goes to lane p % N, so each
// partition stays in order while N handlers run at once. A lane takes a partition's messages one
// at a time or, for a batched agent, in batches of one partition.
// At-least-once: a partition's offset is committed only up to the last message whose handler
// and sends completed, and lanes of revoked partitions finish their message and commit before
// the partitions are given up. One message at a time, sends are pipelined (InFlightMessages): a
// handler's send returns once queued, and a send the broker refuses brings its message back to
// on_error.
// Exactly-once: each batch's sends and its offset are one transaction of the partition's own
// producer (see TransactionalUnit); the consumer commits nothing for such an agent.
class AgentRunner final : private GroupListener {
 public:
  AgentRunner(Transport& transport, GroupOptions group, std::vector<AgentBinding> agents, RuntimeEvents& events,
              AgentRunnerOptions options = {});
  ~AgentRunner() override;

  Status start();
  // From now on no new message is started, and a handler that fails is not committed.
  void request_stop();
  // Finishes the messages being handled, commits, and leaves the group.
  void stop();

  bool joined() const { return joined_.load(); }
  // False while a rebalance is in progress (between a revocation and the next assignment).
  bool assigned() const { return assigned_.load(); }
  std::map<std::string, std::vector<std::int32_t>> assignment() const;
  // Partitions revoked from this member so far (each time one was).
  std::uint64_t partitions_revoked() const { return partitions_revoked_.load(); }
  std::vector<AgentSnapshot> snapshot() const;

 private:
  void on_assigned(const GroupEvent& event) override;
  void on_revoked(const GroupEvent& event) override;
  void on_messages(std::vector<ConsumedMessage>& batch) override;
  void run();
  // Periodic (asynchronous) commits skip what was committed before; the final one (at stop)
  // commits everything handled, synchronously, so an asynchronous commit that failed is repaired.
  void commit_done(bool final);
  // Moves the partitions lanes asked to read again back to their committed positions.
  void rewind_requested();
  void apply_backpressure();
  void warn_slow_handlers();
  AgentLane& lane_for(const TopicPartition& partition);

  Transport& transport_;
  GroupOptions group_;
  RuntimeEvents& events_;
  AgentRunnerOptions options_;
  std::vector<std::unique_ptr<AgentState>> agents_;
  std::map<std::string, AgentState*> agent_by_topic_;
  std::unique_ptr<GroupConsumer> consumer_;
  std::thread poller_;
  std::atomic<bool> running_{false};
  std::atomic<bool> joined_{false};
  std::atomic<bool> assigned_{false};
  std::atomic<std::uint64_t> partitions_revoked_{0};
  std::map<TopicPartition, std::int64_t> committed_;  // poll thread only
  std::int32_t commits_held_until_ = -1;              // poll thread only: a generation, see on_revoked
  mutable std::mutex assignment_mutex_;
  std::set<TopicPartition> assignment_;
  std::mutex rewind_mutex_;
  std::set<TopicPartition> rewind_requests_;
  std::chrono::steady_clock::time_point next_rewind_{};  // poll thread only
};

}  // namespace faust
