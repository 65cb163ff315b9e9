#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "runtime/agents/agent_binding.h"
#include "runtime/agents/delivery_unit.h"
#include "runtime/agents/in_flight_messages.h"
#include "runtime/runtime_events.h"

namespace faust {

struct AgentState;

// One handler thread of an agent (a concurrency slot) with its queue, and the record of which
// offsets it has finished. Partition p of an agent with N lanes always goes to lane p % N. A lane
// takes a partition's messages one at a time, its sends pipelined (InFlightMessages), or, for a
// batched or exactly-once agent, in units of one partition (DeliveryUnit).
class AgentLane {
 public:
  using Clock = std::chrono::steady_clock;

  // `rewind` asks the poll thread to read a partition again from its committed position (once
  // the worker holds it again, if it was given up meanwhile).
  // `index`: the lane's place among its agent's lanes; `instance`: the worker's client id (both
  // name the lane's exactly-once producer).
  AgentLane(AgentState& agent, std::size_t index, std::string instance, MessageHandler handler,
            BatchHandler batch_handler, Transport& transport, RuntimeEvents& events, InFlightMessages::Limits limits,
            std::function<void(const TopicPartition&)> rewind);
  ~AgentLane();

  void start() { thread_ = std::thread([this] { run(); }); }

  // Takes no new message after the one in hand; queued ones stay uncommitted and will be
  // redelivered to the partition's next owner.
  void request_stop();
  void stop();
  void push(std::vector<ConsumedMessage>&& messages);

  // The poll thread has moved the partition back to its committed position: what it delivers
  // from now on was fetched after that.
  void rewound(const TopicPartition& partition);

  // Exactly-once: the lane's one producer serves whichever partitions it holds; its transaction
  // spans them and commits each commit interval (Kafka Streams' exactly_once_v2). The producer
  // is started on the lane's thread before its next message, so it is never replaced while a
  // unit uses it. The partitions it keeps (an incremental rebalance) keep flowing, and commit
  // from now on as of the group's new generation.
  void assigned(const std::vector<TopicPartition>& partitions, const GroupMember& member);

  struct Backlog {
    std::size_t messages = 0;
    std::size_t bytes = 0;
  };
  Backlog queued() const;
  // The partitions with messages queued.
  std::vector<TopicPartition> backlogged() const;

  bool stopping() const;

  // Forgets queued messages of `revoked`, waits (up to `wait`) for a handler working on one of
  // them to return, and hands back (and forgets) their finished offsets. A handler that takes
  // longer is left to finish, but its message no longer counts as done here. Exactly-once: waits
  // (within `wait`) for the lane's open transaction to commit, as of `member` (the group's
  // generation now), so the revoked partitions' part of it is settled before their next owner
  // reads their positions (Kafka Streams commits in onPartitionsRevoked too).
  std::map<TopicPartition, std::int64_t> release(const std::set<TopicPartition>& revoked,
                                                 std::chrono::milliseconds wait,
                                                 const std::optional<GroupMember>& member = std::nullopt);

  // After the lane stopped: waits up to `deadline` for its sends in flight to be acknowledged, so
  // the final commit carries their messages.
  void await_sends(Clock::time_point deadline);

  // Next offset to commit per partition, for everything handled so far.
  std::map<TopicPartition, std::int64_t> done() const;

  struct BusyReport {
    std::string where;
    Clock::duration for_how_long;
    std::uint64_t message_serial;  // tells one message from the next
  };
  // How long the current handler has been running, and where, if it is running.
  std::optional<BusyReport> busy_for() const;

 private:
  struct Busy {
    TopicPartition partition;
    std::int64_t offset = 0;       // the first message in hand
    std::int64_t next_offset = 0;  // after the last one
    Clock::time_point since;
    bool abandoned = false;  // its partition was revoked while it ran: not ours to commit
    bool revoked = false;    // its partition was revoked: a batch still gathering stops
  };

  // What became of the messages in hand.
  enum class Outcome {
    kDone,              // handled (or skipped by on_error): their offsets may be committed
    kLeftUncommitted,   // not handled, and the partition is not ours any more: the lane goes on
    kStop,              // the worker is stopping, or on_error: stop: the lane ends
  };

