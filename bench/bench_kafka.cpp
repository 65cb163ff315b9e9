// Kafka helpers for the benchmarks (librdkafka's C API, nothing else):
//
//   faust-bench-kafka create-topic   --broker B --topic T --partitions P
//   faust-bench-kafka produce        --broker B --topic T --partitions P --count N --size S
//   faust-bench-kafka wait-committed --broker B --group G --topic T --partitions P --target N
//   faust-bench-kafka latency        --broker B --group G --topic T --interval-ms I --seconds S --output F
//   faust-bench-kafka tutorial-floor --broker B --group G --topic T --interval-ms I --seconds S --output F
//                                    --transactional-id X
//   faust-bench-kafka produce-transaction --broker B --topic T --count N --size S --transactional-id X
//   faust-bench-kafka count-committed     --broker B --topic T --partitions P --expect N
//   faust-bench-kafka copy               --broker B --group G --from T --to U --expect N
//   faust-bench-kafka copy-transactional --broker B --group G --from T --to U --expect N
//   faust-bench-kafka version
//
// `faust-bench-kafka --config FILE COMMAND ...` adds the librdkafka properties of FILE (`name=value`
// lines, as kcat's -F reads them: the secured broker's admin.kcat.conf) to every client.
//
// Results are one JSON object on stdout; errors one line on stderr and exit code 1.
#include <librdkafka/rdkafka.h>
#include <sys/resource.h>
#include <time.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench_clock.h"

namespace faust::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct KafkaHandleDeleter {
  void operator()(rd_kafka_t* handle) const { rd_kafka_destroy(handle); }
};
using KafkaHandle = std::unique_ptr<rd_kafka_t, KafkaHandleDeleter>;

struct Failure {
  std::string message;
};

// The --config properties, which every client gets after its own settings.
std::vector<std::pair<std::string, std::string>>& config_settings() {
  static std::vector<std::pair<std::string, std::string>> settings;
  return settings;
}

// Reads --config: `name=value` lines; blank lines and lines starting with '#' are skipped.
bool read_config(const std::string& file, Failure& failure) {
  std::ifstream in(file);
  if (!in) {
    failure.message = "--config " + file + ": cannot read it";
    return false;
  }
  int number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    if (line.empty() || line.front() == '#') continue;
    const auto equals = line.find('=');
    if (equals == std::string::npos || equals == 0) {
      failure.message = "--config " + file + ":" + std::to_string(number) + ": expected name=value";
      return false;
    }
    config_settings().emplace_back(line.substr(0, equals), line.substr(equals + 1));
  }
  return true;
}

// Builds a client from `settings` and the --config ones, or says which setting librdkafka refused.
std::optional<KafkaHandle> make_client(rd_kafka_type_t type,
                                       std::vector<std::pair<std::string, std::string>> settings,
                                       void (*delivery_report)(rd_kafka_t*, const rd_kafka_message_t*, void*),
                                       void* opaque, Failure& failure,
                                       void (*rebalance)(rd_kafka_t*, rd_kafka_resp_err_t,
                                                         rd_kafka_topic_partition_list_t*, void*) = nullptr) {
  char error[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  settings.insert(settings.end(), config_settings().begin(), config_settings().end());
  for (const auto& [name, value] : settings) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), error, sizeof(error)) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      failure.message = "kafka setting " + name + ": " + error;
      return std::nullopt;
    }
  }
  if (delivery_report != nullptr) rd_kafka_conf_set_dr_msg_cb(conf, delivery_report);
  if (rebalance != nullptr) rd_kafka_conf_set_rebalance_cb(conf, rebalance);
  rd_kafka_conf_set_opaque(conf, opaque);
  rd_kafka_t* handle = rd_kafka_new(type, conf, error, sizeof(error));  // owns conf on success
  if (handle == nullptr) {
    rd_kafka_conf_destroy(conf);
    failure.message = std::string("cannot create kafka client: ") + error;
    return std::nullopt;
  }
  return KafkaHandle(handle);
}

// What a failed librdkafka call (`step`) said; takes `error` and destroys it.
Failure take_error(const char* step, rd_kafka_error_t* error) {
  Failure failure{std::string(step) + ": " + rd_kafka_error_string(error)};
  rd_kafka_error_destroy(error);
  return failure;
}

int fail(const Failure& failure) {
  std::fprintf(stderr, "faust-bench-kafka: %s\n", failure.message.c_str());
  return 1;
}

