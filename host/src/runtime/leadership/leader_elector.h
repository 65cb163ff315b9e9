#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "runtime/leadership/leader_term.h"
#include "runtime/runtime_events.h"
#include "transport/transport.h"

namespace faust {

struct LeadershipSnapshot {
  bool joined = false;  // has had a first assignment
  bool leader = false;  // as last announced: a term established, and not lost since
  std::int32_t generation = -1;
  std::string member_id;
  std::chrono::system_clock::time_point since{};  // when leadership (or followership) began
};

// Elects the app's leader as Faust does: the member assigned partition 0 of the 1-partition
// topic "<app-id>-__assignor-__leader". It uses a consumer group of its own so agent
// rebalances never disturb leadership and leadership changes never pause agents.
// Sticky: the group's cooperative-sticky assignor keeps partition 0 with the member that owns
// it, so a live leader leads until it leaves or is evicted; a joining worker never takes over,
// whatever its start time, id or clock.
// Being assigned the partition starts a LeaderTerm; this worker leads once the term is
// established (earlier leaders fenced), not at the assignment.
class LeaderElector final : private GroupListener {
 public:
  // options.client_id is set here, from app_id and the time of joining; the group's rebalancing
  // is incremental (cooperative-sticky) whatever `options` say.
  LeaderElector(Transport& transport, std::string app_id, GroupOptions options, RuntimeEvents& events,
                LeaderTermOptions term_options = {}, TermHooks term_hooks = {});
  ~LeaderElector() override;

  Status start();
  // Ends the term (and waits for its hooks), then leaves the group, so a successor is elected
  // at once and never overlaps this worker's term.
  void stop();

  bool is_leader() const { return term_.leading(); }
  LeadershipSnapshot snapshot() const;
  LeaderTerm& term() { return term_; }
  const LeaderTerm& term() const { return term_; }

 private:
  void on_assigned(const GroupEvent& event) override;
  void on_revoked(const GroupEvent& event) override;
  void on_messages(std::vector<ConsumedMessage>& /*batch*/) override {}
  void follow(const GroupEvent& event);
  void run();
  void on_term_established(std::int32_t generation);
  Status join();

  Transport& transport_;
  const std::string app_id_;
  GroupOptions options_;
  RuntimeEvents& events_;
  std::unique_ptr<GroupConsumer> consumer_;
  std::thread poller_;
  std::atomic<bool> running_{false};
  // Whether this member holds partition 0 (incremental events name only what moves). Poller only.
  bool owns_leader_partition_ = false;
  // Set when the term gave up (fenced, not established in time) or the membership was lost:
  // the poller rejoins as a new member.
  std::atomic<bool> step_down_requested_{false};
  mutable std::mutex mutex_;  // guards snapshot_; never held while calling into term_
  LeadershipSnapshot snapshot_;
  // Last: its thread calls back into the members above.
  LeaderTerm term_;
};

// A client id, `<app-id>-<epoch ms>-<pid>`: it names the worker and its time
// of joining in the broker's group listings. It decides nothing: see LeaderElector.
std::string worker_client_id(const std::string& app_id);

}  // namespace faust
