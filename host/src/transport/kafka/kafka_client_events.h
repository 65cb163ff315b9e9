#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <librdkafka/rdkafkacpp.h>

#include "common/result.h"
#include "transport/kafka/kafka_access.h"
#include "transport/transport.h"

namespace faust {

// Receives librdkafka's log, error and statistics events for every client of one transport:
// routes logs to spdlog as "[kafka] ..." and keeps the broker state /readyz reports. Also sees
// each broker certificate's TLS verification, so that a refused one is named.
class KafkaClientEvents final : public RdKafka::EventCb, public RdKafka::SslCertificateVerifyCb {
 public:
  using LagObserver = std::function<void(const TopicPartition&, std::int64_t lag)>;
  // A fatal error leaves the client unusable, and a refused login or operation will be refused
  // again: the worker must not go on with it (the error's code says which it was).
  using FatalObserver = std::function<void(const Error& error)>;

  // `state` is shared by all clients of a transport; each client has its own events object.
  // `principal` and `access` (who the client is, what it uses) name a refusal's cause.
  explicit KafkaClientEvents(std::atomic<BrokerState>& state, LagObserver lag_observer = {},
                             FatalObserver fatal_observer = {}, std::string principal = {}, KafkaAccess access = {})
      : state_(state),
        lag_observer_(std::move(lag_observer)),
        fatal_observer_(std::move(fatal_observer)),
        principal_(std::move(principal)),
        access_(std::move(access)) {}
  void event_cb(RdKafka::Event& event) override;
  bool ssl_cert_verify_cb(const std::string& broker_name, int32_t broker_id, int* x509_error, int depth,
                          const char* buf, size_t size, std::string& errstr) override;

  // Hands an authentication or authorization refusal (`code`, librdkafka's `detail`) to the fatal
  // observer; false for any other code, or without an observer.
  bool report_refusal(RdKafka::ErrorCode code, std::string_view detail, const KafkaAccess& access) const;
  bool report_refusal(RdKafka::ErrorCode code, std::string_view detail) const {
    return report_refusal(code, detail, access_);
  }

 private:
  void on_stats(const std::string& json);
  std::atomic<BrokerState>& state_;
  const LagObserver lag_observer_;
  const FatalObserver fatal_observer_;
  const std::string principal_;
  const KafkaAccess access_;
  BrokerCertificates broker_certificates_;
};

// Builds a librdkafka configuration: the host's settings first, then the manifest's `kafka:`
// properties (which win), so users can tune anything. Errors name the property.
Result<std::unique_ptr<RdKafka::Conf>> make_kafka_conf(const std::map<std::string, std::string>& host_settings,
                                                      const std::map<std::string, std::string>& user_properties,
                                                      KafkaClientEvents& events);

// "Local: Broker transport failure"-style text plus the error name, for log lines.
std::string describe(RdKafka::ErrorCode code);

// Asks the broker for `topic`'s metadata (one round trip), so the client knows its partitions'
// leaders before it uses them; waits at most `timeout`, and a failure only means it learns them
// later, as it would anyway.
void learn_topic(RdKafka::Handle& client, const std::string& topic, std::chrono::milliseconds timeout);

}  // namespace faust
