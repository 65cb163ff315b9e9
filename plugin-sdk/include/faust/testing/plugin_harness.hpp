// faust-host plugin SDK: a test harness that loads a plugin .so the way faust-host does and
// plays the host itself, recording what the plugin logs and sends. Header-only; needs only
// faust/plugin.h, the C++17 standard library and the dynamic loader (link ${CMAKE_DL_LIBS}, or
// the CMake target FaustPluginSDK::testing), so a plugin project tests its plugin without
// faust-host or a broker.
//
//   faust::testing::PluginHarness harness("build/greeter.so");
//   auto agent = harness.agent("greeter", {{"prefix", ">"}});   // config as in the manifest
//   EXPECT_TRUE(agent.handle("hi"));
//   EXPECT_EQ(harness.logs().at(0).message, "> hi");
//   EXPECT_TRUE(agent.handle_batch({"a", "b", "c"}));          // a BatchAgent's batch (ABI 1.2)
//
//   harness.set_leader(true);
//   auto timer = harness.timer("greeter_timer");
//   auto outcome = timer.tick();
//   ASSERT_TRUE(outcome) << outcome.error();
//   EXPECT_EQ(harness.sent().at(0).agent, "greeter");
//
//   EXPECT_EQ(harness.metric("greetings_total")->value, 1);   // metrics the plugin created
//   EXPECT_EQ(harness.get_page("stats?verbose=1").status, 200);  // pages it registered
//
// Failures to load the plugin or to create an agent/timer throw faust::testing::HarnessError;
// what the plugin's handle()/tick() return is an Outcome (ok, or the plugin's error message).
// Sends are recorded, not delivered: to test a pipeline, hand what one component sent to the
// next one's handle(). The library stays loaded until the process exits, as in faust-host.
#pragma once

#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "faust/detail/abi_checks.hpp"
#include "faust/plugin.h"

namespace faust::testing {

// Loading the plugin or creating one of its agents/timers failed; what() says why.
class HarnessError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using Headers = std::vector<std::pair<std::string, std::string>>;
// An agent's or timer's `config:` map, as the manifest would give it.
using Config = std::map<std::string, std::string>;

// What a plugin sent through the host.
struct SentMessage {
  std::string agent;  // the target agent, or empty when sent to a topic
  std::string topic;  // the target topic, or empty when sent to an agent
  std::optional<std::string> key;
  std::string value;
  Headers headers;
  std::string from;  // the agent or timer that sent it
};

// One line a plugin logged; faust-host prints it as "[component] message".
struct LogLine {
  faust_log_level level = FAUST_LOG_INFO;
  std::string component;
  std::string message;
};

// What handle() or tick() returned: ok, or the error message the plugin reported.
class Outcome {
 public:
  static Outcome success() { return Outcome(true, {}); }
  static Outcome failure(std::string message) { return Outcome(false, std::move(message)); }

  bool ok() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  // The plugin's error message; empty when ok.
  const std::string& error() const noexcept { return error_; }

  friend std::ostream& operator<<(std::ostream& out, const Outcome& outcome) {
    return outcome.ok_ ? out << "ok" : out << "error: " << outcome.error_;
  }

 private:
  Outcome(bool ok, std::string error) : ok_(ok), error_(std::move(error)) {}
  bool ok_;
  std::string error_;
};

// ---- ABI 1.1: metrics and pages ----

// A metric as the plugin left it (faust-host would export it on /metrics).
struct MetricSample {
  faust_metric_kind kind = FAUST_METRIC_COUNTER;
  std::string help;
  double value = 0;         // counter or gauge
  std::uint64_t count = 0;  // histogram: observations
  double sum = 0;           // histogram: their sum
  std::vector<double> buckets;                // histogram: upper bounds (without +Inf)
  std::vector<std::uint64_t> bucket_counts;   // histogram: observations <= each bound (cumulative)
};

// What a page answered, as faust-host would serve it.
struct PageResponse {
  int status = 0;
  std::string content_type;
  std::string body;
};

// A message for an agent. Unset fields get what the host would give: topic "<app id>-<agent>",
// the offset after the previous message, the current time.
struct InputMessage {
  std::optional<std::string> key;
  std::string value;
  Headers headers;
  std::optional<std::string> topic;
  std::int32_t partition = 0;
  std::optional<std::int64_t> offset;
  std::optional<std::int64_t> timestamp_ms;
};

namespace detail {

// One metric the plugin created; faust_metric* is its address. Own lock: metric calls carry no
// context.
struct RecordedMetric {
  abi::MetricShape shape;
  mutable std::mutex mutex;
  double value = 0;
  std::uint64_t count = 0;
  double sum = 0;
  std::vector<std::uint64_t> bucket_hits;  // per bucket, not cumulative