  // One lock per message: taking the next message also records the previous one as done.
  void run();

  // Moves the next messages of the partition whose turn it is into `batch` (under the lock): up to
  // the batch size, waiting up to its max_wait for more. False when the batch was given up
  // meanwhile (its partition revoked, or the worker stopping).
  bool take_batch(std::unique_lock<std::mutex>& lock, std::vector<ConsumedMessage>& batch);
  // Drops the queued messages of these partitions (mutex_ held).
  void forget_queued(const std::set<TopicPartition>& partitions);

  void record_done(const TopicPartition& partition, std::int64_t next_offset);

  // After a message of a unit's fallback is done, before the rest of its batch: its position
  // may be committed (at_least_once) even if a later message stops the lane.
  void record_progress(const ConsumedMessage& message);

  void note_error(const Status& result);

  // What the agent's on_error says to do after `message` failed for the (attempt+1)-th time:
  // logs it, and waits out a retry's backoff. kDeadLetter: write it to the dead-letter topic,
  // and commit it once that is stored.
  enum class AfterFailure { kCommit, kRetry, kStop, kDeadLetter };
  AfterFailure after_failure(const Status& result, const ConsumedMessage& message, int attempt);

  // Waits before another attempt; false when the worker stops meanwhile.
  bool backoff(int attempt);

  Status call_handler(const ConsumedMessage& message);

  // Where a handler's sends go on the pipelined path: queued at once, and counted against its
  // message until the broker acknowledged them.
  class PipelinedSends final : public UnitSends {
   public:
    PipelinedSends(AgentLane& lane, const ConsumedMessage& message, InFlightMessages::EntryPtr& entry)
        : lane_(lane), message_(message), entry_(entry) {}
    Status send(const ProducedRecord& record) override { return lane_.send_pipelined(message_, entry_, record); }
    Status await_acknowledged() override { return lane_.await_acknowledged(entry_); }

   private:
    AgentLane& lane_;
    const ConsumedMessage& message_;
    InFlightMessages::EntryPtr& entry_;  // made at the first send
  };

  // Delivery reports come on the transport's thread, possibly after the lane is gone.
  struct ReportRelay {
    explicit ReportRelay(AgentLane* owner) : lane(owner) {}
    std::mutex mutex;
    AgentLane* lane;
  };
  // One pipelined send: tells the lane (through the relay) when the broker answered.
  class LaneSend;

  Status send_pipelined(const ConsumedMessage& message, InFlightMessages::EntryPtr& entry,
                        const ProducedRecord& record);

  void acknowledged(InFlightMessages::EntryPtr entry, std::size_t bytes, const Status& delivered);
  // Sends of this lane the broker acknowledged, told together (LaneSends all).
  void acknowledged_together(std::span<const std::unique_ptr<Transport::PipelinedSend>> sends);

  // ABI 1.3 await_sends: the handler takes the outcome of its sends so far into its own hands; a
  // refusal it is told of is no longer the host's to act on.
  Status await_acknowledged(const InFlightMessages::EntryPtr& entry);

  // The handler has no more claim on the message: it is done once its sends are. A message that
  // sent something moves into its entry, where a refusal of one of its sends finds it.
  void settle(ConsumedMessage& message, const InFlightMessages::EntryPtr& entry);

  // One message on the default path: its handler, again as on_error says when it fails; its
  // sends pipelined (see InFlightMessages).
  Outcome handle_pipelined(ConsumedMessage& message);

  Outcome run_pipelined(ConsumedMessage& message, InFlightMessages::EntryPtr& entry);

  // What becomes of a pipelined message after a failure, as on_error said (`action`); nullopt:
  // its handler runs again.
  std::optional<Outcome> finish_failed(AfterFailure action, ConsumedMessage& message,
                                       const InFlightMessages::EntryPtr& entry, const std::string& error, int attempt);

  // A send the broker refused for the record's own sake, after its handler returned: on_error
  // applies to the message that made it, as if its handler had failed. Messages after it may have
  // been handled meanwhile; none of them is committed before it is dealt with.
  Outcome recover(InFlightMessages::EntryPtr entry);

