#include "transport/kafka/kafka_transport.h"

#include <algorithm>
#include <condition_variable>
#include <set>
#include <utility>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>
#include <spdlog/spdlog.h>

#include "transport/kafka/kafka_client_events.h"
#include "transport/kafka/kafka_group_consumer.h"
#include "transport/kafka/kafka_partition_reader.h"
#include "transport/kafka/kafka_topic_handles.h"
#include "transport/kafka/kafka_topic_reader.h"

namespace faust {
namespace {

using Clock = std::chrono::steady_clock;

// Shared between a sender and the delivery-report callback, so a sender that gives up waiting
// never leaves the callback writing into freed memory.
struct DeliveryWaiter {
  std::mutex mutex;
  std::condition_variable done_cv;
  bool done = false;
  RdKafka::ErrorCode error = RdKafka::ERR_NO_ERROR;

  void complete(RdKafka::ErrorCode code) {
    std::lock_guard lock(mutex);
    error = code;
    done = true;
    done_cv.notify_all();
  }
  // Returns false when the report did not arrive in time.
  bool wait(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex);
    return done_cv.wait_for(lock, timeout, [&] { return done; });
  }
};

// Queues one record; `opaque` goes to its delivery report. Waits up to `wait` for room while the
// queue is full (the clock is read only then: this is every pipelined send's path).
RdKafka::ErrorCode produce(KafkaTopicHandles& producer, const ProducedRecord& record, void* opaque,
                           std::chrono::milliseconds wait) {
  rd_kafka_topic_t* topic = producer.get(record.topic);
  if (topic == nullptr) return RdKafka::ERR__INVALID_ARG;  // as librdkafka answers a record naming it
  std::optional<Clock::time_point> deadline;
  while (true) {
    rd_kafka_headers_t* headers = nullptr;
    if (!record.headers.empty()) {
      headers = rd_kafka_headers_new(record.headers.size());
      for (const auto& [key, value] : record.headers) {
        rd_kafka_header_add(headers, key.data(), static_cast<ssize_t>(key.size()), value.data(),
                            static_cast<ssize_t>(value.size()));
      }
    }
    // A tombstone is a null value, not an empty one: compaction deletes its key. (librdkafka's
    // macros do not parenthesise their arguments: plain variables only.)
    void* value = record.tombstone ? nullptr : const_cast<char*>(record.value.data());
    const std::size_t value_size = record.tombstone ? 0 : record.value.size();
    const void* key = record.key ? record.key->data() : nullptr;
    const std::size_t key_size = record.key ? record.key->size() : 0;
    const auto err = static_cast<RdKafka::ErrorCode>(rd_kafka_producev(
        producer.producer().c_ptr(), RD_KAFKA_V_RKT(topic), RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_VALUE(value, value_size),
        RD_KAFKA_V_KEY(key, key_size), RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END));
    if (err == RdKafka::ERR_NO_ERROR) return err;  // the headers are librdkafka's now
    if (headers != nullptr) rd_kafka_headers_destroy(headers);
    if (err != RdKafka::ERR__QUEUE_FULL) return err;
    if (!deadline) deadline = Clock::now() + wait;
    if (Clock::now() >= *deadline) return err;
    producer.producer().poll(10);  // make room: serve delivery reports, then try again
  }
}

// Errors that say the broker did not take the record (yet), not that the record is at fault.
bool is_transport_failure(RdKafka::ErrorCode code) {
  switch (code) {
    case RdKafka::ERR__MSG_TIMED_OUT:
    case RdKafka::ERR__TIMED_OUT:
    case RdKafka::ERR__TRANSPORT:
    case RdKafka::ERR__ALL_BROKERS_DOWN:
    case RdKafka::ERR__QUEUE_FULL:
    case RdKafka::ERR_REQUEST_TIMED_OUT:
    case RdKafka::ERR_NOT_ENOUGH_REPLICAS:
    case RdKafka::ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RdKafka::ERR_LEADER_NOT_AVAILABLE:
    case RdKafka::ERR_NOT_LEADER_FOR_PARTITION:
      return true;
    default:
      return false;
  }
}

// Errors that say the broker refused the record for its own sake: sending it again gets the same
// answer. A transaction that holds one cannot commit, however often it is tried. (A missing ACL
// is no fault of the record: it stops the worker, see authorization_error.)
bool is_record_refusal(RdKafka::ErrorCode code) {
  switch (code) {
    case RdKafka::ERR_MSG_SIZE_TOO_LARGE:
    case RdKafka::ERR_INVALID_RECORD:
    case RdKafka::ERR_INVALID_MSG:
    case RdKafka::ERR_RECORD_LIST_TOO_LARGE:
    case RdKafka::ERR_INVALID_TIMESTAMP:
    case RdKafka::ERR_POLICY_VIOLATION:
    case RdKafka::ERR_UNKNOWN_TOPIC_OR_PART:
    case RdKafka::ERR__UNKNOWN_TOPIC:
    case RdKafka::ERR__UNKNOWN_PARTITION:
    case RdKafka::ERR__INVALID_ARG:
      return true;
    default:
      return false;
  }
}

Error send_error(const std::string& topic, RdKafka::ErrorCode code) {
  return Error{is_transport_failure(code) ? ExitCode::kBrokerUnreachable : ExitCode::kFailure,
               "send to topic '" + topic + "' failed: " + describe(code)};
}

// Queues one record; on success librdkafka owns `ticket` (its opaque) until the delivery report.
template <typename Ticket>
RdKafka::ErrorCode produce_ticket(KafkaTopicHandles& producer, const ProducedRecord& record,
                                  std::unique_ptr<Ticket>& ticket, std::chrono::milliseconds wait) {
  const auto err = produce(producer, record, ticket.get(), wait);
  if (err == RdKafka::ERR_NO_ERROR) ticket.release();
  return err;
}

// An awaited send's opaque: its report wakes the sender.
struct AwaitedTicket {
  std::shared_ptr<DeliveryWaiter> waiter = std::make_shared<DeliveryWaiter>();
};

Result<std::shared_ptr<DeliveryWaiter>> produce_awaited(KafkaTopicHandles& producer, const ProducedRecord& record,
                                                        Clock::time_point deadline) {
  auto ticket = std::make_unique<AwaitedTicket>();
  std::shared_ptr<DeliveryWaiter> waiter = ticket->waiter;
  const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  const auto err = produce_ticket(producer, record, ticket, wait);
  if (err == RdKafka::ERR_NO_ERROR) return waiter;
  return send_error(record.topic, err);
}

// The record a delivery report is about, to be sent again.
ProducedRecord record_of(RdKafka::Message& message) {
  ProducedRecord record;
  record.topic = message.topic_name();
  if (message.key_pointer() != nullptr) {
    record.key = std::string(static_cast<const char*>(message.key_pointer()), message.key_len());
  }
  if (message.payload() == nullptr) {
    record.tombstone = true;
  } else {
    record.value = std::string(static_cast<const char*>(message.payload()), message.len());
  }
  if (RdKafka::Headers* headers = message.headers(); headers != nullptr) {
    for (const auto& header : headers->get_all()) {
      record.headers.emplace_back(header.key(), std::string(static_cast<const char*>(header.value()), header.value_size()));
    }
  }
  return record;
}

// `status` of a send whose delivery report said `code`; a refused write is also told to
// `on_fatal`, which logs it once and stops the worker (the caller logs `status` as it is).
Status refusal_or(RdKafka::ErrorCode code, const std::string& topic, const std::string& principal,
                  const std::function<void(const Error&)>& on_fatal, Status status) {
  if (auto refusal = authorization_error(code, principal, KafkaAccess{topic, "Write", "", ""}); refusal && on_fatal) {
    on_fatal(*refusal);
  }
  return status;
}

bool is_fencing(RdKafka::ErrorCode code) {
  return code == RdKafka::ERR__FENCED || code == RdKafka::ERR_PRODUCER_FENCED ||
         code == RdKafka::ERR_INVALID_PRODUCER_EPOCH;
}

// librdkafka's transactional errors say what the caller may do next; the term acts on that.
TxnStatus classify(std::unique_ptr<RdKafka::Error> error, const std::string& what) {
  if (!error) return {};
  std::string message = what + ": " + error->str();
  if (is_fencing(error->code())) return {TxnFailure::kFenced, std::move(message)};
  if (error->is_fatal()) return {TxnFailure::kFatal, std::move(message)};
  if (error->txn_requires_abort()) return {TxnFailure::kAbortable, std::move(message)};
  if (error->is_retriable()) return {TxnFailure::kRetriable, std::move(message)};
  // Anything else (e.g. a call in the wrong state) leaves the producer in a state we cannot
  // reason about: replacing it is always safe.
  return {TxnFailure::kFatal, std::move(message)};
}

// The same for librdkafka's C errors (the C++ API has no send_offsets_to_transaction without a
// consumer to take the group metadata from). Takes ownership of `error`.
TxnStatus classify(rd_kafka_error_t* error, const std::string& what) {
  if (error == nullptr) return {};
  const auto code = static_cast<RdKafka::ErrorCode>(rd_kafka_error_code(error));
  std::string message = what + ": " + rd_kafka_error_string(error);
  TxnStatus status{TxnFailure::kFatal, message};
  if (is_fencing(code)) {
    status.failure = TxnFailure::kFenced;
  } else if (rd_kafka_error_is_fatal(error) == 0 && rd_kafka_error_txn_requires_abort(error) != 0) {
    status.failure = TxnFailure::kAbortable;
  } else if (rd_kafka_error_is_fatal(error) == 0 && rd_kafka_error_is_retriable(error) != 0) {
    status.failure = TxnFailure::kRetriable;
  }
  rd_kafka_error_destroy(error);
  return status;
}

Status await_delivery(DeliveryWaiter& waiter, const std::string& topic, std::chrono::milliseconds timeout) {
  if (!waiter.wait(timeout)) {
    return Error{ExitCode::kBrokerUnreachable, "send to topic '" + topic + "' not acknowledged within " +
                                                   std::to_string(timeout.count()) + " ms"};
  }
  if (waiter.error != RdKafka::ERR_NO_ERROR) return send_error(topic, waiter.error);
  return ok_status();
}

}  // namespace