  void add(double amount) {
    std::lock_guard lock(mutex);
    if (shape.kind == FAUST_METRIC_COUNTER) {
      if (amount > 0) value += amount;  // a counter only grows, as in faust-host
    } else if (shape.kind == FAUST_METRIC_GAUGE) {
      value += amount;
    } else {
      ++count;
      sum += amount;
      for (std::size_t i = 0; i < shape.buckets.size(); ++i) {
        if (amount <= shape.buckets[i]) {
          ++bucket_hits[i];
          break;
        }
      }
    }
  }
  void set(double amount) {
    std::lock_guard lock(mutex);
    if (shape.kind == FAUST_METRIC_GAUGE) value = amount;
  }
  MetricSample sample() const {
    std::lock_guard lock(mutex);
    MetricSample out{shape.kind, shape.help, value, count, sum, shape.buckets, {}};
    std::uint64_t below = 0;
    for (const std::uint64_t hits : bucket_hits) out.bucket_counts.push_back(below += hits);
    return out;
  }
};

struct InstanceContext;
class SharedPart;

// A page the plugin registered, and the instance that did (its pages go with it).
struct RecordedPage {
  faust_page_fn handler = nullptr;
  void* user = nullptr;
  const InstanceContext* owner = nullptr;
};

// What the harness shares with every instance it created, so instances may outlive it.
struct HarnessState {
  const faust_plugin_descriptor* descriptor = nullptr;
  std::string file;
  mutable std::mutex mutex;  // guards everything below
  bool leader = false;
  // Every app id ever set: app_id() promises its string for the life of the instance.
  std::deque<std::string> app_ids{"test-app"};
  std::optional<std::string> send_failure;
  // The broker refuses sends from now on: they are queued (send returns ok) but never delivered.
  std::optional<std::string> send_refusal;
  // The first refusal of the handler call in progress that it has not awaited (await_sends).
  std::optional<std::string> unawaited_refusal;
  std::vector<SentMessage> sent;
  // While a unit of work runs (a leader tick, a batch): its thread, and what it sent so far,
  // delivered only if the unit succeeds.
  std::optional<std::thread::id> transaction_thread;
  // Whether that unit is leader work, whose leader state writes join it.
  bool transaction_is_leader_work = false;
  std::vector<SentMessage> transaction;
  // The leader state, and the writes of the transaction in progress (nullopt: deleted).
  std::map<std::string, std::string> leader_state;
  std::map<std::string, std::optional<std::string>> transaction_state;
  std::vector<LogLine> logs;
  // What wait_for_stop answers (request_stop() sets it).
  bool stop_requested = false;
  std::condition_variable stop_changed;
  // ABI 1.1: by name; a metric lives as long as the harness state, as in faust-host.
  std::map<std::string, std::unique_ptr<RecordedMetric>, std::less<>> metrics;
  // Held while a page runs and while pages are dropped, so dropping waits for a call in progress.
  std::mutex page_mutex;
  std::map<std::string, RecordedPage, std::less<>> pages;  // guarded by page_mutex
  // ABI 1.4: the plugin-wide part, held by the harness and every instance (weak here: the part's
  // own context holds this state), and the object its create returned (null while it runs).
  std::weak_ptr<SharedPart> shared_part;
  std::atomic<void*> shared_object{nullptr};
};

// One agent or timer instance as the host sees it; passed to the plugin as its context.
struct InstanceContext {
  std::shared_ptr<HarnessState> state;
  std::string component;
  Config config;
};

inline InstanceContext& context_of(faust_host_context* context) noexcept {
  return *reinterpret_cast<InstanceContext*>(context);
}

using abi::write_error;

// The plugin's error buffer after a failed call, or a stand-in when it wrote nothing.
inline std::string error_text(const faust_error& error, const char* what) {
  return abi::read_error(error, std::string(what) + " failed without a message");
}

inline void host_log(faust_host_context* context, faust_log_level level, const char* message) noexcept {
  try {
    InstanceContext& self = context_of(context);
    std::lock_guard lock(self.state->mutex);
    self.state->logs.push_back(LogLine{level, self.component, message == nullptr ? "" : message});
  } catch (...) {
    // Out of memory while recording: nothing sensible to tell the plugin.
  }
}

inline faust_status host_send(faust_host_context* context, const faust_send_request* request,
                              faust_error* error) noexcept {
  try {
    InstanceContext& self = context_of(context);
    if (std::optional<std::string> problem = abi::send_request_problem(request)) {
      write_error(error, *problem);
      return FAUST_ERROR;
    }
    SentMessage message;
    if (request->agent != nullptr) message.agent = request->agent;
    if (request->topic != nullptr) message.topic = request->topic;
    if (request->key != nullptr)
      message.key.emplace(static_cast<const char*>(request->key), request->key_size);
    if (request->value_size > 0)
      message.value.assign(static_cast<const char*>(request->value), request->value_size);
    for (std::size_t i = 0; i < request->header_count; ++i) {
      const faust_header& header = request->headers[i];
      message.headers.emplace_back(
          header.key, header.value_size > 0
                          ? std::string(static_cast<const char*>(header.value), header.value_size)
                          : std::string());
    }
    message.from = self.component;
    std::lock_guard lock(self.state->mutex);
    if (self.state->send_failure) {
      write_error(error, *self.state->send_failure);
      return FAUST_ERROR;
    }
    if (self.state->transaction_thread == std::this_thread::get_id()) {
      self.state->transaction.push_back(std::move(message));
    } else if (self.state->send_refusal) {
      if (!self.state->unawaited_refusal) self.state->unawaited_refusal = self.state->send_refusal;
    } else {
      self.state->sent.push_back(std::move(message));
    }
    return FAUST_OK;
  } catch (const std::exception& e) {
    write_error(error, std::string("send failed: ") + e.what());
  } catch (...) {
    write_error(error, "send failed: unknown error");
  }
  return FAUST_ERROR;
}

inline faust_status host_await_sends(faust_host_context* context, faust_error* error) noexcept {
  InstanceContext& self = context_of(context);
  std::lock_guard lock(self.state->mutex);
  if (!self.state->unawaited_refusal) return FAUST_OK;
  write_error(error, *self.state->unawaited_refusal);
  self.state->unawaited_refusal.reset();
  return FAUST_ERROR;
}

inline void* host_shared_object(faust_host_context* context) noexcept {
  return context_of(context).state->shared_object.load();
}

inline int host_is_leader(faust_host_context* context) noexcept {
  InstanceContext& self = context_of(context);
  std::lock_guard lock(self.state->mutex);
  return self.state->leader ? 1 : 0;
}

inline const char* host_app_id(faust_host_context* context) noexcept {
  InstanceContext& self = context_of(context);
  std::lock_guard lock(self.state->mutex);
  return self.state->app_ids.back().c_str();
}

inline const char* host_config_get(faust_host_context* context, const char* key) noexcept {
  if (key == nullptr) return nullptr;
  try {
    const Config& config = context_of(context).config;
    const auto found = config.find(key);
    return found == config.end() ? nullptr : found->second.c_str();
  } catch (...) {
    return nullptr;
  }
}

inline int host_wait_for_stop(faust_host_context* context, std::uint32_t timeout_ms) noexcept {
  InstanceContext& self = context_of(context);
  std::unique_lock lock(self.state->mutex);
  return self.state->stop_changed.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                                           [&] { return self.state->stop_requested; })
             ? 1
             : 0;
}

inline faust_metric* host_metric_create(faust_host_context* context, const faust_metric_spec* spec,
                                        faust_error* error) noexcept {
  try {
    InstanceContext& self = context_of(context);
    const std::string plugin = self.state->descriptor->name;
    abi::MetricShape shape;
    if (std::optional<std::string> problem = abi::read_metric_spec(plugin, spec, shape)) {
      write_error(error, *problem);
      return nullptr;
    }
    std::lock_guard lock(self.state->mutex);
    auto found = self.state->metrics.find(shape.name);
    if (found == self.state->metrics.end()) {
      auto metric = std::make_unique<RecordedMetric>();
      metric->bucket_hits.assign(shape.buckets.size(), 0);
      metric->shape = std::move(shape);
      found = self.state->metrics.emplace(metric->shape.name, std::move(metric)).first;
    } else if (auto conflict = abi::metric_conflict(plugin, shape, plugin, found->second->shape)) {
      write_error(error, *conflict);
      return nullptr;
    }
    return reinterpret_cast<faust_metric*>(found->second.get());
  } catch (const std::exception& e) {
    write_error(error, std::string("metric: ") + e.what());
  }
  return nullptr;
}

inline void host_metric_add(faust_metric* metric, double value) noexcept {
  if (metric != nullptr) reinterpret_cast<RecordedMetric*>(metric)->add(value);
}
inline void host_metric_set(faust_metric* metric, double value) noexcept {
  if (metric != nullptr) reinterpret_cast<RecordedMetric*>(metric)->set(value);
}

inline faust_status host_page_register(faust_host_context* context, const char* path, faust_page_fn handler,
                                       void* user, faust_error* error) noexcept {
  try {
    InstanceContext& self = context_of(context);
    const std::string plugin = self.state->descriptor->name;
    if (std::optional<std::string> problem = abi::page_path_problem(plugin, path)) {
      write_error(error, *problem);
      return FAUST_ERROR;
    }
    if (handler == nullptr) {
      write_error(error, "page: no context, path or handler");
      return FAUST_ERROR;
    }
    std::lock_guard lock(self.state->page_mutex);
    if (!self.state->pages.emplace(path, RecordedPage{handler, user, &self}).second) {
      write_error(error, abi::page_duplicate_message(plugin, path));
      return FAUST_ERROR;
    }
    return FAUST_OK;
  } catch (const std::exception& e) {
    write_error(error, std::string("page: ") + e.what());
  }
  return FAUST_ERROR;
}

// faust_page_response* is the address of one of these.
struct RecordedAnswer {
  bool answered = false;
  PageResponse response;
};

inline void host_page_respond(faust_page_response* response, int status, const char* content_type,
                              const void* body, std::size_t body_size) noexcept {
  if (response == nullptr) return;
  try {
    RecordedAnswer& answer = *reinterpret_cast<RecordedAnswer*>(response);
    answer.answered = true;
    answer.response.status = abi::page_status(status);
    answer.response.content_type = content_type != nullptr ? content_type : "text/plain; charset=utf-8";
    answer.response.body = body != nullptr ? std::string(static_cast<const char*>(body), body_size) : std::string();
  } catch (...) {
    *reinterpret_cast<RecordedAnswer*>(response) = RecordedAnswer{};  // out of memory: unanswered
  }
}

// Drops the pages `owner` registered, after a call in progress returned.
inline void drop_pages(HarnessState& state, const InstanceContext* owner) noexcept {
  std::lock_guard lock(state.page_mutex);
  for (auto it = state.pages.begin(); it != state.pages.end();) {
    it = it->second.owner == owner ? state.pages.erase(it) : std::next(it);
  }
}

// Leader state as faust-host keeps it: inside leader work (tick_on_leader, a service's elected,
// handle_on_leader) writes join the work's transaction; outside it, while set_leader(true) (a
// service's lead), each write stands alone; otherwise "not in a leader term".
template <typename Body>
faust_status with_leader_state(faust_host_context* context, faust_error* error, Body&& body) noexcept {
  try {
    InstanceContext& self = context_of(context);
    std::lock_guard lock(self.state->mutex);
    const bool in_transaction =
        self.state->transaction_is_leader_work && self.state->transaction_thread == std::this_thread::get_id();
    if (!in_transaction && !self.state->leader) {
      write_error(error, "leader state: not in a leader term");
      return FAUST_ERROR;
    }
    if (std::optional<std::string> problem = body(*self.state, in_transaction)) {
      write_error(error, *problem);
      return FAUST_ERROR;
    }
    return FAUST_OK;
  } catch (const std::exception& e) {
    write_error(error, std::string("leader state: ") + e.what());
  } catch (...) {
    write_error(error, "leader state: unknown error");
  }
  return FAUST_ERROR;
}

inline std::string bytes(const void* data, std::size_t size) {
  return data == nullptr ? std::string() : std::string(static_cast<const char*>(data), size);
}

// The state as leader work on this thread sees it: the transaction's writes over the state.
inline std::map<std::string, std::string> visible_state(const HarnessState& state, bool in_transaction) {
  std::map<std::string, std::string> view = state.leader_state;
  if (!in_transaction) return view;
  for (const auto& [key, value] : state.transaction_state) {
    if (value) {
      view[key] = *value;
    } else {
      view.erase(key);
    }
  }
  return view;
}

inline faust_status host_state_get(faust_host_context* context, const void* key, std::size_t key_size,
                                   faust_state_visit_fn visit, void* user, faust_error* error) noexcept {
  std::optional<std::string> found;
  const std::string name = bytes(key, key_size);
  const faust_status status =
      with_leader_state(context, error, [&](HarnessState& state, bool in_transaction) -> std::optional<std::string> {
        if (auto problem = abi::state_entry_problem(key_size, std::nullopt)) return problem;
        const auto view = visible_state(state, in_transaction);
        if (const auto it = view.find(name); it != view.end()) found = it->second;
        return std::nullopt;
      });
  // Called with the lock released: visit may call the host again.
  if (status == FAUST_OK && found && visit != nullptr) visit(user, name.data(), name.size(), found->data(), found->size());
  return status;
}

inline faust_status host_state_put(faust_host_context* context, const void* key, std::size_t key_size,
                                   const void* value, std::size_t value_size, faust_error* error) noexcept {
  return with_leader_state(context, error, [&](HarnessState& state, bool in_transaction) -> std::optional<std::string> {
    if (auto problem = abi::state_entry_problem(key_size, value_size)) return problem;
    if (in_transaction) {
      state.transaction_state[bytes(key, key_size)] = bytes(value, value_size);
    } else {
      state.leader_state[bytes(key, key_size)] = bytes(value, value_size);
    }
    return std::nullopt;
  });
}

inline faust_status host_state_delete(faust_host_context* context, const void* key, std::size_t key_size,
                                      faust_error* error) noexcept {
  return with_leader_state(context, error, [&](HarnessState& state, bool in_transaction) -> std::optional<std::string> {
    if (auto problem = abi::state_entry_problem(key_size, std::nullopt)) return problem;
    if (in_transaction) {
      state.transaction_state[bytes(key, key_size)] = std::nullopt;
    } else {
      state.leader_state.erase(bytes(key, key_size));
    }
    return std::nullopt;
  });
}

inline faust_status host_state_scan(faust_host_context* context, const void* prefix, std::size_t prefix_size,
                                    faust_state_visit_fn visit, void* user, faust_error* error) noexcept {
  std::vector<std::pair<std::string, std::string>> entries;
  const std::string start = bytes(prefix, prefix_size);
  const faust_status status =
      with_leader_state(context, error, [&](HarnessState& state, bool in_transaction) -> std::optional<std::string> {
        for (auto& [key, value] : visible_state(state, in_transaction)) {
          if (key.compare(0, start.size(), start) == 0) entries.emplace_back(key, value);
        }
        return std::nullopt;
      });
  if (status == FAUST_OK && visit != nullptr) {
    for (const auto& [key, value] : entries) visit(user, key.data(), key.size(), value.data(), value.size());
  }
  return status;
}

inline const faust_host_api& host_api() noexcept {
  static const faust_host_api api{static_cast<std::uint32_t>(sizeof(faust_host_api)),
                                  &host_log,
                                  &host_send,
                                  &host_is_leader,
                                  &host_app_id,
                                  &host_config_get,
                                  &host_wait_for_stop,
                                  &host_metric_create,
                                  &host_metric_add,
                                  &host_metric_set,
                                  &host_page_register,
                                  &host_page_respond,
                                  &host_state_get,
                                  &host_state_put,
                                  &host_state_delete,
                                  &host_state_scan,
                                  &host_await_sends,
                                  &host_shared_object};
  return api;
}

// Loads `file` and checks the handshake as faust-host does; throws HarnessError.
inline const faust_plugin_descriptor* load_plugin(const std::string& file) {
  void* library = ::dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    const char* reason = ::dlerror();
    throw HarnessError("plugin " + file + ": cannot load: " + (reason != nullptr ? reason : "unknown error"));
  }
  void* symbol = ::dlsym(library, FAUST_PLUGIN_ENTRY_NAME);
  if (symbol == nullptr) {
    throw HarnessError("plugin " + file +
                       ": no entry symbol " FAUST_PLUGIN_ENTRY_NAME
                       " (a plugin ends with FAUST_PLUGIN(...) or exports it itself)");
  }
  faust_plugin_entry_fn entry = nullptr;
  static_assert(sizeof(entry) == sizeof(symbol), "function and object pointers differ in size");
  std::memcpy(&entry, &symbol, sizeof(entry));  // dlsym's object pointer to a function pointer
  const faust_plugin_descriptor* descriptor = entry();
  if (descriptor == nullptr)
    throw HarnessError("plugin " + file + ": " FAUST_PLUGIN_ENTRY_NAME " returned no descriptor");
  if (auto refusal = abi::check_handshake(file, *descriptor, FAUST_PLUGIN_ABI_MINOR, "this SDK")) {
    throw HarnessError(refusal->message);
  }
  if (descriptor->name == nullptr || descriptor->name[0] == '\0') {
    throw HarnessError("plugin " + file + ": malformed descriptor: no plugin name");
  }
  if (descriptor->version == nullptr) {
    throw HarnessError("plugin " + file + ": malformed descriptor: no plugin version");
  }
  if (const faust_shared_def* shared = abi::shared_def(*descriptor)) {
    if (auto problem = abi::shared_def_problem(*shared)) {
      throw HarnessError("plugin " + file + ": malformed descriptor: " + *problem);
    }
  }
  if ((descriptor->agent_count > 0 && descriptor->agents == nullptr) ||
      (descriptor->timer_count > 0 && descriptor->timers == nullptr)) {
    throw HarnessError("plugin " + file + ": malformed descriptor: null agent or timer list");
  }
  return descriptor;
}

