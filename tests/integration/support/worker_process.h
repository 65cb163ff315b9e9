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
  WorkerProcess(const std::filesystem::path& binary, const std::vector<std::string>& args,
                std::filesystem::path log_file);
  ~WorkerProcess();  // kills the process if it still runs
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int signal_number) const;
  // The exit code (or 128 + signal) once the process ended within `timeout`.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  bool running();

  std::string log() const;
  std::vector<std::string> log_lines() const;
  // Waits until the log contains `text`; returns false at the deadline.
  bool wait_for_log(const std::string& text, std::chrono::milliseconds timeout) const;

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::filesystem::path log_file_;
};

// Waits until `condition` holds, checking every 50 ms; false at the deadline.
template <typename Condition>
bool eventually(std::chrono::milliseconds timeout, Condition condition) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    struct timespec pause {0, 50'000'000};
    nanosleep(&pause, nullptr);
  }
}

}  // namespace faust::testing
