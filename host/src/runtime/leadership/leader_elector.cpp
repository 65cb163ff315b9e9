#include "runtime/leadership/leader_elector.h"

#include <algorithm>

#include <spdlog/spdlog.h>
#include <unistd.h>

namespace faust {

std::string time_ordered_client_id(const std::string& app_id, const std::vector<std::string>& members) {
  std::int64_t stamp = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch()).count();
  const std::string prefix = app_id + "-";
  for (const auto& member : members) {
    if (member.size() < prefix.size() + 13 || member.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string digits = member.substr(prefix.size(), 13);
    if (digits.find_first_not_of("0123456789") != std::string::npos) continue;
    stamp = std::max<std::int64_t>(stamp, std::stoll(digits) + 1);
  }
  return fmt::format("{}-{:013d}-{}", app_id, stamp, ::getpid());
}

LeaderElector::LeaderElector(Transport& transport, std::string app_id, GroupOptions options, RuntimeEvents& events,
                             LeaderTermOptions term_options, TermHooks term_hooks)
    : transport_(transport),
      app_id_(std::move(app_id)),
      options_(std::move(options)),
      events_(events),
      term_(transport, term_options,
            LeaderTermCallbacks{[this](std::int32_t generation) { on_term_established(generation); },
                                // The term has already ended itself; only the group is left.
                                [this](const std::string& /*why*/) { step_down_requested_ = true; },
                                std::move(term_hooks)}) {}

LeaderElector::~LeaderElector() { stop(); }

// Partition 0 goes to the member whose id sorts first, and ids start with the client id. The
// client id is the time of joining, so it sorts after every member that joined before: a worker
// that joins (or rejoins after losing its membership) never takes leadership from a live leader.
Status LeaderElector::join() {
  // The member list (DescribeConsumerGroups) would let the id sort after members whose clocks
  // run ahead, but librdkafka 2.0.2 aborts the process some time after such a request timed out
  // (rd_kafka_enq_once assertion, e.g. on a cold coordinator, then a broker restart): a client
  // id of now already sorts after every member that joined before.
  options_.client_id = time_ordered_client_id(app_id_);
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
      spdlog::warn("stepping down: rejoining the leader group as its newest member");
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

void LeaderElector::on_assigned(const GroupEvent& event) {
  const bool leader = std::any_of(event.partitions.begin(), event.partitions.end(),
                                  [](const TopicPartition& p) { return p.partition == 0; });
  bool announce_follower = false;
  bool was_leader = false;
  {
    std::lock_guard lock(mutex_);
    announce_follower = !leader && (!snapshot_.joined || snapshot_.leader);
    was_leader = snapshot_.leader;
    snapshot_.joined = true;
    snapshot_.generation = event.generation;
    snapshot_.member_id = event.member_id;
    if (announce_follower) {
      snapshot_.leader = false;
      snapshot_.since = std::chrono::system_clock::now();
    }
  }
  // This worker leads only once the term is established: see on_term_established.
  if (leader) {
    term_.gained(event.generation);
    return;
  }
  term_.lost(/*another_leads=*/true);
  if (!announce_follower) return;
  if (was_leader) {
    spdlog::warn("this worker lost leadership (generation {})", event.generation);
  } else {
    spdlog::info("this worker is a follower (generation {})", event.generation);
  }
  events_.leadership_changed(false, event.generation);
}

// Leadership (every unit) stops at once, but the term ends, and the change is announced, only once
// the group's next assignment shows whether it really moved: a rebalance that hands the
// partition back is not news.
// A member whose membership was lost (paused past the session timeout, cut off) rejoins as the
// newest member: the group has elected another leader meanwhile, and the oldest client id would
// otherwise take leadership back from it.
void LeaderElector::on_revoked(const GroupEvent& event) {
  if (event.lost) {
    term_.lost();
    step_down_requested_ = true;
    return;
  }
  // Most rebalances (a worker joining or leaving) hand partition 0 straight back: the term is
  // only suspended, and resumes without a new one if it does.
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