// Finds the definition a manifest entry named `name` uses, as faust-host does: the one of that name
// or, when the plugin has one of the kind only, that one. Throws HarnessError naming the ones
// there are.
template <typename Def>
const Def& find_def(const std::string& file, const char* kind, const Def* const* defs, std::size_t count,
                    std::string_view name) {
  std::string known;
  const Def* only = nullptr;
  std::size_t listed = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const Def* def = defs[i];
    if (def == nullptr || def->name == nullptr) continue;
    if (def->name == name) {
      only = def;
      listed = 1;
      break;
    }
    only = def;
    ++listed;
    known += (known.empty() ? "" : ", ") + std::string(def->name);
  }
  if (listed == 1) {
    if (only->create == nullptr || only->destroy == nullptr) {
      throw HarnessError("plugin " + file + ": " + kind + " '" + only->name + "' lacks create or destroy");
    }
    return *only;
  }
  throw HarnessError("plugin " + file + " has no " + kind + " '" + std::string(name) + "' (its " + kind +
                     "s: " + (known.empty() ? "none" : known) + ")");
}

// What a unit of work is: leader work (its leader state writes join it), or a batch of an
// agent's messages (only its sends are held back).
enum class UnitKind { kLeaderWork, kBatch };

// Runs `body` as faust-host runs a unit of work: what it sends on this thread is recorded in
// sent() only if it succeeds.
template <typename Body>
Outcome in_transaction(HarnessState& state, Body&& body, UnitKind kind = UnitKind::kLeaderWork) {
  {
    std::lock_guard lock(state.mutex);
    state.transaction_thread = std::this_thread::get_id();
    state.transaction_is_leader_work = kind == UnitKind::kLeaderWork;
    state.transaction.clear();
  }
  Outcome outcome = body();
  std::lock_guard lock(state.mutex);
  state.transaction_thread.reset();
  if (outcome.ok()) {
    for (auto& message : state.transaction) state.sent.push_back(std::move(message));
    for (auto& [key, value] : state.transaction_state) {
      if (value) {
        state.leader_state[key] = std::move(*value);
      } else {
        state.leader_state.erase(key);
      }
    }
  }
  state.transaction.clear();
  state.transaction_state.clear();
  return outcome;
}

