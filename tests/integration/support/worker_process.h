#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace faust::testing {

// A real faust-host process whose stdout and stderr go to a log file the test reads.
class WorkerProcess {
 public:
  // `environment`: variables set for the process on top of the test's own ("NAME=value").
  WorkerProcess(const std::filesystem::path& binary, const std::vector<std::string>& args,
                std::filesystem::path log_file, const std::vector<std::string>& environment = {});
  ~WorkerProcess();  // kills the process if it still runs
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int signal_number) const;
  // The exit code (or 128 + signal) once the process ended within `timeout`.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  // The signal that ended the process (WIFSIGNALED), or 0 when it exited by itself or still runs.
  int killed_by_signal() const { return killed_by_signal_; }
  bool running();

  std::string log() const;
  std::vector<std::string> log_lines() const;
  // Waits until the log contains `text`; returns false at the deadline.
  bool wait_for_log(const std::string& text, std::chrono::milliseconds timeout) const;

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  int killed_by_signal_ = 0;
  std::filesystem::path log_file_;
};

// How many lines of `process`'s log contain `text`.
std::size_t count_lines(const WorkerProcess& process, const std::string& text);

// Waits until `condition` holds, checking every `period` (50 ms unless given); false at the
// deadline.
template <typename Condition>
bool eventually(std::chrono::milliseconds timeout, Condition condition,
                std::chrono::milliseconds period = std::chrono::milliseconds(50)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    const auto nanos = std::chrono::nanoseconds(period).count();
    struct timespec pause {
      static_cast<time_t>(nanos / 1'000'000'000), static_cast<long>(nanos % 1'000'000'000)
    };
    nanosleep(&pause, nullptr);
  }
}

}  // namespace faust::testing
