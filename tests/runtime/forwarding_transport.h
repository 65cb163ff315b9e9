#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "transport/transport.h"

namespace faust::testing {

// A Transport that hands every call to another one: tests derive from it and override the one
// behaviour they change (a slow broker, a commit whose outcome is reported wrong).
class ForwardingTransport : public Transport {
 public:
  explicit ForwardingTransport(Transport& inner) : inner_(inner) {}

  Status ensure_topics(const std::vector<TopicSpec>& topics, std::chrono::milliseconds timeout) override {
    return inner_.ensure_topics(topics, timeout);
  }
  Result<std::unique_ptr<GroupConsumer>> join_group(const GroupOptions& options, GroupListener& listener) override {
    return inner_.join_group(options, listener);
  }
  Status send(const ProducedRecord& record, std::chrono::milliseconds timeout) override {
    return inner_.send(record, timeout);
  }
  Status send_async(const ProducedRecord& record, std::unique_ptr<PipelinedSend> pipelined) override {
    return inner_.send_async(record, std::move(pipelined));
  }
  Result<std::unique_ptr<TransactionalProducer>> start_leader_producer(std::chrono::milliseconds timeout) override {
    return inner_.start_leader_producer(timeout);
  }
  Result<std::unique_ptr<TransactionalProducer>> start_transactional_producer(
      const std::string& transactional_id, std::chrono::milliseconds timeout) override {
    auto producer = inner_.start_transactional_producer(transactional_id, timeout);
    if (!producer) return producer;
    return wrap(std::move(producer).value());
  }
  Status flush(std::chrono::milliseconds timeout) override { return inner_.flush(timeout); }
  BrokerState broker_state() const override { return inner_.broker_state(); }
  Result<std::unique_ptr<PartitionReader>> read_partition(const TopicPartition& partition, const std::string& group_id,
                                                          std::chrono::milliseconds timeout) override {
    return inner_.read_partition(partition, group_id, timeout);
  }
  Result<std::unique_ptr<TopicReader>> read_topic(const TopicReadRequest& request,
                                                  std::chrono::milliseconds timeout) override {
    return inner_.read_topic(request, timeout);
  }

 protected:
  // Each exactly-once producer started: a test returns its own around it.
  virtual std::unique_ptr<TransactionalProducer> wrap(std::unique_ptr<TransactionalProducer> producer) {
    return producer;
  }

  Transport& inner_;
};

// A TransactionalProducer that hands every call to another one: tests derive from it and override
// the call they change.
class ForwardingProducer : public TransactionalProducer {
 public:
  explicit ForwardingProducer(std::unique_ptr<TransactionalProducer> inner) : inner_(std::move(inner)) {}

  TxnStatus begin() override { return inner_->begin(); }
  TxnStatus send(const ProducedRecord& record) override { return inner_->send(record); }
  TxnStatus commit(std::chrono::milliseconds timeout) override { return inner_->commit(timeout); }
  TxnStatus abort(std::chrono::milliseconds timeout) override { return inner_->abort(timeout); }
  TxnStatus send_offsets(const std::vector<std::pair<TopicPartition, std::int64_t>>& next_offsets,
                         const GroupMember& member) override {
    return inner_->send_offsets(next_offsets, member);
  }

 protected:
  std::unique_ptr<TransactionalProducer> inner_;
};

// A GroupConsumer that hands every call to another one: tests derive from it and override the
// call they change.
class ForwardingConsumer : public GroupConsumer {
 public:
  explicit ForwardingConsumer(std::unique_ptr<GroupConsumer> inner) : inner_(std::move(inner)) {}

  void poll(std::chrono::milliseconds timeout) override { inner_->poll(timeout); }
  Status commit(const std::vector<std::pair<TopicPartition, std::int64_t>>& next_offsets, bool wait) override {
    return inner_->commit(next_offsets, wait);
  }
  void pause(const std::vector<TopicPartition>& partitions) override { inner_->pause(partitions); }
  void resume(const std::vector<TopicPartition>& partitions) override { inner_->resume(partitions); }
  Status rewind(const std::vector<TopicPartition>& partitions) override { return inner_->rewind(partitions); }
  void close() override { inner_->close(); }

 protected:
  std::unique_ptr<GroupConsumer> inner_;
};

}  // namespace faust::testing