// The plugin-wide part (ABI 1.4), as faust-host keeps it: created before any instance, with a
// context named after the plugin, and destroyed after the last instance (and the harness).
class SharedPart {
 public:
  SharedPart(const std::shared_ptr<HarnessState>& state, const faust_shared_def& def)
      : def_(def), context_(std::make_unique<InstanceContext>(InstanceContext{state, state->descriptor->name, {}})) {
    faust_error error{};
    void* object = def.create(&host_api(), reinterpret_cast<faust_host_context*>(context_.get()), &error);
    if (object == nullptr) throw HarnessError("plugin-wide part: create failed: " + error_text(error, "create"));
    state->shared_object = object;
  }
  SharedPart(const SharedPart&) = delete;
  SharedPart& operator=(const SharedPart&) = delete;
  ~SharedPart() {
    void* object = context_->state->shared_object.exchange(nullptr);
    drop_pages(*context_->state, context_.get());
    def_.destroy(object);
  }

 private:
  faust_shared_def def_;
  std::unique_ptr<InstanceContext> context_;  // its address is the plugin's context: never moves
};

// One live instance: created by the plugin, destroyed with this object.
template <typename Def>
class Instance {
 public:
  // `name`: the manifest entry's name the instance runs under (logs, topic); the definition's own
  // name when empty.
  Instance(std::shared_ptr<HarnessState> state, const Def& def, const char* kind, Config config,
           std::string_view name = {})
      : def_(&def),
        shared_(state->shared_part.lock()),
        context_(std::make_unique<InstanceContext>(InstanceContext{
            std::move(state), name.empty() ? std::string(def.name) : std::string(name), std::move(config)})) {
    faust_error error{};
    instance_ = def.create(&host_api(), reinterpret_cast<faust_host_context*>(context_.get()), &error);
    if (instance_ == nullptr) {
      throw HarnessError(std::string(kind) + " '" + context_->component +
                         "': create failed: " + error_text(error, "create"));
    }
  }
  Instance(Instance&& other) noexcept
      : def_(other.def_),
        shared_(std::move(other.shared_)),
        context_(std::move(other.context_)),
        instance_(std::exchange(other.instance_, nullptr)) {}
  Instance& operator=(Instance&& other) noexcept {
    if (this != &other) {
      destroy();
      def_ = other.def_;
      shared_ = std::move(other.shared_);
      context_ = std::move(other.context_);
      instance_ = std::exchange(other.instance_, nullptr);
    }
    return *this;
  }
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;
  ~Instance() { destroy(); }

