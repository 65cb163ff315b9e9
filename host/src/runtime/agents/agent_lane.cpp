#include "runtime/agents/agent_lane.h"

#include <algorithm>

#include <spdlog/spdlog.h>

namespace faust {
namespace {

std::string where(const ConsumedMessage& message) {
  return fmt::format("{}[{}]@{}", message.source.topic, message.source.partition, message.offset);
}

std::size_t size_of(const ConsumedMessage& message) {
  return message.value.size() + (message.key ? message.key->size() : 0);
}

}  // namespace

AgentLane::AgentLane(AgentState& agent, std::size_t index, std::string instance, MessageHandler handler,
                     BatchHandler batch_handler, Transport& transport, RuntimeEvents& events,
                     InFlightMessages::Limits limits, std::function<void(const TopicPartition&)> rewind)
    : agent_(agent),
      index_(index),
      instance_(std::move(instance)),
      rewind_(std::move(rewind)),
      handler_(std::move(handler)),
      batch_handler_(std::move(batch_handler)),
      transport_(transport),
      events_(events),
      in_flight_(limits),
      reports_(std::make_shared<ReportRelay>(this)) {}

AgentLane::~AgentLane() {
  stop();
  // Reports of sends still in flight find no lane from here on.
  std::lock_guard lock(reports_->mutex);
  reports_->lane = nullptr;
}

void AgentLane::request_stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
}

void AgentLane::stop() {
  request_stop();
  {
    std::lock_guard lock(mutex_);
    if (busy_ && thread_.joinable()) {
      spdlog::info("waiting for agent '{}' to finish {}[{}]@{} (a second signal exits at once)", agent_.binding.name,
                   busy_->partition.topic, busy_->partition.partition, busy_->offset);
    }
  }
  if (thread_.joinable()) thread_.join();
}

void AgentLane::push(std::vector<ConsumedMessage>&& messages) {
  {
    std::lock_guard lock(mutex_);
    std::deque<ConsumedMessage>* queue = nullptr;
    const TopicPartition* queue_of = nullptr;
    for (auto& message : messages) {
      if (!rewinding_.empty() && rewinding_.count(message.source) > 0) continue;  // fetched before the rewind
      if (queue_of == nullptr || *queue_of != message.source) {  // a fetch comes in runs of one partition
        auto entry = queues_.try_emplace(message.source).first;
        queue_of = &entry->first;
        queue = &entry->second;
      }
      queued_bytes_ += size_of(message);
      ++queued_messages_;
      queue->push_back(std::move(message));
    }
  }
  wake_.notify_one();
}

void AgentLane::rewound(const TopicPartition& partition) {
  std::lock_guard lock(mutex_);
  rewinding_.erase(partition);
}

void AgentLane::assigned(const std::vector<TopicPartition>& partitions, const GroupMember& member) {
  {
    std::lock_guard lock(mutex_);
    for (const auto& partition : partitions) {
      closing_.erase(partition);
      opening_.insert_or_assign(partition, member);
    }
    generation_ = member;
  }
  wake_.notify_one();
}

AgentLane::Backlog AgentLane::queued() const {
  std::lock_guard lock(mutex_);
  return Backlog{queued_messages_, queued_bytes_};
}

std::vector<TopicPartition> AgentLane::backlogged() const {
  std::lock_guard lock(mutex_);
  std::vector<TopicPartition> partitions;
  partitions.reserve(queues_.size());
  for (const auto& [partition, queue] : queues_) partitions.push_back(partition);
  return partitions;
}

void AgentLane::forget_queued(const std::set<TopicPartition>& partitions) {
  for (const auto& partition : partitions) {
    const auto queue = queues_.find(partition);
    if (queue == queues_.end()) continue;
    for (const auto& message : queue->second) queued_bytes_ -= size_of(message);
    queued_messages_ -= queue->second.size();
    queues_.erase(queue);
  }
}

bool AgentLane::stopping() const {
  std::lock_guard lock(mutex_);
  return stopping_;
}

