#include "runtime/leadership/leader_term.h"

#include <algorithm>
#include <iterator>

#include <spdlog/spdlog.h>

#include "faust/detail/abi_checks.hpp"

namespace faust {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

// The same term through a rebalance of the leader group: its number, the group's new generation.
void log_goes_on(std::int32_t term, std::int32_t group) {
  spdlog::info("leader term (generation {}) goes on in the leader group's generation {}", term, group);
}

}  // namespace

const char* term_state_name(TermState state) {
  switch (state) {
    case TermState::kNone: return "none";
    case TermState::kEstablishing: return "establishing";
    case TermState::kEstablished: return "established";
  }
  return "unknown";
}

LeaderTerm::LeaderTerm(Transport& transport, LeaderTermOptions options, LeaderTermCallbacks callbacks)
    : transport_(transport),
      options_(std::move(options)),
      callbacks_(std::move(callbacks)),
      state_(options_.state_limit_bytes) {
  thread_ = std::thread([this] { run(); });
}

LeaderTerm::~LeaderTerm() { stop(); }

void LeaderTerm::gained(std::int32_t generation) {
  std::lock_guard lock(mutex_);
  if (std::exchange(suspended_, false) && current_ && current_ == wanted_ && opened_ == current_) {
    // The same term goes on under the group's new generation: its producer still fences
    // everyone else, so nothing needs establishing again. It keeps its number (the generation
    // it began in, the one its services were told), so /leader, the logs and the hooks agree.
    log_goes_on(snapshot_.generation, generation);
    wanted_ = current_ = opened_ = generation;
    established_ = true;
    return;
  }
  wanted_ = generation;
  changed_.notify_all();
}

void LeaderTerm::kept(std::int32_t generation) {
  std::lock_guard lock(mutex_);
  if (!established_) return;  // no term yet, or one still being established: nothing goes on
  log_goes_on(snapshot_.generation, generation);
}

void LeaderTerm::suspend() {
  std::lock_guard lock(mutex_);
  suspended_ = true;
  end_term_now();  // no unit until the partition comes back
}

void LeaderTerm::end_term_now() {
  established_ = false;
  opening_ = false;
  ++term_serial_;
}

void LeaderTerm::lost(bool another_leads) {
  std::lock_guard lock(mutex_);
  suspended_ = false;
  if (another_leads) snapshot_.problem.clear();
  wanted_.reset();
  // At once, not when the term's thread gets to it.
  end_term_now();
  changed_.notify_all();
}

void LeaderTerm::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    wanted_.reset();
    end_term_now();
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

LeaderTermSnapshot LeaderTerm::snapshot() const {
  std::lock_guard lock(mutex_);
  return snapshot_;
}

void LeaderTerm::run() {
  std::unique_lock lock(mutex_);
  while (true) {
    changed_.wait(lock, [&] { return stopping_ || wanted_ != current_; });
    close_if_ended(lock);
    if (stopping_) break;
    // Whatever term there is ends before the next one starts.
    current_.reset();
    snapshot_.state = wanted_ ? TermState::kEstablishing : TermState::kNone;
    lock.unlock();
    end_producer();
    lock.lock();
    if (stopping_ || !wanted_) continue;
    const std::int32_t generation = *wanted_;
    lock.unlock();
    establish(generation);
    lock.lock();
  }
  close_if_ended(lock);
  current_.reset();
  snapshot_.state = TermState::kNone;
  lock.unlock();
  end_producer();
}

void LeaderTerm::close_if_ended(std::unique_lock<std::mutex>& lock) {
  if (!opened_ || (!stopping_ && wanted_ == opened_)) return;
  const std::int32_t generation = snapshot_.generation;  // the term's number, which opening was given
  opened_.reset();
  if (!callbacks_.hooks.closed) return;
  lock.unlock();
  callbacks_.hooks.closed(generation);
  lock.lock();
}

bool LeaderTerm::wait_or_changed(milliseconds delay, std::int32_t generation) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, delay, [&] { return stopping_ || wanted_ != generation; });
}

