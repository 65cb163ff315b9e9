#include "transport/memory/memory_transport.h"

#include <algorithm>
#include <array>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>

namespace faust {
namespace {

using Clock = std::chrono::steady_clock;

// How often a consumer reports its lag, as often as librdkafka's statistics do in the Kafka
// transport.
constexpr auto kLagReportInterval = std::chrono::seconds(1);

struct StoredRecord {
  std::optional<std::string> key;
  std::string value;
  Headers headers;
  std::int64_t timestamp_ms = 0;
  bool tombstone = false;
};

struct Topic {
  std::vector<std::vector<StoredRecord>> partitions;
  bool compacted = false;
  std::size_t next_unkeyed = 0;  // round-robin cursor for records without a key
};

struct Group {
  std::map<TopicPartition, std::int64_t> committed;  // next offset to read, per partition
  std::int32_t generation = 0;
  bool has_member = false;
};

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The table of the reflected CRC-32 (zlib's, which librdkafka's partitioner uses).
constexpr std::array<std::uint32_t, 256> make_crc32_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 1U) != 0 ? (crc >> 1) ^ 0xEDB88320U : crc >> 1;
    table[i] = crc;
  }
  return table;
}

std::uint32_t crc32(std::string_view bytes) {
  static constexpr std::array<std::uint32_t, 256> kTable = make_crc32_table();
  std::uint32_t crc = 0xFFFFFFFFU;
  for (const char c : bytes) crc = kTable[(crc ^ static_cast<unsigned char>(c)) & 0xFFU] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFU;
}

}  // namespace

std::int32_t partition_for_key(std::string_view key, std::int32_t partitions) {
  return static_cast<std::int32_t>(crc32(key) % static_cast<std::uint32_t>(partitions));
}

class MemoryTransport::Broker {
 public:
  std::mutex mutex;
  std::condition_variable appended;  // a record was stored
  std::map<std::string, Topic> topics;
  std::map<std::string, Group> groups;
  std::uint64_t members_joined = 0;  // numbers member ids

  Status create_locked(const TopicSpec& spec) {
    if (spec.name.empty()) return Error{ExitCode::kFailure, "memory://: a topic needs a name"};
    if (spec.partitions < 1) {
      return Error{ExitCode::kFailure, "memory://: topic '" + spec.name +
                                           "' needs at least 1 partition, not " +
                                           std::to_string(spec.partitions)};
    }
    auto [it, created] = topics.try_emplace(spec.name);
    if (created) {
      it->second.partitions.resize(static_cast<std::size_t>(spec.partitions));
      it->second.compacted = spec.compacted;
    }
    return ok_status();
  }

  Status append(const ProducedRecord& record) { return append_all({record}, {}, {}); }

  // A consumed position a transaction commits: (group, partition) -> next offset.
  using GroupOffset = std::pair<std::pair<std::string, TopicPartition>, std::int64_t>;

  // Stores the records and moves the groups' positions together: a reader sees all of them or
  // none, like a committed transaction.
  // Refused, with nothing stored, when a member's generation is no longer its group's.
  Status append_all(const std::vector<ProducedRecord>& records, const std::vector<GroupOffset>& offsets,
                    const std::vector<GroupMember>& members) {
    {
      std::lock_guard lock(mutex);
      for (const auto& record : records) {
        if (auto refused = refusal_locked(record); !refused) return refused;
      }
      for (const auto& member : members) {
        if (member.generation >= 0 && groups[member.group_id].generation != member.generation) {
          return Error{ExitCode::kFailure, "memory://: group '" + member.group_id + "' moved on from generation " +
                                               std::to_string(member.generation)};
        }
      }
      for (const auto& record : records) {
        if (auto status = append_locked(record); !status) return status;
      }
      for (const auto& [where, offset] : offsets) groups[where.first].committed[where.second] = offset;
    }
    appended.notify_all();
    return ok_status();
  }

