// Round trips between a process and its child, as an isolated plugin's calls make them (a request
// of SIZE bytes, a 16-byte answer), over the channels process isolation could use:
//
//   socketpair   a Unix stream socket pair, a length prefix per frame (what faust-host uses)
//   shm+eventfd  a shared-memory slot each way, an eventfd each way to wake the reader
//   shm+spin     the same slots, the reader spinning on a sequence number (no system call;
//                it burns a core while it waits, so the bench measures the floor, not an option)
//   shm+spin50   the reader spins up to 50 µs, then sleeps on the eventfd, which the writer
//                always signals (a short call is caught spinning, a long one costs one wake-up)
//
// Prints one table: per channel and request size, the round trip's p50 / p99 / max and the CPU
// time both processes spent per round trip.
//
//   faust-bench-ipc [--round-trips N] [--sizes 64,4096,65536]
#include <CLI/CLI.hpp>

#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kAnswerSize = 16;
constexpr std::size_t kMaxSize = 1 << 20;

[[noreturn]] void fail(const char* what) {
  std::perror(what);
  std::exit(2);
}

void write_all(int fd, const void* data, std::size_t size) {
  const auto* at = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, at, size);
    if (n < 0) fail("write");
    at += n;
    size -= static_cast<std::size_t>(n);
  }
}

// False at the end of the stream.
bool read_all(int fd, void* data, std::size_t size) {
  auto* at = static_cast<char*>(data);
  while (size > 0) {
    const ssize_t n = ::read(fd, at, size);
    if (n < 0) fail("read");
    if (n == 0) return false;
    at += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// One direction of shared memory: a sequence number the writer bumps after filling the payload.
struct Slot {
  alignas(64) std::atomic<std::uint64_t> sequence{0};
  std::uint32_t size = 0;
  char payload[kMaxSize];
};

struct Shared {
  Slot request;
  Slot answer;
};

void put(Slot& slot, const char* data, std::size_t size) {
  std::memcpy(slot.payload, data, size);
  slot.size = static_cast<std::uint32_t>(size);
  slot.sequence.fetch_add(1, std::memory_order_release);
}

// How the reader of a slot waits for its next sequence number.
struct Wait {
  int eventfd = -1;                        // -1: spin only
  std::chrono::microseconds spin_first{};  // with an eventfd: spin this long before sleeping on it
};

void take(Slot& slot, std::uint64_t& seen, const Wait& wait, char* into) {
  const auto arrived = [&] { return slot.sequence.load(std::memory_order_acquire) != seen; };
  if (wait.eventfd >= 0) {
    const auto spin_until = Clock::now() + wait.spin_first;
    while (!arrived() && Clock::now() < spin_until) {
    }
    // The writer signals every time, so a count may be left from a call caught spinning: read
    // until the slot has changed.
    while (!arrived()) {
      std::uint64_t count = 0;
      if (::read(wait.eventfd, &count, sizeof count) != sizeof count) fail("read eventfd");
    }
  }
  while (!arrived()) {
  }
  ++seen;
  std::memcpy(into, slot.payload, slot.size);
}

void wake(const Wait& wait) {
  if (wait.eventfd < 0) return;
  const std::uint64_t one = 1;
  if (::write(wait.eventfd, &one, sizeof one) != sizeof one) fail("write eventfd");
}

struct Result {
  std::vector<double> micros;
  double cpu_micros_per_trip = 0;
};

double seconds_of(const rusage& usage) {
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

double cpu_seconds_of_this_process() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return seconds_of(usage);
}

// Forks a child running `serve`, then times `round_trips` calls of `call` in this process.
Result measure(int round_trips, const std::function<void()>& serve, const std::function<void()>& call,
               const std::function<void()>& end_child) {
  const pid_t child = ::fork();
  if (child < 0) fail("fork");
  if (child == 0) {
    serve();
    std::_Exit(0);
  }
  for (int i = 0; i < round_trips / 10; ++i) call();  // warm up
  const double cpu_before = cpu_seconds_of_this_process();
  Result result;
  result.micros.reserve(static_cast<std::size_t>(round_trips));
  for (int i = 0; i < round_trips; ++i) {
    const auto started = Clock::now();
    call();
    result.micros.push_back(std::chrono::duration<double, std::micro>(Clock::now() - started).count());
  }
  const double cpu_self = cpu_seconds_of_this_process() - cpu_before;
  end_child();
  int status = 0;
  rusage child_usage{};
  if (::wait4(child, &status, 0, &child_usage) != child) fail("wait4");
  // The child's CPU over its whole life, warm-up included: scaled to the measured share.
  const double cpu_child = seconds_of(child_usage) * round_trips / (round_trips + round_trips / 10.0);
  result.cpu_micros_per_trip = (cpu_self + cpu_child) / round_trips * 1e6;
  return result;
}

Result over_socketpair(int round_trips, std::size_t size) {
  int ends[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, ends) != 0) fail("socketpair");
  std::vector<char> request(size + 4, 'r');
  std::vector<char> buffer(kMaxSize + 4);
  const std::uint32_t length = static_cast<std::uint32_t>(size);
  std::memcpy(request.data(), &length, 4);
  const auto serve = [&] {
    ::close(ends[0]);
    char answer[kAnswerSize] = {};
    std::uint32_t incoming = 0;
    while (read_all(ends[1], &incoming, 4)) {
      if (!read_all(ends[1], buffer.data(), incoming)) break;
      write_all(ends[1], answer, sizeof answer);
    }
  };
  const auto call = [&] {
    write_all(ends[0], request.data(), request.size());
    char answer[kAnswerSize];
    if (!read_all(ends[0], answer, sizeof answer)) fail("child ended");
  };
  Result result = measure(round_trips, serve, call, [&] { ::shutdown(ends[0], SHUT_WR); });
  ::close(ends[0]);
  ::close(ends[1]);
  return result;
}

// `use_eventfd` false: both sides spin; else they spin for `spin_first`, then sleep.
Result over_shared_memory(int round_trips, std::size_t size, bool use_eventfd, std::chrono::microseconds spin_first) {
  void* memory = ::mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) fail("mmap");
  auto* shared = new (memory) Shared;
  const Wait to_child{use_eventfd ? ::eventfd(0, 0) : -1, spin_first};
  const Wait to_parent{use_eventfd ? ::eventfd(0, 0) : -1, spin_first};
  std::vector<char> request(size, 'r');
  std::vector<char> buffer(kMaxSize);
  const auto serve = [&] {
    std::uint64_t seen = 0;
    const char answer[kAnswerSize] = {};
    while (true) {
      take(shared->request, seen, to_child, buffer.data());
      if (shared->request.size == 0) break;  // the end
      put(shared->answer, answer, sizeof answer);
      wake(to_parent);
    }
  };
  std::uint64_t answers_seen = 0;
  const auto call = [&] {
    put(shared->request, request.data(), request.size());
    wake(to_child);
    take(shared->answer, answers_seen, to_parent, buffer.data());
  };
  const auto end_child = [&] {
    put(shared->request, request.data(), 0);
    wake(to_child);
  };
  Result result = measure(round_trips, serve, call, end_child);
  if (use_eventfd) {
    ::close(to_child.eventfd);
    ::close(to_parent.eventfd);
  }
  ::munmap(memory, sizeof(Shared));
  return result;
}

