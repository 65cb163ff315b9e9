#include "manifest/kafka_properties.h"

#include <algorithm>
#include <iterator>
#include <utility>

namespace faust {
namespace {

constexpr std::string_view kBrokers = "set the brokers with app.broker instead";
constexpr std::string_view kAtLeastOnce =
    "faust-host commits an offset only once its handler returned (at-least-once)";
constexpr std::string_view kAcks =
    "faust-host needs every send acknowledged by all in-sync replicas before it commits the message that "
    "made it";
constexpr std::string_view kSendTimeout =
    "set by faust-host: it bounds how long a send waits for the broker's acknowledgement";
constexpr std::string_view kApiOnly =
    "a callback or object that librdkafka takes through its API, not as text (faust-host installs the "
    "callbacks it relies on)";

// The one list of refused properties, each with the reason the refusal gives. Keep it in step with
// what host/src/transport/kafka sets, the README's manifest reference and the man page.
constexpr std::pair<std::string_view, std::string_view> kRefused[] = {
    // Where the brokers are: app.broker.
    {"bootstrap.servers", kBrokers},
    {"metadata.broker.list", kBrokers},
    // Leader election: one client id per worker, the assignors (sticky in the leader group), and
    // the two groups named after the app.
    {"client.id",
     "set by faust-host: one per worker and group, naming the app, its time of joining and its pid"},
    {"partition.assignment.strategy",
     "set by faust-host: cooperative-sticky in the leader group (the live leader keeps the leader "
     "partition); the agents' group follows app.rebalance"},
    {"group.id",
     "set by faust-host from app.id (groups '<app.id>' and '<app.id>-__leader'); change app.id instead"},
    {"group.instance.id",
     "static membership is not supported: every worker would share this one member id and fence the others "
     "out of the group"},
    {"session.timeout.ms", "set by faust-host; use app.session_timeout instead"},
    {"heartbeat.interval.ms", "set by faust-host; use app.heartbeat_interval instead"},
    {"max.poll.interval.ms", "set by faust-host from app.session_timeout; set that instead"},
    // Fenced leadership: the leader's transactional producer, and agents reading committed data only.
    {"transactional.id",
     "set by faust-host to '<app.id>-leader' on the leader's producer only, for fenced leadership"},
    {"transaction.timeout.ms", "set by faust-host for the leader's transactions (fenced leadership)"},
    {"isolation.level",
     "set by faust-host to read_committed, so agents never see a fenced leader's sends"},
    {"enable.idempotence",
     "set by faust-host so the broker drops duplicates of retried sends (leader transactions need it too)"},
    // At-least-once: offsets are committed by the host, to the group, once handled; sends are durable
    // before that.
    {"enable.auto.commit", kAtLeastOnce},
    {"auto.commit.enable", kAtLeastOnce},
    {"enable.auto.offset.store", kAtLeastOnce},
    {"offset.store.method", "set by faust-host: offsets are committed to the consumer group at the broker"},
    {"auto.offset.reset",
     "set by faust-host to earliest, so a new group handles every message already on its topics"},
    {"acks", kAcks},
    {"request.required.acks", kAcks},
    {"message.timeout.ms", kSendTimeout},
    {"delivery.timeout.ms", kSendTimeout},
    // The host's own bookkeeping.
    {"enable.partition.eof",
     "set by faust-host to false: its consume loop takes no end-of-partition events"},
    {"statistics.interval.ms",
     "set by faust-host: its statistics give /readyz the broker state and /metrics the consumer lag"},
    // librdkafka's "see dedicated API" properties (CONFIGURATION.md), and the C++ API's event_cb.
    {"background_event_cb", kApiOnly},
    {"closesocket_cb", kApiOnly},
    {"connect_cb", kApiOnly},
    {"consume_cb", kApiOnly},
    {"default_topic_conf", kApiOnly},
    {"dr_cb", kApiOnly},
    {"dr_msg_cb", kApiOnly},
    {"error_cb", kApiOnly},
    {"event_cb", kApiOnly},
    {"interceptors", kApiOnly},
    {"log_cb", kApiOnly},
    {"msg_order_cmp", kApiOnly},
    {"oauthbearer_token_refresh_cb", kApiOnly},
    {"offset_commit_cb", kApiOnly},
    {"opaque", kApiOnly},
    {"open_cb", kApiOnly},
    {"partitioner_cb", kApiOnly},
    {"rebalance_cb", kApiOnly},
    {"resolve_cb", kApiOnly},
    {"socket_cb", kApiOnly},
    {"ssl.certificate.verify_cb", kApiOnly},
    {"ssl_ca", kApiOnly},
    {"ssl_certificate", kApiOnly},
    {"ssl_engine_callback_data", kApiOnly},
    {"ssl_key", kApiOnly},
    {"stats_cb", kApiOnly},
    {"throttle_cb", kApiOnly},
};

std::optional<std::string_view> find_refused(std::string_view key) {
  const auto* it = std::find_if(std::begin(kRefused), std::end(kRefused),
                                [&](const auto& entry) { return entry.first == key; });
  if (it == std::end(kRefused)) return std::nullopt;
  return it->second;
}

}  // namespace

bool is_secret_kafka_property(std::string_view key) {
  constexpr std::string_view kSecrets[] = {"sasl.password",        "ssl.key.password",
                                           "ssl.keystore.password", "ssl.key.pem",
                                           "sasl.oauthbearer.client.secret", "sasl.oauthbearer.config"};
  return std::find(std::begin(kSecrets), std::end(kSecrets), key) != std::end(kSecrets);
}

std::optional<std::string_view> refused_kafka_property(std::string_view key) {
  if (auto reason = find_refused(key)) return reason;
  // librdkafka hands a property it does not know globally to the default topic configuration,
  // which drops a "topic." prefix first: "topic.auto.offset.reset" sets auto.offset.reset.
  constexpr std::string_view kTopicPrefix = "topic.";
  if (key.starts_with(kTopicPrefix)) return find_refused(key.substr(kTopicPrefix.size()));
  return std::nullopt;
}

}  // namespace faust