void LeaderTerm::establish(std::int32_t generation) {
  const auto started = Clock::now();
  const auto deadline = started + options_.establish_within;
  auto backoff = milliseconds(100);
  while (true) {
    const auto left = std::max(std::chrono::duration_cast<milliseconds>(deadline - Clock::now()), milliseconds(1));
    const auto fencing_started = Clock::now();
    auto producer = transport_.start_leader_producer(left);
    // init_transactions alone: what fencing the earlier leaders took (restore and hooks are timed apart).
    const auto fenced_in = std::chrono::duration_cast<milliseconds>(Clock::now() - fencing_started);
    // Once fenced, the state topic holds every earlier leader's last word: read it to its end.
    Status restored = producer ? restore_state(generation) : Status(producer.error());
    if (producer && !restored) producer = restored.error();
    if (producer) {
      {
        std::lock_guard unit(unit_mutex_);
        producer_ = std::move(producer).value();
      }
      std::unique_lock lock(mutex_);
      if (stopping_ || wanted_ != generation) return;  // run() ends the producer
      current_ = generation;
      // Logged before the hooks run, so a service's `elected` line follows it, as it does in time.
      spdlog::info("leader term established (generation {}): earlier leaders fenced in {} ms", generation,
                   fenced_in.count());
      snapshot_.generation = generation;
      snapshot_.established_at = std::chrono::system_clock::now();
      if (opened_ != generation) {
        opened_ = generation;
        opening_ = true;
        lock.unlock();
        const auto hooks_started = Clock::now();
        if (callbacks_.hooks.opening) callbacks_.hooks.opening(generation);
        spdlog::info("leader term (generation {}): services elected in {} ms", generation,
                     std::chrono::duration_cast<milliseconds>(Clock::now() - hooks_started).count());
        lock.lock();
        opening_ = false;
        if (stopping_ || wanted_ != generation || current_ != generation) return;
      }
      established_ = true;
      snapshot_.state = TermState::kEstablished;
      ++snapshot_.terms;
      snapshot_.problem.clear();
      callbacks_.established(generation);
      return;
    }
    if (wait_or_changed(milliseconds(0), generation)) return;  // another term is wanted now
    if (Clock::now() >= deadline) {
      give_up("leader term not established within " + std::to_string(options_.establish_within.count()) +
              " ms: " + producer.error().message);
      return;
    }
    spdlog::warn("leader term (generation {}): {}; retrying", generation, producer.error().message);
    if (wait_or_changed(backoff, generation)) return;
    backoff = std::min(backoff * 2, milliseconds(1000));
  }
}

Status LeaderTerm::restore_state(std::int32_t generation) {
  if (options_.state_topic.empty()) return ok_status();
  const auto started = Clock::now();
  // The restore has a budget of its own: a large state may take longer than the term's deadline
  // to read, and giving up then would only make the next worker give up in turn. It stops when
  // the topic yields nothing for establish_within, or when the term is no longer wanted.
  const auto stalled_within = options_.establish_within;
  auto reader = transport_.read_partition(TopicPartition{options_.state_topic, 0}, "", stalled_within);
  if (!reader) return reader.error();
  auto progress = Clock::now();
  std::size_t records = 0;
  {
    std::lock_guard unit(unit_mutex_);
    state_.clear();
  }
  while (!(*reader)->at_end()) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_ || wanted_ != generation) return Error{ExitCode::kFailure, "leader state: the term ended while restoring"};
    }
    if (Clock::now() - progress >= stalled_within) {
      return Error{ExitCode::kBrokerUnreachable, "leader state: topic '" + options_.state_topic + "' yielded no record for " +
                                                     std::to_string(stalled_within.count()) + " ms before its end"};
    }
    auto batch = (*reader)->poll(milliseconds(500));
    if (!batch) return batch.error();
    if (batch->empty()) continue;
    progress = Clock::now();
    records += batch->size();
    // Applied as they stream: memory holds the state, not the topic's uncompacted history.
    std::lock_guard unit(unit_mutex_);
    state_.restore(*batch);
  }
  const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - started);
  std::size_t entries = 0;
  std::size_t bytes = 0;
  {
    std::lock_guard unit(unit_mutex_);
    entries = state_.entries();
    bytes = state_.bytes();
  }
  std::lock_guard lock(mutex_);
  snapshot_.state_entries = entries;
  snapshot_.state_bytes = bytes;
  snapshot_.state_restored_at = std::chrono::system_clock::now();
  snapshot_.state_restore_took = took;
  spdlog::info("leader state restored: {} entries ({} bytes) from {} records in {} ms", entries, bytes, records,
               took.count());
  return ok_status();
}

