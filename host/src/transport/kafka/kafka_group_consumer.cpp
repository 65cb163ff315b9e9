#include "transport/kafka/kafka_group_consumer.h"

#include <cstring>

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

namespace faust {
namespace {

// What a group member uses: its group, and (read) its topics, named together when the broker does
// not say which of them it refused.
KafkaAccess group_access(const GroupOptions& options) {
  std::string topics;
  for (const auto& topic : options.topics) topics += (topics.empty() ? "" : "' or '") + topic;
  return KafkaAccess{topics, "Read", options.group_id, ""};
}

std::vector<RdKafka::TopicPartition*> to_rdkafka(const std::vector<TopicPartition>& partitions) {
  std::vector<RdKafka::TopicPartition*> out;
  out.reserve(partitions.size());
  for (const auto& p : partitions) out.push_back(RdKafka::TopicPartition::create(p.topic, p.partition));
  return out;
}

void destroy(std::vector<RdKafka::TopicPartition*>& partitions) {
  RdKafka::TopicPartition::destroy(partitions);
  partitions.clear();
}

}  // namespace

// librdkafka has no getter for the generation id; its serialized group metadata carries it,
// laid out (rdkafka_cgrp.c, v2) as the magic "CGMDv2:" followed by the int32 generation id.
std::int32_t group_generation(RdKafka::KafkaConsumer& consumer) {
  rd_kafka_consumer_group_metadata_t* metadata = rd_kafka_consumer_group_metadata(consumer.c_ptr());
  if (metadata == nullptr) return -1;
  void* buffer = nullptr;
  size_t size = 0;
  std::int32_t generation = -1;
  rd_kafka_error_t* error = rd_kafka_consumer_group_metadata_write(metadata, &buffer, &size);
  constexpr char kMagic[] = "CGMDv2:";
  constexpr size_t kMagicSize = sizeof(kMagic) - 1;
  if (error == nullptr && size >= kMagicSize + sizeof(generation) && std::memcmp(buffer, kMagic, kMagicSize) == 0) {
    std::memcpy(&generation, static_cast<const char*>(buffer) + kMagicSize, sizeof(generation));
  }
  if (error != nullptr) rd_kafka_error_destroy(error);
  if (buffer != nullptr) rd_kafka_mem_free(nullptr, buffer);
  rd_kafka_consumer_group_metadata_destroy(metadata);
  return generation;
}

KafkaGroupConsumer::KafkaGroupConsumer(const GroupOptions& options, std::atomic<BrokerState>& broker_state,
                                       GroupListener& listener, KafkaClientEvents::FatalObserver on_fatal,
                                       const std::string& principal)
    : options_(options),
      broker_state_(broker_state),
      listener_(listener),
      events_(broker_state, options.on_lag, std::move(on_fatal), principal, group_access(options)) {}

Result<std::unique_ptr<KafkaGroupConsumer>> KafkaGroupConsumer::create(
    const GroupOptions& options, const std::map<std::string, std::string>& host_settings,
    const std::map<std::string, std::string>& user_properties, std::atomic<BrokerState>& broker_state,
    GroupListener& listener, KafkaClientEvents::FatalObserver on_fatal, const std::string& principal) {
  std::unique_ptr<KafkaGroupConsumer> self(
      new KafkaGroupConsumer(options, broker_state, listener, std::move(on_fatal), principal));
  auto settings = host_settings;
  settings["group.id"] = options.group_id;
  settings["client.id"] = options.client_id;
  settings["session.timeout.ms"] = std::to_string(options.session_timeout.count());
  settings["heartbeat.interval.ms"] = std::to_string(options.heartbeat_interval.count());
  // The poll loop never runs handlers, so it can promise frequent polls; a short rebalance
  // timeout lets a group finish a rebalance quickly when a member stalls.
  settings["max.poll.interval.ms"] = std::to_string(std::max<std::int64_t>(options.session_timeout.count() * 2, 20000));
  settings["partition.assignment.strategy"] = options.incremental_rebalance ? "cooperative-sticky" : "range";
  settings["enable.auto.commit"] = "false";
  settings["enable.auto.offset.store"] = "false";
  settings["auto.offset.reset"] = "earliest";
  settings["enable.partition.eof"] = "false";
  settings["isolation.level"] = options.read_committed ? "read_committed" : "read_uncommitted";
  settings["statistics.interval.ms"] = "1000";
  // Keep fetching ahead while the app works through what it has (librdkafka's 100k default
  // throttles a fast agent); memory stays bounded by queued.max.messages.kbytes.
  settings["queued.min.messages"] = "1000000";
  auto conf = make_kafka_conf(settings, user_properties, self->events_);
  if (!conf) return conf.error();
  std::string error;
  RdKafka::RebalanceCb* rebalance = self.get();
  if ((*conf)->set("rebalance_cb", rebalance, error) != RdKafka::Conf::CONF_OK) {
    return Error{ExitCode::kFailure, "kafka: " + error};
  }
  self->consumer_.reset(RdKafka::KafkaConsumer::create(conf->get(), error));
  if (!self->consumer_) return Error{ExitCode::kFailure, "kafka: cannot create consumer: " + error};
  self->queue_ = rd_kafka_queue_get_consumer(self->consumer_->c_ptr());
  if (const auto err = self->consumer_->subscribe(options.topics); err != RdKafka::ERR_NO_ERROR) {
    return Error{ExitCode::kFailure, "kafka: cannot subscribe group '" + options.group_id + "': " + describe(err)};
  }
  return self;
}

KafkaGroupConsumer::~KafkaGroupConsumer() {
  close();
  if (queue_ != nullptr) rd_kafka_queue_destroy(queue_);
}

GroupEvent KafkaGroupConsumer::make_event(const std::vector<RdKafka::TopicPartition*>& partitions) {
  GroupEvent event;
  for (const auto* p : partitions) event.partitions.push_back(TopicPartition{p->topic(), p->partition()});
  event.generation = group_generation(*consumer_);
  event.member_id = consumer_->memberid();
  return event;
}

void KafkaGroupConsumer::rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                                      std::vector<RdKafka::TopicPartition*>& partitions) {
  const bool incremental = consumer->rebalance_protocol() == "COOPERATIVE";
  if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
    broker_state_.store(BrokerState::kUp);
    if (incremental) {
      report(std::unique_ptr<RdKafka::Error>(consumer->incremental_assign(partitions)), "incremental assign");
    } else {
      consumer->assign(partitions);
    }
    // librdkafka keeps an application's pause across unassign and assign; a new assignment
    // starts unpaused, as the listener (and the memory transport) expect.
    consumer->resume(partitions);
    GroupEvent event = make_event(partitions);
    event.incremental = incremental;
    listener_.on_assigned(event);
  } else {
    GroupEvent event = make_event(partitions);
    event.lost = consumer->assignment_lost();
    event.incremental = incremental;
    listener_.on_revoked(event);
    if (incremental) {
      report(std::unique_ptr<RdKafka::Error>(consumer->incremental_unassign(partitions)), "incremental unassign");
    } else {
      consumer->unassign();
    }
  }
}

