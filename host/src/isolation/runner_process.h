#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "common/result.h"
#include "isolation/frame.h"

namespace faust::isolation {

// How a child process ended.
struct ProcessEnd {
  bool signaled = false;
  int number = 0;  // the signal, or the exit status
  // "killed by signal 11 (SIGSEGV)" or "exited with status 3".
  std::string describe() const;
};

// The file descriptor a runner finds its end of the socketpair at.
inline constexpr int kRunnerFd = 3;

// A `faust-host plugin-runner` child: spawned with its end of a socketpair as kRunnerFd and no
// other descriptor of the worker, its signals at their defaults and unblocked. Killed and reaped
// when destroyed, if still running.
class RunnerProcess {
 public:
  // Spawns `executable plugin-runner --fd 3` (posix_spawn: safe in a process with threads).
  static Result<std::unique_ptr<RunnerProcess>> spawn(const std::filesystem::path& executable);

  RunnerProcess(const RunnerProcess&) = delete;
  RunnerProcess& operator=(const RunnerProcess&) = delete;
  ~RunnerProcess();

  Channel& channel() { return channel_; }
  pid_t pid() const { return pid_; }
  // Waits up to `grace` for the child to end by itself, then kills it (SIGKILL); how it ended.
  ProcessEnd reap(std::chrono::milliseconds grace);
  // SIGKILL at once, then reap.
  ProcessEnd kill();
  // Its resident memory in bytes (/proc/<pid>/statm, kept open: one read per call), or nothing
  // once it is gone or when /proc cannot tell.
  std::optional<std::uint64_t> resident_bytes() const;

 private:
  RunnerProcess(pid_t pid, int fd);

  pid_t pid_;
  Channel channel_;
  int statm_fd_ = -1;
  bool reaped_ = false;
};

}  // namespace faust::isolation