void LeaderTerm::end_producer() {
  std::unique_ptr<TransactionalProducer> old;
  {
    std::lock_guard unit(unit_mutex_);  // waits for a unit in progress
    old = std::move(producer_);
  }
}

void LeaderTerm::give_up(const std::string& why) {
  std::lock_guard lock(mutex_);
  if (!wanted_) return;  // the term already ended: nothing to step down from
  wanted_.reset();
  end_term_now();
  snapshot_.problem = why;
  snapshot_.state = TermState::kNone;
  changed_.notify_all();
  spdlog::error("{}; stepping down", why);
  callbacks_.give_up(why);
}

void LeaderTerm::replace_producer(const std::string& why) {
  std::lock_guard lock(mutex_);
  if (!current_ || current_ != wanted_) return;  // the term is ending anyway
  current_.reset();  // run() replaces the producer and establishes the term again
  end_term_now();
  changed_.notify_all();
  spdlog::warn("leader producer replaced: {}", why);
}

std::optional<Status> LeaderTerm::run_unit(const std::string& unit, const std::function<Status()>& work) {
  if (!leading()) return std::nullopt;
  std::lock_guard unit_lock(unit_mutex_);
  const std::uint64_t term = term_serial_.load();
  if (!leading() || !producer_) return std::nullopt;
  if (TxnStatus begun = producer_->begin(); !begun) return handle_broken(unit, begun);
  // The unit's state writes count only if it commits.
  struct UnitState {
    LeaderStateStore& store;
    bool committed = false;
    ~UnitState() { committed ? store.commit_unit() : store.drop_unit(); }
  } unit_state{state_};
  unit_sends_ = 0;
  unit_send_failure_.reset();
  unit_thread_ = std::this_thread::get_id();
  Status result = ok_status();
  try {
    result = work();
  } catch (const std::exception& e) {
    result = Error{ExitCode::kFailure, std::string("leader work threw: ") + e.what()};
  }
  unit_thread_ = std::thread::id{};

  if (unit_send_failure_ && !only_aborts(unit_send_failure_->failure)) {
    return handle_broken(unit, *unit_send_failure_);
  }
  if (result && unit_send_failure_) result = Error{ExitCode::kFailure, unit_send_failure_->message};
  if (result) {
    TxnStatus committed = retry([&](milliseconds timeout) { return producer_->commit(timeout); }, term);
    if (committed) {
      unit_state.committed = true;
      state_.commit_unit();
      std::lock_guard lock(mutex_);
      ++snapshot_.committed;
      snapshot_.state_entries = state_.entries();
      snapshot_.state_bytes = state_.bytes();
      if (unit_sends_ > 0) spdlog::debug("committed leader transaction of {}: {} message(s)", unit, unit_sends_);
      return result;
    }
    if (!only_aborts(committed.failure)) return handle_broken(unit, committed);
    result = Error{ExitCode::kFailure, "leader transaction of " + unit + " not committed: " + committed.message};
  }
  TxnStatus aborted = retry([&](milliseconds timeout) { return producer_->abort(timeout); }, term);
  if (!aborted) {
    on_broken(aborted);
    return result;
  }
  {
    std::lock_guard lock(mutex_);
    ++snapshot_.aborted;
  }
  if (unit_sends_ > 0) spdlog::debug("aborted leader transaction of {}: {} message(s) dropped", unit, unit_sends_);
  return result;
}