std::map<TopicPartition, std::int64_t> AgentLane::release(const std::set<TopicPartition>& revoked,
                                                          std::chrono::milliseconds wait,
                                                          const std::optional<GroupMember>& member) {
  std::unique_lock lock(mutex_);
  if (agent_.exactly_once() && member) generation_ = member;
  forget_queued(revoked);
  for (const auto& partition : revoked) {
    if (agent_.exactly_once() && opening_.erase(partition) == 0) closing_.insert(partition);
  }
  // A batch still gathering messages of a revoked partition is given up at once.
  if (busy_ && revoked.count(busy_->partition) > 0) busy_->revoked = true;
  wake_.notify_all();
  const auto deadline = Clock::now() + wait;
  if (!idle_.wait_until(lock, deadline, [&] { return !busy_ || revoked.count(busy_->partition) == 0; })) {
    spdlog::warn("agent '{}' is still handling {}[{}]@{} after {} ms; its partition is given up without it "
                 "(the next owner handles that message again)",
                 agent_.binding.name, busy_->partition.topic, busy_->partition.partition, busy_->offset, wait.count());
    busy_->abandoned = true;
  }
  // Sends in flight are given the rest of the time to be acknowledged, so their messages can be
  // committed before the partition goes; the rest is handled again by its next owner.
  idle_.wait_until(lock, deadline, [&] { return !in_flight_.waiting(revoked); });
  if (agent_.exactly_once() && transaction_pending_) {
    // The lane commits its open transaction (with the unit in hand) before its next one.
    const std::uint64_t target = flushes_ + 1;
    flush_requested_ = true;
    wake_.notify_all();
    if (!idle_.wait_until(lock, deadline, [&] { return flushes_ >= target || !transaction_pending_; })) {
      spdlog::warn("agent '{}': the open transaction did not commit within {} ms of the revocation; its partitions' "
                   "next owners wait for its outcome",
                   agent_.binding.name, wait.count());
    }
  }
  in_flight_.drop(revoked);
  std::erase_if(refused_, [&](const InFlightMessages::EntryPtr& entry) { return entry->dropped; });
  std::map<TopicPartition, std::int64_t> released;
  last_done_ = done_.end();
  for (auto it = done_.begin(); it != done_.end();) {
    if (revoked.count(it->first) > 0) {
      released.insert(*it);
      it = done_.erase(it);
    } else {
      ++it;
    }
  }
  return released;
}

void AgentLane::await_sends(Clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  idle_.wait_until(lock, deadline, [&] { return in_flight_.sends() == 0; });
}

std::map<TopicPartition, std::int64_t> AgentLane::done() const {
  std::lock_guard lock(mutex_);
  return done_;
}

std::optional<AgentLane::BusyReport> AgentLane::busy_for() const {
  std::lock_guard lock(mutex_);
  if (!busy_) return std::nullopt;
  return BusyReport{fmt::format("{}[{}]@{}", busy_->partition.topic, busy_->partition.partition, busy_->offset),
                    Clock::now() - busy_->since, serial_};
}

void AgentLane::run() {
  Outcome outcome = Outcome::kDone;
  std::vector<ConsumedMessage> batch;
  while (true) {
    std::map<TopicPartition, GroupMember> opening;
    std::set<TopicPartition> closing;
    std::optional<GroupMember> generation;
    {
      std::unique_lock lock(mutex_);
      if (busy_) {
        // Pipelined messages move their partition's position as their sends are acknowledged.
        if (outcome == Outcome::kDone && !busy_->abandoned && agent_.uses_units() && !agent_.exactly_once()) {
          record_done(busy_->partition, busy_->next_offset);
        }
        busy_.reset();
        idle_.notify_all();
      }
      if (outcome == Outcome::kStop) {  // nothing after it may be committed
        lock.unlock();
        finish_transaction(false);
        return;
      }
      const auto ready = [&] {
        return stopping_ || flush_requested_ || !refused_.empty() || (queued_messages_ > 0 && !in_flight_.full()) ||
               !opening_.empty() || !closing_.empty() || generation_;
      };
      if (transaction_pending_) {
        wake_.wait_until(lock, transaction_due_, ready);
      } else {
        wake_.wait(lock, ready);
      }
      if (stopping_) {
        lock.unlock();
        finish_transaction(true);
        return;
      }
      if (flush_requested_ || (transaction_pending_ && Clock::now() >= transaction_due_)) {
        flush_requested_ = false;
        // A revocation's flush commits as of the generation the group is in now: the broker
        // refuses offsets of the one it left.
        generation.swap(generation_);
        lock.unlock();
        if (generation) follow_assignment({}, {}, generation);
        outcome = flush();
        continue;
      }
      if (!refused_.empty()) {
        InFlightMessages::EntryPtr entry = std::move(refused_.front());
        refused_.pop_front();
        const ConsumedMessage& message = entry->message;
        busy_ = Busy{message.source, message.offset, message.offset + 1, Clock::now(), false, false};
        ++serial_;
        lock.unlock();
        outcome = recover(std::move(entry));
        continue;
      }
      opening.swap(opening_);
      closing.swap(closing_);
      generation.swap(generation_);
      if (opening.empty() && closing.empty() && !generation && !take_batch(lock, batch)) {
        outcome = Outcome::kLeftUncommitted;
        continue;
      }
    }
    if (!opening.empty() || !closing.empty() || generation) {
      follow_assignment(opening, closing, generation);
      outcome = Outcome::kDone;
      continue;
    }
    outcome = agent_.uses_units() ? handle_in_units(batch) : handle_pipelined(batch.front());
  }
}

