#include "runtime/leadership/leader_elector.h"

#include <algorithm>

#include <spdlog/spdlog.h>
#include <unistd.h>

namespace faust {

std::string worker_client_id(const std::string& app_id) {
  const std::int64_t stamp = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch()).count();
  return fmt::format("{}-{:013d}-{}", app_id, stamp, ::getpid());
}

namespace {

// The leader group uses the cooperative-sticky assignor: each member's JoinGroup names the
// partitions it owns, and the assignor keeps them with it (librdkafka's sticky assignor keeps a
// valid owner's partitions, the highest generation winning a contested claim). Partition 0 thus
// stays with the live leader whoever joins and whatever the members' ids or clocks say; it moves
// only when its owner leaves or is evicted.
GroupOptions sticky(GroupOptions options) {
  options.incremental_rebalance = true;
  return options;
}

bool has_leader_partition(const GroupEvent& event) {
  return std::any_of(event.partitions.begin(), event.partitions.end(),
                     [](const TopicPartition& p) { return p.partition == 0; });
}

}  // namespace

LeaderElector::LeaderElector(Transport& transport, std::string app_id, GroupOptions options, RuntimeEvents& events,
                             LeaderTermOptions term_options, TermHooks term_hooks)
    : transport_(transport),
      app_id_(std::move(app_id)),
      options_(sticky(std::move(options))),
      events_(events),
      term_(transport, term_options,
            LeaderTermCallbacks{[this](std::int32_t generation) { on_term_established(generation); },
                                // The term has already ended itself; only the group is left.
                                [this](const std::string& /*why*/) { step_down_requested_ = true; },
                                std::move(term_hooks)}) {}

LeaderElector::~LeaderElector() { stop(); }

// A fresh membership each time: the client id names the worker (app, time of joining, pid) in the
// broker's group listings; it decides nothing, since partition 0 stays with the member that owns it.
Status LeaderElector::join() {
  options_.client_id = worker_client_id(app_id_);
  auto consumer = transport_.join_group(options_, *this);
  if (!consumer) return consumer.error();
  consumer_ = std::move(consumer).value();
  return ok_status();
}

Status LeaderElector::start() {
  if (auto status = join(); !status) return status;
  running_ = true;
  poller_ = std::thread([this] { run(); });
  return ok_status();
}

void LeaderElector::run() {
  while (running_) {
    if (step_down_requested_.exchange(false)) {
      spdlog::warn("stepping down: rejoining the leader group as a new member");
      consumer_->close();
      consumer_.reset();
      if (auto status = join(); !status) {
        events_.fatal(status.error());
        return;
      }
    }
    consumer_->poll(std::chrono::milliseconds(100));
  }
  consumer_->close();
}

void LeaderElector::stop() {
  term_.stop();
  if (running_.exchange(false)) {
    if (poller_.joinable()) poller_.join();  // the poller leaves the group
    consumer_.reset();
  }
  bool was_leader = false;
  std::int32_t generation = -1;
  {
    std::lock_guard lock(mutex_);
    was_leader = std::exchange(snapshot_.leader, false);
    generation = snapshot_.generation;
  }
  if (was_leader) {
    spdlog::info("leadership released: left the group");
    events_.leadership_changed(false, generation);
  }
}

LeadershipSnapshot LeaderElector::snapshot() const {
  std::lock_guard lock(mutex_);
  return snapshot_;
}

// Incremental: the event names only what this worker gains, so a leader that keeps partition 0
// (every rebalance where it stays a member) hears nothing of it, or an empty assignment, and
// its term simply goes on. Eager (the memory transport): the event is the whole assignment.
void LeaderElector::on_assigned(const GroupEvent& event) {
  const bool gained = has_leader_partition(event);
  const bool kept = event.incremental && owns_leader_partition_ && !gained;
  owns_leader_partition_ = gained || kept;
  if (kept) {
    {
      std::lock_guard lock(mutex_);
      snapshot_.generation = event.generation;
    }
    term_.kept(event.generation);
    return;
  }
  if (gained) {
    {
      std::lock_guard lock(mutex_);
      snapshot_.joined = true;
      snapshot_.generation = event.generation;
      snapshot_.member_id = event.member_id;
    }
    // This worker leads only once the term is established: see on_term_established.
    term_.gained(event.generation);
    return;
  }
  follow(event);
}

// The group settled on another member (or none yet) for partition 0: whatever term this worker
// had ends, and the change is announced once.
void LeaderElector::follow(const GroupEvent& event) {
  bool announce = false;
  bool was_leader = false;
  {
    std::lock_guard lock(mutex_);
    announce = !snapshot_.joined || snapshot_.leader;
    was_leader = snapshot_.leader;
    snapshot_.joined = true;
    snapshot_.generation = event.generation;
    snapshot_.member_id = event.member_id;
    if (announce) {
      snapshot_.leader = false;
      snapshot_.since = std::chrono::system_clock::now();
    }
  }
  term_.lost(/*another_leads=*/true);
  if (!announce) return;
  if (was_leader) {
    spdlog::warn("this worker lost leadership (generation {})", event.generation);
  } else {
    spdlog::info("this worker is a follower (generation {})", event.generation);
  }
  events_.leadership_changed(false, event.generation);
}

// A member whose membership was lost (paused past the session timeout, cut off) rejoins as a
// new member: the group has elected another leader meanwhile, which keeps the partition.
void LeaderElector::on_revoked(const GroupEvent& event) {
  if (event.lost) {
    owns_leader_partition_ = false;
    term_.lost();
    step_down_requested_ = true;
    return;
  }
  if (!has_leader_partition(event)) return;
  owns_leader_partition_ = false;
  // Leaving the group (stop): the term has ended already, and stop() announces the release.
  if (!running_) return;
  if (event.incremental) {
    // The sticky assignor takes partition 0 from a live member only to give it to another (its
    // claim was stale): leadership has moved.
    follow(event);
    return;
  }
  // Eager rebalances (a worker joining or leaving) revoke everything and usually hand partition
  // 0 straight back: the term is only suspended, and resumes without a new one if it does.
  term_.suspend();
}

void LeaderElector::on_term_established(std::int32_t generation) {
  {
    std::lock_guard lock(mutex_);
    if (snapshot_.leader) return;
    snapshot_.leader = true;
    snapshot_.since = std::chrono::system_clock::now();
  }
  spdlog::info("this worker is now the leader (generation {})", generation);
  events_.leadership_changed(true, generation);
}

}  // namespace faust
