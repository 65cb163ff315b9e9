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

struct PublishGreetings : faust::sdk::Timer {
  void tick() override {
    host().info("PUBLISHING ON LEADER!");
    const std::string greeting = python_float_text(next_random());
    host().send_to_agent(agent, greeting);
    host().info("sent greeting " + greeting);
  }

  // Uniform in [0, 1) from 53 random bits, as Python's random.random() does; never 1.0.
  double next_random() { return static_cast<double>(random_bits() >> 11) * 0x1.0p-53; }

  std::string agent = host().config("agent", "say");
  std::mt19937_64 random_bits{std::random_device{}()};
};

}  // namespace

FAUST_PLUGIN("publish_greetings", "1.0.0", faust::sdk::timer<PublishGreetings>());