bool AgentLane::take_batch(std::unique_lock<std::mutex>& lock, std::vector<ConsumedMessage>& batch) {
  batch.clear();
  const auto limit = static_cast<std::size_t>(agent_.binding.batch.max_messages);
  const auto started = Clock::now();
  if (queued_messages_ == 0) return false;
  // The partition whose turn it is, while its turn lasts and it has messages; else the next one.
  auto queue = turn_left_ > 0 ? queues_.find(turn_) : queues_.end();
  if (queue == queues_.end()) {
    queue = queues_.upper_bound(turn_);
    if (queue == queues_.end()) queue = queues_.begin();
    turn_ = queue->first;
    turn_left_ = std::max(limit, kMessagesPerTurn);
  }
  const TopicPartition partition = turn_;
  busy_ = Busy{partition, queue->second.front().offset, 0, started, false, false};
  ++serial_;
  // Looked up each time: the queue may have gone (and come back) while the lock was released.
  const auto take_more = [&] {
    const auto found = queues_.find(partition);
    if (found == queues_.end()) return;
    auto& messages = found->second;
    while (!messages.empty() && batch.size() < limit) {
      queued_bytes_ -= size_of(messages.front());
      --queued_messages_;
      batch.push_back(std::move(messages.front()));
      messages.pop_front();
    }
    if (messages.empty()) queues_.erase(found);
  };
  take_more();
  const auto deadline = started + agent_.binding.batch.max_wait;
  while (batch.size() < limit && Clock::now() < deadline) {
    // More of the same partition may come; another partition's message ends the batch.
    if (queued_messages_ > 0) break;
    wake_.wait_until(lock, deadline, [&] { return stopping_ || busy_->revoked || queued_messages_ > 0; });
    if (stopping_ || busy_->revoked) return false;
    take_more();
  }
  turn_left_ -= std::min(turn_left_, batch.size());
  busy_->next_offset = batch.back().offset + 1;
  return true;
}

void AgentLane::record_done(const TopicPartition& partition, std::int64_t next_offset) {
  if (last_done_ == done_.end() || last_done_->first != partition) {
    last_done_ = done_.try_emplace(partition, next_offset).first;
  }
  last_done_->second = next_offset;
}

void AgentLane::record_progress(const ConsumedMessage& message) {
  if (agent_.exactly_once()) return;
  std::lock_guard lock(mutex_);
  if (busy_ && !busy_->abandoned) record_done(message.source, message.offset + 1);
}

void AgentLane::note_error(const Status& result) {
  agent_.errors.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(agent_.last_error_mutex);
  agent_.last_error = result.error().message;
}

AgentLane::AfterFailure AgentLane::after_failure(const Status& result, const ConsumedMessage& message, int attempt) {
  const AgentBinding& agent = agent_.binding;
  note_error(result);
  if (stopping()) {
    // It may have failed only because the worker is stopping (a send given up): not the
    // message's fault, so it is not committed and its partition's next owner handles it.
    spdlog::warn("{} at {}; left uncommitted (the worker is stopping)", result.error().message, where(message));
    return AfterFailure::kStop;
  }
  switch (agent.on_error) {
    case OnError::kSkip:
      spdlog::error("{} at {}; skipped (on_error: skip)", result.error().message, where(message));
      return AfterFailure::kCommit;
    case OnError::kStop:
      spdlog::error("{} at {}; stopping the worker (on_error: stop)", result.error().message, where(message));
      events_.fatal(Error{ExitCode::kHandlerStopped, "agent '" + agent.name + "' stopped the worker at " +
                                                        where(message) + ": " + result.error().message});
      return AfterFailure::kStop;
    case OnError::kRetry:
    case OnError::kDeadLetter:
      if (attempt >= agent.max_retries) {
        if (agent.on_error == OnError::kDeadLetter) return AfterFailure::kDeadLetter;
        spdlog::error("{} at {}; skipped after {} retries (on_error: retry)", result.error().message, where(message),
                      agent.max_retries);
        return AfterFailure::kCommit;
      }
      spdlog::warn("{} at {}; retry {} of {}", result.error().message, where(message), attempt + 1, agent.max_retries);
      return backoff(attempt) ? AfterFailure::kRetry : AfterFailure::kStop;
  }
  return AfterFailure::kStop;
}