double percentile(std::vector<double> values, double share) {
  std::sort(values.begin(), values.end());
  const auto at = static_cast<std::size_t>(share * static_cast<double>(values.size() - 1));
  return values[at];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"faust-bench-ipc: parent-child round trips over a socket pair and over shared memory"};
  int round_trips = 20000;
  std::vector<std::size_t> sizes{64, 4096, 65536};
  app.add_option("--round-trips", round_trips, "round trips per channel and size")->check(CLI::Range(100, 10000000));
  app.add_option("--sizes", sizes, "request sizes in bytes")->delimiter(',')->check(CLI::Range(1, 1 << 20));
  CLI11_PARSE(app, argc, argv);

  std::printf("| channel | request | round trip p50 | p99 | max | CPU per round trip (both processes) |\n");
  std::printf("|---|---:|---:|---:|---:|---:|\n");
  for (const std::size_t size : sizes) {
    const struct {
      const char* name;
      std::function<Result()> run;
    } channels[] = {
        {"socketpair", [&] { return over_socketpair(round_trips, size); }},
        {"shm+eventfd", [&] { return over_shared_memory(round_trips, size, true, {}); }},
        {"shm+spin", [&] { return over_shared_memory(round_trips, size, false, {}); }},
        {"shm+spin50", [&] { return over_shared_memory(round_trips, size, true, std::chrono::microseconds(50)); }},
    };
    for (const auto& channel : channels) {
      const Result result = channel.run();
      std::printf("| %s | %zu B | %.1f µs | %.1f µs | %.0f µs | %.1f µs |\n", channel.name, size,
                  percentile(result.micros, 0.5), percentile(result.micros, 0.99),
                  *std::max_element(result.micros.begin(), result.micros.end()), result.cpu_micros_per_trip);
      std::fflush(stdout);
    }
  }
  return 0;
}
