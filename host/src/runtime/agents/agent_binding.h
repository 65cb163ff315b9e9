#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "manifest/manifest.h"
#include "runtime/agents/dead_letter.h"
#include "transport/transport.h"

namespace faust {

// What the worker hands the agent runtime for one agent: its manifest settings and a handler
// per concurrency slot (lane).
using MessageHandler = std::function<Status(const ConsumedMessage&)>;
// Messages of one partition, in offset order (ABI 1.2 handle_batch).
using BatchHandler = std::function<Status(std::span<const ConsumedMessage>)>;

struct AgentBinding {
  std::string name;
  std::string topic;
  OnError on_error = OnError::kSkip;
  int max_retries = 3;
  // One handler per concurrency slot; each is only ever called from its own thread.
  std::vector<MessageHandler> lanes;
  // The same slots' batch handlers, when the plugin handles batches; else empty.
  std::vector<BatchHandler> batch_lanes{};
  ProcessingGuarantee guarantee = ProcessingGuarantee::kAtLeastOnce;
  BatchConfig batch{};  // {1, 0}: message by message
  // Message by message at least once: sends per lane queued and not yet acknowledged, past which
  // a handler's send waits.
  int max_in_flight = 10000;
  // exactly_once: the transactional id of one lane's producer in this worker (`instance`: the
  // worker's client id). The lane's partitions share its transactions, fenced by the group's
  // generation (KIP-447), so the id only has to be the lane's own while the worker lives.
  std::function<std::string(const std::string& instance, std::size_t lane)> transactional_id{};
  // exactly_once: how long a lane's transaction gathers units before it commits.
  std::chrono::milliseconds commit_interval{100};
  // on_error: dead_letter; its writer is called from the lanes' threads.
  DeadLetterSink dead_letter{};
};

}  // namespace faust