  const std::string& name() const noexcept { return context_->component; }
  const InstanceContext& context() const noexcept { return *context_; }

 protected:
  const Def& def() const noexcept { return *def_; }
  void* instance() const noexcept { return instance_; }
  HarnessState& state() const noexcept { return *context_->state; }

 private:
  void destroy() noexcept {
    if (instance_ != nullptr) {
      drop_pages(*context_->state, context_.get());  // as faust-host: no page outlives its instance
      def_->destroy(instance_);
    }
    instance_ = nullptr;
  }

  const Def* def_;
  std::shared_ptr<SharedPart> shared_;  // the plugin-wide part outlives the instance
  std::unique_ptr<InstanceContext> context_;  // its address is the plugin's context: never moves
  void* instance_ = nullptr;
};

}  // namespace detail

// An agent instance. Like faust-host, call handle() from one thread at a time per instance.
class AgentUnderTest : public detail::Instance<faust_agent_def> {
 public:
  using Instance::Instance;

  Outcome handle(std::string_view value) {
    InputMessage message;
    message.value = std::string(value);
    return handle(message);
  }
  Outcome handle(std::string_view key, std::string_view value, const Headers& headers = {}) {
    InputMessage message;
    message.key = std::string(key);
    message.value = std::string(value);
    message.headers = headers;
    return handle(message);
  }
  // Handles it as faust-host runs a leader-only agent (on_leader: true): in one transaction with
  // its sends and leader state writes, which count only if it succeeds.
  Outcome handle_on_leader(const InputMessage& input) {
    return detail::in_transaction(state(), [&] { return handle(input); });
  }
  Outcome handle_on_leader(std::string_view value) {
    InputMessage message;
    message.value = std::string(value);
    return handle_on_leader(message);
  }

