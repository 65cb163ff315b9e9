#include "isolation/runner_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <system_error>
#include <thread>

extern char** environ;

namespace faust::isolation {
namespace {

Error spawn_error(const std::string& what, int error) {
  return Error{ExitCode::kPluginCreateFailed, "cannot start a plugin process: " + what + ": " + std::strerror(error)};
}

// The same numbers as the shell uses, for the log: "SIGSEGV".
std::string signal_name(int number) {
  const char* abbreviation = sigabbrev_np(number);
  return abbreviation != nullptr ? std::string("SIG") + abbreviation : "signal " + std::to_string(number);
}

ProcessEnd end_of(int status) {
  if (WIFSIGNALED(status)) return ProcessEnd{true, WTERMSIG(status)};
  return ProcessEnd{false, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

}  // namespace

std::string ProcessEnd::describe() const {
  if (signaled) return "killed by signal " + std::to_string(number) + " (" + signal_name(number) + ")";
  return "exited with status " + std::to_string(number);
}

Result<std::unique_ptr<RunnerProcess>> RunnerProcess::spawn(const std::filesystem::path& executable) {
  // Both ends close on exec: a runner spawned by another lane at the same moment must not inherit
  // this one's end, or this one's death would go unnoticed while that one lives.
  int ends[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) return spawn_error("socketpair", errno);
  const int parent_end = ends[0];
  int child_end = ends[1];
  if (child_end == kRunnerFd) {
    // dup2 onto itself would keep close-on-exec set.
    const int moved = ::fcntl(child_end, F_DUPFD_CLOEXEC, kRunnerFd + 1);
    ::close(child_end);
    if (moved < 0) {
      ::close(parent_end);
      return spawn_error("fcntl", errno);
    }
    child_end = moved;
  }

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attributes);
  posix_spawn_file_actions_adddup2(&actions, child_end, kRunnerFd);
  posix_spawn_file_actions_addclosefrom_np(&actions, kRunnerFd + 1);
  // The worker's threads block the signals its handler thread waits for, and ignore SIGPIPE; the
  // runner starts with none blocked and every signal at its default, and sets its own.
  sigset_t none;
  sigset_t all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setsigdefault(&attributes, &all);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::string program = executable.string();
  // ps shows the binary's name rather than /proc/self/exe.
  std::error_code unresolved;
  std::string shown = std::filesystem::read_symlink(executable, unresolved).string();
  if (unresolved || shown.empty()) shown = program;
  std::string command = "plugin-runner";
  std::string fd_option = "--fd";
  std::string fd_value = std::to_string(kRunnerFd);
  char* argv[] = {shown.data(), command.data(), fd_option.data(), fd_value.data(), nullptr};
  pid_t pid = 0;
  const int failed = ::posix_spawn(&pid, program.c_str(), &actions, &attributes, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  ::close(child_end);
  if (failed != 0) {
    ::close(parent_end);
    return spawn_error(program, failed);
  }
  return std::unique_ptr<RunnerProcess>(new RunnerProcess(pid, parent_end));
}

RunnerProcess::RunnerProcess(pid_t pid, int fd) : pid_(pid), channel_(fd) {
  const std::string statm = "/proc/" + std::to_string(pid) + "/statm";
  statm_fd_ = ::open(statm.c_str(), O_RDONLY | O_CLOEXEC);
}

std::optional<std::uint64_t> RunnerProcess::resident_bytes() const {
  if (statm_fd_ < 0) return std::nullopt;
  // "size resident shared text lib data dt", in pages. A read at offset 0 renders it anew.
  char text[128];
  const ssize_t got = ::pread(statm_fd_, text, sizeof(text) - 1, 0);
  if (got <= 0) return std::nullopt;
  text[got] = '\0';
  unsigned long long size = 0;
  unsigned long long resident = 0;
  if (std::sscanf(text, "%llu %llu", &size, &resident) != 2) return std::nullopt;
  static const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  return static_cast<std::uint64_t>(resident) * page;
}

ProcessEnd RunnerProcess::reap(std::chrono::milliseconds grace) {
  // A child whose end of the socket closed is usually gone already, or about to be: poll briefly
  // rather than block, so that one that only closed its descriptor cannot hold the worker.
  const auto deadline = std::chrono::steady_clock::now() + grace;
  int status = 0;
  while (true) {
    const pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      reaped_ = true;
      return end_of(status);
    }
    if (done < 0 && errno != EINTR) {
      reaped_ = true;  // not our child any more (reaped elsewhere): nothing to wait for
      return ProcessEnd{false, -1};
    }
    if (std::chrono::steady_clock::now() >= deadline) return kill();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

ProcessEnd RunnerProcess::kill() {
  if (reaped_) return ProcessEnd{false, -1};
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0) {
    if (errno != EINTR) {
      reaped_ = true;
      return ProcessEnd{false, -1};
    }
  }
  reaped_ = true;
  return end_of(status);
}

RunnerProcess::~RunnerProcess() {
  if (!reaped_) kill();
  if (statm_fd_ >= 0) ::close(statm_fd_);
}

}  // namespace faust::isolation
