#include "runtime/agents/agent_runner.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <optional>

#include <spdlog/spdlog.h>

#include "runtime/agents/delivery_unit.h"

namespace faust {

using Clock = std::chrono::steady_clock;

namespace {

std::string where(const ConsumedMessage& message) {
  return fmt::format("{}[{}]@{}", message.source.topic, message.source.partition, message.offset);
}

std::size_t size_of(const ConsumedMessage& message) {
  return message.value.size() + (message.key ? message.key->size() : 0);
}

}  // namespace

struct AgentRunner::AgentState {
  AgentBinding binding;
  std::vector<std::unique_ptr<Lane>> lanes;
  std::atomic<std::uint64_t> handled{0};
  std::atomic<std::uint64_t> errors{0};
  std::atomic<std::uint64_t> batches{0};
  std::atomic<std::uint64_t> units_retried{0};
  std::atomic<std::uint64_t> dead_lettered{0};
  mutable std::mutex last_error_mutex;
  std::string last_error;

  // Whether messages go through delivery units (batches, transactions) rather than one by one
  // with each send acknowledged on its own.
  bool uses_units() const {
    return binding.guarantee == ProcessingGuarantee::kExactlyOnce || binding.batch.max_messages > 1 ||
           !binding.batch_lanes.empty();
  }
  bool exactly_once() const { return binding.guarantee == ProcessingGuarantee::kExactlyOnce; }
};

// One handler thread with its queue. Also the record of which offsets it has finished.
class AgentRunner::Lane {
 public:
  Lane(AgentState& agent, MessageHandler handler, BatchHandler batch_handler, Transport& transport,
       RuntimeEvents& events)
      : agent_(agent),
        handler_(std::move(handler)),
        batch_handler_(std::move(batch_handler)),
        transport_(transport),
        events_(events) {}
  ~Lane() { stop(); }

  void start() { thread_ = std::thread([this] { run(); }); }

  // Takes no new message after the one in hand; queued ones stay uncommitted and will be
  // redelivered to the partition's next owner.
  void request_stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
  }

