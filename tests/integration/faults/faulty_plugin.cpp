// `faulty`: a test-only agent that misbehaves on request, for the fault-injection tests.
//
//   "fail..."   fails with a faust::sdk::Error (a std::exception)
//   "throw..."  throws something that is not a std::exception
//   "block:N"   blocks for N seconds, then is handled
//   "segv..."   dereferences a null pointer (isolation: process tests)
//   "abort..."  calls abort()
//   "hang..."   never returns
//   "hog..."    allocates and touches memory, 8 MiB at a time up to 1 GiB, then never returns
//               (memory_limit_mib tests: killed on its way up)
//   "forward-segv..."  sends the value to the agent named by config `forward_to`, then crashes
//   otherwise   handled
//
// Every call is logged first as "received <value>" (so retries can be counted) and every
// handled message as "handled <value>". Long values are logged by size, never whole.
//
// config: `fixed_by: PATH`: once a file exists at PATH, "fail..." values are handled too (the
// plugin has been "fixed"), so a dead-letter test can replay what failed before.
// config: `create: fail` fails the instance's create, `create: segv` crashes in it (a reload's
// new version that must be refused).
//
// The timer `faulty_tick` logs "tick <n>" at its process's nth tick and, with config `send_to:
// AGENT`, sends "<prefix>-<pid>-<n>" to it (`prefix`: config, default "tick"). With `crash_on_tick:
// N` its Nth tick sends "<prefix>-crashed" (when it sends) and then segfaults (`crash: abort`
// aborts, `crash: hang` never returns, `crash: throw` fails the tick as a plugin error); with `crash_once: PATH` only while no file is at PATH (it
// is created first), so the process that replaces it ticks on. An on_leader one counts its ticks
// in the leader state too (key "ticks", with `count_in_state: true`).
//
// The service `faulty_service` logs each callback ("start", "elected <generation>", "lead",
// "revoked", "stop"); its lead waits in wait_for_stop. With `crash_in: CALLBACK` that callback
// segfaults (`crash_once: PATH` as for the timer) after logging it.
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

#include <filesystem>
#include <faust/plugin.hpp>
#include <fstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

constexpr std::size_t kLongestLoggedValue = 200;

std::string printable(std::string_view value) {
  if (value.size() <= kLongestLoggedValue) return std::string(value);
  return std::to_string(value.size()) + " bytes starting with " + std::string(value.substr(0, 16));
}

// Not derived from std::exception: the SDK must still keep it from crossing into the host.
struct NotAStdException {
  int code = 7;
};

void segfault();

class FaultyAgent : public faust::sdk::Agent {
 public:
  explicit FaultyAgent(faust::sdk::Host& host)
      : host_(host), fixed_by_(host.config("fixed_by", "")), forward_to_(host.config("forward_to", "")) {
    const std::string create = host.config("create", "");
    if (create == "fail") throw faust::sdk::Error("create refused by config");
    if (create == "segv") crash();
  }

  void handle(const faust::sdk::Message& message) override {
    const std::string_view value = message.value();
    host_.info("received " + printable(value));
    if (value.starts_with("fail") && !fixed()) throw faust::sdk::Error("refused " + printable(value));
    if (value.starts_with("throw")) throw NotAStdException{};
    if (value.starts_with("forward-segv") && !forward_to_.empty()) host_.send_to_agent(forward_to_, value);
    if (value.starts_with("segv") || value.starts_with("forward-segv")) crash();
    if (value.starts_with("abort")) std::abort();
    if (value.starts_with("hog")) hog();
    while (value.starts_with("hang")) std::this_thread::sleep_for(std::chrono::hours(1));
    if (value.starts_with("block:")) {
      const int seconds = std::stoi(std::string(value.substr(6)));
      std::this_thread::sleep_for(std::chrono::seconds(seconds));
    }
    host_.info("handled " + printable(value));
  }

 private:
  bool fixed() const { return !fixed_by_.empty() && std::filesystem::exists(fixed_by_); }

  // Resident memory that only grows: every page written, none freed.
  [[noreturn]] static void hog() {
    constexpr std::size_t kChunk = std::size_t{8} << 20;
    std::vector<char*> held;
    for (std::size_t total = 0; total < (std::size_t{1} << 30); total += kChunk) {
      char* chunk = static_cast<char*>(std::malloc(kChunk));
      if (chunk == nullptr) break;
      std::memset(chunk, 1, kChunk);
      asm volatile("" : : "r"(chunk) : "memory");  // the writes are kept
      held.push_back(chunk);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    while (true) std::this_thread::sleep_for(std::chrono::hours(1));
  }

  static void crash();

  faust::sdk::Host& host_;
  const std::string fixed_by_;
  const std::string forward_to_;
};

void segfault() {
  volatile int* nowhere = nullptr;
  *nowhere = 1;
}

// `crash_once: PATH`: true the first time only (over all processes), by the file at PATH.
bool crash_now(const std::string& once) {
  if (once.empty()) return true;
  if (std::filesystem::exists(once)) return false;
  std::ofstream(once) << ::getpid() << "\n";
  return true;
}

struct FaultyTimer : faust::sdk::Timer {
  void tick() override {
    ++ticks;
    host().info("tick " + std::to_string(ticks));
    if (count_in_state) {
      const auto count = host().state_get("ticks");
      host().state_put("ticks", std::to_string(count ? std::stoll(*count) + 1 : 1));
    }
    if (ticks == crash_on_tick && crash_now(crash_once)) {
      if (!send_to.empty()) host().send_to_agent(send_to, prefix + "-crashed");
      if (crash == "abort") std::abort();
      if (crash == "slow-throw") std::this_thread::sleep_for(std::chrono::milliseconds(15));
      if (crash == "throw" || crash == "slow-throw") throw faust::sdk::Error("tick " + std::to_string(ticks) + " refused");
      while (crash == "hang") std::this_thread::sleep_for(std::chrono::hours(1));
      segfault();
    }
    if (!send_to.empty()) host().send_to_agent(send_to, prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(ticks));
  }

  long ticks = 0;
  const std::string send_to = host().config("send_to", "");
  const std::string prefix = host().config("prefix", "tick");
  const long crash_on_tick = std::stol(host().config("crash_on_tick", "0"));
  const std::string crash = host().config("crash", "segv");
  const std::string crash_once = host().config("crash_once", "");
  const bool count_in_state = host().config("count_in_state", "false") == "true";
};

struct FaultyService : faust::sdk::Service {
  void start() override { called("start"); }
  void elected(const faust::sdk::Term& term) override { called("elected " + std::to_string(term.generation)); }
  void lead() override {
    called("lead");
    while (!host().wait_for_stop(std::chrono::milliseconds(50))) {
    }
  }
  void revoked() override { called("revoked"); }
  void stop() override { called("stop"); }

  void called(const std::string& what) {
    host().info(what);
    if (!crash_in.empty() && what.starts_with(crash_in) && crash_now(crash_once)) segfault();
  }

  const std::string crash_in = host().config("crash_in", "");
  const std::string crash_once = host().config("crash_once", "");
};

void FaultyAgent::crash() { segfault(); }

}  // namespace

FAUST_PLUGIN("faulty", "1.0.0", faust::sdk::agent<FaultyAgent>("faulty"), faust::sdk::timer<FaultyTimer>("faulty_tick"),
             faust::sdk::service<FaultyService>("faulty_service"));
