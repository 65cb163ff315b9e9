// The @PLUGIN_NAME@ plugin: one agent and one timer.
//
//   agent @PLUGIN_NAME@        logs every message it receives
//   timer @PLUGIN_NAME@_timer  sends "<greeting> <n>" to the agent at every tick
//                             (config `greeting`, default "hello")
//
// faust-host calls an instance from one thread at a time. Anything thrown from a constructor,
// handle() or tick() becomes that call's error: faust-host logs it and applies the agent's
// on_error policy. A failed send throws faust::sdk::Error.
//
// A commented-out service (plugin ABI 1.1) follows the timer, and batch handling (ABI 1.2) the
// agent; see "Services" and "Batch agents" in the SDK's guide.
#include <faust/plugin.hpp>

#include <chrono>
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

// To take the messages in batches too (plugin ABI 1.2), derive the agent from
// faust::sdk::BatchAgent and add handle_batch(); the manifest's `batch:` (max_messages, max_wait)
// sizes the batches. A batch that throws is handled again message by message through handle().
//
//   void handle_batch(const std::vector<faust::sdk::Message>& messages) override {
//     host_.info("received " + std::to_string(messages.size()) + " messages of partition " +
//                std::to_string(messages.front().partition()));
//   }

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

// A service follows the worker's and the leader's lifecycle: start(); per leadership term of this
// worker elected(), lead(), revoked(); stop() at shutdown. To add one, uncomment the class, the
// FAUST_PLUGIN_WITH_SERVICES below (instead of FAUST_PLUGIN) and the services: section of
// @PLUGIN_NAME@.yaml.
//
// class @PLUGIN_CLASS@Service : public faust::sdk::Service {
//  public:
//   explicit @PLUGIN_CLASS@Service(faust::sdk::Host& host) : host_(host) {}
//
//   // Each time this worker's leadership term begins. Its sends and leader state writes commit
//   // together, as one transaction, when it returns.
//   void elected(const faust::sdk::Term& term) override {
//     host_.state_put("@PLUGIN_NAME@/term", std::to_string(term.generation));
//     host_.info("leading, term " + std::to_string(term.generation));
//   }
//   // The term's long task: return soon after wait_for_stop() says the term is over.
//   void lead() override {
//     while (!host_.wait_for_stop(std::chrono::seconds(1))) {
//     }
//   }
//   // When the term ends; follows every elected().
//   void revoked() override { host_.info("term over"); }
//
//  private:
//   faust::sdk::Host& host_;
// };

}  // namespace

FAUST_PLUGIN("@PLUGIN_NAME@", "0.1.0", FAUST_AGENTS(faust::sdk::agent<@PLUGIN_CLASS@Agent>("@PLUGIN_NAME@")),
             FAUST_TIMERS(faust::sdk::timer<@PLUGIN_CLASS@Timer>("@PLUGIN_NAME@_timer")));

// With the service:
// FAUST_PLUGIN_WITH_SERVICES("@PLUGIN_NAME@", "0.1.0",
//                            FAUST_AGENTS(faust::sdk::agent<@PLUGIN_CLASS@Agent>("@PLUGIN_NAME@")),
//                            FAUST_TIMERS(faust::sdk::timer<@PLUGIN_CLASS@Timer>("@PLUGIN_NAME@_timer")),
//                            FAUST_SERVICES(
//                                faust::sdk::service<@PLUGIN_CLASS@Service>("@PLUGIN_NAME@_service")));