  void stop() {
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

  void push(std::vector<ConsumedMessage>&& messages) {
    {
      std::lock_guard lock(mutex_);
      for (auto& message : messages) {
        queued_bytes_ += size_of(message);
        queue_.push_back(std::move(message));
      }
    }
    wake_.notify_one();
  }

  // Exactly-once: the lane's producers follow its partitions. They are started on the lane's
  // thread before its next message, so a producer is never replaced while a unit uses it.
  void assigned(const std::vector<TopicPartition>& partitions, const GroupMember& member) {
    {
      std::lock_guard lock(mutex_);
      for (const auto& partition : partitions) {
        closing_.erase(partition);
        opening_.insert_or_assign(partition, member);
      }
    }
    wake_.notify_one();
  }

  struct Backlog {
    std::size_t messages = 0;
    std::size_t bytes = 0;
  };
  Backlog queued() const {
    std::lock_guard lock(mutex_);
    return Backlog{queue_.size(), queued_bytes_};
  }

  bool stopping() const {
    std::lock_guard lock(mutex_);
    return stopping_;
  }

  // Forgets queued messages of `revoked`, waits (up to `wait`) for a handler working on one of
  // them to return, and hands back (and forgets) their finished offsets. A handler that takes
  // longer is left to finish, but its message no longer counts as done here.
  std::map<TopicPartition, std::int64_t> release(const std::set<TopicPartition>& revoked,
                                                 std::chrono::milliseconds wait) {
    std::unique_lock lock(mutex_);
    std::erase_if(queue_, [&](const ConsumedMessage& m) {
      if (revoked.count(m.source) == 0) return false;
      queued_bytes_ -= size_of(m);
      return true;
    });
    for (const auto& partition : revoked) {
      if (agent_.exactly_once() && opening_.erase(partition) == 0) closing_.insert(partition);
    }
    // A batch still gathering messages of a revoked partition is given up at once.
    if (busy_ && revoked.count(busy_->partition) > 0) busy_->revoked = true;
    wake_.notify_all();
    if (!idle_.wait_for(lock, wait, [&] { return !busy_ || revoked.count(busy_->partition) == 0; })) {
      spdlog::warn("agent '{}' is still handling {}[{}]@{} after {} ms; its partition is given up without it "
                   "(the next owner handles that message again)",
                   agent_.binding.name, busy_->partition.topic, busy_->partition.partition, busy_->offset, wait.count());
      busy_->abandoned = true;
    }
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

  // Next offset to commit per partition, for everything handled so far.
  std::map<TopicPartition, std::int64_t> done() const {
    std::lock_guard lock(mutex_);
    return done_;
  }

  struct BusyReport {
    std::string where;
    Clock::duration for_how_long;
    std::uint64_t message_serial;  // tells one message from the next
  };
  // How long the current handler has been running, and where, if it is running.
  std::optional<BusyReport> busy_for() const {
    std::lock_guard lock(mutex_);
    if (!busy_) return std::nullopt;
    return BusyReport{fmt::format("{}[{}]@{}", busy_->partition.topic, busy_->partition.partition, busy_->offset),
                      Clock::now() - busy_->since, serial_};
  }

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
  void run() {
    Outcome outcome = Outcome::kDone;
    std::vector<ConsumedMessage> batch;
    while (true) {
      std::map<TopicPartition, GroupMember> opening;
      std::set<TopicPartition> closing;
      {
        std::unique_lock lock(mutex_);
        if (busy_) {
          if (outcome == Outcome::kDone && !busy_->abandoned && !agent_.exactly_once()) {
            record_done(busy_->partition, busy_->next_offset);
          }
          busy_.reset();
          idle_.notify_all();
        }
        if (outcome == Outcome::kStop) return;  // nothing after it may be committed
        wake_.wait(lock, [&] { return stopping_ || !queue_.empty() || !opening_.empty() || !closing_.empty(); });
        if (stopping_) return;
        opening.swap(opening_);
        closing.swap(closing_);
        if (opening.empty() && closing.empty() && !take_batch(lock, batch)) {
          outcome = Outcome::kLeftUncommitted;
          continue;
        }
      }
      if (!opening.empty() || !closing.empty()) {
        follow_assignment(opening, closing);
        outcome = Outcome::kDone;
        continue;
      }
      outcome = agent_.uses_units() ? handle_in_units(batch) : handle_alone(batch.front());
    }
  }

  // Moves the next messages of the queue's first partition into `batch` (under the lock): up to
  // the batch size, waiting up to its max_wait for more. False when the batch was given up
  // meanwhile (its partition revoked, or the worker stopping).
  bool take_batch(std::unique_lock<std::mutex>& lock, std::vector<ConsumedMessage>& batch) {
    batch.clear();
    const auto limit = static_cast<std::size_t>(agent_.binding.batch.max_messages);
    const auto started = Clock::now();
    const TopicPartition partition = queue_.front().source;
    busy_ = Busy{partition, queue_.front().offset, 0, started, false, false};
    ++serial_;
    const auto take_more = [&] {
      while (!queue_.empty() && batch.size() < limit && queue_.front().source == partition) {
        queued_bytes_ -= size_of(queue_.front());
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    };
    take_more();
    const auto deadline = started + agent_.binding.batch.max_wait;
    while (batch.size() < limit && Clock::now() < deadline) {
      // More of the same partition may come; another partition's message ends the batch.
      if (!queue_.empty()) break;
      wake_.wait_until(lock, deadline, [&] { return stopping_ || busy_->revoked || !queue_.empty(); });
      if (stopping_ || busy_->revoked) return false;
      take_more();
    }
    busy_->next_offset = batch.back().offset + 1;
    return true;
  }

  void record_done(const TopicPartition& partition, std::int64_t next_offset) {
    if (last_done_ == done_.end() || last_done_->first != partition) {
      last_done_ = done_.try_emplace(partition, next_offset).first;
    }
    last_done_->second = next_offset;
  }

  // After a message of a unit's fallback is done, before the rest of its batch: its position
  // may be committed (at_least_once) even if a later message stops the lane.
  void record_progress(const ConsumedMessage& message) {
    if (agent_.exactly_once()) return;
    std::lock_guard lock(mutex_);
    if (busy_ && !busy_->abandoned) record_done(message.source, message.offset + 1);
  }

  void note_error(const Status& result) {
    agent_.errors.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(agent_.last_error_mutex);
    agent_.last_error = result.error().message;
  }

  // What the agent's on_error says to do after `message` failed for the (attempt+1)-th time:
  // logs it, and waits out a retry's backoff. kDeadLetter: write it to the dead-letter topic,
  // and commit it once that is stored.
  enum class AfterFailure { kCommit, kRetry, kStop, kDeadLetter };
  AfterFailure after_failure(const Status& result, const ConsumedMessage& message, int attempt) {
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

  // Waits before another attempt; false when the worker stops meanwhile.
  bool backoff(int attempt) {
    const auto wait =
        std::min(std::chrono::milliseconds(100) * (1 << std::min(attempt, 6)), std::chrono::milliseconds(5000));
    std::unique_lock lock(mutex_);
    return !wake_.wait_for(lock, wait, [&] { return stopping_; });
  }

  Status call_handler(const ConsumedMessage& message) {
    const auto started = Clock::now();
    Status result = handler_(message);
    events_.agent_handled(agent_.binding.name, Clock::now() - started, result);
    return result;
  }

  // One message, its sends each acknowledged on its own: the path of an agent without batches.
  Outcome handle_alone(const ConsumedMessage& message) {
    for (int attempt = 0;; ++attempt) {
      Status result = call_handler(message);
      if (result) {
        agent_.handled.fetch_add(1, std::memory_order_relaxed);
        return Outcome::kDone;
      }
      switch (after_failure(result, message, attempt)) {
        case AfterFailure::kCommit:
          return Outcome::kDone;
        case AfterFailure::kStop:
          return Outcome::kStop;
        case AfterFailure::kDeadLetter:
          return dead_letter(message, result.error().message, attempt + 1) ? Outcome::kDone : Outcome::kStop;
        case AfterFailure::kRetry:
          break;
      }
    }
  }

  // The handler over `messages` inside the current unit: the batch handler, or the message
  // handler for each until one fails.
  Status run_handlers(std::span<const ConsumedMessage> messages) {
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

  struct UnitRun {
    Status handler = ok_status();  // the handler's failure, if it failed
    UnitResult unit;               // else the unit's
  };
  // Runs the handler over `messages` (none: only the position moves) as one unit, which also
  // carries `dead_lettered` when given.
  UnitRun run_unit(DeliveryUnit& unit, std::span<const ConsumedMessage> messages, const ConsumedMessage& last,
                   const ProducedRecord* dead_lettered = nullptr) {
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

  // A unit the broker did not take: said once per unit, then tried again after a backoff.
  bool retry_unit(const UnitResult& result, const ConsumedMessage& first, int attempt) {
    agent_.units_retried.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("agent '{}': the unit from {} was not committed ({}); trying again", agent_.binding.name,
                 where(first), result.message);
    return backoff(attempt);
  }

  // A batch as one unit; if its handler fails (or a record of it is refused), its messages one by
  // one, each a unit of its own with on_error applied alone.
  Outcome handle_in_units(std::vector<ConsumedMessage>& batch) {
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
      if (run.unit.failure == UnitFailure::kLost) return lose(batch.front().source, run.unit);
      if (!retry_unit(run.unit, batch.front(), attempt)) return Outcome::kStop;
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

  // One message as a unit of its own. Skipped, only its position moves; dead-lettered, the
  // dead-letter record goes in the unit with the position (one transaction under exactly_once).
  Outcome handle_one_in_unit(const ConsumedMessage& message) {
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
      if (run.unit.failure == UnitFailure::kLost) return lose(message.source, run.unit);
      if (run.unit.failure == UnitFailure::kRetriable) {
        if (!retry_unit(run.unit, message, unit_attempt++)) return Outcome::kStop;
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

  // The unit for a partition's work: one for the lane (at_least_once), or the partition's own
  // transactional producer (exactly_once), started if it is not yet or was broken.
  DeliveryUnit* unit_for(const TopicPartition& partition) {
    if (!agent_.exactly_once()) {
      if (!acknowledged_) acknowledged_ = std::make_unique<AcknowledgedUnit>(transport_);
      return acknowledged_.get();
    }
    const auto member = members_.find(partition);
    if (member == members_.end()) return nullptr;  // not ours (any more)
    auto& unit = units_[partition];
    if (unit && !unit->broken()) return unit.get();
    unit.reset();
    const std::string id = agent_.binding.transactional_id(partition.partition);
    while (true) {
      auto producer = transport_.start_transactional_producer(id, kProducerStartTimeout);
      if (producer) {
        unit = std::make_unique<TransactionalUnit>(std::move(producer).value(), member->second);
        return unit.get();
      }
      spdlog::warn("agent '{}': {}; trying again", agent_.binding.name, producer.error().message);
      // Once the partition is someone else's, starting its producer here would fence theirs.
      if (!backoff(0) || revoked_meanwhile(partition)) return nullptr;
    }
  }

  bool revoked_meanwhile(const TopicPartition& partition) const {
    std::lock_guard lock(mutex_);
    return closing_.count(partition) > 0;
  }

  // Starts the producers of newly assigned partitions (which aborts a previous owner's open
  // transaction, so the partition's committed offset settles) and closes those of revoked ones.
  void follow_assignment(const std::map<TopicPartition, GroupMember>& opening, const std::set<TopicPartition>& closing) {
    for (const auto& partition : closing) {
      units_.erase(partition);
      members_.erase(partition);
    }
    for (const auto& [partition, member] : opening) {
      units_.erase(partition);
      members_.insert_or_assign(partition, member);
      unit_for(partition);
    }
  }

  // Fenced by a newer producer of the partition, or the group moved on: its work is someone
  // else's now, until it is assigned here again.
  Outcome lose(const TopicPartition& partition, const UnitResult& result) {
    spdlog::warn("agent '{}': {}[{}] is no longer this worker's ({}); its uncommitted messages are left to its "
                 "next owner",
                 agent_.binding.name, partition.topic, partition.partition, result.message);
    // Its queued messages are left alone: if the partition was assigned here again meanwhile,
    // they belong to the new assignment, whose producer starts before they are taken; if not,
    // its revocation drops them.
    units_.erase(partition);
    members_.erase(partition);
    return Outcome::kLeftUncommitted;
  }

  // init_transactions waits for a previous owner's transaction to end; past this the producer
  // is started again on the partition's next message.
  static constexpr auto kProducerStartTimeout = std::chrono::seconds(30);

  // Writes a message the handler gave up on to the agent's dead-letter topic. True (it may be
  // committed) only once the broker acknowledged the write; a write that fails for the record's
  // own sake stops the worker, since nothing past the message may be committed.
  bool dead_letter(const ConsumedMessage& message, const std::string& error, int attempts) {
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

  void note_dead_lettered(const ConsumedMessage& message, const std::string& error, int attempts) {
    agent_.dead_lettered.fetch_add(1, std::memory_order_relaxed);
    spdlog::error("{} at {}; written to dead-letter topic {} after {} attempt(s) (on_error: dead_letter)", error,
                  where(message), agent_.binding.dead_letter.topic, attempts);
  }

  Outcome dead_letter_refused(const ConsumedMessage& message, const std::string& error, const std::string& why) {
    const std::string& topic = agent_.binding.dead_letter.topic;
    spdlog::error("{} at {}; stopping the worker: the dead-letter write failed: {}", error, where(message), why);
    events_.fatal(Error{ExitCode::kHandlerStopped, "agent '" + agent_.binding.name + "' stopped the worker at " +
                                                       where(message) + ": cannot write it to dead-letter topic " +
                                                       topic + ": " + why});
    return Outcome::kStop;
  }

  AgentState& agent_;
  MessageHandler handler_;
  BatchHandler batch_handler_;
  Transport& transport_;
  RuntimeEvents& events_;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;  // queue, assignment or stop
  std::condition_variable idle_;  // a handler returned
  bool stopping_ = false;
  std::deque<ConsumedMessage> queue_;
  std::size_t queued_bytes_ = 0;  // keys and values in queue_
  std::optional<Busy> busy_;
  std::uint64_t serial_ = 0;
  std::map<TopicPartition, std::int64_t> done_;
  std::map<TopicPartition, std::int64_t>::iterator last_done_ = done_.end();
  // exactly_once, handed over from the poll thread (under mutex_)
  std::map<TopicPartition, GroupMember> opening_;
  std::set<TopicPartition> closing_;
  // Lane thread only.
  std::unique_ptr<AcknowledgedUnit> acknowledged_;
  std::map<TopicPartition, GroupMember> members_;
  std::map<TopicPartition, std::unique_ptr<TransactionalUnit>> units_;

 public:
  // Poll thread only.
  bool paused = false;
  std::uint64_t warned_serial = 0;
  std::int64_t warned_periods = 0;
};

AgentRunner::AgentRunner(Transport& transport, GroupOptions group, std::vector<AgentBinding> agents,
                         RuntimeEvents& events, AgentRunnerOptions options)
    : transport_(transport), group_(std::move(group)), events_(events), options_(options) {
  group_.topics.clear();
  for (auto& binding : agents) {
    auto state = std::make_unique<AgentState>();
    state->binding = std::move(binding);
    for (std::size_t i = 0; i < state->binding.lanes.size(); ++i) {
      BatchHandler batch = i < state->binding.batch_lanes.size() ? state->binding.batch_lanes[i] : nullptr;
      state->lanes.push_back(std::make_unique<Lane>(*state, state->binding.lanes[i], std::move(batch), transport_, events_));
    }
    group_.topics.push_back(state->binding.topic);
    agent_by_topic_[state->binding.topic] = state.get();
    agents_.push_back(std::move(state));
  }
}

AgentRunner::~AgentRunner() { stop(); }

Status AgentRunner::start() {
  if (agents_.empty()) {
    joined_ = true;  // nothing to consume: no group to join
    assigned_ = true;
    return ok_status();
  }
  auto consumer = transport_.join_group(group_, *this);
  if (!consumer) return consumer.error();
  consumer_ = std::move(consumer).value();
  for (auto& agent : agents_) {
    for (auto& lane : agent->lanes) lane->start();
  }
  running_ = true;
  poller_ = std::thread([this] { run(); });
  return ok_status();
}

void AgentRunner::request_stop() {
  for (auto& agent : agents_) {
    for (auto& lane : agent->lanes) lane->request_stop();
  }
}

void AgentRunner::stop() {
  if (!running_.exchange(false)) return;
  request_stop();  // at once, not at the poll thread's next turn
  if (poller_.joinable()) poller_.join();
}

void AgentRunner::run() {
  auto last_commit = Clock::now();
  auto last_check = Clock::now();
  while (running_) {
    consumer_->poll(std::chrono::milliseconds(100));
    apply_backpressure();
    const auto now = Clock::now();
    if (now - last_commit >= options_.commit_interval) {
      commit_done(false);
      last_commit = now;
    }
    if (now - last_check >= std::chrono::seconds(1)) {
      warn_slow_handlers();
      last_check = now;
    }
  }
  for (auto& agent : agents_) {
    for (auto& lane : agent->lanes) lane->stop();
  }
  commit_done(true);
  consumer_->close();  // revokes (nothing left to commit) and leaves the group
  consumer_.reset();
}

AgentRunner::Lane& AgentRunner::lane_for(const TopicPartition& partition) {
  auto& lanes = agent_by_topic_.at(partition.topic)->lanes;
  return *lanes[static_cast<std::size_t>(partition.partition) % lanes.size()];
}

void AgentRunner::on_messages(std::vector<ConsumedMessage>& batch) {
  std::map<Lane*, std::vector<ConsumedMessage>> by_lane;
  for (auto& message : batch) by_lane[&lane_for(message.source)].push_back(std::move(message));
  for (auto& [lane, messages] : by_lane) lane->push(std::move(messages));
}

void AgentRunner::on_assigned(const GroupEvent& event) {
  {
    std::lock_guard lock(assignment_mutex_);
    assignment_.insert(event.partitions.begin(), event.partitions.end());
  }
  const GroupMember member{group_.group_id, event.generation, event.member_id};
  std::map<Lane*, std::vector<TopicPartition>> by_lane;
  for (const auto& partition : event.partitions) {
    if (agent_by_topic_.at(partition.topic)->exactly_once()) by_lane[&lane_for(partition)].push_back(partition);
  }
  for (auto& [lane, partitions] : by_lane) lane->assigned(partitions, member);
  for (auto& agent : agents_) {
    for (auto& lane : agent->lanes) lane->paused = false;
  }
  spdlog::info("agents assigned {} partition(s) (generation {})", event.partitions.size(), event.generation);
  joined_ = true;
  assigned_ = true;
  events_.rebalanced();
}

void AgentRunner::on_revoked(const GroupEvent& event) {
  assigned_ = false;
  const std::set<TopicPartition> revoked(event.partitions.begin(), event.partitions.end());
  std::vector<std::pair<TopicPartition, std::int64_t>> offsets;
  for (auto& agent : agents_) {
    for (auto& lane : agent->lanes) {
      // All of them, even those an asynchronous commit already carried: it may have failed.
      for (const auto& [partition, offset] : lane->release(revoked, options_.revoke_wait)) {
        offsets.emplace_back(partition, offset);
      }
    }
  }
  if (auto status = consumer_->commit(offsets, true); !status) spdlog::warn("{}", status.error().message);
  for (const auto& partition : revoked) committed_.erase(partition);
  std::lock_guard lock(assignment_mutex_);
  for (const auto& partition : revoked) assignment_.erase(partition);
}

void AgentRunner::commit_done(bool final) {
  std::vector<std::pair<TopicPartition, std::int64_t>> offsets;
  for (auto& agent : agents_) {
    for (auto& lane : agent->lanes) {
      for (const auto& [partition, offset] : lane->done()) {
        auto [it, inserted] = committed_.try_emplace(partition, -1);
        if (it->second == offset && !final) continue;
        it->second = offset;
        offsets.emplace_back(partition, offset);
      }
    }
  }
  if (auto status = consumer_->commit(offsets, final); !status) spdlog::warn("{}", status.error().message);
}

void AgentRunner::apply_backpressure() {
  for (auto& agent : agents_) {
    for (auto& lane : agent->lanes) {
      const auto queued = lane->queued();
      const bool pause =
          !lane->paused && (queued.messages > options_.pause_above || queued.bytes > options_.pause_above_bytes);
      const bool resume = lane->paused && queued.messages < options_.pause_above / 2 &&
                          queued.bytes < options_.pause_above_bytes / 2;
      if (!pause && !resume) continue;
      std::vector<TopicPartition> partitions;
      {
        std::lock_guard lock(assignment_mutex_);
        for (const auto& partition : assignment_) {
          if (agent_by_topic_.count(partition.topic) > 0 && &lane_for(partition) == lane.get()) {
            partitions.push_back(partition);
          }
        }
      }
      if (pause) consumer_->pause(partitions);
      if (resume) consumer_->resume(partitions);
      lane->paused = pause;
    }
  }
}

void AgentRunner::warn_slow_handlers() {
  for (auto& agent : agents_) {
    for (auto& lane : agent->lanes) {
      const auto busy = lane->busy_for();
      if (!busy) continue;
      if (busy->message_serial != lane->warned_serial) {
        lane->warned_serial = busy->message_serial;
        lane->warned_periods = 0;
      }
      // Once per warning period while it lasts, however the checks fall.
      const std::int64_t periods = busy->for_how_long / options_.slow_handler_warning;
      if (periods <= lane->warned_periods) continue;
      lane->warned_periods = periods;
      spdlog::warn("agent '{}' handler has been running for {} s at {}; its partition is stalled",
                   agent->binding.name, std::chrono::duration_cast<std::chrono::seconds>(busy->for_how_long).count(),
                   busy->where);
    }
  }
}

std::map<std::string, std::vector<std::int32_t>> AgentRunner::assignment() const {
  std::map<std::string, std::vector<std::int32_t>> out;
  std::lock_guard lock(assignment_mutex_);
  for (const auto& partition : assignment_) out[partition.topic].push_back(partition.partition);
  return out;
}

std::vector<AgentSnapshot> AgentRunner::snapshot() const {
  std::vector<AgentSnapshot> out;
  for (const auto& agent : agents_) {
    AgentSnapshot snap;
    snap.name = agent->binding.name;
    snap.guarantee = agent->binding.guarantee;
    snap.batch_max_messages = agent->binding.batch.max_messages;
    snap.handled = agent->handled.load();
    snap.errors = agent->errors.load();
    snap.batches = agent->batches.load();
    snap.units_retried = agent->units_retried.load();
    snap.dead_lettered = agent->dead_lettered.load();
    for (const auto& lane : agent->lanes) {
      const auto queued = lane->queued();
      snap.queued_messages += queued.messages;
      snap.queued_bytes += queued.bytes;
    }
    std::lock_guard lock(agent->last_error_mutex);
    snap.last_error = agent->last_error;
    out.push_back(std::move(snap));
  }
  return out;
}

}  // namespace faust
