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
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <faust/plugin.hpp>
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

  static void crash() {
    volatile int* nowhere = nullptr;
    *nowhere = 1;
  }

  faust::sdk::Host& host_;
  const std::string fixed_by_;
  const std::string forward_to_;
};

}  // namespace

FAUST_PLUGIN("faulty", "1.0.0", FAUST_AGENTS(faust::sdk::agent<FaultyAgent>("faulty")), FAUST_TIMERS());