void KafkaGroupConsumer::report(std::unique_ptr<RdKafka::Error> error, const char* what) const {
  if (error) spdlog::warn("[kafka] consumer group '{}': {}: {}", options_.group_id, what, error->str());
}

void KafkaGroupConsumer::take(const rd_kafka_message_t& message, std::vector<ConsumedMessage>& batch) {
  if (message.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    // A refused topic or group: the worker stops with the reason instead of retrying for ever.
    KafkaAccess access = group_access(options_);
    if (message.rkt != nullptr) access.topic = rd_kafka_topic_name(message.rkt);
    if (events_.report_refusal(static_cast<RdKafka::ErrorCode>(message.err), rd_kafka_message_errstr(&message), access)) {
      return;
    }
    if (message.err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      spdlog::warn("[kafka] consumer group '{}': {}", options_.group_id, rd_kafka_message_errstr(&message));
    }
    return;
  }
  ConsumedMessage& out = batch.emplace_back();
  // The name's pointer is stable per topic handle: look it up once, not per message.
  const char* topic = rd_kafka_topic_name(message.rkt);
  if (topic != last_topic_name_) {
    last_topic_name_ = topic;
    last_topic_ = topic;
  }
  out.source.topic = last_topic_;
  fill_consumed(message, out);
}

void fill_consumed(const rd_kafka_message_t& message, ConsumedMessage& out) {
  out.source.partition = message.partition;
  out.offset = message.offset;
  if (message.key != nullptr) out.key.emplace(static_cast<const char*>(message.key), message.key_len);
  if (message.payload != nullptr) out.value.assign(static_cast<const char*>(message.payload), message.len);
  out.tombstone = message.payload == nullptr;
  rd_kafka_headers_t* headers = nullptr;  // owned by the message; absent for most messages
  if (rd_kafka_message_headers(&message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* name = nullptr;
    const void* value = nullptr;
    size_t size = 0;
    for (size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
      out.headers.emplace_back(name, value != nullptr ? std::string(static_cast<const char*>(value), size) : "");
    }
  }
  out.timestamp_ms = rd_kafka_message_timestamp(&message, nullptr);
}

void KafkaGroupConsumer::poll(std::chrono::milliseconds timeout) {
  // The batch call on the consumer queue serves rebalance callbacks too (as confluent-kafka's
  // consume(num_messages) relies on) and costs one call, not one per message. It waits until
  // the batch is full or the timeout passes, so it is asked for one message first (handed on
  // as soon as it arrives), then, without waiting, for whatever else is queued.
  raw_batch_.resize(options_.max_batch);
  ssize_t count = rd_kafka_consume_batch_queue(queue_, static_cast<int>(timeout.count()), raw_batch_.data(), 1);
  if (count <= 0) return;
  const ssize_t more = rd_kafka_consume_batch_queue(queue_, 0, raw_batch_.data() + 1, raw_batch_.size() - 1);
  if (more > 0) count += more;
  std::vector<ConsumedMessage> batch;
  batch.reserve(static_cast<std::size_t>(count));
  for (ssize_t i = 0; i < count; ++i) {
    take(*raw_batch_[static_cast<std::size_t>(i)], batch);
    rd_kafka_message_destroy(raw_batch_[static_cast<std::size_t>(i)]);
  }
  if (!batch.empty()) listener_.on_messages(batch);
}

Status KafkaGroupConsumer::commit(const std::vector<std::pair<TopicPartition, std::int64_t>>& next_offsets,
                                  bool wait) {
  if (next_offsets.empty()) return ok_status();
  std::vector<RdKafka::TopicPartition*> offsets;
  for (const auto& [tp, offset] : next_offsets) {
    offsets.push_back(RdKafka::TopicPartition::create(tp.topic, tp.partition, offset));
  }
  const auto err = wait ? consumer_->commitSync(offsets) : consumer_->commitAsync(offsets);
  destroy(offsets);
  if (err != RdKafka::ERR_NO_ERROR) {
    return Error{ExitCode::kFailure, "kafka: commit in group '" + options_.group_id + "' failed: " + describe(err)};
  }
  return ok_status();
}

void KafkaGroupConsumer::pause(const std::vector<TopicPartition>& partitions) {
  auto list = to_rdkafka(partitions);
  consumer_->pause(list);
  destroy(list);
}

void KafkaGroupConsumer::resume(const std::vector<TopicPartition>& partitions) {
  auto list = to_rdkafka(partitions);
  consumer_->resume(list);
  destroy(list);
}

Status KafkaGroupConsumer::rewind(const std::vector<TopicPartition>& partitions) {
  constexpr int kTimeoutMs = 5000;
  auto list = to_rdkafka(partitions);
  // Read committed, the broker answers once no open transaction holds offsets of these
  // partitions (require_stable), so the position is where the last committed one left it.
  auto err = consumer_->committed(list, kTimeoutMs);
  for (auto* partition : list) {
    if (err != RdKafka::ERR_NO_ERROR) break;
    err = partition->err();
    if (err != RdKafka::ERR_NO_ERROR) break;
    // No committed position: from the start, as auto.offset.reset=earliest reads it.
    if (partition->offset() < 0) partition->set_offset(RdKafka::Topic::OFFSET_BEGINNING);
    // Asynchronous: librdkafka drops what it fetched before the seek.
    err = consumer_->seek(*partition, 0);
  }
  destroy(list);
  if (err != RdKafka::ERR_NO_ERROR) {
    return Error{ExitCode::kBrokerUnreachable,
                 "kafka: cannot read the committed positions in group '" + options_.group_id + "': " + describe(err)};
  }
  return ok_status();
}

void KafkaGroupConsumer::close() {
  if (closed_ || !consumer_) return;
  closed_ = true;
  // close() revokes through rebalance_cb (so the listener commits) and sends LeaveGroup, which
  // starts the successor's election at once instead of after the session timeout.
  consumer_->close();
}

}  // namespace faust