// The delivery reports of a transactional producer's records: the first record of the open
// transaction that the broker refused for its own sake, so that a commit that fails can say the
// records, not the broker, were at fault (and the unit shrink to the message that made it).
class RecordRefusals final : public RdKafka::DeliveryReportCb {
 public:
  void dr_cb(RdKafka::Message& message) override {
    if (!is_record_refusal(message.err())) return;
    std::lock_guard lock(mutex_);
    if (first_.empty()) first_ = "send to topic '" + message.topic_name() + "' failed: " + describe(message.err());
  }
  void clear() {
    std::lock_guard lock(mutex_);
    first_.clear();
  }
  std::string first() const {
    std::lock_guard lock(mutex_);
    return first_;
  }

 private:
  mutable std::mutex mutex_;
  std::string first_;
};

// A transactional producer needs no poller: committing flushes it on the committing thread. Its
// records carry no waiter (the transaction's outcome is their report), but it keeps a
// delivery-report callback: librdkafka's flush wakes on a report, and without one it only
// notices the last delivery at its next 10 ms poll.
class KafkaTransactionalProducer final : public TransactionalProducer {
 public:
  // `on_refused` hears of a missing ACL (its transactional id, a topic it sends to, a group it
  // commits to), which no retry of the term can heal.
  KafkaTransactionalProducer(std::unique_ptr<KafkaClientEvents> events, std::unique_ptr<RecordRefusals> refusals,
                             std::unique_ptr<RdKafka::Producer> producer, KafkaClientEvents::FatalObserver on_refused,
                             std::string principal, std::string transactional_id)
      : events_(std::move(events)),
        refusals_(std::move(refusals)),
        producer_(std::move(producer)),
        on_refused_(std::move(on_refused)),
        principal_(std::move(principal)),
        transactional_id_(std::move(transactional_id)) {}
  ~KafkaTransactionalProducer() override {
    producer_->purge(RdKafka::Producer::PURGE_QUEUE | RdKafka::Producer::PURGE_INFLIGHT);
  }