  // Why Kafka would refuse the record for its own sake: a compacted topic takes only keyed
  // records (INVALID_RECORD).
  Status refusal_locked(const ProducedRecord& record) const {
    const auto topic = topics.find(record.topic);
    if (topic != topics.end() && topic->second.compacted && !record.key) {
      return Error{ExitCode::kFailure, "send to topic '" + record.topic +
                                      "' failed: Broker: Invalid record (a compacted topic takes only keyed records)"};
    }
    return ok_status();
  }

  // The epoch of each transactional id's producer: registering a new one fences the previous
  // holder.
  std::map<std::string, std::uint64_t> producer_epochs;

 private:
  Status append_locked(const ProducedRecord& record) {
    // Like a broker with auto.create.topics.enable and num.partitions=1, Kafka's defaults.
    if (auto status = create_locked(TopicSpec{record.topic, 1, 1}); !status) return status;
    Topic& topic = topics.at(record.topic);
    const auto partitions = static_cast<std::int32_t>(topic.partitions.size());
    std::size_t partition = 0;
    if (record.key) {
      partition = static_cast<std::size_t>(partition_for_key(*record.key, partitions));
    } else {
      partition = topic.next_unkeyed++ % topic.partitions.size();
    }
    topic.partitions[partition].push_back(
        StoredRecord{record.key, record.tombstone ? std::string() : record.value, record.headers, now_ms(), record.tombstone});
    return ok_status();
  }

 public:
  // The records of one partition, or null if it does not exist.
  const std::vector<StoredRecord>* records_locked(const TopicPartition& partition) const {
    const auto topic = topics.find(partition.topic);
    if (topic == topics.end() || partition.partition < 0 ||
        static_cast<std::size_t>(partition.partition) >= topic->second.partitions.size()) {
      return nullptr;
    }
    return &topic->second.partitions[static_cast<std::size_t>(partition.partition)];
  }
};

namespace {

using Broker = MemoryTransport::Broker;

ConsumedMessage to_consumed(const TopicPartition& partition, std::int64_t offset, const StoredRecord& stored) {
  return ConsumedMessage{partition, offset, stored.key, stored.value, stored.headers, stored.timestamp_ms,
                         stored.tombstone};
}

// The only member of its group. Callbacks run on the polling thread, never under the broker's
// lock, so a listener may commit or pause from inside them.
class MemoryGroupConsumer final : public GroupConsumer {
 public:
  MemoryGroupConsumer(std::shared_ptr<Broker> broker, GroupOptions options, GroupListener& listener,
                      std::string member_id)
      : broker_(std::move(broker)),
        options_(std::move(options)),
        listener_(listener),
        member_id_(std::move(member_id)) {}

  // Leaves without callbacks: the listener may already be gone. close() is the orderly way out.
  ~MemoryGroupConsumer() override {
    if (!closed_) leave();
  }

  void poll(std::chrono::milliseconds timeout) override {
    if (closing_) return;
    const auto deadline = Clock::now() + timeout;
    rebalance_if_needed();
    std::vector<ConsumedMessage> batch = take_batch(deadline);
    if (!batch.empty()) listener_.on_messages(batch);
    report_lag();
  }

  Status commit(const std::vector<std::pair<TopicPartition, std::int64_t>>& next_offsets,
                bool /*wait*/) override {
    if (closed_) {
      return Error{ExitCode::kFailure,
                   "memory://: commit in group '" + options_.group_id + "' failed: not a member"};
    }
    std::lock_guard lock(broker_->mutex);
    Group& group = broker_->groups.at(options_.group_id);
    for (const auto& [partition, offset] : next_offsets) group.committed[partition] = offset;
    return ok_status();
  }

  void pause(const std::vector<TopicPartition>& partitions) override {
    paused_.insert(partitions.begin(), partitions.end());
  }

  void resume(const std::vector<TopicPartition>& partitions) override {
    for (const auto& partition : partitions) paused_.erase(partition);
  }

  Status rewind(const std::vector<TopicPartition>& partitions) override {
    std::lock_guard lock(broker_->mutex);
    const Group& group = broker_->groups.at(options_.group_id);
    for (const auto& partition : partitions) {
      const auto position = positions_.find(partition);
      if (position == positions_.end()) continue;
      const auto committed = group.committed.find(partition);
      position->second = committed == group.committed.end() ? 0 : committed->second;
    }
    return ok_status();
  }