bool AgentLane::backoff(int attempt) {
  const auto wait =
      std::min(std::chrono::milliseconds(100) * (1 << std::min(attempt, 6)), std::chrono::milliseconds(5000));
  std::unique_lock lock(mutex_);
  return !wake_.wait_for(lock, wait, [&] { return stopping_; });
}

Status AgentLane::call_handler(const ConsumedMessage& message) {
  const auto started = Clock::now();
  Status result = handler_(message);
  events_.agent_handled(agent_.binding.name, Clock::now() - started, result);
  return result;
}

class AgentLane::LaneSend final : public Transport::PipelinedSend {
 public:
  LaneSend(std::shared_ptr<ReportRelay> relay, InFlightMessages::EntryPtr entry, std::size_t bytes,
           RuntimeEvents& events)
      : relay_(std::move(relay)), entry_(std::move(entry)), bytes_(bytes), events_(events) {}

  void delivered(const Status& delivered) override {
    std::lock_guard lock(relay_->mutex);
    if (relay_->lane != nullptr) relay_->lane->acknowledged(std::move(entry_), bytes_, delivered);
  }
  // The lane's sends share its relay: their acknowledgements take the lane's lock once a round.
  const void* group() const override { return relay_.get(); }
  void acknowledged_together(std::span<const std::unique_ptr<Transport::PipelinedSend>> sends) override {
    std::lock_guard lock(relay_->mutex);
    if (relay_->lane != nullptr) relay_->lane->acknowledged_together(sends);
  }
  InFlightMessages::EntryPtr take_entry() { return std::move(entry_); }
  std::size_t bytes() const { return bytes_; }
  // The worker's events outlive its transport: no relay needed.
  void requeued(const std::string& topic) override { events_.send_requeued(topic); }

 private:
  const std::shared_ptr<ReportRelay> relay_;
  InFlightMessages::EntryPtr entry_;  // handed on with the report
  const std::size_t bytes_;
  RuntimeEvents& events_;
};

Status AgentLane::send_pipelined(const ConsumedMessage& message, InFlightMessages::EntryPtr& entry,
                                 const ProducedRecord& record) {
  const std::size_t bytes = record.value.size() + (record.key ? record.key->size() : 0);
  {
    std::unique_lock lock(mutex_);
    wake_.wait(lock, [&] { return stopping_ || !in_flight_.sends_full(); });
    if (stopping_) return Error{ExitCode::kBrokerUnreachable, "send: not queued (the worker is stopping)"};
    if (!entry) entry = in_flight_.track(message);
    in_flight_.sent(*entry, bytes);
  }
  Status queued = transport_.send_async(record, std::make_unique<LaneSend>(reports_, entry, bytes, events_));
  if (!queued) {
    std::lock_guard lock(mutex_);
    in_flight_.not_sent(*entry, bytes);
  }
  return queued;
}

void AgentLane::acknowledged(InFlightMessages::EntryPtr entry, std::size_t bytes, const Status& delivered) {
  {
    std::lock_guard lock(mutex_);
    // A refusal keeps the entry for the lane to deal with; otherwise the report's reference goes
    // to in_flight_, which may reuse the entry.
    InFlightMessages::EntryPtr refusable = delivered ? nullptr : entry;
    const auto result = in_flight_.acknowledged(std::move(entry), bytes, delivered);
    if (result.position) record_done(*result.partition, *result.position);
    if (result.refused) refused_.push_back(std::move(refusable));
  }
  wake_.notify_all();
  idle_.notify_all();
}

void AgentLane::acknowledged_together(std::span<const std::unique_ptr<Transport::PipelinedSend>> sends) {
  const Status delivered = ok_status();
  {
    std::lock_guard lock(mutex_);
    for (const auto& send : sends) {
      auto& lane_send = static_cast<LaneSend&>(*send);  // a group is one lane's sends
      const std::size_t bytes = lane_send.bytes();
      const auto result = in_flight_.acknowledged(lane_send.take_entry(), bytes, delivered);
      if (result.position) record_done(*result.partition, *result.position);
    }
  }
  wake_.notify_all();
  idle_.notify_all();
}

