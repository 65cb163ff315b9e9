#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "transport/transport.h"

namespace faust {

// Where the sends of a handler go while the agent runner handles a message or a unit (a batch,
// or one message of a batched or exactly-once agent) on this thread. Elsewhere (timers,
// services) sends go straight to the broker, each acknowledged before it returns.
class UnitSends {
 public:
  virtual ~UnitSends() = default;
  virtual Status send(const ProducedRecord& record) = 0;
  // Waits until the sends made so far are acknowledged (ABI 1.3 await_sends). A unit's sends are
  // delivered with the unit, so there is nothing to wait for inside one.
  virtual Status await_acknowledged() { return ok_status(); }

  // The unit of the handler running on this thread, or null.
  static UnitSends* current();

  // Makes `sends` the current unit of this thread for the scope's life.
  class Scope {
   public:
    explicit Scope(UnitSends& sends);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    UnitSends* previous_;
  };
};

// Why a unit did not commit, and what may be done about it.
enum class UnitFailure {
  kNone,
  kRecord,     // a record of the unit was refused for its own sake: the messages' fault
  kRetriable,  // the broker did not take it (outage, aborted transaction): the unit may run again
  kLost,       // the partition is no longer this worker's (fenced, group moved on): drop the unit
};

struct [[nodiscard]] UnitResult {
  UnitFailure failure = UnitFailure::kNone;
  std::string message;
  // exactly_once: the transaction is known not to have committed (the broker refused it and the
  // abort went through), so no new producer is needed to settle its outcome.
  bool aborted = false;
  bool ok() const { return failure == UnitFailure::kNone; }
};

// One unit of work's sends and consumed position, committed together or not at all (as far as
// its guarantee goes). Used from one thread at a time.
class DeliveryUnit : public UnitSends {
 public:
  // Starts a unit; its sends are held until commit.
  virtual UnitResult open() = 0;
  // Delivers the unit's sends and, with them, moves the partition's position to `next_offset`.
  virtual UnitResult commit(const TopicPartition& partition, std::int64_t next_offset) = 0;
  // Drops the unit: nothing it holds is delivered (what was delivered stays delivered).
  virtual void discard() = 0;
};

// at_least_once: the sends are produced together at commit and all acknowledged before the unit
// counts as done; the position is then committed by the agent runner with its other offsets.
// A crash after the sends and before that commit repeats the unit.
class AcknowledgedUnit final : public DeliveryUnit {
 public:
  explicit AcknowledgedUnit(Transport& transport) : transport_(transport) {}
  Status send(const ProducedRecord& record) override;
  UnitResult open() override;
  UnitResult commit(const TopicPartition& partition, std::int64_t next_offset) override;
  void discard() override { records_.clear(); }

 private:
  Transport& transport_;
  std::vector<ProducedRecord> records_;
};

// exactly_once: the sends and the positions are one transaction of the lane's producer, which
// may span several units and partitions (KIP-447): each unit is staged into the open transaction,
// and the transaction commits every staged position at once. The positions are committed as of
// `member`'s generation: once the group has moved on, the broker refuses them and the
// transaction aborts, so a worker that lost its partitions cannot commit work their next owner
// redoes. commit() stages its position and commits at once (a unit of its own).
class TransactionalUnit final : public DeliveryUnit {
 public:
  TransactionalUnit(std::unique_ptr<TransactionalProducer> producer, GroupMember member);
  Status send(const ProducedRecord& record) override;
  // Begins a transaction, or joins the one open.
  UnitResult open() override;
  UnitResult commit(const TopicPartition& partition, std::int64_t next_offset) override;
  void discard() override;
  // Adds a unit's position to the open transaction, once its sends all joined it.
  UnitResult stage(const TopicPartition& partition, std::int64_t first_offset, std::int64_t next_offset);
  // Commits the open transaction with every staged position.
  UnitResult commit_staged();
  // What the open (or just failed) transaction held, per partition: its first and next offset.
  // Forgotten here; a transaction that did not commit must be read again from them.
  std::map<TopicPartition, std::pair<std::int64_t, std::int64_t>> forget_staged() { return std::exchange(staged_, {}); }
  bool has_staged() const { return !staged_.empty(); }
  // The group's new generation (an incremental rebalance): later positions are committed as of it.
  void rejoin(GroupMember member) { member_ = std::move(member); }
  // The producer failed in a way only a new one (same transactional id) repairs.
  bool broken() const { return broken_ || fenced_; }

 private:
  UnitResult fail(const TxnStatus& status);

  std::unique_ptr<TransactionalProducer> producer_;
  GroupMember member_;
  bool open_ = false;
  bool fenced_ = false;     // by a newer producer: nothing more may be committed
  bool broken_ = false;     // a fatal error, or an abort that failed
  TxnStatus send_failure_;  // the first send that did not join the transaction
  std::map<TopicPartition, std::pair<std::int64_t, std::int64_t>> staged_;
};

}  // namespace faust