  void close() override {
    if (closing_) return;
    closing_ = true;
    // While still a member, so the listener can commit what it finished.
    if (assigned_) listener_.on_revoked(event(assigned_partitions()));
    leave();
  }

 private:
  GroupEvent event(std::vector<TopicPartition> partitions) const {
    return GroupEvent{std::move(partitions), generation_, member_id_};
  }

  std::vector<TopicPartition> assigned_partitions() const {
    std::vector<TopicPartition> partitions;
    for (const auto& [partition, position] : positions_) partitions.push_back(partition);
    return partitions;
  }

  // Every partition of the subscribed topics that exist now, in order.
  std::vector<TopicPartition> wanted_locked() const {
    std::vector<TopicPartition> partitions;
    for (const auto& name : std::set<std::string>(options_.topics.begin(), options_.topics.end())) {
      const auto topic = broker_->topics.find(name);
      if (topic == broker_->topics.end()) continue;
      for (std::size_t p = 0; p < topic->second.partitions.size(); ++p) {
        partitions.push_back(TopicPartition{name, static_cast<std::int32_t>(p)});
      }
    }
    return partitions;
  }

  // The first poll assigns; a subscribed topic created later triggers a rebalance, as a Kafka
  // consumer's next metadata refresh would.
  void rebalance_if_needed() {
    std::vector<TopicPartition> wanted;
    {
      std::lock_guard lock(broker_->mutex);
      wanted = wanted_locked();
    }
    if (assigned_ && wanted == assigned_partitions()) return;
    if (assigned_) {
      listener_.on_revoked(event(assigned_partitions()));
      positions_.clear();
      paused_.clear();
    }
    {
      std::lock_guard lock(broker_->mutex);
      wanted = wanted_locked();
      Group& group = broker_->groups.at(options_.group_id);
      generation_ = ++group.generation;
      for (const auto& partition : wanted) {
        const auto committed = group.committed.find(partition);
        positions_[partition] = committed == group.committed.end() ? 0 : committed->second;
      }
    }
    assigned_ = true;
    listener_.on_assigned(event(wanted));
  }

  bool has_records_locked() const {
    for (const auto& [partition, position] : positions_) {
      if (paused_.count(partition) > 0) continue;
      const auto* records = broker_->records_locked(partition);
      if (records != nullptr && static_cast<std::size_t>(position) < records->size()) return true;
    }
    return false;
  }

  // Waits until a record is ready or the deadline passes, then takes up to max_batch records.
  // Each poll starts at the next partition, so a busy partition never starves the others.
  std::vector<ConsumedMessage> take_batch(Clock::time_point deadline) {
    std::vector<ConsumedMessage> batch;
    if (positions_.empty()) {
      // Nothing assigned: wait out the timeout like an idle consumer, without holding the lock.
      std::unique_lock lock(broker_->mutex);
      broker_->appended.wait_until(lock, deadline, [&] { return wanted_locked() != assigned_partitions(); });
      return batch;
    }
    const std::size_t max_batch = std::max<std::size_t>(options_.max_batch, 1);
    std::unique_lock lock(broker_->mutex);
    if (!broker_->appended.wait_until(lock, deadline, [&] { return has_records_locked(); })) return batch;
    std::vector<std::pair<const TopicPartition, std::int64_t>*> order;
    for (auto& entry : positions_) order.push_back(&entry);
    const std::size_t start = next_start_++ % order.size();
    for (std::size_t i = 0; i < order.size() && batch.size() < max_batch; ++i) {
      auto& [partition, position] = *order[(start + i) % order.size()];
      if (paused_.count(partition) > 0) continue;
      const auto* records = broker_->records_locked(partition);
      if (records == nullptr) continue;
      while (static_cast<std::size_t>(position) < records->size() && batch.size() < max_batch) {
        const StoredRecord& stored = (*records)[static_cast<std::size_t>(position)];
        batch.push_back(to_consumed(partition, position, stored));
        ++position;
      }
    }
    return batch;
  }

