#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "transport/transport.h"

namespace RdKafka {
class Producer;
class DeliveryReportCb;
}

namespace faust {

struct KafkaSettings {
  std::string bootstrap_servers;
  // librdkafka properties from the manifest's `kafka:` block, applied to every client.
  std::map<std::string, std::string> properties;
  // Fixed per app: a new leader's producer with the same id fences the previous one.
  std::string leader_transactional_id;
  // Topics the leader sends to (the agents'): its producer learns them when a term starts.
  std::vector<std::string> leader_topics;
  std::string client_id;
  // Called (from a librdkafka thread) when the producer or a consumer has a fatal error, and when
  // the broker refuses the credentials or an operation (kafka_access.h), with the exit code for it.
  // The leader producer's other fatal errors (fencing among them) are its term's to handle.
  std::function<void(const Error& error)> on_fatal;
};

class KafkaClientEvents;
class KafkaTransactionalProducer;
class AwaitedReports;
class PipelinedReports;
class KafkaTopicHandles;

// Transport over Apache Kafka through librdkafka's C++ API.
class KafkaTransport final : public Transport {
 public:
  // Fails when a `kafka:` property is unknown or has a bad value, naming it.
  static Result<std::unique_ptr<KafkaTransport>> create(const KafkaSettings& settings);
  ~KafkaTransport() override;

  Status ensure_topics(const std::vector<TopicSpec>& topics, std::chrono::milliseconds timeout) override;
  Result<std::unique_ptr<GroupConsumer>> join_group(const GroupOptions& options,
                                                    GroupListener& listener) override;
  Status send(const ProducedRecord& record, std::chrono::milliseconds timeout) override;
  Status send_async(const ProducedRecord& record, std::unique_ptr<PipelinedSend> pipelined) override;
  Status send_all(const std::vector<ProducedRecord>& records, std::chrono::milliseconds timeout) override;
  Result<std::unique_ptr<TransactionalProducer>> start_leader_producer(std::chrono::milliseconds timeout) override;
  Result<std::unique_ptr<TransactionalProducer>> start_transactional_producer(const std::string& transactional_id,
                                                                              std::chrono::milliseconds timeout) override;
  Status flush(std::chrono::milliseconds timeout) override;
  BrokerState broker_state() const override;
  Result<std::unique_ptr<PartitionReader>> read_partition(const TopicPartition& partition,
                                                          const std::string& group_id,
                                                          std::chrono::milliseconds timeout) override;
  Result<std::unique_ptr<TopicReader>> read_topic(const TopicReadRequest& request,
                                                  std::chrono::milliseconds timeout) override;

 private:
  explicit KafkaTransport(KafkaSettings settings);
  std::map<std::string, std::string> client_settings() const;
  Result<std::unique_ptr<RdKafka::Producer>> create_producer(std::map<std::string, std::string> settings,
                                                             const char* what, KafkaClientEvents& events,
                                                             RdKafka::DeliveryReportCb& reports);
  // `transaction_timeout`: how long the broker keeps a transaction open before it aborts it (and
  // fences the producer); a worker that died with one open holds its partitions' positions that long.
  Result<std::unique_ptr<KafkaTransactionalProducer>> create_transactional_producer(
      const std::string& transactional_id, std::chrono::milliseconds timeout,
      std::chrono::milliseconds transaction_timeout);
  Status start_producer();
  // Serves `producer`'s delivery reports until the transport stops; `requeues`: the producer of
  // pipelined sends, whose records an outage timed out are queued again on it.
  void poll_producer(KafkaTopicHandles& producer, bool requeues);
  // Made at the first pipelined send, so a worker whose agents send nothing has no second producer.
  Result<KafkaTopicHandles*> pipelined_producer();
  Result<std::vector<TopicSpec>> missing_topics(const std::vector<TopicSpec>& topics, std::chrono::milliseconds timeout);
  Status create_topics(const std::vector<TopicSpec>& topics, std::chrono::milliseconds timeout);
  Status await_topics(const std::vector<TopicSpec>& topics, std::chrono::steady_clock::time_point deadline);

  // How long a pipelined send waits for room in a full queue (the broker is not taking records)
  // before it fails.
  static constexpr std::chrono::seconds kRequeueWait{30};

  KafkaSettings settings_;
  const std::string principal_;  // kafka_principal() of the properties, for refusals
  std::atomic<BrokerState> broker_state_{BrokerState::kConnecting};
  std::unique_ptr<KafkaClientEvents> producer_events_;
  std::unique_ptr<AwaitedReports> awaited_reports_;
  std::unique_ptr<PipelinedReports> pipelined_reports_;
  // Awaited sends (timers, services, dead-letter writes): each goes out at once.
  std::unique_ptr<RdKafka::Producer> producer_;
  std::unique_ptr<KafkaTopicHandles> producer_topics_;  // destroyed before its producer
  // Pipelined sends (an agent's sends from its handler): records linger up to 5 ms (librdkafka's
  // default, as a bare copy loop has it), so that many share one request; nothing waits on one.
  std::unique_ptr<KafkaClientEvents> pipelined_events_;
  std::mutex pipelined_mutex_;  // making it
  std::unique_ptr<RdKafka::Producer> pipelined_;
  std::unique_ptr<KafkaTopicHandles> pipelined_topics_;
  std::atomic<KafkaTopicHandles*> pipelined_made_{nullptr};  // once made
  std::atomic<bool> stopping_{false};
  std::thread poller_;            // serves the delivery reports of producer_
  std::thread pipelined_poller_;  // ... and of pipelined_
};

}  // namespace faust