  Outcome handle(const InputMessage& input) {
    if (def().handle == nullptr) return Outcome::failure("agent '" + name() + "' has no handle function");
    const std::string topic = input.topic ? *input.topic : default_topic();
    std::vector<faust_header> headers;
    const faust_message message = c_message(input, topic, input.offset ? *input.offset : next_offset_, headers);
    next_offset_ = message.offset + 1;
    faust_error error{};
    const bool handled = def().handle(instance(), &message, &error) == FAUST_OK;
    // As faust-host does: a send the broker refused, and the handler did not await, fails the
    // message (the agent's on_error applies to it).
    std::optional<std::string> refused;
    {
      std::lock_guard lock(state().mutex);
      refused = std::exchange(state().unawaited_refusal, std::nullopt);
    }
    if (!handled) return Outcome::failure(detail::error_text(error, "handle"));
    if (refused) return Outcome::failure("a send was refused by the broker: " + *refused);
    return Outcome::success();
  }

  // ---- ABI 1.2: batches ----

  // Whether the plugin lists batch handling (handle_batch) for this agent: a BatchAgent.
  bool handles_batches() const { return batch_handler() != nullptr; }

  // Hands `messages` to the agent's handle_batch as one batch, as faust-host does: one
  // partition's messages at consecutive offsets. The first message places the batch (its topic,
  // partition and offset, else handle()'s defaults); the others take the next offsets, and a
  // topic, partition or offset of theirs that disagrees is refused. As in faust-host, what the
  // batch sends shows in sent() only if it succeeds; faust-host then handles a failed batch again
  // message by message through handle() (call handle() with each, at the same offsets, to test
  // that path).
  Outcome handle_batch(const std::vector<InputMessage>& messages) {
    const faust_agent_handle_batch_fn handler = batch_handler();
    if (handler == nullptr) {
      return Outcome::failure("agent '" + name() +
                              "' has no batch handling: the plugin lists no handle_batch for it (a "
                              "faust::sdk::BatchAgent, ABI 1.2)");
    }
    if (messages.empty()) return Outcome::failure("a batch holds at least one message");
    const InputMessage& first = messages.front();
    const std::string topic = first.topic ? *first.topic : default_topic();
    const std::int64_t first_offset = first.offset ? *first.offset : next_offset_;
    std::vector<std::vector<faust_header>> headers(messages.size());  // sized once: never moves
    std::vector<faust_message> batch;
    batch.reserve(messages.size());
    for (std::size_t i = 0; i < messages.size(); ++i) {
      const InputMessage& input = messages[i];
      const std::int64_t offset = first_offset + static_cast<std::int64_t>(i);
      if ((input.topic && *input.topic != topic) || input.partition != first.partition ||
          (input.offset && *input.offset != offset)) {
        return Outcome::failure("message #" + std::to_string(i) + " of the batch is not at " + topic + "[" +
                                std::to_string(first.partition) + "]@" + std::to_string(offset) +
                                ": a batch is one partition's messages at consecutive offsets");
      }
      batch.push_back(c_message(input, topic, offset, headers[i]));
    }
    next_offset_ = first_offset + static_cast<std::int64_t>(messages.size());
    return detail::in_transaction(
        state(),
        [&] {
          faust_error error{};
          if (handler(instance(), batch.data(), batch.size(), &error) == FAUST_OK) return Outcome::success();
          return Outcome::failure(detail::error_text(error, "handle_batch"));
        },
        detail::UnitKind::kBatch);
  }
  // A batch of these values, without keys or headers.
  Outcome handle_batch(const std::vector<std::string>& values) {
    std::vector<InputMessage> messages(values.size());
    for (std::size_t i = 0; i < values.size(); ++i) messages[i].value = values[i];
    return handle_batch(messages);
  }
  // Same; takes handle_batch({"a", "b"}), which would be ambiguous between the two vectors.
  Outcome handle_batch(std::initializer_list<std::string_view> values) {
    return handle_batch(std::vector<std::string>(values.begin(), values.end()));
  }

 private:
  std::string default_topic() const {
    std::lock_guard lock(context().state->mutex);
    return context().state->app_ids.back() + "-" + name();
  }

  // `input` as the plugin sees it, at `offset`; its header array is `headers`, which must outlive it.
  static faust_message c_message(const InputMessage& input, const std::string& topic, std::int64_t offset,
                                 std::vector<faust_header>& headers) {
    headers.clear();
    headers.reserve(input.headers.size());
    for (const auto& [key, value] : input.headers)
      headers.push_back(faust_header{key.c_str(), value.data(), value.size()});
    faust_message message{};
    message.key = input.key ? input.key->data() : nullptr;
    message.key_size = input.key ? input.key->size() : 0;
    message.value = input.value.data();
    message.value_size = input.value.size();
    message.headers = headers.empty() ? nullptr : headers.data();
    message.header_count = headers.size();
    message.topic = topic.c_str();
    message.partition = input.partition;
    message.offset = offset;
    message.timestamp_ms = input.timestamp_ms ? *input.timestamp_ms
                                              : std::chrono::duration_cast<std::chrono::milliseconds>(
                                                    std::chrono::system_clock::now().time_since_epoch())
                                                    .count();
    return message;
  }