  // Lag as Kafka's statistics define it: end offset minus committed offset.
  void report_lag() {
    if (!options_.on_lag || positions_.empty() || Clock::now() < next_lag_report_) return;
    next_lag_report_ = Clock::now() + kLagReportInterval;
    std::vector<std::pair<TopicPartition, std::int64_t>> lags;
    {
      std::lock_guard lock(broker_->mutex);
      const Group& group = broker_->groups.at(options_.group_id);
      for (const auto& [partition, position] : positions_) {
        const auto* records = broker_->records_locked(partition);
        const auto committed = group.committed.find(partition);
        const std::int64_t end = records == nullptr ? 0 : static_cast<std::int64_t>(records->size());
        lags.emplace_back(partition, end - (committed == group.committed.end() ? 0 : committed->second));
      }
    }
    for (const auto& [partition, lag] : lags) options_.on_lag(partition, lag);
  }

  void leave() {
    closed_ = true;
    closing_ = true;
    positions_.clear();
    std::lock_guard lock(broker_->mutex);
    broker_->groups.at(options_.group_id).has_member = false;
  }

  std::shared_ptr<Broker> broker_;
  const GroupOptions options_;
  GroupListener& listener_;
  const std::string member_id_;
  std::int32_t generation_ = -1;
  bool assigned_ = false;
  bool closing_ = false;                              // close() began: no more polls
  bool closed_ = false;                               // left the group
  std::map<TopicPartition, std::int64_t> positions_;  // the assignment, with the next offset to deliver
  std::set<TopicPartition> paused_;
  std::size_t next_start_ = 0;
  Clock::time_point next_lag_report_{};
};

}  // namespace

MemoryTransport::MemoryTransport() : broker_(std::make_shared<Broker>()) {}

MemoryTransport::~MemoryTransport() = default;

Status MemoryTransport::ensure_topics(const std::vector<TopicSpec>& topics,
                                      std::chrono::milliseconds /*timeout*/) {
  {
    std::lock_guard lock(broker_->mutex);
    for (const auto& topic : topics) {
      if (auto status = broker_->create_locked(topic); !status) return status;
    }
  }
  broker_->appended.notify_all();  // idle consumers of a new topic rebalance at once
  return ok_status();
}

Result<std::unique_ptr<GroupConsumer>> MemoryTransport::join_group(const GroupOptions& options,
                                                                   GroupListener& listener) {
  std::string member_id;
  {
    std::lock_guard lock(broker_->mutex);
    Group& group = broker_->groups[options.group_id];
    if (group.has_member) {
      return Error{ExitCode::kFailure,
                   "memory://: group '" + options.group_id +
                       "' already has a member (the in-process broker serves one per group)"};
    }
    group.has_member = true;
    member_id = (options.client_id.empty() ? options.group_id : options.client_id) + "-" +
                std::to_string(++broker_->members_joined);
  }
  return std::unique_ptr<GroupConsumer>(
      std::make_unique<MemoryGroupConsumer>(broker_, options, listener, std::move(member_id)));
}

Status MemoryTransport::send(const ProducedRecord& record, std::chrono::milliseconds /*timeout*/) {
  return broker_->append(record);
}

namespace {

// Buffers a transaction's records and stores them together at commit, unless a newer producer
// with the same transactional id was registered meanwhile.
class MemoryTransactionalProducer final : public TransactionalProducer {
 public:
  MemoryTransactionalProducer(std::shared_ptr<Broker> broker, std::string transactional_id, std::uint64_t epoch)
      : broker_(std::move(broker)), transactional_id_(std::move(transactional_id)), epoch_(epoch) {}

