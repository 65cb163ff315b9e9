#pragma once

#include <memory>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>

#include "transport/kafka/kafka_client_events.h"
#include "transport/transport.h"

namespace faust {

// A GroupConsumer over RdKafka::KafkaConsumer with manual commits, and the cooperative-sticky
// assignor (incremental rebalances) or the eager range assignor, per GroupOptions.
class KafkaGroupConsumer final : public GroupConsumer, private RdKafka::RebalanceCb {
 public:
  static Result<std::unique_ptr<KafkaGroupConsumer>> create(const GroupOptions& options,
                                                           const std::map<std::string, std::string>& host_settings,
                                                           const std::map<std::string, std::string>& user_properties,
                                                           std::atomic<BrokerState>& broker_state,
                                                           GroupListener& listener,
                                                           KafkaClientEvents::FatalObserver on_fatal, const std::string& principal);
  ~KafkaGroupConsumer() override;

  void poll(std::chrono::milliseconds timeout) override;
  Status commit(const std::vector<std::pair<TopicPartition, std::int64_t>>& next_offsets, bool wait) override;
  void pause(const std::vector<TopicPartition>& partitions) override;
  void resume(const std::vector<TopicPartition>& partitions) override;
  Status rewind(const std::vector<TopicPartition>& partitions) override;
  void close() override;

 private:
  KafkaGroupConsumer(const GroupOptions& options, std::atomic<BrokerState>& broker_state, GroupListener& listener,
                     KafkaClientEvents::FatalObserver on_fatal, const std::string& principal);
  void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& partitions) override;
  GroupEvent make_event(const std::vector<RdKafka::TopicPartition*>& partitions);
  // Logs a failed incremental (un)assignment; librdkafka keeps its previous assignment then.
  void report(std::unique_ptr<RdKafka::Error> error, const char* what) const;
  void take(const rd_kafka_message_t& message, std::vector<ConsumedMessage>& batch);

  GroupOptions options_;
  std::atomic<BrokerState>& broker_state_;
  GroupListener& listener_;
  KafkaClientEvents events_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  rd_kafka_queue_t* queue_ = nullptr;  // the consumer's own queue: messages and rebalances
  std::vector<rd_kafka_message_t*> raw_batch_;
  const char* last_topic_name_ = nullptr;
  std::string last_topic_;
  bool closed_ = false;
};

// The group generation id of a consumer's current membership, or -1 when it has none.
std::int32_t group_generation(RdKafka::KafkaConsumer& consumer);

// Copies a consumed librdkafka message into `out`: everything but the topic's name.
void fill_consumed(const rd_kafka_message_t& message, ConsumedMessage& out);

}  // namespace faust