// An existing topic is fine: every benchmark run uses topic names of its own.
int create_topic(const std::string& broker, const std::string& topic, int partitions) {
  Failure failure;
  auto client = make_client(RD_KAFKA_PRODUCER, {{"bootstrap.servers", broker}}, nullptr, nullptr, failure);
  if (!client) return fail(failure);
  char error[512];
  rd_kafka_NewTopic_t* new_topic = rd_kafka_NewTopic_new(topic.c_str(), partitions, 1, error, sizeof(error));
  if (new_topic == nullptr) return fail({std::string("topic ") + topic + ": " + error});
  rd_kafka_queue_t* queue = rd_kafka_queue_new(client->get());
  rd_kafka_CreateTopics(client->get(), &new_topic, 1, nullptr, queue);
  rd_kafka_event_t* event = rd_kafka_queue_poll(queue, 30000);
  int status = 0;
  if (event == nullptr) {
    status = fail({"creating topic " + topic + " timed out"});
  } else {
    size_t count = 0;
    const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event);
    const rd_kafka_topic_result_t** results =
        result ? rd_kafka_CreateTopics_result_topics(result, &count) : nullptr;
    if (rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      status = fail({std::string("creating topic ") + topic + ": " + rd_kafka_event_error_string(event)});
    } else if (count == 1 && rd_kafka_topic_result_error(results[0]) != RD_KAFKA_RESP_ERR_NO_ERROR &&
               rd_kafka_topic_result_error(results[0]) != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      status = fail(
          {std::string("creating topic ") + topic + ": " + rd_kafka_topic_result_error_string(results[0])});
    } else {
      std::printf("{\"topic\": \"%s\", \"partitions\": %d}\n", topic.c_str(), partitions);
    }
    rd_kafka_event_destroy(event);
  }
  rd_kafka_queue_destroy(queue);
  rd_kafka_NewTopic_destroy(new_topic);
  return status;
}

struct DeliveryCounts {
  std::int64_t delivered = 0;
  std::int64_t failed = 0;
  std::string first_error;
};

void count_delivery(rd_kafka_t* /*handle*/, const rd_kafka_message_t* message, void* opaque) {
  auto* counts = static_cast<DeliveryCounts*>(opaque);
  if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    ++counts->delivered;
  } else if (counts->failed++ == 0) {
    counts->first_error = rd_kafka_err2str(message->err);
  }
}

// A value of `size` bytes, all letters.
std::vector<char> filler(int size) {
  std::vector<char> value(static_cast<std::size_t>(size));
  for (std::size_t i = 0; i < value.size(); ++i) value[i] = static_cast<char>('a' + i % 26);
  return value;
}

// Queues one copy of `value` (and `key`), serving delivery reports while librdkafka's queue is full.
bool enqueue(rd_kafka_t* client, rd_kafka_topic_t* topic, std::int32_t partition, std::string_view value,
             std::optional<std::string_view> key, Failure& failure) {
  // RD_KAFKA_MSG_F_COPY: librdkafka copies the payload and never writes through the pointer.
  void* payload = const_cast<char*>(value.data());
  const void* key_bytes = key ? key->data() : nullptr;
  const std::size_t key_size = key ? key->size() : 0;
  while (rd_kafka_produce(topic, partition, RD_KAFKA_MSG_F_COPY, payload, value.size(), key_bytes, key_size,
                          nullptr) != 0) {
    const rd_kafka_resp_err_t err = rd_kafka_last_error();
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      failure.message =
          std::string("produce to ") + rd_kafka_topic_name(topic) + ": " + rd_kafka_err2str(err);
      return false;
    }
    rd_kafka_poll(client, 10);  // serve delivery reports to make room
  }
  return true;
}

// Spreads `count` values of `size` bytes evenly over the partitions (message i to partition
// i mod P), batched hard: what is measured later is consuming, not this. Each value starts with
// its number, so a dump of a copy can be checked against the input.
int produce(const std::string& broker, const std::string& topic, int partitions, std::int64_t count,
            int size) {
  Failure failure;
  DeliveryCounts counts;
  auto client = make_client(RD_KAFKA_PRODUCER,
                            {{"bootstrap.servers", broker},
                             {"linger.ms", "20"},
                             {"batch.size", "1000000"},
                             {"batch.num.messages", "20000"},
                             {"queue.buffering.max.messages", "1000000"},
                             {"queue.buffering.max.kbytes", "1048576"},
                             {"compression.codec", "none"}},
                            &count_delivery, &counts, failure);
  if (!client) return fail(failure);
  rd_kafka_topic_t* handle = rd_kafka_topic_new(client->get(), topic.c_str(), nullptr);
  std::vector<char> value = filler(size);

  const auto started = Clock::now();
  for (std::int64_t i = 0; i < count; ++i) {
    const std::string number = std::to_string(i);
    number.copy(value.data(), std::min(number.size(), value.size()));
    if (!enqueue(client->get(), handle, static_cast<std::int32_t>(i % partitions),
                 std::string_view(value.data(), value.size()), std::nullopt, failure)) {
      rd_kafka_topic_destroy(handle);
      return fail(failure);
    }
    if (i % 10000 == 0) rd_kafka_poll(client->get(), 0);
  }
  const rd_kafka_resp_err_t flushed = rd_kafka_flush(client->get(), 120000);
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  rd_kafka_topic_destroy(handle);
  if (flushed != RD_KAFKA_RESP_ERR_NO_ERROR)
    return fail({std::string("flush: ") + rd_kafka_err2str(flushed)});
  if (counts.failed > 0) {
    return fail({std::to_string(counts.failed) + " message(s) not delivered, first: " + counts.first_error});
  }
  std::printf(
      "{\"topic\": \"%s\", \"partitions\": %d, \"count\": %lld, \"size\": %d, \"seconds\": %.3f, \"rate\": "
      "%.0f}\n",
      topic.c_str(), partitions, static_cast<long long>(counts.delivered), size, seconds,
      static_cast<double>(counts.delivered) / seconds);
  return 0;
}