  TxnStatus begin() override {
    if (auto fenced = check_epoch(); !fenced) return fenced;
    if (open_) return {TxnFailure::kFatal, "begin: a transaction is already open"};
    open_ = true;
    return {};
  }
  TxnStatus send(const ProducedRecord& record) override {
    if (!open_) return {TxnFailure::kFatal, "send outside a transaction"};
    pending_.push_back(record);
    return {};
  }
  TxnStatus commit(std::chrono::milliseconds /*timeout*/) override {
    if (auto fenced = check_epoch(); !fenced) return fenced;
    open_ = false;
    auto records = std::move(pending_);
    auto offsets = std::move(offsets_);
    auto members = std::move(members_);
    clear();
    {
      std::lock_guard lock(broker_->mutex);
      for (const auto& record : records) {
        if (auto refused = broker_->refusal_locked(record); !refused) return {TxnFailure::kRefused, refused.error().message};
      }
    }
    if (auto status = broker_->append_all(records, offsets, members); !status) {
      return {TxnFailure::kAbortable, status.error().message};
    }
    return {};
  }
  TxnStatus abort(std::chrono::milliseconds /*timeout*/) override {
    open_ = false;
    clear();
    return {};
  }
  TxnStatus send_offsets(const std::vector<std::pair<TopicPartition, std::int64_t>>& next_offsets,
                         const GroupMember& member) override {
    if (!open_) return {TxnFailure::kFatal, "send_offsets outside a transaction"};
    for (const auto& [partition, next_offset] : next_offsets) {
      offsets_.push_back({{member.group_id, partition}, next_offset});
    }
    members_.push_back(member);
    return {};
  }

 private:
  TxnStatus check_epoch() {
    std::lock_guard lock(broker_->mutex);
    if (broker_->producer_epochs[transactional_id_] != epoch_) {
      return {TxnFailure::kFenced, "memory://: fenced by a newer producer of '" + transactional_id_ + "'"};
    }
    return {};
  }
  void clear() {
    pending_.clear();
    offsets_.clear();
    members_.clear();
  }

  std::shared_ptr<Broker> broker_;
  const std::string transactional_id_;
  const std::uint64_t epoch_;
  bool open_ = false;
  std::vector<ProducedRecord> pending_;
  std::vector<Broker::GroupOffset> offsets_;
  std::vector<GroupMember> members_;
};

// Reads one partition of the shared broker from a position.
class MemoryPartitionReader final : public PartitionReader {
 public:
  MemoryPartitionReader(std::shared_ptr<Broker> broker, TopicPartition partition, std::int64_t position)
      : broker_(std::move(broker)), partition_(std::move(partition)), position_(position) {}

  Result<std::vector<ConsumedMessage>> poll(std::chrono::milliseconds timeout) override {
    std::vector<ConsumedMessage> batch;
    std::unique_lock lock(broker_->mutex);
    const auto available = [&] {
      const auto* records = broker_->records_locked(partition_);
      return records != nullptr && static_cast<std::size_t>(position_) < records->size();
    };
    // Like Kafka's end-of-partition event: reaching the end is reported at once, once.
    if (!available() && !at_end_) {
      at_end_ = true;
      return batch;
    }
    broker_->appended.wait_for(lock, timeout, available);
    if (const auto* records = broker_->records_locked(partition_)) {
      for (; static_cast<std::size_t>(position_) < records->size(); ++position_) {
        batch.push_back(to_consumed(partition_, position_, (*records)[static_cast<std::size_t>(position_)]));
      }
    }
    at_end_ = true;  // it took everything stored
    return batch;
  }
  bool at_end() const override { return at_end_; }

 private:
  std::shared_ptr<Broker> broker_;
  const TopicPartition partition_;
  std::int64_t position_;
  bool at_end_ = false;
};

// Reads each partition of a topic from a start to the end it had when the reader was made.
class MemoryTopicReader final : public TopicReader {
 public:
  MemoryTopicReader(std::shared_ptr<Broker> broker, std::string group_id,
                    std::map<TopicPartition, std::pair<std::int64_t, std::int64_t>> ranges)
      : broker_(std::move(broker)), group_id_(std::move(group_id)), ranges_(std::move(ranges)) {}

