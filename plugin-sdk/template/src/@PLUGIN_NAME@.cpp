// The @PLUGIN_NAME@ plugin: one agent and one timer.
//
//   agent @PLUGIN_NAME@        logs every message it receives
//   timer @PLUGIN_NAME@_timer  sends "<greeting> <n>" to the agent at every tick
//                             (config `greeting`, default "hello")
//
// faust-host calls an instance from one thread at a time. Anything thrown from a constructor,
// handle() or tick() becomes that call's error: faust-host logs it and applies the agent's
// on_error policy. A failed send throws faust::sdk::Error.
#include <faust/plugin.hpp>

#include <cstdint>
#include <string>

namespace {

class @PLUGIN_CLASS@Agent : public faust::sdk::Agent {
 public:
  explicit @PLUGIN_CLASS@Agent(faust::sdk::Host& host) : host_(host) {}

  void handle(const faust::sdk::Message& message) override {
    host_.info("received " + std::string(message.value()));
  }

 private:
  faust::sdk::Host& host_;
};

class @PLUGIN_CLASS@Timer : public faust::sdk::Timer {
 public:
  explicit @PLUGIN_CLASS@Timer(faust::sdk::Host& host) : host_(host), greeting_(host.config("greeting", "hello")) {}

  void tick() override {
    const std::string value = greeting_ + " " + std::to_string(++ticks_);
    host_.send_to_agent("@PLUGIN_NAME@", value);
    host_.info("sent " + value);
  }

 private:
  faust::sdk::Host& host_;
  std::string greeting_;
  std::uint64_t ticks_ = 0;
};

}  // namespace

FAUST_PLUGIN("@PLUGIN_NAME@", "0.1.0", FAUST_AGENTS(faust::sdk::agent<@PLUGIN_CLASS@Agent>("@PLUGIN_NAME@")),
             FAUST_TIMERS(faust::sdk::timer<@PLUGIN_CLASS@Timer>("@PLUGIN_NAME@_timer")));
