#include "runtime/agents/delivery_unit.h"

namespace faust {
namespace {

// A handler's sends reach the unit through the host's plugin boundary, which knows nothing of
// the runner; the handler runs on the lane's thread, so the thread names the unit.
thread_local UnitSends* current_unit = nullptr;

// A commit cut short by a timeout stays in progress until it is called again (librdkafka), and
// it says so as kRetriable: calling again finishes it.
constexpr int kCommitAttempts = 5;
constexpr auto kCommitTimeout = std::chrono::seconds(10);
constexpr auto kAbortTimeout = std::chrono::seconds(10);
// How long the sends of an at-least-once unit may wait for their acknowledgements; the same as
// a single send's.
constexpr auto kSendTimeout = std::chrono::seconds(30);

}  // namespace

UnitSends* UnitSends::current() { return current_unit; }

UnitSends::Scope::Scope(UnitSends& sends) : previous_(current_unit) { current_unit = &sends; }
UnitSends::Scope::~Scope() { current_unit = previous_; }

Status AcknowledgedUnit::send(const ProducedRecord& record) {
  records_.push_back(record);
  return ok_status();
}

UnitResult AcknowledgedUnit::open() {
  records_.clear();
  return {};
}

UnitResult AcknowledgedUnit::commit(const TopicPartition& /*partition*/, std::int64_t /*next_offset*/) {
  Status sent = transport_.send_all(records_, kSendTimeout);
  records_.clear();
  if (sent) return {};
  const bool outage = sent.error().code == ExitCode::kBrokerUnreachable;
  return {outage ? UnitFailure::kRetriable : UnitFailure::kRecord, sent.error().message};
}

TransactionalUnit::TransactionalUnit(std::unique_ptr<TransactionalProducer> producer, GroupMember member)
    : producer_(std::move(producer)), member_(std::move(member)) {}

UnitResult TransactionalUnit::fail(const TxnStatus& status) {
  if (status.failure == TxnFailure::kFenced) fenced_ = true;
  if (status.failure == TxnFailure::kFatal) broken_ = true;
  discard();
  if (fenced_) return {UnitFailure::kLost, status.message};
  // A refusal (a record, or offsets of a generation the group has left) aborts the transaction:
  // its outcome is known once the abort went through. A timeout leaves it unknown.
  const bool aborted = only_aborts(status.failure) && !broken_;
  // The same records would be refused again: the unit shrinks to the message that made them.
  if (status.failure == TxnFailure::kRefused) return {UnitFailure::kRecord, status.message, aborted};
  return {UnitFailure::kRetriable, status.message, aborted};
}

UnitResult TransactionalUnit::open() {
  if (fenced_) return {UnitFailure::kLost, "fenced by a newer producer of the lane"};
  if (open_) return {};
  send_failure_ = {};
  staged_.clear();
  TxnStatus begun = producer_->begin();
  if (!begun) return fail(begun);
  open_ = true;
  return {};
}

Status TransactionalUnit::send(const ProducedRecord& record) {
  if (!open_) return Error{ExitCode::kFailure, "send: no transaction is open"};
  TxnStatus sent = producer_->send(record);
  if (sent) return ok_status();
  if (send_failure_.ok()) send_failure_ = sent;
  return Error{ExitCode::kFailure, sent.message};
}

UnitResult TransactionalUnit::stage(const TopicPartition& partition, std::int64_t first_offset,
                                    std::int64_t next_offset) {
  // A send that did not join the transaction would make the commit deliver a partial unit; it
  // was this unit's (the earlier ones staged without one).
  if (!send_failure_.ok()) return fail(send_failure_);
  auto [it, inserted] = staged_.try_emplace(partition, first_offset, next_offset);
  it->second.second = next_offset;
  return {};
}

UnitResult TransactionalUnit::commit(const TopicPartition& partition, std::int64_t next_offset) {
  if (UnitResult staged = stage(partition, next_offset - 1, next_offset); !staged.ok()) return staged;
  return commit_staged();
}

UnitResult TransactionalUnit::commit_staged() {
  if (!open_) return {};
  if (!send_failure_.ok()) return fail(send_failure_);
  std::vector<std::pair<TopicPartition, std::int64_t>> offsets;
  offsets.reserve(staged_.size());
  for (const auto& [partition, range] : staged_) offsets.emplace_back(partition, range.second);
  if (!offsets.empty()) {
    if (TxnStatus sent = producer_->send_offsets(offsets, member_); !sent) return fail(sent);
  }
  TxnStatus committed;
  for (int attempt = 0; attempt < kCommitAttempts; ++attempt) {
    committed = producer_->commit(kCommitTimeout);
    if (committed.failure != TxnFailure::kRetriable) break;
  }
  if (!committed) return fail(committed);
  open_ = false;
  staged_.clear();
  return {};
}

void TransactionalUnit::discard() {
  if (!open_) return;
  open_ = false;
  // An abort that fails leaves the producer unusable for the next begin, which then fails and
  // reports why; the broker aborts the transaction at its timeout or at the next owner's start.
  TxnStatus aborted = producer_->abort(kAbortTimeout);
  if (aborted.failure == TxnFailure::kFenced) fenced_ = true;
  if (!aborted.ok() && !fenced_) broken_ = true;
}

}  // namespace faust