  TxnStatus begin() override {
    refusals_->clear();
    topics_.clear();
    return classify(std::unique_ptr<RdKafka::Error>(producer_->begin_transaction()), "begin");
  }

  TxnStatus send_offsets(const std::vector<std::pair<TopicPartition, std::int64_t>>& next_offsets,
                         const GroupMember& member) override {
    constexpr int kTimeoutMs = 10000;
    rd_kafka_topic_partition_list_t* offsets =
        rd_kafka_topic_partition_list_new(static_cast<int>(next_offsets.size()));
    for (const auto& [partition, next_offset] : next_offsets) {
      rd_kafka_topic_partition_list_add(offsets, partition.topic.c_str(), partition.partition)->offset = next_offset;
    }
    // Without a generation (a group with no members: the leader-only agents') the group id
    // alone names the position.
    rd_kafka_consumer_group_metadata_t* group =
        member.generation < 0 ? rd_kafka_consumer_group_metadata_new(member.group_id.c_str())
                              : rd_kafka_consumer_group_metadata_new_with_genid(
                                    member.group_id.c_str(), member.generation, member.member_id.c_str(), nullptr);
    rd_kafka_error_t* error = rd_kafka_send_offsets_to_transaction(producer_->c_ptr(), offsets, group, kTimeoutMs);
    rd_kafka_consumer_group_metadata_destroy(group);
    rd_kafka_topic_partition_list_destroy(offsets);
    if (error != nullptr) {
      report_refusal(static_cast<RdKafka::ErrorCode>(rd_kafka_error_code(error)), member.group_id);
    }
    return classify(error, "send_offsets");
  }

  // A producer that does not know a topic yet holds its first record until a metadata refresh
  // (up to about a second here) before the partition can join the transaction; asking for the
  // topic's metadata at once takes one round trip.
  void learn(const std::string& name, std::chrono::milliseconds timeout) {
    if (known_topics_.insert(name).second) learn_topic(*producer_, name, timeout);
  }

  TxnStatus send(const ProducedRecord& record) override {
    learn(record.topic, kLearnTopicWait);
    if (std::find(topics_.begin(), topics_.end(), record.topic) == topics_.end()) topics_.push_back(record.topic);
    const auto err = produce(topic_handles_, record, nullptr, kQueueFullWait);
    if (err == RdKafka::ERR_NO_ERROR) return {};
    report_refusal(err, "");
    std::string message = "send to topic '" + record.topic + "' failed: " + describe(err);
    if (is_fencing(err)) return {TxnFailure::kFenced, std::move(message)};
    if (err == RdKafka::ERR__FATAL) {
      std::string reason;
      const auto fatal = producer_->fatal_error(reason);
      return {is_fencing(fatal) ? TxnFailure::kFenced : TxnFailure::kFatal, message + " (" + reason + ")"};
    }
    // The record is not in the transaction: committing the rest would deliver a partial unit.
    return {is_record_refusal(err) ? TxnFailure::kRefused : TxnFailure::kAbortable, std::move(message)};
  }

  TxnStatus commit(std::chrono::milliseconds timeout) override {
    std::unique_ptr<RdKafka::Error> error(producer_->commit_transaction(static_cast<int>(timeout.count())));
    if (error) report_refusal(error->code(), "");
    TxnStatus committed = classify(std::move(error), "commit");
    if (committed.failure == TxnFailure::kAbortable) {
      if (std::string refused = refusals_->first(); !refused.empty()) {
        return {TxnFailure::kRefused, committed.message + " (" + refused + ")"};
      }
    }
    return committed;
  }

  TxnStatus abort(std::chrono::milliseconds timeout) override {
    return classify(std::unique_ptr<RdKafka::Error>(producer_->abort_transaction(static_cast<int>(timeout.count()))),
                    "abort");
  }

 private:
  // A full queue (100,000 records by default) drains as the broker takes them; past this the
  // broker is not taking them and the unit fails instead of blocking the term.
  static constexpr auto kQueueFullWait = std::chrono::seconds(30);
  static constexpr auto kLearnTopicWait = std::chrono::milliseconds(5000);

