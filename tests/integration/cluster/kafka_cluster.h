// A 3-node Kafka cluster of the test's own (`scripts/kafka-broker.sh start-cluster` with a state
// folder of its own), and what a test asks of it: which broker coordinates a consumer group or a
// transactional id, stopping and starting one node, whether every partition is fully replicated.
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "support/worker_cluster.h"
#include "support/worker_process.h"

namespace faust::testing {

// What DescribeConsumerGroups says of a group.
struct GroupDescription {
  int coordinator = -1;  // node id; -1 with `error`
  std::string state;
  std::size_t members = 0;
  std::string error;
};

class KafkaTestCluster {
 public:
  KafkaTestCluster();
  ~KafkaTestCluster();  // stops the cluster if it runs; keeps the state folder if keep_logs()
  KafkaTestCluster(const KafkaTestCluster&) = delete;
  KafkaTestCluster& operator=(const KafkaTestCluster&) = delete;

  // Starts the cluster and waits until its nodes are all listed; empty on success, else the
  // script's output. `command` may name another start of the script (start-secured: one broker).
  std::string start(const std::string& command = "start-cluster");
  // "127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3"
  const std::string& bootstrap() const { return bootstrap_; }
  // The folder with broker.env and each node's log (broker-N.log): a new one below
  // FAUST_CLUSTER_STATE_ROOT (scripts/test.sh sets it), else below the temp folder.
  const std::filesystem::path& state_dir() const { return state_dir_; }
  // The log of node N (1 to 3), which the script appends each run of the node to.
  std::filesystem::path node_log(int node) const { return state_dir_ / ("broker-" + std::to_string(node) + ".log"); }
  // Leave the state folder (node logs) in place after the cluster stops, for a look at a failure.
  void keep_logs() { keep_logs_ = true; }

  // Runs `kafka-broker.sh ARGS...` in the background on this cluster; its output goes to
  // <state folder>/<log_name>.
  std::unique_ptr<WorkerProcess> run_script_in_background(const std::vector<std::string>& args,
                                                          const std::string& log_name) const;
  // Runs `kafka-broker.sh ARGS...` to its end (killed after `timeout`).
  CommandResult run_script(const std::vector<std::string>& args, std::chrono::milliseconds timeout) const;

  // The broker coordinating `group`, from the Admin API (DescribeConsumerGroups).
  GroupDescription describe_group(const std::string& group);
  // The partition of an internal topic (__consumer_offsets, __transaction_state) that `key` (a
  // group id or transactional id) maps to, by the brokers' own rule, and its leader now, which
  // coordinates that key; -1 in both when unknown.
  struct InternalPartition {
    int partition = -1;
    int leader = -1;
  };
  InternalPartition internal_partition(const std::string& internal_topic, const std::string& key, std::string* error);
  // The broker coordinating a transactional id. librdkafka has no DescribeTransactions, and the
  // broker jars of the cache hold no Kafka CLI tools, so it is the leader of the
  // __transaction_state partition the id maps to.
  InternalPartition transaction_partition(const std::string& transactional_id, std::string* error) {
    return internal_partition("__transaction_state", transactional_id, error);
  }
  // Empty when the cluster lists `nodes` brokers and every partition of every topic has a leader
  // and all its replicas in sync; else what is not.
  std::string replication_gaps(std::size_t nodes);

 private:
  rd_kafka_t* admin();

  std::filesystem::path state_dir_;
  std::string bootstrap_;
  bool started_ = false;
  bool keep_logs_ = false;
  std::unique_ptr<rd_kafka_t, void (*)(rd_kafka_t*)> admin_{nullptr, rd_kafka_destroy};
};

}  // namespace faust::testing
