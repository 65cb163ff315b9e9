#include "kafka_cluster.h"

#include <cstdint>
#include <cstdlib>
#include <limits>
#include <iostream>
#include <sstream>

#include "broker_env.h"

namespace faust::testing {
namespace {

constexpr auto kAdminTimeout = std::chrono::seconds(10);

struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* metadata) const { rd_kafka_metadata_destroy(metadata); }
};
using Metadata = std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter>;

Metadata fetch_metadata(rd_kafka_t* handle, std::string* error) {
  const rd_kafka_metadata_t* metadata = nullptr;
  const rd_kafka_resp_err_t code = rd_kafka_metadata(
      handle, 1, nullptr, &metadata, static_cast<int>(std::chrono::milliseconds(kAdminTimeout).count()));
  if (code != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (error != nullptr) *error = std::string("metadata: ") + rd_kafka_err2str(code);
    return Metadata(nullptr);
  }
  return Metadata(metadata);
}

// Java's String.hashCode of an ASCII string.
std::int32_t java_string_hash(const std::string& text) {
  std::uint32_t hash = 0;
  for (const unsigned char c : text) hash = 31 * hash + c;
  return static_cast<std::int32_t>(hash);
}

// The partition of its internal topic that Kafka gives a group or transactional id:
// Utils.abs(key.hashCode()) % partitions (GroupCoordinatorService, TransactionStateManager), where
// Utils.abs is Math.abs with Integer.MIN_VALUE taken to 0. Clearing the sign bit instead gives
// another partition for a negative hash whenever the count does not divide 2^31 evenly into it
// (a quarter of the ids with 4 partitions).
int kafka_partition_for(const std::string& key, int partitions) {
  const std::int64_t hash = java_string_hash(key);
  const std::int64_t magnitude = hash == std::numeric_limits<std::int32_t>::min() ? 0 : std::abs(hash);
  return static_cast<int>(magnitude % partitions);
}

// scripts/test.sh names a root (FAUST_CLUSTER_STATE_ROOT) so that it can stop the cluster of a
// test killed at its timeout, and keeps the logs of a failed one in the build folder.
std::filesystem::path state_root() {
  const std::string root = detail::env_or_empty("FAUST_CLUSTER_STATE_ROOT");
  return root.empty() ? std::filesystem::temp_directory_path() : std::filesystem::path(root);
}

}  // namespace

KafkaTestCluster::KafkaTestCluster() : state_dir_(state_root() / unique_name("faust-kafka-cluster")) {
  std::filesystem::create_directories(state_dir_);
}

KafkaTestCluster::~KafkaTestCluster() {
  admin_.reset();
  if (started_) {
    const auto began = std::chrono::steady_clock::now();
    const CommandResult stopped = run_script({"stop"}, std::chrono::seconds(90));
    if (stopped.exit_code != 0) std::cerr << "stopping the Kafka cluster failed:\n" << stopped.output << "\n";
    std::cout << "[ report ] the cluster stopped in "
              << std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count() << " s\n";
  }
  if (keep_logs_) {
    std::cerr << "the Kafka cluster's logs stay in " << state_dir_ << "\n";
    return;
  }
  std::error_code ignored;
  std::filesystem::remove_all(state_dir_, ignored);
}

std::unique_ptr<WorkerProcess> KafkaTestCluster::run_script_in_background(const std::vector<std::string>& args,
                                                                          const std::string& log_name) const {
  // The script finds its cluster through FAUST_BROKER_STATE; only its own environment gets it.
  std::vector<std::string> command{"FAUST_BROKER_STATE=" + state_dir_.string(), "bash", FAUST_KAFKA_BROKER_SCRIPT};
  command.insert(command.end(), args.begin(), args.end());
  return std::make_unique<WorkerProcess>("/usr/bin/env", command, state_dir_ / log_name);
}

CommandResult KafkaTestCluster::run_script(const std::vector<std::string>& args,
                                           std::chrono::milliseconds timeout) const {
  std::string log_name = "script";
  for (const auto& arg : args) log_name += "-" + arg;
  const auto script = run_script_in_background(args, log_name + ".log");
  CommandResult result;
  if (const auto code = script->wait_exit(timeout)) result.exit_code = *code;
  result.output = script->log();
  return result;
}

std::string KafkaTestCluster::start(const std::string& command) {
  const CommandResult started = run_script({command}, std::chrono::seconds(180));
  // A start that failed half-way has stopped what it started; one that timed out may not have.
  started_ = true;
  if (started.exit_code != 0) {
    return command + " exited " + std::to_string(started.exit_code) + ":\n" + started.output;
  }
  bootstrap_ = detail::state_file_value((state_dir_ / "broker.env").string(), "FAUST_TEST_BROKER");
  if (bootstrap_.empty()) return "no FAUST_TEST_BROKER in " + (state_dir_ / "broker.env").string();
  return {};
}