Status AgentLane::await_acknowledged(const InFlightMessages::EntryPtr& entry) {
  if (!entry) return ok_status();
  std::unique_lock lock(mutex_);
  wake_.wait(lock, [&] { return stopping_ || entry->sends == 0; });
  if (entry->refused) {
    Error refused{ExitCode::kFailure, *std::exchange(entry->refused, std::nullopt)};
    return refused;
  }
  if (entry->sends > 0) return Error{ExitCode::kBrokerUnreachable, "sends not acknowledged (the worker is stopping)"};
  return ok_status();
}

void AgentLane::settle(ConsumedMessage& message, const InFlightMessages::EntryPtr& entry) {
  std::lock_guard lock(mutex_);
  const auto position = entry ? in_flight_.release(*entry) : in_flight_.finished_untracked(message);
  if (position) record_done(message.source, *position);
  if (entry && &entry->message != &message) entry->message = std::move(message);
}

AgentLane::Outcome AgentLane::handle_pipelined(ConsumedMessage& message) {
  InFlightMessages::EntryPtr entry;
  return run_pipelined(message, entry);
}

AgentLane::Outcome AgentLane::run_pipelined(ConsumedMessage& message, InFlightMessages::EntryPtr& entry) {
  int failures = entry ? entry->attempts : 0;
  while (true) {
    Status result = ok_status();
    {
      PipelinedSends sends(*this, message, entry);
      UnitSends::Scope scope(sends);
      result = call_handler(message);
    }
    if (result) {
      agent_.handled.fetch_add(1, std::memory_order_relaxed);
      settle(message, entry);
      return Outcome::kDone;
    }
    const int attempt = failures++;
    if (entry) entry->attempts = failures;
    const std::string& error = result.error().message;
    if (const auto outcome = finish_failed(after_failure(result, message, attempt), message, entry, error, attempt)) {
      return *outcome;
    }
    if (entry) {
      // A new attempt sends again: its earlier sends' refusals are superseded.
      std::lock_guard lock(mutex_);
      entry->refused.reset();
    }
  }
}

std::optional<AgentLane::Outcome> AgentLane::finish_failed(AfterFailure action, ConsumedMessage& message,
                                                           const InFlightMessages::EntryPtr& entry,
                                                           const std::string& error, int attempt) {
  switch (action) {
    case AfterFailure::kCommit:
      settle(message, entry);
      return Outcome::kDone;
    case AfterFailure::kStop:
      return Outcome::kStop;
    case AfterFailure::kDeadLetter:
      if (!dead_letter(message, error, attempt + 1)) return Outcome::kStop;
      settle(message, entry);
      return Outcome::kDone;
    case AfterFailure::kRetry:
      break;
  }
  return std::nullopt;
}

AgentLane::Outcome AgentLane::recover(InFlightMessages::EntryPtr entry) {
  ConsumedMessage& message = entry->message;
  std::string error;
  {
    std::lock_guard lock(mutex_);
    if (entry->dropped || !entry->refused) return Outcome::kDone;  // dealt with meanwhile
    error = *std::exchange(entry->refused, std::nullopt);
    in_flight_.hold(*entry);
  }
  agent_.handled.fetch_sub(1, std::memory_order_relaxed);  // counted when its handler returned
  const int attempt = entry->attempts++;
  const Status failure = Error{ExitCode::kFailure, error};
  if (const auto outcome = finish_failed(after_failure(failure, message, attempt), message, entry, error, attempt)) {
    return *outcome;
  }
  return run_pipelined(message, entry);
}

Status AgentLane::run_handlers(std::span<const ConsumedMessage> messages) {
  if (messages.empty()) return ok_status();  // a skipped message's unit: only its position moves
  if (!batch_handler_ || messages.size() == 1) {
    for (const auto& message : messages) {
      if (Status result = call_handler(message); !result) return result;
    }
    return ok_status();
  }
  const auto started = Clock::now();
  Status result = batch_handler_(messages);
  const auto each = (Clock::now() - started) / static_cast<std::int64_t>(messages.size());
  for (std::size_t i = 0; i < messages.size(); ++i) events_.agent_handled(agent_.binding.name, each, result);
  return result;
}

AgentLane::UnitRun AgentLane::run_unit(DeliveryUnit& unit, std::span<const ConsumedMessage> messages,
                                       const ConsumedMessage& last, const ProducedRecord* dead_lettered) {
  UnitRun run;
  run.unit = unit.open();
  if (!run.unit.ok()) return run;
  {
    UnitSends::Scope scope(unit);
    run.handler = dead_lettered != nullptr ? unit.send(*dead_lettered) : run_handlers(messages);
  }
  if (!run.handler) {
    unit.discard();
    return run;
  }
  run.unit = unit.commit(last.source, last.offset + 1);
  return run;
}