  // The plugin's handle_batch for this agent; null when it lists none (or predates ABI 1.2).
  faust_agent_handle_batch_fn batch_handler() const {
    const faust_plugin_descriptor& descriptor = *state().descriptor;
    if (!abi::covers(descriptor.struct_size, abi::kDescriptorAgentBatchesEnd) || descriptor.agent_batches == nullptr) {
      return nullptr;
    }
    for (std::size_t i = 0; i < descriptor.agent_batch_count; ++i) {
      const faust_agent_batch_def* def = descriptor.agent_batches[i];
      if (def != nullptr && abi::covers(def->struct_size, abi::kAgentBatchDefSize_1_2) && def->agent != nullptr &&
          def->agent == name()) {
        return def->handle_batch;
      }
    }
    return nullptr;
  }

  std::int64_t next_offset_ = 0;
};

// A timer instance. tick() runs it once, whatever set_leader() says: faust-host checks on_leader
// before ticking; a plugin that asks is_leader() itself sees set_leader()'s value.
class TimerUnderTest : public detail::Instance<faust_timer_def> {
 public:
  using Instance::Instance;

  Outcome tick() {
    if (def().tick == nullptr) return Outcome::failure("timer '" + name() + "' has no tick function");
    faust_error error{};
    if (def().tick(instance(), &error) == FAUST_OK) return Outcome::success();
    return Outcome::failure(detail::error_text(error, "tick"));
  }

  // Runs it once as faust-host runs an on_leader timer: in one transaction. What the tick sends
  // shows in sent() only if the tick succeeds; a failing tick sends nothing.
  Outcome tick_on_leader() {
    return detail::in_transaction(state(), [&] { return tick(); });
  }
};

// A service instance (ABI 1.1). Call its methods in the order faust-host does: start(), then per
// term elected(), lead(), revoked(), and stop() at the end; one thread at a time.
class ServiceUnderTest : public detail::Instance<faust_service_def> {
 public:
  using Instance::Instance;

  Outcome start() { return call("start", def().start); }
  // Runs elected as faust-host does, in one transaction: what it sends shows in sent() only if it
  // succeeds. set_leader(true) first if the service asks is_leader().
  Outcome elected(std::int32_t generation = 1,
                  std::chrono::system_clock::time_point established_at = std::chrono::system_clock::now()) {
    if (def().elected == nullptr) return Outcome::success();
    const faust_term term{static_cast<std::uint32_t>(sizeof(faust_term)), generation,
                          std::chrono::duration_cast<std::chrono::milliseconds>(established_at.time_since_epoch())
                              .count()};
    return detail::in_transaction(state(), [&] {
      faust_error error{};
      if (def().elected(instance(), &term, &error) == FAUST_OK) return Outcome::success();
      return Outcome::failure(detail::error_text(error, "elected"));
    });
  }
  // Runs the term's long task on this thread until it returns: call PluginHarness::request_stop()
  // first, or from another thread, as faust-host does when the term ends.
  Outcome lead() { return call("lead", def().lead); }
  void revoked() {
    if (def().revoked != nullptr) def().revoked(instance());
  }
  void stop() {
    if (def().stop != nullptr) def().stop(instance());
  }

 private:
  Outcome call(const char* what, faust_status (*function)(void*, faust_error*)) {
    if (function == nullptr) return Outcome::success();
    faust_error error{};
    if (function(instance(), &error) == FAUST_OK) return Outcome::success();
    return Outcome::failure(detail::error_text(error, what));
  }
};

// Loads one plugin and stands in for faust-host towards its agents and timers. Thread-safe:
// instances may run on threads of their own while the test reads what they logged and sent.
class PluginHarness {
 public:
  // Loads the plugin (dlopen RTLD_NOW | RTLD_LOCAL) and checks its ABI handshake.
  explicit PluginHarness(const std::string& plugin_file) : state_(std::make_shared<detail::HarnessState>()) {
    state_->file = plugin_file;
    state_->descriptor = detail::load_plugin(plugin_file);
    if (const faust_shared_def* def = abi::shared_def(*state_->descriptor)) {
      shared_ = std::make_shared<detail::SharedPart>(state_, *def);
      state_->shared_part = shared_;
    }
  }

  // Whether the plugin has a plugin-wide part (ABI 1.4), created with the harness.
  bool has_shared_part() const { return shared_ != nullptr; }

  std::string plugin_name() const { return state_->descriptor->name; }
  std::string plugin_version() const { return state_->descriptor->version; }
  std::vector<std::string> agent_names() const {
    return names(state_->descriptor->agents, state_->descriptor->agent_count);
  }
  std::vector<std::string> timer_names() const {
    return names(state_->descriptor->timers, state_->descriptor->timer_count);
  }
  std::vector<std::string> service_names() const {
    const auto [defs, count] = services();
    return names(defs, count);
  }

  // Creates an instance of the agent a manifest entry named `name` would run (the plugin's agent of
  // that name, or its only one) with the given `config:` values; it logs and sends as `name`.
  AgentUnderTest agent(std::string_view name, Config config = {}) const {
    const faust_plugin_descriptor& d = *state_->descriptor;
    return AgentUnderTest(state_, detail::find_def(state_->file, "agent", d.agents, d.agent_count, name),
                          "agent", std::move(config), name);
  }
  // Creates an instance of the timer named `name` (or the plugin's only one), as agent() does.
  TimerUnderTest timer(std::string_view name, Config config = {}) const {
    const faust_plugin_descriptor& d = *state_->descriptor;
    return TimerUnderTest(state_, detail::find_def(state_->file, "timer", d.timers, d.timer_count, name),
                          "timer", std::move(config), name);
  }