// Polls the group's committed offsets until they add up to `target`, and prints when. Uses a
// client of the group that never subscribes, so it never joins or disturbs the group.
int wait_committed(const std::string& broker, const std::string& group, const std::string& topic,
                   int partitions, std::int64_t target, double timeout_seconds, int interval_ms) {
  Failure failure;
  auto client =
      make_client(RD_KAFKA_CONSUMER,
                  {{"bootstrap.servers", broker}, {"group.id", group}, {"enable.auto.commit", "false"}},
                  nullptr, nullptr, failure);
  if (!client) return fail(failure);
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) rd_kafka_topic_partition_list_add(list, topic.c_str(), p);
  const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_seconds);
  std::int64_t committed = 0;
  int status = 1;
  while (Clock::now() < deadline) {
    if (rd_kafka_committed(client->get(), list, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      committed = 0;
      for (int i = 0; i < list->cnt; ++i) committed += list->elems[i].offset > 0 ? list->elems[i].offset : 0;
      if (committed >= target) {
        std::printf("{\"group\": \"%s\", \"committed\": %lld, \"committed_ns\": %lld}\n", group.c_str(),
                    static_cast<long long>(committed), static_cast<long long>(realtime_ns()));
        status = 0;
        break;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
  }
  if (status != 0) {
    std::fprintf(stderr, "faust-bench-kafka: group %s committed %lld of %lld within %.0f s\n", group.c_str(),
                 static_cast<long long>(committed), static_cast<long long>(target), timeout_seconds);
  }
  rd_kafka_topic_partition_list_destroy(list);
  return status;
}

void note_assignment(rd_kafka_t* handle, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions,
                     void* opaque) {
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    rd_kafka_assign(handle, partitions);
    static_cast<std::atomic<bool>*>(opaque)->store(true);
  } else {
    rd_kafka_assign(handle, nullptr);
  }
}

// The latency floor of the broker and librdkafka: what faust-host's timer -> agent path does
// with nothing of the host in between. A producer configured as the host's sends (idempotent,
// linger.ms 0, waiting for each acknowledgement) sends CLOCK_MONOTONIC ns every interval; a
// consumer thread in the same group settings as the host's agents subtracts it from its clock
// and appends the difference to `output`, as the latency_sink plugin does.
// With a `transactional_id`, the floor of the tutorial's fenced path instead (an on_leader
// timer's send): each tick stamps the clock, then begins a transaction, produces the one record
// and commits (which returns once it is acknowledged and the transaction is committed). The
// producer is otherwise as the host's leader producer (linger.ms 0); init_transactions runs
// once before the first tick, as a leader term's does.
int latency(const std::string& broker, const std::string& group, const std::string& topic, int interval_ms,
            double seconds, const std::string& output, const std::string& transactional_id) {
  const bool transactional = !transactional_id.empty();
  Failure failure;
  std::atomic<bool> assigned{false};
  char error[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [name, value] :
       std::vector<std::pair<std::string, std::string>>{{"bootstrap.servers", broker},
                                                        {"group.id", group},
                                                        {"session.timeout.ms", "6000"},
                                                        {"heartbeat.interval.ms", "500"},
                                                        {"partition.assignment.strategy", "range"},
                                                        {"enable.auto.commit", "false"},
                                                        {"auto.offset.reset", "earliest"},
                                                        {"isolation.level", "read_committed"}}) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), error, sizeof(error)) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return fail({"kafka setting " + name + ": " + error});
    }
  }
  rd_kafka_conf_set_rebalance_cb(conf, &note_assignment);
  rd_kafka_conf_set_opaque(conf, &assigned);
  rd_kafka_t* raw_consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, error, sizeof(error));
  if (raw_consumer == nullptr) {
    rd_kafka_conf_destroy(conf);
    return fail({std::string("cannot create consumer: ") + error});
  }
  KafkaHandle consumer(raw_consumer);
  rd_kafka_poll_set_consumer(consumer.get());
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, topic.c_str(), RD_KAFKA_PARTITION_UA);
  const rd_kafka_resp_err_t subscribed = rd_kafka_subscribe(consumer.get(), topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (subscribed != RD_KAFKA_RESP_ERR_NO_ERROR)
    return fail({std::string("subscribe: ") + rd_kafka_err2str(subscribed)});

  std::FILE* file = std::fopen(output.c_str(), "a");
  if (file == nullptr) return fail({"cannot append to " + output});
  std::atomic<bool> stopping{false};
  std::thread sink([&] {
    while (!stopping) {
      rd_kafka_message_t* message = rd_kafka_consumer_poll(consumer.get(), 100);
      if (message == nullptr) continue;
      const std::int64_t received = monotonic_ns();
      if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const std::string value(static_cast<const char*>(message->payload), message->len);
        std::fprintf(file, "%lld\n", static_cast<long long>(received - std::stoll(value)));
        std::fflush(file);
      }
      rd_kafka_message_destroy(message);
    }
  });

  DeliveryCounts counts;
  auto producer = make_client(RD_KAFKA_PRODUCER,
                              {{"bootstrap.servers", broker},
                               {"linger.ms", "0"},
                               transactional ? std::pair<std::string, std::string>{"transactional.id", transactional_id}
                                             : std::pair<std::string, std::string>{"enable.idempotence", "true"}},
                              &count_delivery, &counts, failure);
  int status = 0;
  rd_kafka_error_t* init_error = nullptr;
  if (!producer) {
    status = fail(failure);
  } else if (transactional && (init_error = rd_kafka_init_transactions(producer->get(), 30000)) != nullptr) {
    status = fail(take_error("init_transactions", init_error));
  } else {
    const auto join_deadline = Clock::now() + std::chrono::seconds(30);
    while (!assigned && Clock::now() < join_deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    rd_kafka_topic_t* handle = rd_kafka_topic_new(producer->get(), topic.c_str(), nullptr);
    const auto interval = std::chrono::milliseconds(interval_ms);
    const auto end = Clock::now() + std::chrono::duration<double>(seconds);
    auto next = Clock::now() + interval;  // fixed-rate schedule, as the host's timers
    std::int64_t sent = 0;
    while (next < end && status == 0) {
      std::this_thread::sleep_until(next);
      next += interval;
      const std::string value = std::to_string(monotonic_ns());
      if (transactional) {
        if (rd_kafka_error_t* begin_error = rd_kafka_begin_transaction(producer->get())) {
          status = fail(take_error("begin_transaction", begin_error));
          break;
        }
      }
      if (rd_kafka_produce(handle, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY,
                           const_cast<char*>(value.data()), value.size(), nullptr, 0, nullptr) != 0) {
        status = fail({std::string("produce: ") + rd_kafka_err2str(rd_kafka_last_error())});
        break;
      }
      ++sent;
      if (!transactional) {
        while (counts.delivered + counts.failed < sent) rd_kafka_poll(producer->get(), 1);  // wait for the ack
      } else if (rd_kafka_error_t* commit_error = rd_kafka_commit_transaction(producer->get(), 30000)) {
        status = fail(take_error("commit_transaction", commit_error));  // flushes, so the record is acked
        break;
      }
    }
    rd_kafka_topic_destroy(handle);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the last message's way to the sink
    if (status == 0)
      std::printf("{\"sent\": %lld, \"failed\": %lld}\n", static_cast<long long>(sent),
                  static_cast<long long>(counts.failed));
  }
  stopping = true;
  sink.join();
  std::fclose(file);
  rd_kafka_consumer_close(consumer.get());
  return status;
}

