// An agent that logs every value it receives, prefixed with its configured `prefix`.
#include <faust/plugin.hpp>
#include <string>

class EchoAgent : public faust::sdk::Agent {
 public:
  explicit EchoAgent(faust::sdk::Host& host) : host_(host), prefix_(host.config("prefix", "echo")) {}

  void handle(const faust::sdk::Message& message) override {
    host_.info(prefix_ + ": " + std::string(message.value()));
  }

 private:
  faust::sdk::Host& host_;
  std::string prefix_;
};

FAUST_PLUGIN("echo", "0.1.0", FAUST_AGENTS(faust::sdk::agent<EchoAgent>("echo")), FAUST_TIMERS());
