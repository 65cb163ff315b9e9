// Benchmark agent for forwarding: sends each message's value, and its key if it has one, on to
// another topic, and does nothing else.
//
// forward (agent) config:
//   to: the topic to send to (required)
//
// The driver measures from outside: a read_committed consumer of `to` notes when the last
// message arrived (`faust-bench-kafka count-committed`). Whatever the host's delivery settings
// in the manifest (per message or in batches, at least once or exactly once), the plugin stays
// the same.
#include <faust/plugin.hpp>
#include <string>

namespace {

class ForwardAgent : public faust::sdk::Agent {
 public:
  explicit ForwardAgent(faust::sdk::Host& host) : host_(host), to_(host.config("to", "")) {
    if (to_.empty()) throw faust::sdk::Error("forward: config 'to' is required");
  }

  void handle(const faust::sdk::Message& message) override {
    host_.send_to_topic(to_, message.value(), message.key());
  }

 private:
  faust::sdk::Host& host_;
  std::string to_;
};

}  // namespace

FAUST_PLUGIN("forward", "1.0.0", FAUST_AGENTS(faust::sdk::agent<ForwardAgent>("forward")), FAUST_TIMERS());
