#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "../integration/support/worker_process.h"
#include "runtime/agents/agent_runner.h"
#include "transport/transport.h"

namespace faust::testing {

// Every value of partition 0 of `topic`, in order (memory:// stores only what committed).
inline std::vector<std::string> values_of(Transport& transport, const std::string& topic) {
  using namespace std::chrono_literals;
  std::vector<std::string> values;
  auto reader = transport.read_partition(TopicPartition{topic, 0}, "", 1s);
  if (!reader) return values;
  while (true) {
    auto records = (*reader)->poll(10ms);
    if (!records || records->empty()) break;
    for (const auto& record : *records) values.push_back(record.value);
  }
  return values;
}

// How many messages of `topic` the group's next member is given: those its committed offsets
// leave.
inline std::size_t redelivered(Transport& transport, const GroupOptions& group, const std::string& topic,
                               RuntimeEvents& events) {
  using namespace std::chrono_literals;
  std::atomic<std::size_t> count{0};
  AgentBinding counter;
  counter.name = "agent";
  counter.topic = topic;
  counter.lanes = {[&](const ConsumedMessage&) {
    ++count;
    return ok_status();
  }};
  AgentRunner runner(transport, group, {counter}, events);
  EXPECT_TRUE(runner.start().ok());
  EXPECT_TRUE(eventually(5s, [&] { return runner.assigned(); }));
  std::this_thread::sleep_for(200ms);  // memory:// delivers at once: anything left has arrived
  runner.stop();
  return count.load();
}

}  // namespace faust::testing