  // The handler over `messages` inside the current unit: the batch handler, or the message
  // handler for each until one fails.
  Status run_handlers(std::span<const ConsumedMessage> messages);

  struct UnitRun {
    Status handler = ok_status();  // the handler's failure, if it failed
    UnitResult unit;               // else the unit's
  };
  // Runs the handler over `messages` (none: only the position moves) as one unit, which also
  // carries `dead_lettered` when given.
  UnitRun run_unit(DeliveryUnit& unit, std::span<const ConsumedMessage> messages, const ConsumedMessage& last,
                   const ProducedRecord* dead_lettered = nullptr);

  // A unit the broker did not take: said once per unit, then tried again after a backoff, as of
  // the group's generation by then. Not once its partition was revoked meanwhile: its next owner
  // (maybe this worker again) reads it again from the committed position, and retrying it from
  // memory as of a generation the group has left would be refused for ever. nullopt: try again.
  std::optional<Outcome> retry_unit(const UnitResult& result, const ConsumedMessage& first, int attempt);

  // A batch as one unit; if its handler fails (or a record of it is refused), its messages one by
  // one, each a unit of its own with on_error applied alone.
  Outcome handle_in_units(std::vector<ConsumedMessage>& batch);

  // exactly_once: the batch is staged into the lane's open transaction, which commits once the
  // commit interval has passed. If its handler fails (or a record is refused), the transaction
  // aborts; when it held other units, every partition of it is read again from its committed
  // position, and the failed batch's messages then go one by one (see alone_).
  Outcome handle_in_transaction(std::vector<ConsumedMessage>& batch);

  // Commits the lane's open transaction; one that does not commit is read again (read_again).
  Outcome flush();

  // The lane ends: its open transaction commits (`commit`), or is dropped.
  void finish_transaction(bool commit);

  // After the open transaction ended (committed, aborted or dropped): tells release().
  void transaction_closed();

  // The lane's producer for a unit of `partition` (nullptr: the partition is not the lane's any
  // more); started if it is not yet or was broken.
  TransactionalUnit* transaction_for(const TopicPartition& partition);

  // One message as a unit of its own. Skipped, only its position moves; dead-lettered, the
  // dead-letter record goes in the unit with the position (one transaction under exactly_once).
  Outcome handle_one_in_unit(const ConsumedMessage& message);

  // The unit for a partition's work: one for the lane (at_least_once), or the partition's own
  // transactional producer (exactly_once), started if it is not yet or was broken.
  DeliveryUnit* unit_for(const TopicPartition& partition);

  bool revoked_meanwhile(const TopicPartition& partition) const;

  // Starts the producers of newly assigned partitions (which aborts a previous owner's open
  // transaction, so the partition's committed offset settles) and closes those of revoked ones.
  void follow_assignment(const std::map<TopicPartition, GroupMember>& opening, const std::set<TopicPartition>& closing,
                         const std::optional<GroupMember>& generation);

  // An exactly-once transaction the broker did not take is never run again from memory: it may
  // have committed after all (a commit that timed out, a producer that failed during it), and
  // running it again would deliver its output twice. A new producer of the lane (`replace`)
  // settles that transaction (init_transactions completes or aborts it), and its partitions are
  // read again from the positions the group then has. A fenced producer, or a generation the
  // group has left, ends the same way: what is still the lane's is read again.
  Outcome read_again(const std::set<TopicPartition>& partitions, const UnitResult& result, bool replace);
  // A transaction that failed needs a new producer of the lane to settle it when its outcome is
  // unknown (a commit that timed out) or the producer is unusable; one the broker refused and
  // that aborted does not.
  bool needs_new_producer(const UnitResult& result) const;

  // init_transactions waits for this id's previous transaction to end; past this the producer
  // is started again on the next message.
  static constexpr auto kProducerStartTimeout = std::chrono::seconds(30);
  // A partition's turn: at least this many messages (or one batch) before the next partition's.
  static constexpr std::size_t kMessagesPerTurn = 100;

  // Writes a message the handler gave up on to the agent's dead-letter topic. True (it may be
  // committed) only once the broker acknowledged the write; a write that fails for the record's
  // own sake stops the worker, since nothing past the message may be committed.
  bool dead_letter(const ConsumedMessage& message, const std::string& error, int attempts);

