// Benchmark agent: does nothing with a message but count it.
//
// Config (manifest `config:` of the agent):
//   expect: the count at which to report (default 0: never)
//   output: file the report line is written to (default: the log)
//
// The report is one line, "count=N first_ns=F last_ns=L": CLOCK_REALTIME nanoseconds at the
// first message and at the expect-th one, so the driver can line them up with its own clock.
// Run it with concurrency 1 (the default): each instance counts only what its lane handles.
#include <time.h>

#include <cstdint>
#include <cstdio>
#include <faust/plugin.hpp>
#include <string>

#include "../bench_clock.h"

namespace {

using faust::bench::realtime_ns;

class NoopAgent : public faust::sdk::Agent {
 public:
  explicit NoopAgent(faust::sdk::Host& host)
      : host_(host), expect_(std::stoull(host.config("expect", "0"))), output_(host.config("output", "")) {}

  void handle(const faust::sdk::Message& /*message*/) override {
    ++count_;
    if (count_ == 1) first_ns_ = realtime_ns();
    if (count_ == expect_) report(realtime_ns());
  }

 private:
  void report(std::int64_t last_ns) const {
    const std::string line = "count=" + std::to_string(count_) + " first_ns=" + std::to_string(first_ns_) +
                             " last_ns=" + std::to_string(last_ns);
    if (output_.empty()) {
      host_.info(line);
      return;
    }
    std::FILE* file = std::fopen(output_.c_str(), "w");
    if (file == nullptr) throw faust::sdk::Error("noop: cannot write " + output_);
    std::fprintf(file, "%s\n", line.c_str());
    std::fclose(file);
  }

  faust::sdk::Host& host_;
  std::uint64_t expect_;
  std::string output_;
  std::uint64_t count_ = 0;
  std::int64_t first_ns_ = 0;
};

}  // namespace

FAUST_PLUGIN("noop", "1.0.0", FAUST_AGENTS(faust::sdk::agent<NoopAgent>("noop")), FAUST_TIMERS());