std::optional<AgentLane::Outcome> AgentLane::retry_unit(const UnitResult& result, const ConsumedMessage& first,
                                                      int attempt) {
  agent_.units_retried.fetch_add(1, std::memory_order_relaxed);
  spdlog::warn("agent '{}': the unit from {} was not committed ({}); trying again", agent_.binding.name,
               where(first), result.message);
  if (!backoff(attempt)) return Outcome::kStop;
  std::optional<GroupMember> generation;
  {
    std::lock_guard lock(mutex_);
    if (busy_ && (busy_->revoked || busy_->abandoned)) return Outcome::kLeftUncommitted;
    generation.swap(generation_);
  }
  if (generation) follow_assignment({}, {}, generation);
  return std::nullopt;
}

AgentLane::Outcome AgentLane::handle_in_units(std::vector<ConsumedMessage>& batch) {
  if (agent_.exactly_once()) return handle_in_transaction(batch);
  std::string failure;
  for (int attempt = 0;; ++attempt) {
    DeliveryUnit* unit = unit_for(batch.front().source);
    if (unit == nullptr) return Outcome::kLeftUncommitted;
    const UnitRun run = run_unit(*unit, batch, batch.back());
    if (!run.handler || run.unit.failure == UnitFailure::kRecord) {
      failure = run.handler ? run.unit.message : run.handler.error().message;
      break;
    }
    if (run.unit.ok()) {
      agent_.handled.fetch_add(batch.size(), std::memory_order_relaxed);
      agent_.batches.fetch_add(1, std::memory_order_relaxed);
      return Outcome::kDone;
    }
    if (const auto outcome = retry_unit(run.unit, batch.front(), attempt)) return *outcome;
  }
  if (batch.size() > 1) {
    spdlog::warn("agent '{}': the batch {}..{} failed ({}); handling its {} messages one by one",
                 agent_.binding.name, where(batch.front()), batch.back().offset, failure, batch.size());
  }
  for (const auto& message : batch) {
    if (const Outcome outcome = handle_one_in_unit(message); outcome != Outcome::kDone) return outcome;
    record_progress(message);
  }
  return Outcome::kDone;
}

AgentLane::Outcome AgentLane::handle_one_in_unit(const ConsumedMessage& message) {
  const std::span<const ConsumedMessage> alone(&message, 1);
  bool skip = false;
  std::optional<ProducedRecord> dead_lettered;
  std::string error;
  for (int attempt = 0, unit_attempt = 0;;) {
    DeliveryUnit* unit = unit_for(message.source);
    if (unit == nullptr) return Outcome::kLeftUncommitted;
    const UnitRun run = run_unit(*unit, skip || dead_lettered ? alone.first(0) : alone, message,
                                 dead_lettered ? &*dead_lettered : nullptr);
    if (run.unit.ok() && run.handler) {
      if (dead_lettered) {
        note_dead_lettered(message, error, attempt);
      } else if (!skip) {
        agent_.handled.fetch_add(1, std::memory_order_relaxed);
      }
      return Outcome::kDone;
    }
    if (agent_.exactly_once() && (run.unit.failure == UnitFailure::kLost || run.unit.failure == UnitFailure::kRetriable)) {
      return read_again({message.source}, run.unit, needs_new_producer(run.unit));
    }
    if (run.unit.failure == UnitFailure::kRetriable) {
      if (const auto outcome = retry_unit(run.unit, message, unit_attempt++)) return *outcome;
      continue;
    }
    const Status failure = run.handler ? Status(Error{ExitCode::kFailure, run.unit.message}) : run.handler;
    if (dead_lettered) return dead_letter_refused(message, error, failure.error().message);
    switch (after_failure(failure, message, attempt++)) {
      case AfterFailure::kCommit:
        skip = true;
        break;
      case AfterFailure::kStop:
        return Outcome::kStop;
      case AfterFailure::kDeadLetter:
        error = failure.error().message;
        dead_lettered = dead_letter_record(
            message, agent_.binding.dead_letter.topic,
            {agent_.binding.name, agent_.binding.dead_letter.plugin, error, attempt});
        break;
      case AfterFailure::kRetry:
        break;
    }
  }
}

DeliveryUnit* AgentLane::unit_for(const TopicPartition& partition) {
  if (agent_.exactly_once()) return transaction_for(partition);
  if (!acknowledged_) acknowledged_ = std::make_unique<AcknowledgedUnit>(transport_);
  return acknowledged_.get();
}