  // A refused write names the transaction's topics: the broker refuses a transaction's partitions
  // together, without saying which topic's ACL is missing.
  void report_refusal(RdKafka::ErrorCode code, const std::string& group) const {
    if (!on_refused_) return;
    std::string topics;
    for (const auto& topic : topics_) topics += (topics.empty() ? "" : "' or '") + topic;
    if (auto refusal = authorization_error(code, principal_, KafkaAccess{topics, "Write", group, transactional_id_})) {
      on_refused_(*refusal);
    }
  }

  std::unique_ptr<KafkaClientEvents> events_;  // outlive producer_, which calls them
  std::unique_ptr<RecordRefusals> refusals_;
  std::unique_ptr<RdKafka::Producer> producer_;
  KafkaTopicHandles topic_handles_{*producer_};
  std::set<std::string> known_topics_;
  const KafkaClientEvents::FatalObserver on_refused_;
  const std::string principal_;
  const std::string transactional_id_;
  std::vector<std::string> topics_;  // sent to in the current transaction
};


// The awaited producer's reports: each record carries an AwaitedTicket as its opaque.
class AwaitedReports final : public RdKafka::DeliveryReportCb {
 public:
  void dr_cb(RdKafka::Message& message) override {
    const std::unique_ptr<AwaitedTicket> ticket(static_cast<AwaitedTicket*>(message.msg_opaque()));
    if (ticket) ticket->waiter->complete(message.err());
  }
};

// The pipelined producer's reports: each record carries its sender's PipelinedSend as its opaque,
// told the outcome unless the broker did not take the record in time: then it is handed back, with
// its PipelinedSend, to be queued again. The poller does that between polls (producing from inside
// a report could wait on a full queue that only this thread drains).
class PipelinedReports final : public RdKafka::DeliveryReportCb {
 public:
  PipelinedReports(std::string principal, std::function<void(const Error&)> on_fatal)
      : principal_(std::move(principal)), on_fatal_(std::move(on_fatal)) {}

  struct Requeued {
    ProducedRecord record;
    std::unique_ptr<Transport::PipelinedSend> send;
  };

  void dr_cb(RdKafka::Message& message) override {
    std::unique_ptr<Transport::PipelinedSend> send(static_cast<Transport::PipelinedSend*>(message.msg_opaque()));
    if (!send) return;
    const auto err = message.err();
    if (err == RdKafka::ERR_NO_ERROR) {
      if (send->group() != nullptr && std::this_thread::get_id() == poller_) {
        hold_acknowledged(std::move(send));
      } else {
        send->delivered(ok_status());
      }
    } else if (auto refusal = authorization_error(err, principal_, KafkaAccess{message.topic_name(), "Write", "", ""})) {
      // No retry heals a missing ACL, and it is no fault of the message: the worker stops (exit
      // 25) with the message uncommitted.
      if (on_fatal_) on_fatal_(*refusal);
      send->delivered(Error{ExitCode::kBrokerUnreachable, refusal->message});
    } else if (!is_transport_failure(err) || giving_up_) {
      send->delivered(giving_up_ ? given_up(message.topic_name()) : Status(send_error(message.topic_name(), err)));
    } else {
      warn_requeued(message.topic_name(), err);
      send->requeued(message.topic_name());
      std::lock_guard lock(mutex_);
      requeued_.push_back(Requeued{record_of(message), std::move(send)});
    }
  }

  // The thread whose rounds of reports (its polls) end with tell_acknowledged(); reports served
  // on any other thread (a send waiting for room, a flush) are told one by one.
  void set_poller(std::thread::id poller) { poller_ = poller; }
  // Tells the acknowledgements held in the round of reports that just ended, by group.
  void tell_acknowledged() {
    for (auto& [group, sends] : held_) sends.front()->acknowledged_together(sends);
    held_.clear();
  }

  std::vector<Requeued> take_requeued() {
    std::lock_guard lock(mutex_);
    return std::exchange(requeued_, {});
  }

  // From now on every report is final: records that were not taken are given up.
  void give_up() {
    giving_up_ = true;
    for (auto& requeued : take_requeued()) requeued.send->delivered(given_up(requeued.record.topic));
  }

 private:
  static Status given_up(const std::string& topic) {
    return Error{ExitCode::kBrokerUnreachable, "send to topic '" + topic + "' given up: the worker is stopping"};
  }

  // Once per ten seconds at most: an outage times out every record in flight at once.
  void warn_requeued(const std::string& topic, RdKafka::ErrorCode err) {
    const auto now = Clock::now();
    std::lock_guard lock(mutex_);
    ++requeued_since_warning_;
    if (now - last_warning_ < std::chrono::seconds(10)) return;
    spdlog::warn("send to topic '{}' not acknowledged ({}); {} record(s) queued again (the messages that made them "
                 "stay uncommitted until the broker takes them)",
                 topic, describe(err), requeued_since_warning_);
    last_warning_ = now;
    requeued_since_warning_ = 0;
  }

  using Sends = std::vector<std::unique_ptr<Transport::PipelinedSend>>;

  void hold_acknowledged(std::unique_ptr<Transport::PipelinedSend> send) {
    const void* group = send->group();
    auto held = std::find_if(held_.begin(), held_.end(), [&](const auto& entry) { return entry.first == group; });
    if (held == held_.end()) held = held_.emplace(held_.end(), group, Sends{});
    held->second.push_back(std::move(send));
  }

