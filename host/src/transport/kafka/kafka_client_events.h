#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <librdkafka/rdkafkacpp.h>

#include "common/result.h"
#include "transport/transport.h"

namespace faust {

// Receives librdkafka's log, error and statistics events for every client of one transport:
// routes logs to spdlog as "[kafka] ..." and keeps the broker state /readyz reports.
class KafkaClientEvents final : public RdKafka::EventCb {
 public:
  using LagObserver = std::function<void(const TopicPartition&, std::int64_t lag)>;
  // A fatal error leaves the client unusable: the worker must not go on with it.
  using FatalObserver = std::function<void(const std::string& message)>;

  // `state` is shared by all clients of a transport; each client has its own events object.
  explicit KafkaClientEvents(std::atomic<BrokerState>& state, LagObserver lag_observer = {},
                             FatalObserver fatal_observer = {})
      : state_(state), lag_observer_(std::move(lag_observer)), fatal_observer_(std::move(fatal_observer)) {}
  void event_cb(RdKafka::Event& event) override;

 private:
  void on_stats(const std::string& json);
  std::atomic<BrokerState>& state_;
  const LagObserver lag_observer_;
  const FatalObserver fatal_observer_;
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