  // Creates an instance of the service named `name` (ABI 1.1) with the given `config:` values.
  ServiceUnderTest service(std::string_view name, Config config = {}) const {
    const auto [defs, count] = services();
    return ServiceUnderTest(state_, detail::find_def(state_->file, "service", defs, count, name), "service",
                            std::move(config), name);
  }

  // What wait_for_stop() answers from now on: the term ended, or the worker stops (faust-host
  // asks a service's lead() to return this way). clear_stop() starts over.
  void request_stop() {
    {
      std::lock_guard lock(state_->mutex);
      state_->stop_requested = true;
    }
    state_->stop_changed.notify_all();
  }
  void clear_stop() {
    std::lock_guard lock(state_->mutex);
    state_->stop_requested = false;
  }

  // What is_leader() answers from now on (false at first).
  void set_leader(bool leader) {
    std::lock_guard lock(state_->mutex);
    state_->leader = leader;
  }
  // What app_id() answers from now on ("test-app" at first).
  void set_app_id(std::string app_id) {
    std::lock_guard lock(state_->mutex);
    state_->app_ids.push_back(std::move(app_id));
  }
  // Every send fails from now on with `message` as the host's error; nothing is recorded.
  void fail_sends(std::string message) {
    std::lock_guard lock(state_->mutex);
    state_->send_failure = std::move(message);
  }
  // The broker refuses every send from now on, after it was queued (faust-host's pipelined
  // agent sends): send returns ok, nothing is recorded, await_sends reports `message`, and a
  // handle() that did not await it fails with it, as the agent's on_error would see it.
  void refuse_sends(std::string message) {
    std::lock_guard lock(state_->mutex);
    state_->send_refusal = std::move(message);
  }
  // Sends succeed again.
  void accept_sends() {
    std::lock_guard lock(state_->mutex);
    state_->send_failure.reset();
    state_->send_refusal.reset();
  }

  // The leader state as the last committed leader work left it.
  std::map<std::string, std::string> leader_state() const {
    std::lock_guard lock(state_->mutex);
    return state_->leader_state;
  }
  // Sets a leader state entry, as a previous leader would have left it.
  void set_leader_state(std::string key, std::string value) {
    std::lock_guard lock(state_->mutex);
    state_->leader_state[std::move(key)] = std::move(value);
  }

  // Everything sent so far, in order.
  std::vector<SentMessage> sent() const {
    std::lock_guard lock(state_->mutex);
    return state_->sent;
  }
  // Everything logged so far, in order.
  std::vector<LogLine> logs() const {
    std::lock_guard lock(state_->mutex);
    return state_->logs;
  }
  // The log as faust-host prints it, without time and level: "[component] message".
  std::vector<std::string> log_lines() const {
    std::vector<std::string> lines;
    for (const LogLine& line : logs()) lines.push_back("[" + line.component + "] " + line.message);
    return lines;
  }
  // ---- ABI 1.1: metrics and pages ----

  // The metric the plugin created under `name`, or nullopt.
  std::optional<MetricSample> metric(std::string_view name) const {
    std::lock_guard lock(state_->mutex);
    const auto found = state_->metrics.find(name);
    if (found == state_->metrics.end()) return std::nullopt;
    return found->second->sample();
  }
  // The names of the metrics created so far.
  std::vector<std::string> metric_names() const {
    std::lock_guard lock(state_->mutex);
    std::vector<std::string> out;
    for (const auto& entry : state_->metrics) out.push_back(entry.first);
    return out;
  }

  // GETs one of the plugin's pages as faust-host serves /plugins/<plugin>/<target>: `target` is
  // the registered path, optionally with "?query" (a trailing '/' is tolerated). Unknown path:
  // 404; a handler that fails or does not answer: 500, as in faust-host.
  PageResponse get_page(std::string_view target) const {
    const std::size_t mark = target.find('?');
    std::string path(target.substr(0, mark));
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    const std::string query = mark == std::string_view::npos ? std::string() : std::string(target.substr(mark + 1));
    std::lock_guard lock(state_->page_mutex);
    const auto found = state_->pages.find(path);
    if (found == state_->pages.end()) return PageResponse{404, "application/json", R"({"error":"not found"})"};
    const faust_page_request request{static_cast<std::uint32_t>(sizeof(faust_page_request)), found->first.c_str(),
                                     query.c_str()};
    detail::RecordedAnswer answer;
    faust_error error{};
    const faust_status status = found->second.handler(
        found->second.user, &request, reinterpret_cast<faust_page_response*>(&answer), &error);
    const char* text = "text/plain; charset=utf-8";
    if (status != FAUST_OK) return PageResponse{500, text, abi::page_failed_body(abi::read_error(error, "(no message)"))};
    if (!answer.answered) return PageResponse{500, text, std::string(abi::kPageUnansweredBody)};
    return answer.response;
  }

  // Forgets what was sent and logged so far.
  void clear() {
    std::lock_guard lock(state_->mutex);
    state_->sent.clear();
    state_->logs.clear();
  }

 private:
  template <typename Def>
  static std::vector<std::string> names(const Def* const* defs, std::size_t count) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < count; ++i) {
      if (defs[i] != nullptr && defs[i]->name != nullptr) out.emplace_back(defs[i]->name);
    }
    return out;
  }

  // The plugin's services, none when it was built before ABI 1.1 had them.
  std::pair<const faust_service_def* const*, std::size_t> services() const {
    const faust_plugin_descriptor& d = *state_->descriptor;
    if (!abi::covers(d.struct_size, abi::kDescriptorServicesEnd)) return {nullptr, 0};
    return {d.services, d.service_count};
  }

  std::shared_ptr<detail::HarnessState> state_;
  std::shared_ptr<detail::SharedPart> shared_;
};

}  // namespace faust::testing