// The floor for leader dispatch: `count` values of `size` bytes in one transaction of a
// transactional producer (librdkafka's defaults otherwise), committed. init_transactions runs
// first and is not timed, as a leader's runs once per term. Prints CLOCK_MONOTONIC ns at the
// start, after the last produce call and after the commit returned.
int produce_transaction(const std::string& broker, const std::string& topic, std::int64_t count, int size,
                        const std::string& transactional_id) {
  Failure failure;
  DeliveryCounts counts;
  auto client = make_client(RD_KAFKA_PRODUCER,
                            {{"bootstrap.servers", broker}, {"transactional.id", transactional_id}},
                            &count_delivery, &counts, failure);
  if (!client) return fail(failure);
  if (rd_kafka_error_t* error = rd_kafka_init_transactions(client->get(), 30000))
    return fail(take_error("init_transactions", error));
  rd_kafka_topic_t* handle = rd_kafka_topic_new(client->get(), topic.c_str(), nullptr);
  std::vector<char> value = filler(size);

  const std::int64_t start_ns = monotonic_ns();
  if (rd_kafka_error_t* error = rd_kafka_begin_transaction(client->get())) {
    rd_kafka_topic_destroy(handle);
    return fail(take_error("begin_transaction", error));
  }
  for (std::int64_t i = 0; i < count; ++i) {
    if (!enqueue(client->get(), handle, RD_KAFKA_PARTITION_UA, std::string_view(value.data(), value.size()),
                 std::nullopt, failure)) {
      rd_kafka_topic_destroy(handle);
      return fail(failure);
    }
  }
  const std::int64_t returned_ns = monotonic_ns();
  rd_kafka_error_t* committed = rd_kafka_commit_transaction(client->get(), 120000);  // flushes first
  const std::int64_t committed_ns = monotonic_ns();
  rd_kafka_topic_destroy(handle);
  if (committed != nullptr) return fail(take_error("commit_transaction", committed));
  if (counts.failed > 0) {
    return fail({std::to_string(counts.failed) + " message(s) not delivered, first: " + counts.first_error});
  }
  std::printf(
      "{\"topic\": \"%s\", \"count\": %lld, \"start_ns\": %lld, \"returned_ns\": %lld, \"committed_ns\": "
      "%lld}\n",
      topic.c_str(), static_cast<long long>(counts.delivered), static_cast<long long>(start_ns),
      static_cast<long long>(returned_ns), static_cast<long long>(committed_ns));
  return 0;
}

