// The tutorial's leader timer: sends a random greeting to the `say` agent at every tick.
//
// Config (manifest `config:` of the timer):
//   agent: the agent to greet (default "say")
#include <array>
#include <charconv>
#include <cstdint>
#include <faust/plugin.hpp>
#include <random>
#include <string>
#include <string_view>

namespace {

// Python's str(random.random()): the shortest text that reads back as the same double, in
// fixed notation unless scientific is shorter ("0.8444218515250481", "1e-05").
std::string python_float_text(double value) {
  std::array<char, 32> buffer{};
  const std::to_chars_result result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  std::string text(buffer.data(), result.ptr);
  if (text.find_first_of(".e") == std::string::npos) text += ".0";  // Python writes 0.0, not 0
  return text;
}

class PublishGreetingsTimer : public faust::sdk::Timer {
 public:
  explicit PublishGreetingsTimer(faust::sdk::Host& host)
      : host_(host), agent_(host.config("agent", "say")), random_(std::random_device{}()) {}

  void tick() override {
    host_.info("PUBLISHING ON LEADER!");
    const std::string greeting = python_float_text(next_random());
    host_.send_to_agent(agent_, greeting);
    host_.info("sent greeting " + greeting);
  }

 private:
  // Uniform in [0, 1) from 53 random bits, as Python's random.random() does; never 1.0.
  double next_random() { return static_cast<double>(random_() >> 11) * 0x1.0p-53; }

  faust::sdk::Host& host_;
  std::string agent_;
  std::mt19937_64 random_;
};

}  // namespace

FAUST_PLUGIN("publish_greetings", "1.0.0", FAUST_AGENTS(),
             FAUST_TIMERS(faust::sdk::timer<PublishGreetingsTimer>("publish_greetings")));