  const std::string principal_;
  const std::function<void(const Error&)> on_fatal_;
  std::atomic<std::thread::id> poller_{};
  // The poller's round of reports so far: acknowledged sends by group (a handful: one per lane).
  std::vector<std::pair<const void*, Sends>> held_;
  std::atomic<bool> giving_up_{false};
  std::mutex mutex_;
  std::vector<Requeued> requeued_;
  Clock::time_point last_warning_{};
  std::size_t requeued_since_warning_ = 0;
};

KafkaTransport::KafkaTransport(KafkaSettings settings)
    : settings_(std::move(settings)),
      principal_(kafka_principal(settings_.properties)),
      producer_events_(std::make_unique<KafkaClientEvents>(broker_state_, nullptr, settings_.on_fatal, principal_)),
      awaited_reports_(std::make_unique<AwaitedReports>()),
      pipelined_reports_(std::make_unique<PipelinedReports>(principal_, settings_.on_fatal)),
      pipelined_events_(std::make_unique<KafkaClientEvents>(broker_state_, nullptr, settings_.on_fatal, principal_)) {}

Result<std::unique_ptr<KafkaTransport>> KafkaTransport::create(const KafkaSettings& settings) {
  if (auto refusal = client_certificate_error(settings.properties)) return *refusal;
  std::unique_ptr<KafkaTransport> transport(new KafkaTransport(settings));
  if (auto status = transport->start_producer(); !status) return status.error();
  return transport;
}

KafkaTransport::~KafkaTransport() {
  stopping_ = true;
  if (poller_.joinable()) poller_.join();
  if (pipelined_poller_.joinable()) pipelined_poller_.join();
  pipelined_reports_->give_up();
  for (KafkaTopicHandles* handles : {producer_topics_.get(), pipelined_made_.load()}) {
    if (handles == nullptr) continue;
    RdKafka::Producer* producer = &handles->producer();
    producer->purge(RdKafka::Producer::PURGE_QUEUE | RdKafka::Producer::PURGE_INFLIGHT);
    producer->poll(0);  // deliver the purge reports so no sender waits for ever
  }
}

std::map<std::string, std::string> KafkaTransport::client_settings() const {
  return {{"bootstrap.servers", settings_.bootstrap_servers}, {"client.id", settings_.client_id}};
}

Result<std::unique_ptr<RdKafka::Producer>> KafkaTransport::create_producer(std::map<std::string, std::string> settings,
                                                                          const char* what, KafkaClientEvents& events,
                                                                          RdKafka::DeliveryReportCb& reports) {
  settings.merge(client_settings());
  settings.try_emplace("linger.ms", "0");  // unless the caller batches: each waits for its ack
  auto conf = make_kafka_conf(settings, settings_.properties, events);
  if (!conf) return conf.error();
  std::string error;
  RdKafka::DeliveryReportCb* report_cb = &reports;
  (*conf)->set("dr_cb", report_cb, error);
  std::unique_ptr<RdKafka::Producer> producer(RdKafka::Producer::create(conf->get(), error));
  if (!producer) return Error{ExitCode::kFailure, std::string("kafka: cannot create ") + what + ": " + error};
  return producer;
}

Status KafkaTransport::start_producer() {
  auto producer = create_producer({{"enable.idempotence", "true"},  // broker-side dedup of retries
                                   {"message.timeout.ms", "30000"},
                                   {"statistics.interval.ms", "1000"}},
                                  "producer", *producer_events_, *awaited_reports_);
  if (!producer) return producer.error();
  producer_ = std::move(producer).value();
  producer_topics_ = std::make_unique<KafkaTopicHandles>(*producer_);
  poller_ = std::thread([this] { poll_producer(*producer_topics_, false); });
  return ok_status();
}

Result<KafkaTopicHandles*> KafkaTransport::pipelined_producer() {
  if (KafkaTopicHandles* made = pipelined_made_.load(std::memory_order_acquire)) return made;
  std::lock_guard lock(pipelined_mutex_);
  if (!pipelined_) {
    auto producer = create_producer(
        {{"enable.idempotence", "true"}, {"message.timeout.ms", "30000"}, {"linger.ms", "5"}},
        "producer of pipelined sends", *pipelined_events_, *pipelined_reports_);
    if (!producer) return producer.error();
    pipelined_ = std::move(producer).value();
    pipelined_topics_ = std::make_unique<KafkaTopicHandles>(*pipelined_);
    pipelined_poller_ = std::thread([this] {
      pipelined_reports_->set_poller(std::this_thread::get_id());
      poll_producer(*pipelined_topics_, true);
    });
    pipelined_made_.store(pipelined_topics_.get(), std::memory_order_release);
  }
  return pipelined_topics_.get();
}

void KafkaTransport::poll_producer(KafkaTopicHandles& producer, bool requeues) {
  while (!stopping_) {
    producer.producer().poll(50);
    if (!requeues) continue;
    pipelined_reports_->tell_acknowledged();
    for (auto& requeued : pipelined_reports_->take_requeued()) {
      const auto err = produce_ticket(producer, requeued.record, requeued.send, kRequeueWait);
      if (err != RdKafka::ERR_NO_ERROR) requeued.send->delivered(send_error(requeued.record.topic, err));
    }
  }
}

