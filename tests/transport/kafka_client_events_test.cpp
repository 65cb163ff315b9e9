#include "transport/kafka/kafka_client_events.h"

#include <gtest/gtest.h>

namespace faust {
namespace {

// An error event as librdkafka hands one to the event callback.
class ErrorEvent final : public RdKafka::Event {
 public:
  ErrorEvent(RdKafka::ErrorCode code, bool fatal, std::string text) : code_(code), fatal_(fatal), text_(std::move(text)) {}
  Type type() const override { return EVENT_ERROR; }
  RdKafka::ErrorCode err() const override { return code_; }
  Severity severity() const override { return EVENT_SEVERITY_ERROR; }
  std::string fac() const override { return {}; }
  std::string str() const override { return text_; }
  int throttle_time() const override { return 0; }
  std::string broker_name() const override { return {}; }
  int broker_id() const override { return -1; }
  bool fatal() const override { return fatal_; }

 private:
  RdKafka::ErrorCode code_;
  bool fatal_;
  std::string text_;
};

TEST(KafkaClientEventsTest, AFatalErrorIsReportedToTheWorkerAndAnOrdinaryOneIsNot) {
  std::atomic<BrokerState> state{BrokerState::kUp};
  std::vector<std::string> fatal;
  KafkaClientEvents events(state, nullptr, [&](const std::string& message) { fatal.push_back(message); });

  ErrorEvent ordinary(RdKafka::ERR__TIMED_OUT, false, "request timed out");
  events.event_cb(ordinary);
  EXPECT_TRUE(fatal.empty());

  ErrorEvent unusable(RdKafka::ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, true, "producer sequence gap");
  events.event_cb(unusable);
  ASSERT_EQ(fatal.size(), 1u);
  EXPECT_EQ(fatal[0], "kafka: fatal error: " + RdKafka::err2str(RdKafka::ERR_OUT_OF_ORDER_SEQUENCE_NUMBER) +
                          ": producer sequence gap");
}

TEST(KafkaClientEventsTest, WithoutAnObserverAFatalErrorIsOnlyLogged) {
  std::atomic<BrokerState> state{BrokerState::kUp};
  KafkaClientEvents events(state);
  ErrorEvent fenced(RdKafka::ERR__FENCED, true, "fenced by a newer producer");
  events.event_cb(fenced);  // the leader producer's term handles its own fatal errors
  EXPECT_EQ(state.load(), BrokerState::kUp);
}

}  // namespace
}  // namespace faust
