#include "runtime/agent_runner.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <optional>

#include <spdlog/spdlog.h>

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
  std::atomic<std::uint64_t> dead_lettered{0};
  mutable std::mutex last_error_mutex;
  std::string last_error;
};

// One handler thread with its queue. Also the record of which offsets it has finished.
class AgentRunner::Lane {
 public:
  Lane(AgentState& agent, MessageHandler handler, RuntimeEvents& events)
      : agent_(agent), handler_(std::move(handler)), events_(events) {}
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
    std::int64_t offset = 0;
    Clock::time_point since;
    bool abandoned = false;  // its partition was revoked while it ran: not ours to commit
  };

  // One lock per message: taking the next message also records the previous one as done.
  void run() {
    bool finished = true;
    ConsumedMessage message;
    while (true) {
      Clock::time_point started;
      {
        std::unique_lock lock(mutex_);
        if (busy_) {
          if (finished && !busy_->abandoned) record_done(busy_->partition, busy_->offset + 1);
          busy_.reset();
          idle_.notify_all();
        }
        if (!finished) return;  // the worker is stopping; nothing after it may be committed
        wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_) return;
        message = std::move(queue_.front());
        queue_.pop_front();
        queued_bytes_ -= size_of(message);
        started = Clock::now();
        busy_ = Busy{message.source, message.offset, started, false};
        ++serial_;
      }
      finished = handle(message, started);
    }
  }

  void record_done(const TopicPartition& partition, std::int64_t next_offset) {
    if (last_done_ == done_.end() || last_done_->first != partition) {
      last_done_ = done_.try_emplace(partition, next_offset).first;
    }
    last_done_->second = next_offset;
  }

  // Applies the agent's on_error policy. Returns true when the message may be committed.
  bool handle(const ConsumedMessage& message, Clock::time_point started) {
    const AgentBinding& agent = agent_.binding;
    for (int attempt = 0;; ++attempt) {
      if (attempt > 0) started = Clock::now();
      Status result = handler_(message);
      events_.agent_handled(agent.name, Clock::now() - started, result);
      if (result) {
        agent_.handled.fetch_add(1, std::memory_order_relaxed);
        return true;
      }
      agent_.errors.fetch_add(1, std::memory_order_relaxed);
      {
        std::lock_guard lock(agent_.last_error_mutex);
        agent_.last_error = result.error().message;
      }
      if (stopping()) {
        // It may have failed only because the worker is stopping (a send given up): not the
        // message's fault, so it is not committed and its partition's next owner handles it.
        spdlog::warn("{} at {}; left uncommitted (the worker is stopping)", result.error().message, where(message));
        return false;
      }
      switch (agent.on_error) {
        case OnError::kSkip:
          spdlog::error("{} at {}; skipped (on_error: skip)", result.error().message, where(message));
          return true;
        case OnError::kStop:
          spdlog::error("{} at {}; stopping the worker (on_error: stop)", result.error().message, where(message));
          events_.fatal(Error{ExitCode::kHandlerStopped, "agent '" + agent.name + "' stopped the worker at " +
                                                            where(message) + ": " + result.error().message});
          return false;
        case OnError::kRetry:
        case OnError::kDeadLetter:
          if (attempt >= agent.max_retries) {
            if (agent.on_error == OnError::kDeadLetter) {
              return dead_letter(message, result.error().message, attempt + 1);
            }
            spdlog::error("{} at {}; skipped after {} retries (on_error: retry)", result.error().message, where(message),
                          agent.max_retries);
            return true;
          }
          spdlog::warn("{} at {}; retry {} of {}", result.error().message, where(message), attempt + 1, agent.max_retries);
          {
            const auto backoff = std::min(std::chrono::milliseconds(100) * (1 << std::min(attempt, 6)),
                                          std::chrono::milliseconds(5000));
            std::unique_lock lock(mutex_);
            if (wake_.wait_for(lock, backoff, [&] { return stopping_; })) return false;
          }
          break;
      }
    }
  }

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
      agent_.dead_lettered.fetch_add(1, std::memory_order_relaxed);
      spdlog::error("{} at {}; written to dead-letter topic {} after {} attempt(s) (on_error: dead_letter)", error,
                    where(message), sink.topic, attempts);
      return true;
    }
    if (stopping()) {
      spdlog::warn("{} at {}; not written to dead-letter topic {}: {}; left uncommitted (the worker is stopping)",
                   error, where(message), sink.topic, written.error().message);
      return false;
    }
    spdlog::error("{} at {}; stopping the worker: the dead-letter write failed: {}", error, where(message),
                  written.error().message);
    events_.fatal(Error{ExitCode::kHandlerStopped,
                        "agent '" + agent.name + "' stopped the worker at " + where(message) +
                            ": cannot write it to dead-letter topic " + sink.topic + ": " + written.error().message});
    return false;
  }

  AgentState& agent_;
  MessageHandler handler_;
  RuntimeEvents& events_;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;  // queue or stop
  std::condition_variable idle_;  // a handler returned
  bool stopping_ = false;
  std::deque<ConsumedMessage> queue_;
  std::size_t queued_bytes_ = 0;  // keys and values in queue_
  std::optional<Busy> busy_;
  std::uint64_t serial_ = 0;
  std::map<TopicPartition, std::int64_t> done_;
  std::map<TopicPartition, std::int64_t>::iterator last_done_ = done_.end();

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
    for (auto& handler : state->binding.lanes) state->lanes.push_back(std::make_unique<Lane>(*state, handler, events_));
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
    AgentSnapshot snap{agent->binding.name, agent->handled.load(), agent->errors.load(), agent->dead_lettered.load(),
                       {}, 0, 0};
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
