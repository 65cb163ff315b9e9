// The tutorial's `say` agent: prints every greeting it receives.
#include <faust/plugin.hpp>

namespace {

struct Say : faust::sdk::Agent {
  void handle(const faust::sdk::Message& greeting) override { host().info(greeting.value()); }
};

}  // namespace

FAUST_PLUGIN("say", "1.0.0", faust::sdk::agent<Say>());
