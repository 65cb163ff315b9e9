// Topics a worker cannot have: the broker's refusal is a configuration error, not an outage.
#include <gtest/gtest.h>

#include "support/worker_cluster.h"

namespace faust::testing {
namespace {

using namespace std::chrono_literals;

TEST(Topics, ABrokerThatRefusesATopicStopsTheWorkerWithItsReason) {
  ClusterManifest manifest;
  manifest.app_lines = "  topic_replication: 3\n";  // the test broker is a single node
  WorkerCluster cluster("topics-refused", ClusterSettings{}, manifest);
  const std::size_t index = cluster.start_worker(WorkerCluster::StartOptions{.wait_ready = false, .extra_args = {}});
  WorkerProcess& worker = *cluster.worker(index).process;
  const auto exit_code = worker.wait_exit(30s);
  ASSERT_TRUE(exit_code) << "still running, retrying as if the broker were down:\n" << worker.log();
  EXPECT_EQ(*exit_code, 3) << worker.log();
  EXPECT_NE(worker.log().find("[critical] cannot create topic '" + cluster.app_id() + "-say': "), std::string::npos)
      << worker.log();
  EXPECT_NE(worker.log().find("replication factor"), std::string::npos) << worker.log();
}

}  // namespace
}  // namespace faust::testing
