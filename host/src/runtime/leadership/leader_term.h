#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "runtime/leadership/leader_state.h"
#include "transport/transport.h"

namespace faust {

struct LeaderTermOptions {
  // A term that is not established (fenced) within this long is given up: the worker steps
  // down so another can lead. The leader group's session timeout. The leader state's restore is
  // not held to it: it goes on while the state topic keeps yielding records, and gives up when
  // none came for this long.
  std::chrono::milliseconds establish_within{6000};
  // How long a unit's commit or abort may take before the producer is replaced.
  std::chrono::milliseconds finish_within{30000};
  // The leader state's compacted topic; empty: no leader state.
  std::string state_topic;
  std::size_t state_limit_bytes = 64 * 1024 * 1024;
};

// What the worker runs at a term's edges (the services' elected and revoked). From the term's
// thread; both optional.
struct TermHooks {
  // A term's producer is ready and units may run (from any thread) until this returns; the term
  // is established after it. Once per term: not again when the producer is replaced.
  std::function<void(std::int32_t generation)> opening;
  // A term that was opening or established ended; no unit of it runs any more.
  std::function<void(std::int32_t generation)> closed;
};

struct LeaderTermCallbacks {
  // The term is established: this worker leads. From the term's thread.
  std::function<void(std::int32_t generation)> established;
  // The term cannot go on (fenced by a newer leader, or not established in time): the worker
  // should step down. From the term's thread or a unit's.
  std::function<void(const std::string& why)> give_up;
  TermHooks hooks;
};

enum class TermState { kNone, kEstablishing, kEstablished };

struct LeaderTermSnapshot {
  TermState state = TermState::kNone;
  // The term's number: the leader group's generation it began in. It stays while rebalances leave
  // the leader partition with this worker (the group's generation moves on), and is what services
  // are told.
  std::int32_t generation = -1;
  std::uint64_t terms = 0;            // terms established so far by this worker
  std::uint64_t committed = 0;        // units committed
  std::uint64_t aborted = 0;          // units aborted or failed
  std::string problem;  // why the last term failed; until a term is established or another leads
  std::chrono::system_clock::time_point established_at{};
  // The leader state, as of the last committed unit.
  std::size_t state_entries = 0;
  std::size_t state_bytes = 0;
  std::chrono::system_clock::time_point state_restored_at{};
  std::chrono::milliseconds state_restore_took{0};
};

// One leadership term of this worker: from gaining partition 0 of the leader topic to losing
// it. A term is established only once its transactional producer is registered with the
// transaction coordinator, which fences every earlier leader; only then is this worker the
// leader. Leader work (an on_leader tick) runs as a unit: one transaction, committed when the
// work returns, aborted when it fails, so a reader (read_committed) sees all of a unit or none.
//
// A term never gets stuck: a commit or abort that times out is called again; one that cannot
// finish within finish_within, or a fatal producer error, replaces the producer and
// establishes the term again (which fences the old producer). Fencing by a newer leader, or a
// term that cannot be established within establish_within, gives up (the worker steps down).
class LeaderTerm {
 public:
  LeaderTerm(Transport& transport, LeaderTermOptions options, LeaderTermCallbacks callbacks);
  ~LeaderTerm();

  // From the elector, never blocking: this worker was assigned (or lost) the leader partition.
  void gained(std::int32_t generation);
  // `another_leads`: the group settled on another leader, so an earlier problem is over.
  void lost(bool another_leads = false);
  // A rebalance took the leader partition away for now: no unit runs until gained() gives it back
  // to this worker, which resumes the same term (producer, state, services) without a new one,
  // or lost() ends it.
  void suspend();
  // An incremental rebalance left the leader partition with this worker: the term simply goes on
  // (logged, as a resumed one is).
  void kept(std::int32_t generation);
  // Ends the term and its thread; a unit in progress finishes first.
  void stop();

  bool established() const { return established_.load(); }
  // Established, or opening (fenced already, its hooks running): this worker leads.
  bool leading() const { return established_.load() || opening_.load(); }
  LeaderTermSnapshot snapshot() const;

  // Runs `work` as one unit of the current term. nullopt: not established, `work` did not run.
  // Otherwise the work's failure, or why the unit's transaction did not commit.
  std::optional<Status> run_unit(const std::string& unit, const std::function<Status()>& work);
  // A send of leader work. Inside a unit on the calling thread: queued in its transaction
  // (delivered when the unit commits). Elsewhere: a unit of its own, committed before it returns.
  Status send(const ProducedRecord& record);
  // Commits a consumed position with the unit in progress on the calling thread (only there).
  Status send_offset(const TopicPartition& partition, std::int64_t next_offset, const std::string& group_id);

  // The leader state, like send: inside a unit its writes join the unit's transaction (and reads
  // see them); elsewhere each call is a unit of its own. Fails when not leading.
  Result<std::optional<std::string>> state_get(std::string_view key);
  Status state_put(std::string_view key, std::string_view value);
  Status state_delete(std::string_view key);
  Result<LeaderStateStore::Entries> state_scan(std::string_view prefix);

 private:
  void run();
  void establish(std::int32_t generation);
  void end_producer();
  // Reads the state topic to its end into state_; false (with why) when it could not.
  Status restore_state(std::int32_t generation);
  // Runs `op` on the state inside a unit: the calling thread's, or one of its own.
  Status in_state_unit(const std::string& what, const std::function<Status()>& op);
  bool in_unit_here() const { return unit_thread_.load() == std::this_thread::get_id(); }
  // Calls `closed` when the opened term is no longer wanted; `lock` holds mutex_.
  void close_if_ended(std::unique_lock<std::mutex>& lock);
  // Ends whatever term there is at once: no unit may start from here on. Holds mutex_.
  void end_term_now();
  Status finish_unit(const std::string& unit, Status result);
  TxnStatus retry(const std::function<TxnStatus(std::chrono::milliseconds)>& call, std::uint64_t term);
  // A transaction that cannot go on: fenced gives up the term, anything else replaces the producer.
  void on_broken(const TxnStatus& status);
  Status handle_broken(const std::string& unit, const TxnStatus& status);
  void replace_producer(const std::string& why);
  void give_up(const std::string& why);
  bool wait_or_changed(std::chrono::milliseconds delay, std::int32_t generation);

  Transport& transport_;
  const LeaderTermOptions options_;
  const LeaderTermCallbacks callbacks_;

  // Term state, guarded by mutex_: what the elector wants (a term of that generation, or none)
  // and what the term's thread has established.
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<std::int32_t> wanted_;
  std::optional<std::int32_t> current_;
  std::optional<std::int32_t> opened_;  // the term `opening` was called for, until `closed`
  bool stopping_ = false;
  bool suspended_ = false;
  LeaderTermSnapshot snapshot_;
  std::atomic<bool> established_{false};
  std::atomic<bool> opening_{false};  // units may run while the term opens
  std::atomic<std::uint64_t> term_serial_{0};  // a unit compares it to see its term end

  // One unit at a time; guards producer_ and the unit's bookkeeping.
  std::mutex unit_mutex_;
  std::unique_ptr<TransactionalProducer> producer_;
  std::atomic<std::thread::id> unit_thread_{};
  std::size_t unit_sends_ = 0;
  LeaderStateStore state_;  // its unit writes belong to the unit in progress
  std::optional<TxnStatus> unit_send_failure_;

  std::thread thread_;
};

const char* term_state_name(TermState state);

}  // namespace faust
