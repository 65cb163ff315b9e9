// Benchmark agent for `isolation: process`: segfaults on every `crash_every`-th message (by
// offset), so the worker restarts its process, and notes when it crashed and when the next
// process handled its first message.
//
// Config (manifest `config:` of the agent):
//   crash_every: crash in the middle of every crash_every offsets: 50, 150, ... (default 100)
//   last:        the offset at which to note "done" (default: never)
//   timings:     file the lines are appended to (required)
//
// Lines, CLOCK_MONOTONIC nanoseconds (one machine, several processes): "crash OFFSET NS" just
// before the null dereference, "first OFFSET NS" once a process (the first and each restarted
// one) has handled its first message, "done NS" at offset `last`. Run it on one partition with
// concurrency 1: the file is then in the order things happened on the lane.
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <faust/plugin.hpp>
#include <string>

#include "../bench_clock.h"

namespace {

using faust::bench::monotonic_ns;

class CrashingAgent : public faust::sdk::Agent {
 public:
  explicit CrashingAgent(faust::sdk::Host& host)
      : crash_every_(std::stoll(host.config("crash_every", "100"))),
        last_(std::stoll(host.config("last", "-1"))),
        timings_(host.config("timings", "")) {
    if (timings_.empty() || crash_every_ < 1) throw faust::sdk::Error("crashing: set timings and crash_every >= 1");
  }

  void handle(const faust::sdk::Message& message) override {
    const std::int64_t offset = message.offset();
    if (offset % crash_every_ == crash_every_ / 2) {
      note("crash " + std::to_string(offset) + " " + std::to_string(monotonic_ns()));
      volatile int* nowhere = nullptr;
      *nowhere = 1;
    }
    if (!handled_any_) {
      handled_any_ = true;
      note("first " + std::to_string(offset) + " " + std::to_string(monotonic_ns()));
    }
    if (offset == last_) note("done " + std::to_string(monotonic_ns()));
  }

 private:
  // One write(2) per line, appended: whole lines, in order, even from processes that follow each other.
  void note(const std::string& text) const {
    const int fd = ::open(timings_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) throw faust::sdk::Error("crashing: cannot write " + timings_);
    const std::string line = text + "\n";
    const ssize_t written = ::write(fd, line.data(), line.size());
    ::close(fd);
    if (written != static_cast<ssize_t>(line.size())) throw faust::sdk::Error("crashing: cannot write " + timings_);
  }

  const std::int64_t crash_every_;
  const std::int64_t last_;
  const std::string timings_;
  bool handled_any_ = false;
};

}  // namespace

FAUST_PLUGIN("crashing", "1.0.0", FAUST_AGENTS(faust::sdk::agent<CrashingAgent>("crashing")), FAUST_TIMERS());
