#include "runtime/leader_elector.h"

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

LeaderElector::LeaderElector(Transport& transport, std::string app_id, GroupOptions options, RuntimeEvents& events)
    : transport_(transport), app_id_(std::move(app_id)), options_(std::move(options)), events_(events) {}

LeaderElector::~LeaderElector() { stop(); }

// Partition 0 goes to the member whose id sorts first, and ids start with the client id. The
// client id is chosen at the moment of joining to sort after every current member, so a worker
// that joins (even one started earlier but slow to reach the group) never takes leadership from
// a live leader.
Status LeaderElector::join() {
  auto members = transport_.group_client_ids(options_.group_id, std::chrono::seconds(5));
  if (!members) spdlog::warn("{}; joining without it", members.error().message);
  options_.client_id = time_ordered_client_id(app_id_, members ? *members : std::vector<std::string>{});
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
  if (!running_.exchange(false)) return;
  if (poller_.joinable()) poller_.join();
  consumer_.reset();
  const bool was_leader = snapshot().leader;
  leader_ = false;
  if (was_leader) {
    spdlog::info("leadership released: left the group");
    events_.leadership_changed(false, snapshot().generation);
  }
}

void LeaderElector::step_down() {
  leader_ = false;
  step_down_requested_ = true;
}

LeadershipSnapshot LeaderElector::snapshot() const {
  std::lock_guard lock(mutex_);
  return snapshot_;
}

void LeaderElector::on_assigned(const GroupEvent& event) {
  const bool leader = std::any_of(event.partitions.begin(), event.partitions.end(),
                                  [](const TopicPartition& p) { return p.partition == 0; });
  bool changed = false;
  bool was_leader = false;
  {
    std::lock_guard lock(mutex_);
    changed = !snapshot_.joined || snapshot_.leader != leader;
    was_leader = snapshot_.leader;
    snapshot_.joined = true;
    snapshot_.generation = event.generation;
    snapshot_.member_id = event.member_id;
    if (changed) {
      snapshot_.leader = leader;
      snapshot_.since = std::chrono::system_clock::now();
    }
  }
  leader_ = leader;
  if (changed) announce(leader, was_leader, event.generation);
}

void LeaderElector::on_revoked(const GroupEvent& /*event*/) { leader_ = false; }

void LeaderElector::announce(bool leader, bool was_leader, std::int32_t generation) {
  if (leader) {
    spdlog::info("this worker is now the leader (generation {})", generation);
  } else if (was_leader) {
    spdlog::warn("this worker lost leadership (generation {})", generation);
  } else {
    spdlog::info("this worker is a follower (generation {})", generation);
  }
  events_.leadership_changed(leader, generation);
}

}  // namespace faust