TxnStatus LeaderTerm::retry(const std::function<TxnStatus(milliseconds)>& call, std::uint64_t term) {
  // librdkafka keeps a timed-out commit or abort in progress until it is called again, so a
  // retriable failure is answered by the same call, in slices short enough to see the term end.
  const auto deadline = Clock::now() + options_.finish_within;
  while (true) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    TxnStatus status = call(std::clamp(left, milliseconds(1), milliseconds(1000)));
    if (status.failure != TxnFailure::kRetriable) return status;
    if (term_serial_.load() != term) return {TxnFailure::kFatal, status.message + " (the term ended meanwhile)"};
    if (Clock::now() >= deadline) {
      return {TxnFailure::kFatal,
              status.message + " (not finished within " + std::to_string(options_.finish_within.count()) + " ms)"};
    }
  }
}

void LeaderTerm::on_broken(const TxnStatus& status) {
  {
    std::lock_guard lock(mutex_);
    ++snapshot_.aborted;
  }
  if (status.failure == TxnFailure::kFenced) {
    give_up("fenced: a newer leader took over (" + status.message + ")");
  } else {
    replace_producer(status.message);
  }
}

Status LeaderTerm::handle_broken(const std::string& unit, const TxnStatus& status) {
  on_broken(status);
  return Error{ExitCode::kFailure, "leader transaction of " + unit + " failed: " + status.message};
}

Status LeaderTerm::send(const ProducedRecord& record) {
  if (unit_thread_.load() == std::this_thread::get_id()) {
    // The calling unit holds unit_mutex_.
    TxnStatus queued = producer_->send(record);
    if (!queued) {
      if (!unit_send_failure_) unit_send_failure_ = queued;
      return Error{ExitCode::kFailure, queued.message};
    }
    ++unit_sends_;
    return ok_status();
  }
  auto result = run_unit("a send to topic '" + record.topic + "'", [&] { return send(record); });
  if (!result) return Error{ExitCode::kFailure, "leader send to topic '" + record.topic + "': this worker is not the leader"};
  return *result;
}

Status LeaderTerm::send_offset(const TopicPartition& partition, std::int64_t next_offset, const std::string& group_id) {
  if (!in_unit_here()) return Error{ExitCode::kFailure, "a consumed offset commits only inside leader work"};
  // The leader-only agents' group has no members: its id alone names the position.
  TxnStatus sent = producer_->send_offsets({{partition, next_offset}}, GroupMember{group_id, -1, ""});
  if (!sent) {
    if (!unit_send_failure_) unit_send_failure_ = sent;
    return Error{ExitCode::kFailure, sent.message};
  }
  return ok_status();
}

Status LeaderTerm::in_state_unit(const std::string& what, const std::function<Status()>& op) {
  if (in_unit_here()) return op();
  auto result = run_unit("leader state " + what, op);
  if (!result) return Error{ExitCode::kFailure, "leader state: not in a leader term"};
  return *result;
}

Result<std::optional<std::string>> LeaderTerm::state_get(std::string_view key) {
  std::optional<std::string> value;
  Status status = in_state_unit("get", [&]() -> Status {
    if (auto problem = abi::state_entry_problem(key.size(), std::nullopt)) return Error{ExitCode::kFailure, *problem};
    value = state_.get(key);
    return ok_status();
  });
  if (!status) return status.error();
  return value;
}

Result<LeaderStateStore::Entries> LeaderTerm::state_scan(std::string_view prefix) {
  LeaderStateStore::Entries entries;
  Status status = in_state_unit("scan", [&] {
    entries = state_.scan(prefix);
    return ok_status();
  });
  if (!status) return status.error();
  return entries;
}

Status LeaderTerm::state_put(std::string_view key, std::string_view value) {
  return in_state_unit("put", [&]() -> Status {
    if (options_.state_topic.empty()) return Error{ExitCode::kFailure, "leader state: not configured"};
    if (Status stored = state_.put(key, value); !stored) return stored;
    return send(ProducedRecord{options_.state_topic, std::string(key), std::string(value), {}, false});
  });
}

Status LeaderTerm::state_delete(std::string_view key) {
  return in_state_unit("delete", [&]() -> Status {
    if (options_.state_topic.empty()) return Error{ExitCode::kFailure, "leader state: not configured"};
    if (Status erased = state_.erase(key); !erased) return erased;
    return send(ProducedRecord{options_.state_topic, std::string(key), {}, {}, true});
  });
}

}  // namespace faust
