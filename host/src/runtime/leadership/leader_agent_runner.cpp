#include "runtime/leadership/leader_agent_runner.h"

#include <spdlog/spdlog.h>

namespace faust {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

LeaderAgentRunner::LeaderAgentRunner(Transport& transport, std::string group_id, std::vector<AgentBinding> agents,
                                     RuntimeEvents& events)
    : transport_(transport), group_id_(std::move(group_id)), agents_(std::move(agents)), events_(events) {}

LeaderAgentRunner::~LeaderAgentRunner() { term_closed(-1); }

void LeaderAgentRunner::term_opening(std::int32_t /*generation*/) {
  if (term_ == nullptr) return;
  {
    std::lock_guard lock(mutex_);
    stopping_ = false;
  }
  for (const AgentBinding& agent : agents_) threads_.emplace_back([this, &agent] { run(agent); });
}

void LeaderAgentRunner::term_closed(std::int32_t /*generation*/) {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& thread : threads_) thread.join();  // a message in hand finishes (its unit fails)
  threads_.clear();
}

bool LeaderAgentRunner::wait_or_stopped(milliseconds delay) {
  std::unique_lock lock(mutex_);
  return wake_.wait_for(lock, delay, [&] { return stopping_; });
}

void LeaderAgentRunner::run(const AgentBinding& agent) {
  const TopicPartition partition{agent.topic, 0};
  std::unique_ptr<PartitionReader> reader;
  while (!reader) {
    auto opened = transport_.read_partition(partition, group_id_, std::chrono::seconds(5));
    if (opened) {
      reader = std::move(opened).value();
    } else {
      spdlog::warn("leader-only agent '{}': {}; retrying", agent.name, opened.error().message);
      if (wait_or_stopped(milliseconds(1000))) return;
    }
  }
  spdlog::debug("leader-only agent '{}': reading {}", agent.name, agent.topic);
  while (!wait_or_stopped(milliseconds(0))) {
    auto batch = reader->poll(milliseconds(100));
    if (!batch) {
      spdlog::warn("leader-only agent '{}': {}", agent.name, batch.error().message);
      if (wait_or_stopped(milliseconds(1000))) return;
      continue;
    }
    for (const ConsumedMessage& message : *batch) {
      if (!handle(agent, message)) return;
    }
  }
}

bool LeaderAgentRunner::handle(const AgentBinding& agent, const ConsumedMessage& message) {
  const MessageHandler& handler = agent.lanes.front();
  const std::string where = agent.topic + "[0]@" + std::to_string(message.offset);
  const std::string unit = "agent '" + agent.name + "'";
  const auto commit_position = [&] { return term_->send_offset(message.source, message.offset + 1, group_id_); };
  for (int attempt = 0;;) {
    const auto started = Clock::now();
    Status handled = ok_status();
    const std::optional<Status> result = term_->run_unit(unit, [&]() -> Status {
      handled = handler(message);
      if (!handled) return handled;
      return commit_position();
    });
    if (!result) {
      // Not leading right now: the term ended (term_closed stops this thread), or a rebalance
      // suspended it and may hand it back. The same message waits either way.
      if (wait_or_stopped(milliseconds(100))) return false;
      continue;
    }
    if (*result) {
      events_.agent_handled(agent.name, Clock::now() - started, ok_status());
      return true;
    }
    if (handled) {
      // The handler did its part; the transaction did not commit: the same message again.
      spdlog::warn("{} at {}: {}; trying again", unit, where, result->error().message);
      if (wait_or_stopped(milliseconds(200))) return false;
      continue;
    }
    events_.agent_handled(agent.name, Clock::now() - started, handled);
    const bool retry = agent.on_error == OnError::kRetry && attempt < agent.max_retries;
    if (agent.on_error == OnError::kStop) {
      spdlog::error("{} at {}; stopping the worker (on_error: stop)", handled.error().message, where);
      events_.fatal(Error{ExitCode::kHandlerStopped,
                          unit + " stopped the worker at " + where + ": " + handled.error().message});
      return false;
    }
    if (retry) {
      ++attempt;
      spdlog::warn("{} at {}; retry {} of {}", handled.error().message, where, attempt, agent.max_retries);
      if (wait_or_stopped(std::min(milliseconds(100) * (1 << std::min(attempt, 6)), milliseconds(5000)))) return false;
      continue;
    }
    spdlog::error("{} at {}; skipped (on_error: {})", handled.error().message, where,
                  agent.on_error == OnError::kRetry ? "retry" : "skip");
    // Only its position commits: nothing the failed handler sent or wrote.
    while (true) {
      const std::optional<Status> skipped = term_->run_unit(unit + " skip", commit_position);
      if (skipped && *skipped) return true;
      if (wait_or_stopped(milliseconds(200))) return false;
    }
  }
}

}  // namespace faust
