#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "runtime/agents/agent_runner.h"
#include "runtime/leadership/leader_term.h"
#include "runtime/runtime_events.h"
#include "transport/transport.h"

namespace faust {

// Runs the leader-only agents (on_leader: true) inside each leadership term: a thread per agent
// reads its one-partition topic (read_committed) from the position the last leader committed,
// and handles each message as one leader unit, which commits the handler's sends, its leader
// state writes and the message's consumed position together. A new leader therefore resumes
// exactly after the last committed message, and a fenced leader's work is rolled back.
// on_error applies as for other agents; a failed message that is skipped commits only its
// position. A unit that fails for the transaction's sake (not the handler's) is tried again.
class LeaderAgentRunner {
 public:
  LeaderAgentRunner(Transport& transport, std::string group_id, std::vector<AgentBinding> agents,
                    RuntimeEvents& events);
  ~LeaderAgentRunner();

  // Wired after the elector exists (the term is the elector's).
  void attach(LeaderTerm* term) { term_ = term; }
  // From the term's opening and closing hooks.
  void term_opening(std::int32_t generation);
  void term_closed(std::int32_t generation);

  const std::vector<AgentBinding>& agents() const { return agents_; }

 private:
  void run(const AgentBinding& agent);
  // Handles one message; false when the term ended before it was done.
  bool handle(const AgentBinding& agent, const ConsumedMessage& message);
  bool wait_or_stopped(std::chrono::milliseconds delay);

  Transport& transport_;
  const std::string group_id_;
  const std::vector<AgentBinding> agents_;
  RuntimeEvents& events_;
  LeaderTerm* term_ = nullptr;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;  // the term's threads must end
  std::vector<std::thread> threads_;
};

}  // namespace faust
