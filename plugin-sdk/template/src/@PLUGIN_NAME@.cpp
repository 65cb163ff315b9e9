// The @PLUGIN_NAME@ plugin: one agent, one timer and a plugin-wide part.
//
//   agent             logs every message it receives (manifest entry `@PLUGIN_NAME@`)
//   timer             sends "<greeting> <n>" to the agent at every tick (entry `@PLUGIN_NAME@_timer`;
//                     config `greeting`, default "hello")
//   plugin-wide part  one counter and one page, /plugins/@PLUGIN_NAME@/stats, for every instance
//
// faust-host calls an instance from one thread at a time. Anything thrown from a constructor,
// handle() or tick() becomes that call's error: faust-host logs it and applies the agent's
// on_error policy. A failed send throws faust::sdk::Error.
//
// A commented-out service (plugin ABI 1.1) follows the timer, and batch handling (ABI 1.2) the
// agent; see "Services" and "Batch agents" in the SDK's guide.
#include <faust/plugin.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace {

// Created once per worker before the agent's and timer's instances, shared by all of them (an
// agent with `concurrency: 4` has four). Pages and lanes call it at once: atomics only.
struct @PLUGIN_CLASS@Stats : faust::sdk::Shared {
  @PLUGIN_CLASS@Stats() {
    host().page("stats", [this](const faust::sdk::PageRequest&) {
      return faust::sdk::Page{200, "text/plain; charset=utf-8", "received " + std::to_string(count) + "\n"};
    });
  }

  faust::sdk::Counter received = host().counter("@PLUGIN_NAME@_received_total", "Messages received");
  std::atomic<std::uint64_t> count{0};
};

struct @PLUGIN_CLASS@Agent : faust::sdk::Agent {
  void handle(const faust::sdk::Message& message) override {
    stats.received.inc();
    ++stats.count;
    host().info("received " + std::string(message.value()));
  }

  @PLUGIN_CLASS@Stats& stats = host().shared<@PLUGIN_CLASS@Stats>();
};

// To take the messages in batches too (plugin ABI 1.2), derive the agent from
// faust::sdk::BatchAgent and add handle_batch(); the manifest's `batch:` (max_messages, max_wait)
// sizes the batches. A batch that throws is handled again message by message through handle().
//
//   void handle_batch(const std::vector<faust::sdk::Message>& messages) override {
//     host().info("received " + std::to_string(messages.size()) + " messages of partition " +
//                 std::to_string(messages.front().partition()));
//   }

struct @PLUGIN_CLASS@Timer : faust::sdk::Timer {
  void tick() override {
    const std::string value = greeting + " " + std::to_string(++ticks);
    host().send_to_agent("@PLUGIN_NAME@", value);
    host().info("sent " + value);
  }

  std::string greeting = host().config("greeting", "hello");
  std::uint64_t ticks = 0;
};

// A service follows the worker's and the leader's lifecycle: start(); per leadership term of this
// worker elected(), lead(), revoked(); stop() at shutdown. To add one, uncomment the class, its
// entry in FAUST_PLUGIN below and the services: section of @PLUGIN_NAME@.yaml.
//
// struct @PLUGIN_CLASS@Service : faust::sdk::Service {
//   // Each time this worker's leadership term begins. Its sends and leader state writes commit
//   // together, as one transaction, when it returns.
//   void elected(const faust::sdk::Term& term) override {
//     host().state_put("@PLUGIN_NAME@/term", std::to_string(term.generation));
//     host().info("leading, term " + std::to_string(term.generation));
//   }
//   // The term's long task: return soon after wait_for_stop() says the term is over.
//   void lead() override {
//     while (!host().wait_for_stop(std::chrono::seconds(1))) {
//     }
//   }
//   // When the term ends; follows every elected().
//   void revoked() override { host().info("term over"); }
// };

}  // namespace

// Components without a name take the plugin's; a manifest entry uses the plugin's only agent
// (timer, service) whatever the entry is called.
FAUST_PLUGIN("@PLUGIN_NAME@", "0.1.0", faust::sdk::shared<@PLUGIN_CLASS@Stats>(),
             faust::sdk::agent<@PLUGIN_CLASS@Agent>(), faust::sdk::timer<@PLUGIN_CLASS@Timer>()
             /*, faust::sdk::service<@PLUGIN_CLASS@Service>() */);