// Reads every partition of `topic` from the beginning as a read_committed consumer (assigned,
// never joining its group, committing nothing) and prints the CLOCK_MONOTONIC ns at which the
// first and the `expect`-th message arrived, and the partitions' end offsets added up.
// Says "caught up" on stderr once it has reached the end of every partition, so a driver can
// wait for that before the messages are produced: arrival times are then not delayed by its own
// start-up. Says "seen N" on stderr every second in which the count grew, so a driver can tell
// a stalled writer from a slow one. A short fetch wait bounds how late a committed batch can be seen.
int count_committed(const std::string& broker, const std::string& topic, int partitions, std::int64_t expect,
                    double timeout_seconds) {
  Failure failure;
  auto client = make_client(RD_KAFKA_CONSUMER,
                            {{"bootstrap.servers", broker},
                             {"group.id", "faust-bench-count-" + topic},  // assign() needs one
                             {"enable.auto.commit", "false"},
                             {"isolation.level", "read_committed"},
                             {"enable.partition.eof", "true"},
                             {"fetch.wait.max.ms", "10"},
                             {"queued.min.messages", "1000000"}},
                            nullptr, nullptr, failure);
  if (!client) return fail(failure);
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p)
    rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  const rd_kafka_resp_err_t assigned = rd_kafka_assign(client->get(), list);
  rd_kafka_topic_partition_list_destroy(list);
  if (assigned != RD_KAFKA_RESP_ERR_NO_ERROR)
    return fail({std::string("assign: ") + rd_kafka_err2str(assigned)});

  const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_seconds);
  std::vector<bool> at_end(static_cast<std::size_t>(partitions), false);
  int partitions_at_end = 0;
  std::int64_t seen = 0;
  std::int64_t first_ns = 0;
  std::int64_t last_ns = 0;
  int status = 0;
  std::int64_t seen_at_last_progress = 0;
  auto last_progress = Clock::now();
  while (seen < expect) {
    if (Clock::now() - last_progress >= std::chrono::seconds(1)) {
      if (seen != seen_at_last_progress)
        std::fprintf(stderr, "count-committed: seen %lld\n", static_cast<long long>(seen));
      seen_at_last_progress = seen;
      last_progress = Clock::now();
    }
    if (Clock::now() >= deadline) {
      status = fail({"saw " + std::to_string(seen) + " of " + std::to_string(expect) +
                     " committed messages in " + topic + " within " +
                     std::to_string(static_cast<int>(timeout_seconds)) + " s"});
      break;
    }
    rd_kafka_message_t* message = rd_kafka_consumer_poll(client->get(), 100);
    if (message == nullptr) continue;
    const std::int64_t arrived_ns = monotonic_ns();
    if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (seen++ == 0) first_ns = arrived_ns;
      last_ns = arrived_ns;
    } else if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      const auto index = static_cast<std::size_t>(message->partition);
      if (index < at_end.size() && !at_end[index]) {
        at_end[index] = true;
        if (++partitions_at_end == partitions) {
          std::fprintf(stderr, "count-committed: caught up on %d partition(s) of %s\n", partitions,
                       topic.c_str());
        }
      }
    } else {
      std::fprintf(stderr, "count-committed: %s\n", rd_kafka_message_errstr(message));
    }
    rd_kafka_message_destroy(message);
  }
  if (status == 0) {
    // Transaction markers take offsets of their own: end offsets beyond the messages seen tell a
    // transactional writer from a plain one (or, from a plain one, duplicates).
    std::int64_t end_offsets = 0;
    for (int p = 0; p < partitions; ++p) {
      std::int64_t low = 0;
      std::int64_t high = 0;
      if (rd_kafka_query_watermark_offsets(client->get(), topic.c_str(), p, &low, &high, 10000) ==
          RD_KAFKA_RESP_ERR_NO_ERROR) {
        end_offsets += high;
      }
    }
    std::printf(
        "{\"topic\": \"%s\", \"count\": %lld, \"first_ns\": %lld, \"last_ns\": %lld, \"end_offsets\": "
        "%lld}\n",
        topic.c_str(), static_cast<long long>(seen), static_cast<long long>(first_ns),
        static_cast<long long>(last_ns), static_cast<long long>(end_offsets));
  }
  rd_kafka_consumer_close(client->get());
  return status;
}


