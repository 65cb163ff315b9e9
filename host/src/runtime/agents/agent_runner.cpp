#include "runtime/agents/agent_runner.h"

#include <optional>

#include <spdlog/spdlog.h>

#include "runtime/agents/agent_lane.h"

namespace faust {

using Clock = std::chrono::steady_clock;

AgentRunner::AgentRunner(Transport& transport, GroupOptions group, std::vector<AgentBinding> agents,
                         RuntimeEvents& events, AgentRunnerOptions options)
    : transport_(transport), group_(std::move(group)), events_(events), options_(options) {
  group_.topics.clear();
  for (auto& binding : agents) {
    auto state = std::make_unique<AgentState>();
    state->binding = std::move(binding);
    for (std::size_t i = 0; i < state->binding.lanes.size(); ++i) {
      BatchHandler batch = i < state->binding.batch_lanes.size() ? state->binding.batch_lanes[i] : nullptr;
      const InFlightMessages::Limits limits{static_cast<std::size_t>(state->binding.max_in_flight),
                                            options_.max_in_flight_bytes};
      state->lanes.push_back(std::make_unique<AgentLane>(
          *state, i, group_.client_id, state->binding.lanes[i], std::move(batch), transport_, events_, limits,
          [this](const TopicPartition& partition) {
            std::lock_guard lock(rewind_mutex_);
            rewind_requests_.insert(partition);
          }));
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
    rewind_requested();
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
  const auto sends_deadline = Clock::now() + options_.stop_send_wait;
  for (auto& agent : agents_) {
    for (auto& lane : agent->lanes) lane->await_sends(sends_deadline);
  }
  commit_done(true);
  consumer_->close();  // revokes (nothing left to commit) and leaves the group
  consumer_.reset();
}

AgentLane& AgentRunner::lane_for(const TopicPartition& partition) {
  auto& lanes = agent_by_topic_.at(partition.topic)->lanes;
  return *lanes[static_cast<std::size_t>(partition.partition) % lanes.size()];
}

void AgentRunner::on_messages(std::vector<ConsumedMessage>& batch) {
  std::map<AgentLane*, std::vector<ConsumedMessage>> by_lane;
  for (auto& message : batch) by_lane[&lane_for(message.source)].push_back(std::move(message));
  for (auto& [lane, messages] : by_lane) lane->push(std::move(messages));
}

void AgentRunner::on_assigned(const GroupEvent& event) {
  if (event.generation >= commits_held_until_) commits_held_until_ = -1;
  {
    std::lock_guard lock(assignment_mutex_);
    assignment_.insert(event.partitions.begin(), event.partitions.end());
  }
  const GroupMember member{group_.group_id, event.generation, event.member_id};
  std::map<AgentLane*, std::vector<TopicPartition>> by_lane;
  for (const auto& partition : event.partitions) by_lane[&lane_for(partition)].push_back(partition);
  for (auto& agent : agents_) {
    for (auto& lane : agent->lanes) {
      auto& added = by_lane[lane.get()];
      if (agent->exactly_once()) lane->assigned(added, member);
      // What is assigned starts unpaused (the transport resumes it).
      if (!event.incremental) lane->paused.clear();
      for (const auto& partition : added) lane->paused.erase(partition);
    }
  }
  spdlog::info("agents assigned {} partition(s) (generation {})", event.partitions.size(), event.generation);
  joined_ = true;
  assigned_ = true;
  events_.rebalanced();
}

void AgentRunner::on_revoked(const GroupEvent& event) {
  spdlog::info("agents give up {} partition(s){}", event.partitions.size(), event.lost ? " (membership lost)" : "");
  partitions_revoked_ += event.partitions.size();
  assigned_ = false;
  const std::set<TopicPartition> revoked(event.partitions.begin(), event.partitions.end());
  std::optional<GroupMember> member;
  if (!event.lost && event.generation >= 0) member = GroupMember{group_.group_id, event.generation, event.member_id};
  std::vector<std::pair<TopicPartition, std::int64_t>> offsets;
  for (auto& agent : agents_) {
    for (auto& lane : agent->lanes) {
      // All of them, even those an asynchronous commit already carried: it may have failed.
      for (const auto& [partition, offset] : lane->release(revoked, options_.revoke_wait, member)) {
        offsets.emplace_back(partition, offset);
      }
    }
  }
  // Under incremental rebalancing the partitions kept go on meanwhile: the commit does not hold
  // up their poll (their next owner is assigned them only in the rebalance that follows).
  if (auto status = consumer_->commit(offsets, !event.incremental); !status) {
    spdlog::warn("{}", status.error().message);
  }
  if (event.incremental) {
    // Another rebalance follows at once. librdkafka 2.0.2 holds a commit made meanwhile until the
    // group has moved on, sends it with the generation the group left, and on the broker's
    // refusal drops the member's whole assignment (every partition it kept stops): periodic
    // commits wait for the next generation's assignment.
    commits_held_until_ = event.generation + 1;
  }
  for (const auto& partition : revoked) committed_.erase(partition);
  std::lock_guard lock(assignment_mutex_);
  for (const auto& partition : revoked) assignment_.erase(partition);
}

void AgentRunner::commit_done(bool final) {
  if (commits_held_until_ >= 0 && !final) return;
  std::vector<std::pair<TopicPartition, std::int64_t>> offsets;
  std::lock_guard lock(assignment_mutex_);
  for (auto& agent : agents_) {
    for (auto& lane : agent->lanes) {
      for (const auto& [partition, offset] : lane->done()) {
        // A message of a partition given up since (fetched before, handled after) is its new
        // owner's to commit: a commit for a partition this member does not hold is refused, and
        // under incremental rebalancing librdkafka then drops the whole assignment.
        if (assignment_.count(partition) == 0) continue;
        auto [it, inserted] = committed_.try_emplace(partition, -1);
        if (it->second == offset && !final) continue;
        it->second = offset;
        offsets.emplace_back(partition, offset);
      }
    }
  }
  if (auto status = consumer_->commit(offsets, final); !status) spdlog::warn("{}", status.error().message);
}

void AgentRunner::rewind_requested() {
  if (Clock::now() < next_rewind_) return;
  std::set<TopicPartition> requested;
  {
    std::lock_guard lock(rewind_mutex_);
    requested.swap(rewind_requests_);
  }
  if (requested.empty()) return;
  // A partition given up meanwhile waits until it is this worker's again (an incremental
  // rebalance may give it back): its lane drops what is fetched of it until it is rewound.
  std::vector<TopicPartition> partitions;
  {
    std::lock_guard lock(assignment_mutex_);
    std::erase_if(requested, [&](const TopicPartition& partition) {
      if (assignment_.count(partition) == 0) return false;
      partitions.push_back(partition);
      return true;
    });
  }
  if (!partitions.empty()) {
    if (auto status = consumer_->rewind(partitions); status) {
      for (const auto& partition : partitions) lane_for(partition).rewound(partition);
    } else {
      spdlog::warn("{}; trying again in 1 s", status.error().message);
      next_rewind_ = Clock::now() + std::chrono::seconds(1);
      requested.insert(partitions.begin(), partitions.end());
    }
  }
  if (requested.empty()) return;
  std::lock_guard lock(rewind_mutex_);
  rewind_requests_.insert(requested.begin(), requested.end());
}

void AgentRunner::apply_backpressure() {
  for (auto& agent : agents_) {
    for (auto& lane : agent->lanes) {
      const auto queued = lane->queued();
      if (queued.messages > options_.pause_above || queued.bytes > options_.pause_above_bytes) {
        std::vector<TopicPartition> partitions;
        for (auto& partition : lane->backlogged()) {
          if (lane->paused.insert(partition).second) partitions.push_back(std::move(partition));
        }
        if (!partitions.empty()) consumer_->pause(partitions);
      } else if (!lane->paused.empty() && queued.messages < options_.pause_above / 2 &&
                 queued.bytes < options_.pause_above_bytes / 2) {
        std::vector<TopicPartition> partitions;
        {
          std::lock_guard lock(assignment_mutex_);
          for (const auto& partition : lane->paused) {
            if (assignment_.count(partition) > 0) partitions.push_back(partition);
          }
        }
        consumer_->resume(partitions);
        lane->paused.clear();
      }
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
