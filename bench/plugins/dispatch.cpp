// Benchmark timer for leader dispatch: on its first run it sends `count` values to a topic, all
// in that one tick, and notes when the tick started and when its last send returned.
//
// dispatch (timer) config:
//   topic:  the topic to send to (required)
//   count:  messages sent in the tick (default 10000)
//   size:   bytes per message (default 100)
//   output: file the report line "count=N start_ns=S returned_ns=R" is written to when the tick
//           ends (default: the log); CLOCK_MONOTONIC nanoseconds
//
// Run it `on_leader: true`: its sends then go into the tick's transaction, which the host commits
// after tick() returns, so the plugin cannot tell when they became visible; the driver takes the
// end time from a read_committed consumer (`faust-bench-kafka count-committed`). Later ticks
// send nothing.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <faust/plugin.hpp>
#include <string>

#include "../bench_clock.h"

namespace {

using faust::bench::monotonic_ns;

class DispatchTimer : public faust::sdk::Timer {
 public:
  explicit DispatchTimer(faust::sdk::Host& host)
      : host_(host),
        topic_(host.config("topic", "")),
        count_(std::stoll(host.config("count", "10000"))),
        size_(std::stoul(host.config("size", "100"))),
        output_(host.config("output", "")) {
    if (topic_.empty()) throw faust::sdk::Error("dispatch: config 'topic' is required");
  }

  void tick() override {
    if (done_) return;
    done_ = true;
    const std::int64_t start_ns = monotonic_ns();
    std::string value(size_, 'x');
    for (std::int64_t i = 0; i < count_; ++i) {
      const std::string index = std::to_string(i);  // distinct values, for reading a dump
      index.copy(value.data(), std::min(index.size(), value.size()));
      host_.send_to_topic(topic_, value);
    }
    report(start_ns, monotonic_ns());
  }

 private:
  void report(std::int64_t start_ns, std::int64_t returned_ns) const {
    const std::string line = "count=" + std::to_string(count_) + " start_ns=" + std::to_string(start_ns) +
                             " returned_ns=" + std::to_string(returned_ns);
    if (output_.empty()) {
      host_.info(line);
      return;
    }
    std::FILE* file = std::fopen(output_.c_str(), "w");
    if (file == nullptr) throw faust::sdk::Error("dispatch: cannot write " + output_);
    std::fprintf(file, "%s\n", line.c_str());
    std::fclose(file);
  }

  faust::sdk::Host& host_;
  std::string topic_;
  std::int64_t count_;
  std::size_t size_;
  std::string output_;
  bool done_ = false;
};

}  // namespace

FAUST_PLUGIN("dispatch", "1.0.0", FAUST_AGENTS(), FAUST_TIMERS(faust::sdk::timer<DispatchTimer>("dispatch")));