Status KafkaTransport::send_async(const ProducedRecord& record, std::unique_ptr<PipelinedSend> pipelined) {
  auto producer = pipelined_producer();
  if (!producer) return producer.error();
  const auto err = produce_ticket(**producer, record, pipelined, kRequeueWait);
  if (err == RdKafka::ERR_NO_ERROR) return ok_status();
  return send_error(record.topic, err);
}

Status KafkaTransport::send(const ProducedRecord& record, std::chrono::milliseconds timeout) {
  auto waiter = produce_awaited(*producer_topics_, record, Clock::now() + timeout);
  if (!waiter) return waiter.error();
  auto status = await_delivery(**waiter, record.topic, timeout);
  if (!status) return refusal_or((*waiter)->error, record.topic, principal_, settings_.on_fatal, std::move(status));
  return status;
}


Result<std::unique_ptr<KafkaTransactionalProducer>> KafkaTransport::create_transactional_producer(
    const std::string& transactional_id, std::chrono::milliseconds timeout, std::chrono::milliseconds transaction_timeout) {
  auto events = std::make_unique<KafkaClientEvents>(broker_state_);
  auto refusals = std::make_unique<RecordRefusals>();
  // Right after a commit the coordinator is still writing its markers and answers the next
  // transaction's first request with CONCURRENT_TRANSACTIONS; librdkafka retries it after
  // retry.backoff.ms, whose 100 ms default would cap back-to-back transactions (an exactly-once
  // agent's batches) near ten a second per producer. The Java client retries this after 20 ms.
  auto created = create_producer({{"transactional.id", transactional_id},
                                  {"transaction.timeout.ms", std::to_string(transaction_timeout.count())},
                                  {"retry.backoff.ms", "20"}},
                                 "transactional producer", *events, *refusals);
  if (!created) return created.error();
  std::unique_ptr<RdKafka::Producer> producer = std::move(created).value();
  // Registers this producer's epoch with the transaction coordinator, which aborts the previous
  // holder's open transaction and fences it: a stale producer's commits fail from here on.
  std::unique_ptr<RdKafka::Error> init(producer->init_transactions(static_cast<int>(timeout.count())));
  if (init) {
    // The refusal's one line is the worker's to log as it stops; the term logs its own failure.
    if (auto refusal = authorization_error(init->code(), principal_, KafkaAccess{"", "", "", transactional_id});
        refusal && settings_.on_fatal) {
      settings_.on_fatal(*refusal);
    }
    return Error{ExitCode::kFailure, "kafka: transactional producer '" + transactional_id + "' not registered: " + init->str()};
  }
  return std::make_unique<KafkaTransactionalProducer>(std::move(events), std::move(refusals), std::move(producer),
                                                      settings_.on_fatal, principal_, transactional_id);
}

Result<std::unique_ptr<TransactionalProducer>> KafkaTransport::start_leader_producer(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  auto leader = create_transactional_producer(settings_.leader_transactional_id, timeout, std::chrono::seconds(60));
  if (!leader) return leader.error();
  for (const auto& topic : settings_.leader_topics) {
    (*leader)->learn(topic, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
  }
  return std::unique_ptr<TransactionalProducer>(std::move(leader).value());
}

Result<std::unique_ptr<TransactionalProducer>> KafkaTransport::start_transactional_producer(
    const std::string& transactional_id, std::chrono::milliseconds timeout) {
  // An agent lane's id is its worker's own: no successor's init_transactions aborts what a worker
  // that died left open, so its partitions' next owners wait for the broker to (Kafka Streams'
  // exactly-once default too). Transactions commit every commit interval, far below it.
  auto producer = create_transactional_producer(transactional_id, timeout, std::chrono::seconds(10));
  if (!producer) return producer.error();
  return std::unique_ptr<TransactionalProducer>(std::move(producer).value());
}

Status KafkaTransport::send_all(const std::vector<ProducedRecord>& records, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::vector<std::shared_ptr<DeliveryWaiter>> waiters;
  waiters.reserve(records.size());
  for (const auto& record : records) {
    auto waiter = produce_awaited(*producer_topics_, record, deadline);
    if (!waiter) return waiter.error();
    waiters.push_back(std::move(waiter).value());
  }
  for (std::size_t i = 0; i < waiters.size(); ++i) {
    const auto left = std::max(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()),
                               std::chrono::milliseconds(0));
    if (auto status = await_delivery(*waiters[i], records[i].topic, left); !status) {
      return refusal_or(waiters[i]->error, records[i].topic, principal_, settings_.on_fatal, std::move(status));
    }
  }
  return ok_status();
}

Status KafkaTransport::flush(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (KafkaTopicHandles* handles : {pipelined_made_.load(), producer_topics_.get()}) {
    if (handles == nullptr) continue;
    RdKafka::Producer* producer = &handles->producer();
    const auto left = std::max(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()),
                               std::chrono::milliseconds(0));
    const auto err = producer->flush(static_cast<int>(left.count()));
    if (err != RdKafka::ERR_NO_ERROR) return Error{ExitCode::kFailure, "kafka: flush: " + describe(err)};
  }
  return ok_status();
}

BrokerState KafkaTransport::broker_state() const { return broker_state_.load(); }

namespace {

// A partition with nothing in it: at its end from the start.
class EmptyPartitionReader final : public PartitionReader {
 public:
  Result<std::vector<ConsumedMessage>> poll(std::chrono::milliseconds /*timeout*/) override {
    return std::vector<ConsumedMessage>{};
  }
  bool at_end() const override { return true; }
};

}  // namespace