TransactionalUnit* AgentLane::transaction_for(const TopicPartition& partition) {
  if (held_.count(partition) == 0) return nullptr;  // not ours (any more)
  if (transaction_ && !transaction_->broken()) return transaction_.get();
  transaction_.reset();
  const std::string id = agent_.binding.transactional_id(instance_, index_);
  while (true) {
    auto producer = transport_.start_transactional_producer(id, kProducerStartTimeout);
    if (producer) {
      transaction_ = std::make_unique<TransactionalUnit>(std::move(producer).value(), *member_);
      return transaction_.get();
    }
    spdlog::warn("agent '{}': {}; trying again", agent_.binding.name, producer.error().message);
    if (!backoff(0) || revoked_meanwhile(partition)) return nullptr;
  }
}

AgentLane::Outcome AgentLane::handle_in_transaction(std::vector<ConsumedMessage>& batch) {
  const TopicPartition partition = batch.front().source;
  if (const auto alone = alone_.find(partition); alone != alone_.end()) {
    if (batch.front().offset <= alone->second) {
      // Its own transactions, after the open one.
      if (flush() != Outcome::kDone) {
        read_again({partition}, {UnitFailure::kRetriable, "the transaction before it did not commit"}, false);
        return Outcome::kLeftUncommitted;
      }
      const std::int64_t last_alone = alone->second;
      for (const auto& message : batch) {
        if (const Outcome outcome = handle_one_in_unit(message); outcome != Outcome::kDone) return outcome;
      }
      if (batch.back().offset >= last_alone) alone_.erase(partition);
      return Outcome::kDone;
    }
    alone_.erase(alone);
  }
  TransactionalUnit* unit = transaction_for(partition);
  if (unit == nullptr) return Outcome::kLeftUncommitted;
  UnitRun run;
  run.unit = unit->open();
  if (run.unit.ok()) {
    {
      UnitSends::Scope scope(*unit);
      run.handler = run_handlers(batch);
    }
    if (!run.handler) {
      unit->discard();
    } else {
      run.unit = unit->stage(partition, batch.front().offset, batch.back().offset + 1);
    }
  }
  if (run.handler && run.unit.ok()) {
    staged_messages_ += batch.size();
    ++staged_batches_;
    std::lock_guard lock(mutex_);
    if (!transaction_pending_) {
      transaction_pending_ = true;
      transaction_due_ = Clock::now() + agent_.binding.commit_interval;
    }
    if (Clock::now() < transaction_due_) return Outcome::kDone;
  } else {
    const auto staged = unit->forget_staged();
    std::set<TopicPartition> partitions{partition};
    for (const auto& [held, range] : staged) partitions.insert(held);
    staged_messages_ = staged_batches_ = 0;
    transaction_closed();
    const bool record = !run.handler || run.unit.failure == UnitFailure::kRecord;
    if (!record) return read_again(partitions, run.unit, needs_new_producer(run.unit));
    const std::string failure = run.handler ? run.unit.message : run.handler.error().message;
    if (batch.size() > 1) {
      spdlog::warn("agent '{}': the batch {}..{} failed ({}); handling its {} messages one by one",
                   agent_.binding.name, where(batch.front()), batch.back().offset, failure, batch.size());
    }
    if (!staged.empty()) {
      // The transaction held other units: all of it is read again, this batch then alone.
      alone_[partition] = batch.back().offset;
      return read_again(partitions, {UnitFailure::kRecord, failure}, unit->broken());
    }
    for (const auto& message : batch) {
      if (const Outcome outcome = handle_one_in_unit(message); outcome != Outcome::kDone) return outcome;
    }
    return Outcome::kDone;
  }
  return flush();
}

AgentLane::Outcome AgentLane::flush() {
  Outcome outcome = Outcome::kDone;
  if (transaction_ && transaction_->has_staged()) {
    const UnitResult committed = transaction_->commit_staged();
    if (committed.ok()) {
      agent_.handled.fetch_add(staged_messages_, std::memory_order_relaxed);
      agent_.batches.fetch_add(staged_batches_, std::memory_order_relaxed);
    } else {
      std::set<TopicPartition> partitions;
      for (const auto& [partition, range] : transaction_->forget_staged()) {
        partitions.insert(partition);
        // A record refused at the commit may be any unit's: each message of it goes alone.
        if (committed.failure == UnitFailure::kRecord) alone_[partition] = range.second - 1;
      }
      outcome = read_again(partitions, committed, needs_new_producer(committed));
    }
  }
  staged_messages_ = staged_batches_ = 0;
  transaction_closed();
  return outcome;
}

void AgentLane::transaction_closed() {
  {
    std::lock_guard lock(mutex_);
    transaction_pending_ = false;
    ++flushes_;
  }
  idle_.notify_all();
}