  Result<std::vector<ConsumedMessage>> poll(std::chrono::milliseconds /*timeout*/) override {
    std::vector<ConsumedMessage> batch;
    std::lock_guard lock(broker_->mutex);
    for (auto& [partition, range] : ranges_) {
      const auto& records = *broker_->records_locked(partition);
      for (; range.first < range.second; ++range.first) {
        batch.push_back(to_consumed(partition, range.first, records[static_cast<std::size_t>(range.first)]));
      }
    }
    return batch;
  }
  bool at_end() const override {
    return std::all_of(ranges_.begin(), ranges_.end(),
                       [](const auto& entry) { return entry.second.first >= entry.second.second; });
  }
  Status commit(const TopicPartition& partition, std::int64_t next_offset) override {
    std::lock_guard lock(broker_->mutex);
    broker_->groups[group_id_].committed[partition] = next_offset;
    return ok_status();
  }

 private:
  std::shared_ptr<Broker> broker_;
  const std::string group_id_;
  std::map<TopicPartition, std::pair<std::int64_t, std::int64_t>> ranges_;  // [next, end) per partition
};

}  // namespace

Result<std::unique_ptr<TopicReader>> MemoryTransport::read_topic(const TopicReadRequest& request,
                                                                 std::chrono::milliseconds /*timeout*/) {
  std::map<TopicPartition, std::pair<std::int64_t, std::int64_t>> ranges;
  {
    std::lock_guard lock(broker_->mutex);
    const auto topic = broker_->topics.find(request.topic);
    if (topic == broker_->topics.end()) {
      return Error{ExitCode::kFailure, "memory://: topic '" + request.topic + "' does not exist"};
    }
    const auto partitions = static_cast<std::int32_t>(topic->second.partitions.size());
    for (std::int32_t p = 0; p < partitions; ++p) {
      const TopicPartition partition{request.topic, p};
      const auto end = static_cast<std::int64_t>(topic->second.partitions[static_cast<std::size_t>(p)].size());
      if (request.only) {
        if (request.only->partition != p) continue;
        if (request.only->offset < 0 || request.only->offset >= end) {
          return Error{ExitCode::kFailure, "memory://: " + request.topic + "[" + std::to_string(p) +
                                               "] has no offset " + std::to_string(request.only->offset)};
        }
        ranges[partition] = {request.only->offset, request.only->offset + 1};
        continue;
      }
      const auto& committed = broker_->groups[request.group_id].committed;
      const auto found = committed.find(partition);
      ranges[partition] = {found == committed.end() ? 0 : found->second, end};
    }
    if (request.only && ranges.empty()) {
      return Error{ExitCode::kFailure, "memory://: topic '" + request.topic + "' has no partition " +
                                           std::to_string(request.only->partition)};
    }
  }
  return std::unique_ptr<TopicReader>(
      std::make_unique<MemoryTopicReader>(broker_, request.group_id, std::move(ranges)));
}

Result<std::unique_ptr<PartitionReader>> MemoryTransport::read_partition(const TopicPartition& partition,
                                                                         const std::string& group_id,
                                                                         std::chrono::milliseconds /*timeout*/) {
  std::int64_t position = 0;
  {
    std::lock_guard lock(broker_->mutex);
    if (!group_id.empty()) {
      const auto& committed = broker_->groups[group_id].committed;
      if (const auto found = committed.find(partition); found != committed.end()) position = found->second;
    }
  }
  return std::unique_ptr<PartitionReader>(std::make_unique<MemoryPartitionReader>(broker_, partition, position));
}

Result<std::unique_ptr<TransactionalProducer>> MemoryTransport::start_leader_producer(std::chrono::milliseconds timeout) {
  return start_transactional_producer("__leader", timeout);
}

Result<std::unique_ptr<TransactionalProducer>> MemoryTransport::start_transactional_producer(
    const std::string& transactional_id, std::chrono::milliseconds /*timeout*/) {
  std::uint64_t epoch = 0;
  {
    std::lock_guard lock(broker_->mutex);
    epoch = ++broker_->producer_epochs[transactional_id];
  }
  return std::unique_ptr<TransactionalProducer>(
      std::make_unique<MemoryTransactionalProducer>(broker_, transactional_id, epoch));
}

}  // namespace faust
