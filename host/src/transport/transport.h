#pragma once

#include <chrono>
#include <compare>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/headers.h"

namespace faust {

struct TopicSpec {
  std::string name;
  int partitions = 1;
  int replication = 1;
  bool compacted = false;  // cleanup.policy=compact: the last record per key is kept
};

struct TopicPartition {
  std::string topic;
  std::int32_t partition = 0;
  auto operator<=>(const TopicPartition&) const = default;
};

// One consumed record, owned by the receiver.
struct ConsumedMessage {
  TopicPartition source;
  std::int64_t offset = 0;
  std::optional<std::string> key;
  std::string value;
  Headers headers;
  std::int64_t timestamp_ms = 0;
  bool tombstone = false;  // a null value: the key's deletion in a compacted topic
};

// Where the consumer group stands; `generation` is the group's generation id (-1 if unknown).
struct GroupEvent {
  std::vector<TopicPartition> partitions;
  std::int32_t generation = -1;
  std::string member_id;
  // On revocation: the membership was lost (session timed out, evicted), not given up in a
  // rebalance; the group may have moved on without this member meanwhile.
  bool lost = false;
  // Incremental rebalancing: `partitions` are only those that move; the member keeps the rest
  // (under the new generation). Else every assignment replaces the whole previous one.
  bool incremental = false;
};

// Callbacks from GroupConsumer::poll, always on the polling thread.
class GroupListener {
 public:
  virtual ~GroupListener() = default;
  virtual void on_assigned(const GroupEvent& event) = 0;
  // Called before the partitions are taken away: the last moment to commit their offsets.
  virtual void on_revoked(const GroupEvent& event) = 0;
  // A batch of messages in partition order; may be empty.
  virtual void on_messages(std::vector<ConsumedMessage>& batch) = 0;
};

struct GroupOptions {
  std::string group_id;
  std::vector<std::string> topics;
  // Prefix of the member id: names the member in the broker's group listings (in the agents'
  // group, also the worker in its exactly-once lanes' transactional ids). Decides no assignment.
  std::string client_id;
  std::chrono::milliseconds session_timeout{6000};
  std::chrono::milliseconds heartbeat_interval{500};
  // Incremental rebalancing (cooperative-sticky, KIP-429): a member that joins or leaves moves
  // only the partitions that must move, and the others keep flowing. Off: every rebalance
  // revokes every partition of every member (range).
  bool incremental_rebalance = false;
  bool read_committed = true;
  std::size_t max_batch = 500;
  // Called from the polling thread with the consumer lag librdkafka's statistics report.
  std::function<void(const TopicPartition&, std::int64_t lag)> on_lag;
};

// One membership in a consumer group. Not thread-safe: poll, commit and close from one thread.
class GroupConsumer {
 public:
  virtual ~GroupConsumer() = default;
  // Waits up to `timeout` for events and delivers them to the listener.
  virtual void poll(std::chrono::milliseconds timeout) = 0;
  // Commits "next offset to read" per partition; synchronous when `wait` is true.
  virtual Status commit(const std::vector<std::pair<TopicPartition, std::int64_t>>& next_offsets,
                        bool wait) = 0;
  virtual void pause(const std::vector<TopicPartition>& partitions) = 0;
  virtual void resume(const std::vector<TopicPartition>& partitions) = 0;
  // Reads these partitions again from the group's committed positions (where the last committed
  // transaction left them); what was fetched before is not delivered any more. Fails when the
  // positions cannot be read now (worth asking again).
  virtual Status rewind(const std::vector<TopicPartition>& partitions) = 0;
  // Leaves the group (revocation is delivered to the listener first).
  virtual void close() = 0;
};

// A consumer group member as of one assignment: whose consumed offsets a transaction commits.
struct GroupMember {
  std::string group_id;
  std::int32_t generation = -1;
  std::string member_id;
};

// A record to produce, in transport terms.
struct ProducedRecord {
  std::string topic;
  std::optional<std::string> key;
  std::string value;
  Headers headers;
  bool tombstone = false;  // send a null value (value is ignored): deletes the key when compacted
};

// What /readyz and /status show of the connection.
enum class BrokerState { kConnecting, kUp, kDown };

// What a failed leader transaction means for the term that owns it.
enum class TxnFailure {
  kNone,
  kRetriable,  // timed out or not reachable yet: the same call may be made again
  kAbortable,  // the transaction must be aborted; the producer stays usable
  kFenced,     // a newer producer of the app's leader role exists: this one is finished
  kFatal,      // the producer cannot be used any more: it must be replaced
  kRefused,    // the broker refused a record of the transaction for the record's own sake (too
               // large, keyless to a compacted topic, not authorized): the transaction must be
               // aborted, and the same records would be refused again
};

// The transaction must be aborted, and the producer stays usable for the next one.
inline bool only_aborts(TxnFailure failure) {
  return failure == TxnFailure::kAbortable || failure == TxnFailure::kRefused;
}

struct [[nodiscard]] TxnStatus {
  TxnFailure failure = TxnFailure::kNone;
  std::string message;
  bool ok() const { return failure == TxnFailure::kNone; }
  explicit operator bool() const { return ok(); }
};

// A transactional producer: a leader term's, or an exactly-once agent's for one input partition.
// It exists only once the transaction coordinator has registered it, which fences every earlier
// producer with its transactional id: their transactions are aborted and their later calls fail
// with kFenced.
// One transaction at a time, from one thread at a time.
class TransactionalProducer {
 public:
  virtual ~TransactionalProducer() = default;
  virtual TxnStatus begin() = 0;
  // Queues a record in the open transaction; it is delivered (or not) with the transaction.
  virtual TxnStatus send(const ProducedRecord& record) = 0;
  // Delivers every queued record and commits. After kRetriable, call commit again.
  virtual TxnStatus commit(std::chrono::milliseconds timeout) = 0;
  // Drops the open transaction: no read_committed reader ever sees its records.
  virtual TxnStatus abort(std::chrono::milliseconds timeout) = 0;
  // Commits `next_offsets` (per partition) as `member`'s group's consumed positions, with the
  // open transaction: the positions move exactly when the transaction's records become visible.
  // With a generation (>= 0) the broker refuses them (and the transaction must abort) once the
  // group has moved on from it, so a worker that was paused past its session cannot commit work
  // its partitions' new owner is redoing (KIP-447).
  virtual TxnStatus send_offsets(const std::vector<std::pair<TopicPartition, std::int64_t>>& next_offsets,
                                 const GroupMember& member) = 0;
};

// Reads one partition read_committed, outside any consumer group membership (the leader's state
// and its leader-only agents). Not thread-safe.
class PartitionReader {
 public:
  virtual ~PartitionReader() = default;
  // The next records, waiting up to `timeout` for the first; empty when none came.
  virtual Result<std::vector<ConsumedMessage>> poll(std::chrono::milliseconds timeout) = 0;
  // Whether the last poll reached the end: every committed record before it has been returned.
  virtual bool at_end() const = 0;
};

// Reads a topic read_committed outside any group membership, up to the ends its partitions had
// when it was opened: a tool's one pass over a backlog (faust-host send --dead-letter). Not
// thread-safe.
class TopicReader {
 public:
  virtual ~TopicReader() = default;
  // The next records, waiting up to `timeout` for the first; empty when none came.
  virtual Result<std::vector<ConsumedMessage>> poll(std::chrono::milliseconds timeout) = 0;
  // Whether every partition has been read up to its end: poll returns nothing more.
  virtual bool at_end() const = 0;
  // Stores `next_offset` as the reader's group's committed position of `partition`, waiting for
  // the broker's answer.
  virtual Status commit(const TopicPartition& partition, std::int64_t next_offset) = 0;
};

struct TopicReadRequest {
  std::string topic;
  // Every partition is read from this group's committed offsets (from the start where it has
  // none), and commit() stores there.
  std::string group_id;
  // Instead, only the record at this position; opening fails when the partition has no such
  // offset.
  struct Position {
    std::int32_t partition = 0;
    std::int64_t offset = 0;
  };
  std::optional<Position> only;
};

class Transport {
 public:
  virtual ~Transport() = default;
  // Creates the topics that do not exist yet; waits until they are visible to clients. Fails
  // with kBrokerUnreachable while the broker does not answer (worth retrying), else with why the
  // broker refused (not worth retrying).
  virtual Status ensure_topics(const std::vector<TopicSpec>& topics, std::chrono::milliseconds timeout) = 0;
  virtual Result<std::unique_ptr<GroupConsumer>> join_group(const GroupOptions& options,
                                                            GroupListener& listener) = 0;
  // Returns once the broker acknowledged the record, or why it was not stored. A failure of the
  // transport (no acknowledgement in time, broker unreachable) has ExitCode::kBrokerUnreachable:
  // the same record may be sent again; any other code is the record's own fault.
  virtual Status send(const ProducedRecord& record, std::chrono::milliseconds timeout) = 0;
  // One pipelined send's outcome, told on a transport thread. The transport owns it from
  // send_async on, and destroys it once it has called delivered() (or when the record could not
  // be queued): the sender's bookkeeping for the send travels with the record, in one allocation.
  class PipelinedSend {
   public:
    virtual ~PipelinedSend() = default;
    // Once: ok when the broker acknowledged the record; an error with ExitCode::kFailure when it
    // refused it for its own sake; kBrokerUnreachable only when the transport gave it up (it is
    // being destroyed).
    virtual void delivered(const Status& delivered) = 0;
    // Each time the broker did not take it in time (an outage) and it was queued again.
    virtual void requeued(const std::string& /*topic*/) {}
    // Acknowledgements may be told in groups instead: of the sends a round of reports
    // acknowledged, those of one non-null group() are told by one call of acknowledged_together()
    // on the first of them, with all of them in order, so that their sender takes its lock once a
    // round rather than once a record. The transport destroys them afterwards.
    virtual const void* group() const { return nullptr; }
    virtual void acknowledged_together(std::span<const std::unique_ptr<PipelinedSend>> sends) {
      for (const auto& send : sends) send->delivered(ok_status());
    }
  };
  // Queues the record and returns without waiting for the broker: the pipelined path. A record the
  // broker does not take in time is queued again, so an outage delays it and nothing else. Fails
  // at once, without calling back, when the record cannot be queued. This default (memory://,
  // whose sends are stored at once) sends, then reports on this thread.
  virtual Status send_async(const ProducedRecord& record, std::unique_ptr<PipelinedSend> pipelined) {
    pipelined->delivered(send(record, std::chrono::seconds(30)));
    return ok_status();
  }
  // Sends every record and returns once the broker acknowledged all of them; fails (with the
  // codes of send) if any was not stored, in which case some of them may have been.
  virtual Status send_all(const std::vector<ProducedRecord>& records, std::chrono::milliseconds timeout) {
    for (const auto& record : records) {
      if (auto status = send(record, timeout); !status) return status;
    }
    return ok_status();
  }
  // Creates the app's leader producer and registers it with the transaction coordinator
  // (init_transactions), fencing every earlier one; fails if that does not finish in `timeout`.
  virtual Result<std::unique_ptr<TransactionalProducer>> start_leader_producer(std::chrono::milliseconds timeout) = 0;
  // The same for any transactional id (an exactly-once agent's, one per input partition): a new
  // producer with the id fences the previous one and aborts its open transaction.
  virtual Result<std::unique_ptr<TransactionalProducer>> start_transactional_producer(const std::string& transactional_id,
                                                                               std::chrono::milliseconds timeout) {
    (void)timeout;
    return Error{ExitCode::kFailure, "transactional producer '" + transactional_id + "': not supported by this transport"};
  }
  virtual Status flush(std::chrono::milliseconds timeout) = 0;
  virtual BrokerState broker_state() const = 0;
  // Reads `partition` from `group_id`'s committed offset (the start when it has none), or from
  // the start when `group_id` is empty.
  virtual Result<std::unique_ptr<PartitionReader>> read_partition(const TopicPartition& partition,
                                                                  const std::string& group_id,
                                                                  std::chrono::milliseconds timeout) = 0;
  // Opens a reader of a whole topic (see TopicReader). Fails when the topic does not exist (not
  // created), or with kBrokerUnreachable when the broker does not answer within `timeout`.
  virtual Result<std::unique_ptr<TopicReader>> read_topic(const TopicReadRequest& request,
                                                          std::chrono::milliseconds timeout) = 0;
};

}  // namespace faust