void AgentLane::finish_transaction(bool commit) {
  if (!transaction_) return;
  if (commit) {
    (void)flush();
  } else {
    transaction_->discard();
    (void)transaction_->forget_staged();
    transaction_closed();
  }
  transaction_.reset();
}

bool AgentLane::revoked_meanwhile(const TopicPartition& partition) const {
  std::lock_guard lock(mutex_);
  return closing_.count(partition) > 0;
}

void AgentLane::follow_assignment(const std::map<TopicPartition, GroupMember>& opening,
                                  const std::set<TopicPartition>& closing,
                                  const std::optional<GroupMember>& generation) {
  // What the open transaction holds of the partitions that go commits (or fails) as of the
  // generation it was made in.
  if (!closing.empty() && transaction_ && transaction_->has_staged()) (void)flush();
  for (const auto& partition : closing) held_.erase(partition);
  if (generation) member_ = *generation;
  for (const auto& [partition, member] : opening) {
    held_.insert(partition);
    member_ = member;
  }
  if (transaction_ && member_) transaction_->rejoin(*member_);
  // The lane's producer is started before the first message of its first partition.
  if (!opening.empty()) transaction_for(opening.begin()->first);
}

bool AgentLane::needs_new_producer(const UnitResult& result) const {
  if (transaction_ && transaction_->broken()) return true;
  return result.failure != UnitFailure::kRecord && !result.aborted;
}

AgentLane::Outcome AgentLane::read_again(const std::set<TopicPartition>& partitions, const UnitResult& result,
                                         bool replace) {
  agent_.units_retried.fetch_add(1, std::memory_order_relaxed);
  std::string names;
  for (const auto& partition : partitions) {
    names += fmt::format("{}{}[{}]", names.empty() ? "" : ", ", partition.topic, partition.partition);
  }
  spdlog::warn("agent '{}': a transaction of {} did not commit ({}); reading again from the committed positions",
               agent_.binding.name, names, result.message);
  {
    std::lock_guard lock(mutex_);
    for (const auto& partition : partitions) rewinding_.insert(partition);
    forget_queued(partitions);
  }
  if (replace) {
    // A new producer with the lane's id settles the transaction before its positions are read.
    // Without one (the partitions went away meanwhile) the positions are still read again: the
    // runner waits until the worker holds them again, and whoever holds the id next settles it.
    transaction_.reset();
    const auto held = std::find_if(partitions.begin(), partitions.end(),
                                   [&](const TopicPartition& partition) { return held_.count(partition) > 0; });
    if (held != partitions.end()) (void)transaction_for(*held);
  }
  for (const auto& partition : partitions) rewind_(partition);
  return Outcome::kLeftUncommitted;
}

bool AgentLane::dead_letter(const ConsumedMessage& message, const std::string& error, int attempts) {
  const AgentBinding& agent = agent_.binding;
  const DeadLetterSink& sink = agent.dead_letter;
  const ProducedRecord record =
      dead_letter_record(message, sink.topic, {agent.name, sink.plugin, error, attempts});
  const Status written =
      sink.write ? sink.write(record) : Status(Error{ExitCode::kFailure, "no dead-letter writer"});
  if (written) {
    note_dead_lettered(message, error, attempts);
    return true;
  }
  if (stopping()) {
    spdlog::warn("{} at {}; not written to dead-letter topic {}: {}; left uncommitted (the worker is stopping)",
                 error, where(message), sink.topic, written.error().message);
    return false;
  }
  dead_letter_refused(message, error, written.error().message);
  return false;
}

void AgentLane::note_dead_lettered(const ConsumedMessage& message, const std::string& error, int attempts) {
  agent_.dead_lettered.fetch_add(1, std::memory_order_relaxed);
  spdlog::error("{} at {}; written to dead-letter topic {} after {} attempt(s) (on_error: dead_letter)", error,
                where(message), agent_.binding.dead_letter.topic, attempts);
}

AgentLane::Outcome AgentLane::dead_letter_refused(const ConsumedMessage& message, const std::string& error,
                                                  const std::string& why) {
  const std::string& topic = agent_.binding.dead_letter.topic;
  spdlog::error("{} at {}; stopping the worker: the dead-letter write failed: {}", error, where(message), why);
  events_.fatal(Error{ExitCode::kHandlerStopped, "agent '" + agent_.binding.name + "' stopped the worker at " +
                                                     where(message) + ": cannot write it to dead-letter topic " +
                                                     topic + ": " + why});
  return Outcome::kStop;
}

}  // namespace faust