// What the copy loops do; see copy().
struct CopyOptions {
  std::string broker;
  std::string group;
  std::string from;
  std::string to;
  int partitions = 8;  // of `from`
  std::int64_t expect = 0;
  bool transactional = false;
  int batch_messages = 500;    // exactly once: a transaction's most messages
  int batch_wait_ms = 50;      // exactly once: a transaction's longest time open
  int commit_interval_ms = 1000;  // at least once: flush and commit this often
  double timeout_seconds = 600;
};

// The offsets consumed so far, as a list to commit (partitions not yet read left out).
rd_kafka_topic_partition_list_t* consumed_offsets(const std::string& topic,
                                                  const std::vector<std::int64_t>& next_offsets) {
  rd_kafka_topic_partition_list_t* list =
      rd_kafka_topic_partition_list_new(static_cast<int>(next_offsets.size()));
  for (std::size_t p = 0; p < next_offsets.size(); ++p) {
    if (next_offsets[p] < 0) continue;
    rd_kafka_topic_partition_list_add(list, topic.c_str(), static_cast<std::int32_t>(p))->offset =
        next_offsets[p];
  }
  return list;
}

// The floor for a forwarding agent: consume `from` in a new group (the host's consumer
// settings) and produce every message's value and key to `to`, until `expect` are copied.
// At least once: an idempotent producer; every commit interval (and at the end) the producer is
// flushed, then the consumed offsets are committed. Exactly once: a transactional producer;
// each batch (up to batch_messages, or batch_wait_ms after its first message) is one
// transaction that carries its input offsets (send_offsets_to_transaction with the consumer's
// group metadata) and is committed. Messages are taken one poll at a time, which never waits
// for a batch to fill. Prints CLOCK_MONOTONIC ns at the assignment, the first and the last
// message consumed and the end (last commit returned), and the process's CPU seconds.
int copy(const CopyOptions& options) {
  Failure failure;
  DeliveryCounts counts;
  std::vector<std::pair<std::string, std::string>> producer_settings = {{"bootstrap.servers", options.broker},
                                                                        {"enable.idempotence", "true"}};
  if (options.transactional) {
    producer_settings.emplace_back("transactional.id", options.group + "-copy");
    // A transaction begun right after the last one committed meets CONCURRENT_TRANSACTIONS until
    // the broker has written the markers; librdkafka retries after retry.backoff.ms (100 ms by
    // default), which would cap back-to-back transactions at ten a second. The Java client
    // retries this case after 20 ms.
    producer_settings.emplace_back("retry.backoff.ms", "20");
  }
  auto producer = make_client(RD_KAFKA_PRODUCER, producer_settings, &count_delivery, &counts, failure);
  if (!producer) return fail(failure);
  if (options.transactional) {
    if (rd_kafka_error_t* error = rd_kafka_init_transactions(producer->get(), 30000))
      return fail(take_error("init_transactions", error));
  }

  std::atomic<bool> assigned{false};
  auto consumer = make_client(RD_KAFKA_CONSUMER,
                              {{"bootstrap.servers", options.broker},
                               {"group.id", options.group},
                               {"client.id", options.group + "-copy"},
                               {"session.timeout.ms", "6000"},
                               {"heartbeat.interval.ms", "500"},
                               {"partition.assignment.strategy", "range"},
                               {"enable.auto.commit", "false"},
                               {"auto.offset.reset", "earliest"},
                               {"isolation.level", "read_committed"}},
                              nullptr, &assigned, failure, &note_assignment);
  if (!consumer) return fail(failure);
  rd_kafka_poll_set_consumer(consumer->get());
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, options.from.c_str(), RD_KAFKA_PARTITION_UA);
  const rd_kafka_resp_err_t subscribed = rd_kafka_subscribe(consumer->get(), topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (subscribed != RD_KAFKA_RESP_ERR_NO_ERROR)
    return fail({std::string("subscribe: ") + rd_kafka_err2str(subscribed)});
  rd_kafka_consumer_group_metadata_t* group_metadata = rd_kafka_consumer_group_metadata(consumer->get());
  rd_kafka_topic_t* output = rd_kafka_topic_new(producer->get(), options.to.c_str(), nullptr);

  std::vector<std::int64_t> next_offsets(static_cast<std::size_t>(options.partitions), -1);
  // Flushes (at least once) or commits the open transaction (exactly once), then the offsets.
  auto checkpoint = [&]() -> std::optional<Failure> {
    rd_kafka_topic_partition_list_t* offsets = consumed_offsets(options.from, next_offsets);
    std::optional<Failure> failed;
    if (options.transactional) {
      if (rd_kafka_error_t* error =
              rd_kafka_send_offsets_to_transaction(producer->get(), offsets, group_metadata, 30000)) {
        failed = take_error("send_offsets_to_transaction", error);
      } else if (rd_kafka_error_t* committed = rd_kafka_commit_transaction(producer->get(), 30000)) {
        failed = take_error("commit_transaction", committed);
      }
    } else if (const rd_kafka_resp_err_t flushed = rd_kafka_flush(producer->get(), 30000);
               flushed != RD_KAFKA_RESP_ERR_NO_ERROR) {
      failed = Failure{std::string("flush: ") + rd_kafka_err2str(flushed)};
    } else if (offsets->cnt > 0) {
      if (const rd_kafka_resp_err_t committed = rd_kafka_commit(consumer->get(), offsets, 0);
          committed != RD_KAFKA_RESP_ERR_NO_ERROR) {
        failed = Failure{std::string("commit: ") + rd_kafka_err2str(committed)};
      }
    }
    rd_kafka_topic_partition_list_destroy(offsets);
    return failed;
  };

  const auto deadline = Clock::now() + std::chrono::duration<double>(options.timeout_seconds);
  std::int64_t copied = 0;
  std::int64_t assigned_ns = 0;
  std::int64_t first_ns = 0;
  std::int64_t last_ns = 0;
  std::int64_t checkpoints = 0;
  int in_batch = 0;
  bool transaction_open = false;
  auto batch_started = Clock::now();
  auto last_checkpoint = Clock::now();
  std::optional<Failure> failed;
  while (!failed && copied < options.expect) {
    if (Clock::now() >= deadline) {
      failed = Failure{"copied " + std::to_string(copied) + " of " + std::to_string(options.expect) +
                       " within " + std::to_string(static_cast<int>(options.timeout_seconds)) + " s"};
      break;
    }
    rd_kafka_message_t* message = rd_kafka_consumer_poll(consumer->get(), 10);
    if (assigned_ns == 0 && assigned) assigned_ns = monotonic_ns();
    if (message != nullptr && message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::fprintf(stderr, "copy: %s\n", rd_kafka_message_errstr(message));
    } else if (message != nullptr) {
      if (options.transactional && !transaction_open) {
        if (rd_kafka_error_t* error = rd_kafka_begin_transaction(producer->get())) {
          rd_kafka_message_destroy(message);
          failed = take_error("begin_transaction", error);
          break;
        }
        transaction_open = true;
        batch_started = Clock::now();
      }
      std::optional<std::string_view> key;
      if (message->key != nullptr) key.emplace(static_cast<const char*>(message->key), message->key_len);
      const std::string_view value(static_cast<const char*>(message->payload), message->len);
      Failure produce_failure;
      if (!enqueue(producer->get(), output, RD_KAFKA_PARTITION_UA, value, key, produce_failure)) {
        failed = produce_failure;
      }
      if (message->partition >= 0 && message->partition < options.partitions)
        next_offsets[static_cast<std::size_t>(message->partition)] = message->offset + 1;
      last_ns = monotonic_ns();
      if (copied++ == 0) first_ns = last_ns;
      ++in_batch;
    }
    if (message != nullptr) rd_kafka_message_destroy(message);
    rd_kafka_poll(producer->get(), 0);  // delivery reports
    const auto now = Clock::now();
    const bool done = copied == options.expect;
    const bool due =
        options.transactional
            ? transaction_open && (done || in_batch >= options.batch_messages ||
                                   now - batch_started >= std::chrono::milliseconds(options.batch_wait_ms))
            : copied > 0 &&
                  (done || now - last_checkpoint >= std::chrono::milliseconds(options.commit_interval_ms));
    if (!failed && due) {
      failed = checkpoint();
      ++checkpoints;
      transaction_open = false;
      in_batch = 0;
      last_checkpoint = Clock::now();
    }
  }
  const std::int64_t done_ns = monotonic_ns();
  rd_kafka_topic_destroy(output);
  rd_kafka_consumer_group_metadata_destroy(group_metadata);
  rd_kafka_consumer_close(consumer->get());
  if (failed) return fail(*failed);
  if (counts.failed > 0) {
    return fail({std::to_string(counts.failed) + " message(s) not delivered, first: " + counts.first_error});
  }
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const double cpu_s = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                       static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  std::printf(
      "{\"copied\": %lld, \"checkpoints\": %lld, \"assigned_ns\": %lld, \"first_ns\": %lld, "
      "\"last_ns\": %lld, \"done_ns\": %lld, \"cpu_s\": %.3f}\n",
      static_cast<long long>(copied), static_cast<long long>(checkpoints),
      static_cast<long long>(assigned_ns), static_cast<long long>(first_ns), static_cast<long long>(last_ns),
      static_cast<long long>(done_ns), cpu_s);
  return 0;
}

}  // namespace
}  // namespace faust::bench