rd_kafka_t* KafkaTestCluster::admin() {
  if (admin_) return admin_.get();
  char error[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // A stopped node is expected: its refused connections are no news worth a log line.
  for (const auto& [name, value] : {std::pair<const char*, std::string>{"bootstrap.servers", bootstrap_},
                                    {"log_level", "2"},
                                    {"client.id", "faust-cluster-test"}}) {
    if (rd_kafka_conf_set(conf, name, value.c_str(), error, sizeof error) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      throw std::runtime_error(error);
    }
  }
  rd_kafka_t* handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error);
  if (handle == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(error);
  }
  admin_.reset(handle);
  return handle;
}

GroupDescription KafkaTestCluster::describe_group(const std::string& group) {
  rd_kafka_t* handle = admin();
  GroupDescription out;
  std::unique_ptr<rd_kafka_queue_t, void (*)(rd_kafka_queue_t*)> queue(rd_kafka_queue_new(handle),
                                                                        rd_kafka_queue_destroy);
  std::unique_ptr<rd_kafka_AdminOptions_t, void (*)(rd_kafka_AdminOptions_t*)> options(
      rd_kafka_AdminOptions_new(handle, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS), rd_kafka_AdminOptions_destroy);
  char error[512];
  rd_kafka_AdminOptions_set_request_timeout(
      options.get(), static_cast<int>(std::chrono::milliseconds(kAdminTimeout).count()), error, sizeof error);
  const char* groups[] = {group.c_str()};
  rd_kafka_DescribeConsumerGroups(handle, groups, 1, options.get(), queue.get());
  std::unique_ptr<rd_kafka_event_t, void (*)(rd_kafka_event_t*)> event(
      rd_kafka_queue_poll(queue.get(), static_cast<int>(std::chrono::milliseconds(kAdminTimeout * 2).count())),
      rd_kafka_event_destroy);
  if (!event) {
    out.error = "DescribeConsumerGroups: no answer";
    return out;
  }
  if (rd_kafka_event_error(event.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    out.error = std::string("DescribeConsumerGroups: ") + rd_kafka_event_error_string(event.get());
    return out;
  }
  const auto* result = rd_kafka_event_DescribeConsumerGroups_result(event.get());
  std::size_t count = 0;
  const auto** descriptions = rd_kafka_DescribeConsumerGroups_result_groups(result, &count);
  if (count != 1) {
    out.error = "DescribeConsumerGroups: " + std::to_string(count) + " groups in the answer";
    return out;
  }
  if (const rd_kafka_error_t* group_error = rd_kafka_ConsumerGroupDescription_error(descriptions[0])) {
    out.error = std::string("DescribeConsumerGroups: ") + rd_kafka_error_string(group_error);
    return out;
  }
  out.coordinator = rd_kafka_Node_id(rd_kafka_ConsumerGroupDescription_coordinator(descriptions[0]));
  out.state = rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupDescription_state(descriptions[0]));
  out.members = rd_kafka_ConsumerGroupDescription_member_count(descriptions[0]);
  return out;
}

KafkaTestCluster::InternalPartition KafkaTestCluster::internal_partition(const std::string& internal_topic,
                                                                        const std::string& key, std::string* error) {
  const Metadata metadata = fetch_metadata(admin(), error);
  if (!metadata) return {};
  for (int t = 0; t < metadata->topic_cnt; ++t) {
    const rd_kafka_metadata_topic_t& topic = metadata->topics[t];
    if (internal_topic != topic.topic) continue;
    if (topic.partition_cnt <= 0) break;
    const int partition = kafka_partition_for(key, topic.partition_cnt);
    for (int p = 0; p < topic.partition_cnt; ++p) {
      if (topic.partitions[p].id == partition) return {partition, topic.partitions[p].leader};
    }
  }
  if (error != nullptr) *error = "no partitions of " + internal_topic + " in the cluster's metadata";
  return {};
}

std::string KafkaTestCluster::replication_gaps(std::size_t nodes) {
  std::string error;
  const Metadata metadata = fetch_metadata(admin(), &error);
  if (!metadata) return error;
  std::ostringstream gaps;
  if (static_cast<std::size_t>(metadata->broker_cnt) != nodes) {
    gaps << metadata->broker_cnt << " brokers listed, not " << nodes << "; ";
  }
  for (int t = 0; t < metadata->topic_cnt; ++t) {
    const rd_kafka_metadata_topic_t& topic = metadata->topics[t];
    if (topic.err != RD_KAFKA_RESP_ERR_NO_ERROR) gaps << topic.topic << ": " << rd_kafka_err2str(topic.err) << "; ";
    for (int p = 0; p < topic.partition_cnt; ++p) {
      const rd_kafka_metadata_partition_t& partition = topic.partitions[p];
      if (partition.leader < 0 || partition.isr_cnt != partition.replica_cnt) {
        gaps << topic.topic << "[" << partition.id << "] leader " << partition.leader << ", " << partition.isr_cnt
             << " of " << partition.replica_cnt << " replicas in sync; ";
      }
    }
  }
  return gaps.str();
}

}  // namespace faust::testing
