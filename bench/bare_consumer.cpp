// The physical limit for the throughput benchmark: one librdkafka KafkaConsumer (C++ API) in
// a consumer group, consuming a topic from the earliest offset with nothing in between: no
// hand-off to handler threads, no copies, no plugin call. Group semantics match faust-host's
// agent consumer: same group settings, manual commits (asynchronous every --commit-interval-ms,
// synchronous at the end), read_committed.
//
//   faust-bench-bare-consumer --broker B --group G --topic T --count N
//
// Prints one JSON object: CLOCK_REALTIME nanoseconds when the partitions were assigned, when
// the first and the N-th message arrived, and when the final commit returned.
#include <librdkafka/rdkafkacpp.h>
#include <time.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "bench_clock.h"

namespace faust::bench {
namespace {

using Clock = std::chrono::steady_clock;

// Records when the first assignment arrived; assigns eagerly as the host does.
class AssignmentRecorder final : public RdKafka::RebalanceCb {
 public:
  void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& partitions) override {
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      if (assigned_ns == 0) assigned_ns = realtime_ns();
      consumer->assign(partitions);
    } else {
      consumer->unassign();
    }
  }
  std::int64_t assigned_ns = 0;
};

struct Options {
  std::string broker;
  std::string group;
  std::string topic;
  std::int64_t count = 0;
  int commit_interval_ms = 1000;
  int session_timeout_ms = 6000;
  int heartbeat_interval_ms = 500;
  double timeout_seconds = 600;
  std::vector<std::string> extra_settings;  // "name=value", applied last
};

int run(const Options& options) {
  std::string error;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  AssignmentRecorder recorder;
  const std::vector<std::pair<std::string, std::string>> settings = {
      {"bootstrap.servers", options.broker},
      {"group.id", options.group},
      {"client.id", options.group + "-bare"},
      {"session.timeout.ms", std::to_string(options.session_timeout_ms)},
      {"heartbeat.interval.ms", std::to_string(options.heartbeat_interval_ms)},
      {"partition.assignment.strategy", "range"},
      {"enable.auto.commit", "false"},
      {"auto.offset.reset", "earliest"},
      {"enable.partition.eof", "false"},
      {"isolation.level", "read_committed"},
  };
  std::vector<std::pair<std::string, std::string>> all_settings = settings;
  for (const std::string& setting : options.extra_settings) {
    const auto equals = setting.find('=');
    if (equals == std::string::npos) {
      std::fprintf(stderr, "bare-consumer: --set %s: expected name=value\n", setting.c_str());
      return 1;
    }
    all_settings.emplace_back(setting.substr(0, equals), setting.substr(equals + 1));
  }
  for (const auto& [name, value] : all_settings) {
    if (conf->set(name, value, error) != RdKafka::Conf::CONF_OK) {
      std::fprintf(stderr, "bare-consumer: kafka setting %s: %s\n", name.c_str(), error.c_str());
      return 1;
    }
  }
  conf->set("rebalance_cb", static_cast<RdKafka::RebalanceCb*>(&recorder), error);
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(RdKafka::KafkaConsumer::create(conf.get(), error));
  if (!consumer) {
    std::fprintf(stderr, "bare-consumer: cannot create consumer: %s\n", error.c_str());
    return 1;
  }
  if (const auto err = consumer->subscribe({options.topic}); err != RdKafka::ERR_NO_ERROR) {
    std::fprintf(stderr, "bare-consumer: subscribe: %s\n", RdKafka::err2str(err).c_str());
    return 1;
  }

  std::int64_t consumed = 0;
  std::int64_t first_ns = 0;
  std::int64_t last_ns = 0;
  const auto deadline = Clock::now() + std::chrono::duration<double>(options.timeout_seconds);
  auto last_commit = Clock::now();
  const auto commit_interval = std::chrono::milliseconds(options.commit_interval_ms);
  while (consumed < options.count && Clock::now() < deadline) {
    std::unique_ptr<RdKafka::Message> message(consumer->consume(100));
    if (message->err() == RdKafka::ERR_NO_ERROR) {
      if (++consumed == 1) first_ns = realtime_ns();
    } else if (message->err() != RdKafka::ERR__TIMED_OUT) {
      std::fprintf(stderr, "bare-consumer: %s\n", message->errstr().c_str());
    }
    if (Clock::now() - last_commit >= commit_interval) {
      consumer->commitAsync();  // the offsets stored as messages were consumed
      last_commit = Clock::now();
    }
  }
  last_ns = realtime_ns();
  const auto committed = consumer->commitSync();
  const std::int64_t committed_ns = realtime_ns();
  consumer->close();
  if (consumed < options.count) {
    std::fprintf(stderr, "bare-consumer: consumed %lld of %lld within %.0f s\n",
                 static_cast<long long>(consumed), static_cast<long long>(options.count),
                 options.timeout_seconds);
    return 1;
  }
  if (committed != RdKafka::ERR_NO_ERROR) {
    std::fprintf(stderr, "bare-consumer: final commit: %s\n", RdKafka::err2str(committed).c_str());
    return 1;
  }
  std::printf(
      "{\"count\": %lld, \"assigned_ns\": %lld, \"first_ns\": %lld, \"last_ns\": %lld, \"committed_ns\": "
      "%lld}\n",
      static_cast<long long>(consumed), static_cast<long long>(recorder.assigned_ns),
      static_cast<long long>(first_ns), static_cast<long long>(last_ns),
      static_cast<long long>(committed_ns));
  return 0;
}

}  // namespace
}  // namespace faust::bench

int main(int argc, char** argv) {
  CLI::App app{"faust-bench-bare-consumer: a plain librdkafka consumer loop, the throughput limit"};
  faust::bench::Options options;
  app.add_option("--broker", options.broker, "host:port")->required();
  app.add_option("--group", options.group)->required();
  app.add_option("--topic", options.topic)->required();
  app.add_option("--count", options.count, "messages to consume")->required();
  app.add_option("--commit-interval-ms", options.commit_interval_ms);
  app.add_option("--session-timeout-ms", options.session_timeout_ms);
  app.add_option("--heartbeat-interval-ms", options.heartbeat_interval_ms);
  app.add_option("--timeout", options.timeout_seconds, "seconds");
  app.add_option("--set", options.extra_settings, "extra librdkafka setting name=value (repeatable)");
  CLI11_PARSE(app, argc, argv);
  return faust::bench::run(options);
}
