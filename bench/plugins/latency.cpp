// Benchmark pair for end-to-end latency: a timer that sends its clock and an agent that
// subtracts it from its own.
//
// latency_probe (timer) config:
//   topic: send to this topic by name (for a worker whose manifest lacks the sink agent), or
//   agent: send to this agent of the manifest (default "latency_sink")
// Each tick sends the CLOCK_MONOTONIC nanoseconds as decimal text. Sender and sink run on one
// machine, so they read the same clock, and NTP slews cannot bend the result.
//
// latency_sink (agent) config:
//   output: file to append one latency in nanoseconds per line to (default: the log)
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <faust/plugin.hpp>
#include <string>
#include <string_view>

#include "../bench_clock.h"

namespace {

using faust::bench::monotonic_ns;

class LatencyProbe : public faust::sdk::Timer {
 public:
  explicit LatencyProbe(faust::sdk::Host& host)
      : host_(host), topic_(host.config("topic", "")), agent_(host.config("agent", "latency_sink")) {}

  void tick() override {
    const std::string sent = std::to_string(monotonic_ns());
    if (topic_.empty()) {
      host_.send_to_agent(agent_, sent);
    } else {
      host_.send_to_topic(topic_, sent);
    }
  }

 private:
  faust::sdk::Host& host_;
  std::string topic_;
  std::string agent_;
};

class LatencySink : public faust::sdk::Agent {
 public:
  explicit LatencySink(faust::sdk::Host& host) : host_(host) {
    const std::string output = host.config("output", "");
    if (!output.empty()) {
      file_ = std::fopen(output.c_str(), "a");
      if (file_ == nullptr) throw faust::sdk::Error("latency_sink: cannot append to " + output);
    }
  }
  ~LatencySink() override {
    if (file_ != nullptr) std::fclose(file_);
  }
  LatencySink(const LatencySink&) = delete;
  LatencySink& operator=(const LatencySink&) = delete;

  void handle(const faust::sdk::Message& message) override {
    const std::int64_t received = monotonic_ns();  // first, so nothing below is measured
    const std::string_view value = message.value();
    std::int64_t sent = 0;
    const auto parsed = std::from_chars(value.data(), value.data() + value.size(), sent);
    if (parsed.ec != std::errc() || parsed.ptr != value.data() + value.size()) {
      throw faust::sdk::Error("latency_sink: not a timestamp: '" + std::string(value.substr(0, 40)) + "'");
    }
    const std::int64_t latency = received - sent;
    if (file_ == nullptr) {
      host_.info("latency_ns=" + std::to_string(latency));
      return;
    }
    // One line per message (about 100 a second): flushing each keeps the file complete
    // whenever the worker is stopped, for a write(2) per message.
    std::fprintf(file_, "%lld\n", static_cast<long long>(latency));
    std::fflush(file_);
  }

 private:
  faust::sdk::Host& host_;
  std::FILE* file_ = nullptr;
};

}  // namespace

FAUST_PLUGIN("latency", "1.0.0", FAUST_AGENTS(faust::sdk::agent<LatencySink>("latency_sink")),
             FAUST_TIMERS(faust::sdk::timer<LatencyProbe>("latency_probe")));
