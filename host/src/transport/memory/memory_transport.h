#pragma once

#include <memory>

#include "transport/transport.h"

namespace faust {

// The `memory://` broker: topics, partitions and consumer groups inside this process, so a worker
// runs with no Kafka at all (trying an app, developing a plugin, tests).
//
// - Topics are created by ensure_topics or, like a broker with auto-creation on, with one
//   partition at their first send. Records are kept for the life of the transport.
// - Keyed records go to partition crc32(key) % partitions, as librdkafka's default partitioner
//   puts them; records without a key go round-robin.
// - A send is acknowledged once stored; flush has nothing to do.
// - Leader producers buffer a transaction and store its records (and the consumed positions it
//   commits) together at commit; starting a new one fences the previous one, as Kafka's
//   transaction coordinator does. Compaction is not simulated: every record is kept; but a
//   compacted topic refuses a record without a key, as Kafka does (the record's own fault), so
//   tests can make the broker refuse a record.
// - Each group has one member at a time (one process is the whole cluster). It is assigned every
//   partition of its topics at its first poll, with generation 1 for the group's first member,
//   2 for the next, and so on; it reads from the group's committed offsets (from 0 the first
//   time). Leaving and joining again therefore redelivers whatever was not committed.
// - Thread-safe: sends from any thread, while consumers poll on theirs.
class MemoryTransport final : public Transport {
 public:
  MemoryTransport();
  ~MemoryTransport() override;

  Status ensure_topics(const std::vector<TopicSpec>& topics, std::chrono::milliseconds timeout) override;
  Result<std::unique_ptr<GroupConsumer>> join_group(const GroupOptions& options,
                                                    GroupListener& listener) override;
  Status send(const ProducedRecord& record, std::chrono::milliseconds timeout) override;
  Result<std::unique_ptr<TransactionalProducer>> start_leader_producer(std::chrono::milliseconds timeout) override;
  Result<std::unique_ptr<TransactionalProducer>> start_transactional_producer(const std::string& transactional_id,
                                                                              std::chrono::milliseconds timeout) override;
  Status flush(std::chrono::milliseconds /*timeout*/) override { return ok_status(); }
  BrokerState broker_state() const override { return BrokerState::kUp; }
  Result<std::unique_ptr<PartitionReader>> read_partition(const TopicPartition& partition,
                                                          const std::string& group_id,
                                                          std::chrono::milliseconds timeout) override;
  Result<std::unique_ptr<TopicReader>> read_topic(const TopicReadRequest& request,
                                                  std::chrono::milliseconds timeout) override;

  // Shared by the transport and its consumers, so either may be destroyed first.
  class Broker;

 private:
  std::shared_ptr<Broker> broker_;
};

// The partition librdkafka's default ("consistent_random") partitioner picks for a keyed record.
std::int32_t partition_for_key(std::string_view key, std::int32_t partitions);

}  // namespace faust
