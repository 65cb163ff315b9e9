#include "transport/kafka/kafka_client_events.h"

#include <algorithm>
#include <chrono>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace faust {
namespace {

spdlog::level::level_enum to_spdlog(int syslog_severity) {
  if (syslog_severity <= 3) return spdlog::level::err;
  if (syslog_severity == 4) return spdlog::level::warn;
  if (syslog_severity <= 6) return spdlog::level::info;
  return spdlog::level::debug;
}

}  // namespace

std::string describe(RdKafka::ErrorCode code) { return RdKafka::err2str(code); }

bool KafkaClientEvents::report_refusal(RdKafka::ErrorCode code, std::string_view detail,
                                       const KafkaAccess& access) const {
  if (!fatal_observer_) return false;
  auto refusal = authentication_error(code, principal_, detail, &broker_certificates_);
  if (!refusal) refusal = authorization_error(code, principal_, access);
  if (!refusal) return false;
  fatal_observer_(*refusal);
  return true;
}

void KafkaClientEvents::event_cb(RdKafka::Event& event) {
  switch (event.type()) {
    case RdKafka::Event::EVENT_ERROR:
      // Before the outage cases: a refused login also leaves "all brokers down" behind it.
      if (report_refusal(event.err(), event.str())) return;
      if (event.err() == RdKafka::ERR__ALL_BROKERS_DOWN) {
        if (state_.exchange(BrokerState::kDown) != BrokerState::kDown) {
          spdlog::warn("[kafka] broker unreachable: {} (retrying)", event.str());
        }
        return;
      }
      if (event.err() == RdKafka::ERR__TRANSPORT || event.err() == RdKafka::ERR__RESOLVE) {
        spdlog::debug("[kafka] {}", event.str());  // librdkafka reconnects by itself
        return;
      }
      if (event.fatal() && fatal_observer_) {
        fatal_observer_(Error{ExitCode::kKafkaFatal, "kafka: fatal error: " + RdKafka::err2str(event.err()) + ": " + event.str()});
        return;
      }
      spdlog::log(event.fatal() ? spdlog::level::err : spdlog::level::warn, "[kafka] {}: {}",
                  RdKafka::err2str(event.err()), event.str());
      return;
    case RdKafka::Event::EVENT_LOG:
      // Connection failures repeat several times a second while a broker is down; the error
      // event above already says so once, as a warning. A refused broker certificate
      // (SSLCERTVRFY) is named by the handshake failure's refusal line.
      spdlog::log(event.fac() == "FAIL" || event.fac() == "SSLCERTVRFY" ? spdlog::level::debug
                                                                        : to_spdlog(event.severity()),
                  "[kafka] {}: {}", event.fac(), event.str());
      return;
    case RdKafka::Event::EVENT_STATS:
      on_stats(event.str());
      return;
    default:
      return;
  }
}

bool KafkaClientEvents::ssl_cert_verify_cb(const std::string& broker_name, int32_t /*broker_id*/, int* x509_error,
                                           int depth, const char* buf, size_t size, std::string& errstr) {
  return broker_certificates_.verify(broker_name, *x509_error, depth, std::string_view(buf, size), errstr);
}

// librdkafka's statistics (STATISTICS.md): a learned broker (nodeid >= 0) in state "UP" means the
// cluster is reachable again after an outage; partitions carry the consumer lag.
void KafkaClientEvents::on_stats(const std::string& json) {
  const auto stats = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (stats.is_discarded()) return;
  if (const auto brokers = stats.find("brokers"); brokers != stats.end() && brokers->is_object()) {
    bool any_up = false;
    for (const auto& broker : *brokers) {
      if (broker.value("nodeid", -1) >= 0 && broker.value("state", "") == "UP") any_up = true;
    }
    if (any_up) {
      if (state_.exchange(BrokerState::kUp) == BrokerState::kDown) spdlog::info("[kafka] broker reachable again");
    }
  }
  if (!lag_observer_) return;
  const auto topics = stats.find("topics");
  if (topics == stats.end() || !topics->is_object()) return;
  for (const auto& [topic, topic_stats] : topics->items()) {
    const auto partitions = topic_stats.find("partitions");
    if (partitions == topic_stats.end()) continue;
    for (const auto& [partition, p] : partitions->items()) {
      const int id = std::stoi(partition);
      const std::int64_t lag = p.value("consumer_lag", std::int64_t{-1});
      if (id >= 0 && lag >= 0) lag_observer_(TopicPartition{topic, id}, lag);
    }
  }
}

Result<std::unique_ptr<RdKafka::Conf>> make_kafka_conf(const std::map<std::string, std::string>& host_settings,
                                                      const std::map<std::string, std::string>& user_properties,
                                                      KafkaClientEvents& events) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string error;
  auto set = [&](const std::string& key, const std::string& value, const char* origin) -> Status {
    if (conf->set(key, value, error) != RdKafka::Conf::CONF_OK) {
      return Error{ExitCode::kManifestInvalid, std::string(origin) + key + ": " + error};
    }
    return ok_status();
  };
  for (const auto& [key, value] : host_settings) {
    if (auto status = set(key, value, "kafka setting "); !status) return status.error();
  }
  for (const auto& [key, value] : user_properties) {
    if (auto status = set(key, value, "manifest kafka."); !status) return status.error();
  }
  if (conf->set("event_cb", static_cast<RdKafka::EventCb*>(&events), error) != RdKafka::Conf::CONF_OK) {
    return Error{ExitCode::kFailure, "kafka: " + error};
  }
  // Decides as OpenSSL did (librdkafka verifies the same without it); only notes why.
  if (conf->set("ssl_cert_verify_cb", static_cast<RdKafka::SslCertificateVerifyCb*>(&events), error) !=
      RdKafka::Conf::CONF_OK) {
    return Error{ExitCode::kFailure, "kafka: " + error};
  }
  return conf;
}

void learn_topic(RdKafka::Handle& client, const std::string& topic, std::chrono::milliseconds timeout) {
  std::string error;
  std::unique_ptr<RdKafka::Topic> handle(RdKafka::Topic::create(&client, topic, nullptr, error));
  if (!handle) return;
  RdKafka::Metadata* metadata = nullptr;
  const int wait_ms = static_cast<int>(std::max<std::int64_t>(timeout.count(), 1));
  if (client.metadata(false, handle.get(), &metadata, wait_ms) == RdKafka::ERR_NO_ERROR) delete metadata;
}

}  // namespace faust