Result<std::unique_ptr<PartitionReader>> KafkaTransport::read_partition(const TopicPartition& partition,
                                                                        const std::string& group_id,
                                                                        std::chrono::milliseconds timeout) {
  if (group_id.empty()) {
    // Reading from the start: an empty partition (an app whose leader never wrote state) is
    // known from one round trip of the connected producer, without a consumer's start-up, which
    // would lengthen every failover.
    std::int64_t low = 0;
    std::int64_t high = 0;
    if (producer_->query_watermark_offsets(partition.topic, partition.partition, &low, &high,
                                           static_cast<int>(timeout.count())) == RdKafka::ERR_NO_ERROR &&
        low == high) {
      return std::unique_ptr<PartitionReader>(std::make_unique<EmptyPartitionReader>());
    }
  }
  return KafkaPartitionReader::open(client_settings(), settings_.properties, broker_state_, partition, group_id, timeout);
}

Result<std::unique_ptr<TopicReader>> KafkaTransport::read_topic(const TopicReadRequest& request,
                                                                std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  const auto left = [&] {
    return static_cast<int>(std::max<std::int64_t>(
        1, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count()));
  };
  RdKafka::Metadata* raw = nullptr;
  const auto err = producer_->metadata(true, nullptr, &raw, left());
  std::unique_ptr<RdKafka::Metadata> metadata(raw);
  if (err != RdKafka::ERR_NO_ERROR) return Error{ExitCode::kBrokerUnreachable, "cannot list topics: " + describe(err)};
  const auto listed = std::find_if(metadata->topics()->begin(), metadata->topics()->end(),
                                   [&](const auto* topic) { return topic->topic() == request.topic; });
  if (listed == metadata->topics()->end() || (*listed)->err() != RdKafka::ERR_NO_ERROR) {
    return Error{ExitCode::kFailure, "topic '" + request.topic + "' does not exist"};
  }
  std::vector<KafkaTopicReader::Range> ranges;
  for (const auto* partition : *(*listed)->partitions()) {
    const std::int32_t id = partition->id();
    if (request.only && request.only->partition != id) continue;
    std::int64_t low = 0;
    std::int64_t high = 0;
    // A topic just created may not have its partition leaders known yet: asked again until then.
    auto watermarks = producer_->query_watermark_offsets(request.topic, id, &low, &high, left());
    while (watermarks != RdKafka::ERR_NO_ERROR && is_transport_failure(watermarks) && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      watermarks = producer_->query_watermark_offsets(request.topic, id, &low, &high, left());
    }
    if (watermarks != RdKafka::ERR_NO_ERROR) {
      return Error{ExitCode::kBrokerUnreachable,
                   "end of " + request.topic + "[" + std::to_string(id) + "]: " + describe(watermarks)};
    }
    if (!request.only) {
      ranges.push_back(KafkaTopicReader::Range{id, KafkaTopicReader::kFromGroup, high});
      continue;
    }
    const std::int64_t offset = request.only->offset;
    if (offset < low || offset >= high) {
      return Error{ExitCode::kFailure, request.topic + "[" + std::to_string(id) + "] has no offset " +
                                           std::to_string(offset) +
                                           (low == high ? " (it is empty)"
                                                        : " (it holds " + std::to_string(low) + " to " +
                                                              std::to_string(high - 1) + ")")};
    }
    ranges.push_back(KafkaTopicReader::Range{id, offset, offset + 1});
  }
  if (request.only && ranges.empty()) {
    return Error{ExitCode::kFailure, "topic '" + request.topic + "' has no partition " +
                                         std::to_string(request.only->partition) + " (it has " +
                                         std::to_string((*listed)->partitions()->size()) + ")"};
  }
  return KafkaTopicReader::open(client_settings(), settings_.properties, broker_state_, request.topic,
                                request.group_id, ranges, std::chrono::milliseconds(left()));
}

Result<std::unique_ptr<GroupConsumer>> KafkaTransport::join_group(const GroupOptions& options, GroupListener& listener) {
  auto consumer =
      KafkaGroupConsumer::create(options, client_settings(), settings_.properties, broker_state_, listener,
                                 settings_.on_fatal, principal_);
  if (!consumer) return consumer.error();
  return std::unique_ptr<GroupConsumer>(std::move(consumer).value());
}

namespace {

// A broker that answers but refuses a topic will refuse it again: that is no outage to wait out.
ExitCode topic_error_code(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_NOT_CONTROLLER:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
      return ExitCode::kBrokerUnreachable;
    case RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR:
    case RD_KAFKA_RESP_ERR_INVALID_PARTITIONS:
    case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
      return ExitCode::kManifestInvalid;
    default:
      return ExitCode::kFailure;
  }
}

}  // namespace

// The topics of `topics` that the broker's metadata does not list, or kBrokerUnreachable.
Result<std::vector<TopicSpec>> KafkaTransport::missing_topics(const std::vector<TopicSpec>& topics,
                                                            std::chrono::milliseconds timeout) {
  RdKafka::Metadata* raw = nullptr;
  const auto err = producer_->metadata(true, nullptr, &raw, static_cast<int>(timeout.count()));
  std::unique_ptr<RdKafka::Metadata> metadata(raw);
  if (err != RdKafka::ERR_NO_ERROR) {
    return Error{ExitCode::kBrokerUnreachable, "cannot list topics: " + describe(err)};
  }
  std::vector<TopicSpec> missing;
  for (const auto& wanted : topics) {
    const auto listed = std::find_if(metadata->topics()->begin(), metadata->topics()->end(),
                                     [&](const auto* topic) { return topic->topic() == wanted.name; });
    if (listed != metadata->topics()->end()) {
      if (auto refusal = authorization_error((*listed)->err(), principal_, KafkaAccess{wanted.name, "Describe", "", ""})) {
        return *refusal;
      }
    }
    if (listed == metadata->topics()->end() || (*listed)->err() != RdKafka::ERR_NO_ERROR) missing.push_back(wanted);
  }
  return missing;
}