  void note_dead_lettered(const ConsumedMessage& message, const std::string& error, int attempts);

  Outcome dead_letter_refused(const ConsumedMessage& message, const std::string& error, const std::string& why);

  AgentState& agent_;
  const std::size_t index_;
  const std::string instance_;
  std::function<void(const TopicPartition&)> rewind_;
  MessageHandler handler_;
  BatchHandler batch_handler_;
  Transport& transport_;
  RuntimeEvents& events_;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;  // queue, assignment or stop
  std::condition_variable idle_;  // a handler returned
  bool stopping_ = false;
  // Fetched messages, a queue per partition (none empty). The lane serves them in turns, so a
  // partition newly assigned does not wait behind the backlog of another.
  std::map<TopicPartition, std::deque<ConsumedMessage>> queues_;
  std::size_t queued_messages_ = 0;
  std::size_t queued_bytes_ = 0;  // keys and values in queues_
  TopicPartition turn_;           // whose turn it is
  std::size_t turn_left_ = 0;     // messages it may still take in its turn
  std::optional<Busy> busy_;
  std::uint64_t serial_ = 0;
  InFlightMessages in_flight_;
  std::deque<InFlightMessages::EntryPtr> refused_;  // sends refused after their handler returned
  std::shared_ptr<ReportRelay> reports_;
  std::map<TopicPartition, std::int64_t> done_;
  std::map<TopicPartition, std::int64_t>::iterator last_done_ = done_.end();
  // exactly_once, handed over from the poll thread (under mutex_)
  std::map<TopicPartition, GroupMember> opening_;
  std::set<TopicPartition> closing_;
  std::optional<GroupMember> generation_;  // the group's generation changed
  std::set<TopicPartition> rewinding_;      // fetched messages of these are dropped until rewound,
                                            // also while a rebalance takes them away and back
  bool transaction_pending_ = false;        // units are staged in the lane's open transaction
  Clock::time_point transaction_due_;       // when it commits
  bool flush_requested_ = false;            // a revocation waits for the open transaction
  std::uint64_t flushes_ = 0;               // transactions ended since the start
  // The lane's thread only.
  std::unique_ptr<AcknowledgedUnit> acknowledged_;
  std::set<TopicPartition> held_;      // exactly_once: the partitions the lane holds
  std::optional<GroupMember> member_;  // as of the group's latest generation
  std::unique_ptr<TransactionalUnit> transaction_;
  // Messages up to this offset (inclusive) of a partition go one by one, each a transaction of its
  // own: a transaction that held them failed for one of them.
  std::map<TopicPartition, std::int64_t> alone_;
  std::uint64_t staged_messages_ = 0;  // of the open transaction, counted once it commits
  std::uint64_t staged_batches_ = 0;

 public:
  // Poll thread only.
  // The partitions paused for the lane's backlog: those that had messages queued when it went
  // over its bound (one with none keeps fetching, so its turns come), resumed together below half.
  std::set<TopicPartition> paused;
  std::uint64_t warned_serial = 0;
  std::int64_t warned_periods = 0;
};

// What the lanes of one agent share: its binding, its lanes and its counters.
struct AgentState {
  AgentBinding binding;
  std::vector<std::unique_ptr<AgentLane>> lanes;
  std::atomic<std::uint64_t> handled{0};
  std::atomic<std::uint64_t> errors{0};
  std::atomic<std::uint64_t> batches{0};
  std::atomic<std::uint64_t> units_retried{0};
  std::atomic<std::uint64_t> dead_lettered{0};
  mutable std::mutex last_error_mutex;
  std::string last_error;

  // Whether messages go through delivery units (batches, transactions) rather than one by one
  // with their sends pipelined.
  bool uses_units() const {
    return binding.guarantee == ProcessingGuarantee::kExactlyOnce || binding.batch.max_messages > 1 ||
           !binding.batch_lanes.empty();
  }
  bool exactly_once() const { return binding.guarantee == ProcessingGuarantee::kExactlyOnce; }
};

}  // namespace faust
