#pragma once

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
  Status send_async(const ProducedRecord& record, DeliveryCallbacks callbacks) override {
    return inner_.send_async(record, std::move(callbacks));
  }
  Result<std::unique_ptr<TransactionalProducer>> start_leader_producer(std::chrono::milliseconds timeout) override {
    return inner_.start_leader_producer(timeout);
  }
  Result<std::unique_ptr<TransactionalProducer>> start_transactional_producer(
      const std::string& transactional_id, std::chrono::milliseconds timeout) override {
    return inner_.start_transactional_producer(transactional_id, timeout);
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
  Transport& inner_;
};

}  // namespace faust::testing