Status KafkaTransport::create_topics(const std::vector<TopicSpec>& topics, std::chrono::milliseconds timeout) {
  rd_kafka_t* rk = producer_->c_ptr();
  char errstr[512];
  std::vector<rd_kafka_NewTopic_t*> new_topics;
  for (const auto& topic : topics) {
    new_topics.push_back(rd_kafka_NewTopic_new(topic.name.c_str(), topic.partitions, topic.replication, errstr, sizeof errstr));
    if (new_topics.back() == nullptr) {
      new_topics.pop_back();
      rd_kafka_NewTopic_destroy_array(new_topics.data(), new_topics.size());
      return Error{ExitCode::kManifestInvalid, "topic '" + topic.name + "': " + errstr};
    }
    if (topic.compacted) {
      // The log cleaner never compacts a topic's active segment, which by Kafka's defaults rolls
      // at 1 GiB or after 7 days: a small, busy state topic would keep its whole history that
      // long, and every restore would read it. Segments that roll within minutes, and a cleaner
      // that runs once a tenth of the log is stale, keep a restore near the state's own size.
      for (const auto& [name, value] : {std::pair{"cleanup.policy", "compact"}, std::pair{"segment.ms", "600000"},
                                        std::pair{"segment.bytes", "67108864"},
                                        std::pair{"min.cleanable.dirty.ratio", "0.1"}}) {
        rd_kafka_NewTopic_set_config(new_topics.back(), name, value);
      }
    }
  }
  rd_kafka_AdminOptions_t* options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_request_timeout(options, static_cast<int>(timeout.count()), errstr, sizeof errstr);
  rd_kafka_AdminOptions_set_operation_timeout(options, static_cast<int>(timeout.count()), errstr, sizeof errstr);
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk);
  rd_kafka_CreateTopics(rk, new_topics.data(), new_topics.size(), options, queue);
  rd_kafka_event_t* event = rd_kafka_queue_poll(queue, static_cast<int>(timeout.count()) + 1000);

  Status status = ok_status();
  if (event == nullptr) {
    status = Error{ExitCode::kBrokerUnreachable, "cannot create topics: no answer from the broker"};
  } else if (rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    status = Error{ExitCode::kBrokerUnreachable, std::string("cannot create topics: ") + rd_kafka_event_error_string(event)};
  } else {
    size_t count = 0;
    const rd_kafka_topic_result_t** results =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event), &count);
    for (size_t i = 0; i < count && status.ok(); ++i) {
      const auto err = rd_kafka_topic_result_error(results[i]);
      const std::string name = rd_kafka_topic_result_name(results[i]);
      if (auto refusal = authorization_error(static_cast<RdKafka::ErrorCode>(err), principal_,
                                             KafkaAccess{name, "Create", "", ""})) {
        status = *refusal;
      } else if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        status = Error{topic_error_code(err), std::string("cannot create topic '") +
                                                  rd_kafka_topic_result_name(results[i]) +
                                                  "': " + rd_kafka_topic_result_error_string(results[i])};
      }
    }
  }
  if (event != nullptr) rd_kafka_event_destroy(event);
  rd_kafka_queue_destroy(queue);
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_NewTopic_destroy_array(new_topics.data(), new_topics.size());
  return status;
}

// A topic just created may take a moment to appear in every broker's metadata; consumers that
// subscribe before that would not be assigned its partitions until the next metadata refresh.
Status KafkaTransport::await_topics(const std::vector<TopicSpec>& topics, Clock::time_point deadline) {
  while (true) {
    RdKafka::Metadata* raw = nullptr;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    const auto err = producer_->metadata(true, nullptr, &raw, static_cast<int>(std::max<std::int64_t>(left.count(), 100)));
    std::unique_ptr<RdKafka::Metadata> metadata(raw);
    std::size_t visible = 0;
    if (err == RdKafka::ERR_NO_ERROR) {
      for (const auto& wanted : topics) {
        for (const auto* topic : *metadata->topics()) {
          if (topic->topic() == wanted.name && topic->err() == RdKafka::ERR_NO_ERROR && !topic->partitions()->empty()) {
            ++visible;
          }
        }
      }
    }
    if (visible == topics.size()) return ok_status();
    if (Clock::now() >= deadline) {
      return Error{ExitCode::kBrokerUnreachable, "topics not visible in broker metadata yet" +
                                                     (err != RdKafka::ERR_NO_ERROR ? ": " + describe(err) : std::string())};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

Status KafkaTransport::ensure_topics(const std::vector<TopicSpec>& topics, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  auto missing = missing_topics(topics, timeout);
  if (!missing) return missing.error();
  if (!missing->empty()) {
    if (auto status = create_topics(*missing, timeout); !status) return status;
  }
  if (auto status = await_topics(topics, deadline); !status) return status;
  broker_state_.store(BrokerState::kUp);
  return ok_status();
}

}  // namespace faust