int main(int argc, char** argv) {
  CLI::App app{
      "faust-bench-kafka: topic set-up, producing, copying and commit watching for the benchmarks"};
  app.require_subcommand(1);
  std::string broker = "127.0.0.1:9092";
  std::string topic;
  std::string group;
  int partitions = 8;
  std::int64_t count = 1'000'000;
  int size = 100;
  std::int64_t target = 0;
  double timeout_seconds = 600;
  int poll_interval_ms = 20;

  auto* create = app.add_subcommand("create-topic", "Create a topic (an existing one is fine)");
  auto* produce =
      app.add_subcommand("produce", "Produce COUNT values of SIZE bytes, spread over the partitions");
  auto* watch =
      app.add_subcommand("wait-committed", "Wait until a group's committed offsets add up to TARGET");
  auto* latency = app.add_subcommand(
      "latency", "Timer-to-consumer latency with librdkafka alone, to OUTPUT (ns per line)");
  auto* tutorial_floor = app.add_subcommand(
      "tutorial-floor",
      "As latency, but each tick is a transaction (begin, produce one record, commit) and the consumer "
      "reads read_committed");
  auto* transaction = app.add_subcommand(
      "produce-transaction", "Produce COUNT values of SIZE bytes in one transaction and commit it");
  auto* counter = app.add_subcommand(
      "count-committed", "Read TOPIC read_committed from the start until EXPECT messages arrived");
  auto* copy_plain = app.add_subcommand(
      "copy", "Copy EXPECT messages FROM a topic TO another, at least once (flush, then commit offsets)");
  auto* copy_transactional = app.add_subcommand(
      "copy-transactional",
      "Copy EXPECT messages FROM a topic TO another, exactly once (a transaction a batch)");
  auto* version = app.add_subcommand("version", "Print the librdkafka version in use");
  std::string config;
  app.add_option("--config", config, "librdkafka properties (name=value lines) for every client");
  faust::bench::CopyOptions copy_options;
  for (auto* command : {copy_plain, copy_transactional}) {
    command->add_option("--broker", copy_options.broker, "host:port")->required();
    command->add_option("--group", copy_options.group)->required();
    command->add_option("--from", copy_options.from, "input topic")->required();
    command->add_option("--to", copy_options.to, "output topic")->required();
    command->add_option("--partitions", copy_options.partitions, "of the input topic")
        ->check(CLI::Range(1, 10000));
    command->add_option("--expect", copy_options.expect)
        ->required()
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{1'000'000'000}));
    command->add_option("--timeout", copy_options.timeout_seconds, "seconds");
  }
  copy_plain->add_option("--commit-interval-ms", copy_options.commit_interval_ms)
      ->check(CLI::Range(1, 600000));
  copy_transactional->add_option("--batch-messages", copy_options.batch_messages)
      ->check(CLI::Range(1, 1000000));
  copy_transactional->add_option("--batch-wait-ms", copy_options.batch_wait_ms)
      ->check(CLI::Range(1, 600000));
  std::string transactional_id;
  std::int64_t expect = 0;
  int interval_ms = 10;
  double seconds = 30;
  std::string output;
  for (auto* command : {latency, tutorial_floor}) {
    command->add_option("--broker", broker, "host:port")->required();
    command->add_option("--topic", topic)->required();
    command->add_option("--group", group)->required();
    command->add_option("--interval-ms", interval_ms)->check(CLI::Range(1, 60000));
    command->add_option("--seconds", seconds);
    command->add_option("--output", output)->required();
  }
  tutorial_floor->add_option("--transactional-id", transactional_id)->required();
  for (auto* command : {create, produce, watch, counter}) {
    command->add_option("--broker", broker, "host:port")->required();
    command->add_option("--topic", topic)->required();
    command->add_option("--partitions", partitions)->check(CLI::Range(1, 10000));
  }
  transaction->add_option("--broker", broker, "host:port")->required();
  transaction->add_option("--topic", topic)->required();
  transaction->add_option("--transactional-id", transactional_id)->required();
  for (auto* command : {produce, transaction}) {
    command->add_option("--count", count)->check(CLI::Range(std::int64_t{1}, std::int64_t{1'000'000'000}));
    command->add_option("--size", size)->check(CLI::Range(1, 1'000'000));
  }
  counter->add_option("--expect", expect)
      ->required()
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1'000'000'000}));
  counter->add_option("--timeout", timeout_seconds, "seconds");
  watch->add_option("--group", group)->required();
  watch->add_option("--target", target)->required();
  watch->add_option("--timeout", timeout_seconds, "seconds");
  watch->add_option("--interval-ms", poll_interval_ms)->check(CLI::Range(1, 10000));
  CLI11_PARSE(app, argc, argv);
  if (faust::bench::Failure failure; !config.empty() && !faust::bench::read_config(config, failure)) {
    return faust::bench::fail(failure);
  }

  if (*create) return faust::bench::create_topic(broker, topic, partitions);
  if (*produce) return faust::bench::produce(broker, topic, partitions, count, size);
  if (*watch) {
    return faust::bench::wait_committed(broker, group, topic, partitions, target, timeout_seconds,
                                        poll_interval_ms);
  }
  if (*latency || *tutorial_floor)
    return faust::bench::latency(broker, group, topic, interval_ms, seconds, output, transactional_id);
  if (*transaction) return faust::bench::produce_transaction(broker, topic, count, size, transactional_id);
  if (*counter) return faust::bench::count_committed(broker, topic, partitions, expect, timeout_seconds);
  if (*copy_plain || *copy_transactional) {
    copy_options.transactional = copy_transactional->parsed();
    return faust::bench::copy(copy_options);
  }
  if (*version) std::printf("%s\n", rd_kafka_version_str());
  return 0;
}
