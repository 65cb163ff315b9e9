// The tutorial's `say` agent: prints every greeting it receives.
#include <faust/plugin.hpp>

namespace {

class SayAgent : public faust::sdk::Agent {
 public:
  explicit SayAgent(faust::sdk::Host& host) : host_(host) {}

  void handle(const faust::sdk::Message& greeting) override { host_.info(greeting.value()); }

 private:
  faust::sdk::Host& host_;
};

}  // namespace

FAUST_PLUGIN("say", "1.0.0", FAUST_AGENTS(faust::sdk::agent<SayAgent>("say")), FAUST_TIMERS());
