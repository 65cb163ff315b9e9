// faust-host plugin SDK: a header-only C++ layer over the C ABI in faust/plugin.h.
//
// A plugin author writes one class per agent (derived from faust::sdk::Agent), timer (derived
// from faust::sdk::Timer) or service (derived from faust::sdk::Service, ABI 1.1), each
// constructible from `faust::sdk::Host&`, and ends the file with one macro:
//
//   class SayAgent : public faust::sdk::Agent {
//    public:
//     explicit SayAgent(faust::sdk::Host& host) : host_(host) {}
//     void handle(const faust::sdk::Message& message) override { host_.info(message.value()); }
//    private:
//     faust::sdk::Host& host_;
//   };
//
//   FAUST_PLUGIN("say", "1.0.0", FAUST_AGENTS(faust::sdk::agent<SayAgent>("say")), FAUST_TIMERS())
//
// or, with services, FAUST_PLUGIN_WITH_SERVICES(name, version, FAUST_AGENTS(...), FAUST_TIMERS(...),
// FAUST_SERVICES(faust::sdk::service<S>("s"), ...)).
//
// Exceptions thrown by constructors, handle() or tick() never cross into the host: the
// trampolines below catch them and report FAUST_ERROR with the exception's message. Host calls
// that fail (sending, creating a metric, registering a page) throw faust::sdk::Error carrying the
// host's message.
//
// Requires C++17.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "faust/detail/abi_checks.hpp"
#include "faust/plugin.h"

namespace faust::sdk {

// What a failed host call throws; what() is the host's message.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class LogLevel {
  kTrace = FAUST_LOG_TRACE,
  kDebug = FAUST_LOG_DEBUG,
  kInfo = FAUST_LOG_INFO,
  kWarn = FAUST_LOG_WARN,
  kError = FAUST_LOG_ERROR,
};

// Message headers to send: key, value (value may hold any bytes).
using Headers = std::vector<std::pair<std::string, std::string>>;

struct HeaderView {
  std::string_view key;
  std::string_view value;
};

// A read-only view of the message an agent handles; valid only during handle().
class Message {
 public:
  explicit Message(const faust_message& message) noexcept : message_(message) {}

  // The key, or nullopt when the message has none.
  std::optional<std::string_view> key() const noexcept {
    if (message_.key == nullptr) return std::nullopt;
    return std::string_view(static_cast<const char*>(message_.key), message_.key_size);
  }
  std::string_view value() const noexcept {
    return message_.value == nullptr
               ? std::string_view()
               : std::string_view(static_cast<const char*>(message_.value), message_.value_size);
  }
  std::size_t header_count() const noexcept { return message_.header_count; }
  HeaderView header_at(std::size_t index) const noexcept {
    const faust_header& h = message_.headers[index];
    return HeaderView{h.key == nullptr ? std::string_view() : std::string_view(h.key),
                      h.value == nullptr ? std::string_view()
                                         : std::string_view(static_cast<const char*>(h.value), h.value_size)};
  }
  // The value of the first header named `key`, or nullopt.
  std::optional<std::string_view> header(std::string_view key) const noexcept {
    for (std::size_t i = 0; i < header_count(); ++i) {
      HeaderView h = header_at(i);
      if (h.key == key) return h.value;
    }
    return std::nullopt;
  }
  std::string_view topic() const noexcept {
    return message_.topic == nullptr ? std::string_view() : std::string_view(message_.topic);
  }
  std::int32_t partition() const noexcept { return message_.partition; }
  std::int64_t offset() const noexcept { return message_.offset; }
  std::int64_t timestamp_ms() const noexcept { return message_.timestamp_ms; }

  const faust_message& raw() const noexcept { return message_; }

 private:
  const faust_message& message_;
};

// ---- ABI 1.1: metrics and pages ----

// What every metric handle holds: the table and the host's metric. Cheap to copy, thread-safe,
// valid as long as the worker; a default-constructed one is unusable until assigned.
class MetricHandle {
 public:
  MetricHandle() = default;
  MetricHandle(const faust_host_api* api, faust_metric* metric) noexcept : api_(api), metric_(metric) {}
  faust_metric* raw() const noexcept { return metric_; }

 protected:
  void add(double value) const noexcept { api_->metric_add(metric_, value); }
  void set(double value) const noexcept { api_->metric_set(metric_, value); }

 private:
  const faust_host_api* api_ = nullptr;
  faust_metric* metric_ = nullptr;
};

// A counter a plugin created with Host::counter().
class Counter : public MetricHandle {
 public:
  using MetricHandle::MetricHandle;
  // Adds `by`; a negative value is ignored (a counter only grows).
  void inc(double by = 1) const noexcept { add(by); }
};

// A gauge a plugin created with Host::gauge().
class Gauge : public MetricHandle {
 public:
  using MetricHandle::MetricHandle;
  using MetricHandle::add;
  using MetricHandle::set;
  void inc(double by = 1) const noexcept { add(by); }
  void dec(double by = 1) const noexcept { add(-by); }
};

// A histogram a plugin created with Host::histogram().
class Histogram : public MetricHandle {
 public:
  using MetricHandle::MetricHandle;
  void observe(double value) const noexcept { add(value); }
};

// A GET of one of the plugin's pages; valid only during the handler's call.
class PageRequest {
 public:
  explicit PageRequest(const faust_page_request& request) noexcept : request_(request) {}
  // The path as registered.
  std::string_view path() const noexcept { return request_.path == nullptr ? std::string_view() : request_.path; }
  // What follows '?' in the request, undecoded; empty when none.
  std::string_view query() const noexcept { return request_.query == nullptr ? std::string_view() : request_.query; }

 private:
  const faust_page_request& request_;
};

// What a page handler answers.
struct Page {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

using PageHandler = std::function<Page(const PageRequest&)>;

namespace detail {

template <typename Body>
faust_status guarded(faust_error* error, Body&& body) noexcept;

// A registered page handler; its address is the `user` pointer the host calls it with.
struct PageSlot {
  const faust_host_api* api;
  PageHandler handler;
};

// Exceptions become FAUST_ERROR with their message, which the host serves as a 500.
inline faust_status serve_page(void* user, const faust_page_request* request, faust_page_response* response,
                               faust_error* error) noexcept {
  const PageSlot& slot = *static_cast<const PageSlot*>(user);
  return guarded(error, [&] {
    const Page page = slot.handler(PageRequest(*request));
    slot.api->page_respond(response, page.status, page.content_type.c_str(), page.body.data(), page.body.size());
  });
}

}  // namespace detail

// The host as one agent or timer instance sees it. One Host per instance; it is passed to the
// instance's constructor and outlives it.
class Host {
 public:
  Host(const faust_host_api* api, faust_host_context* context) noexcept : api_(api), context_(context) {}
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  // One log line tagged with this agent's or timer's name. The ABI passes C strings, so the line
  // ends at the first NUL byte in `message`.
  void log(LogLevel level, std::string_view message) const {
    const std::string text(message);
    api_->log(context_, static_cast<faust_log_level>(level), text.c_str());
  }
  void trace(std::string_view message) const { log(LogLevel::kTrace, message); }
  void debug(std::string_view message) const { log(LogLevel::kDebug, message); }
  void info(std::string_view message) const { log(LogLevel::kInfo, message); }
  void warn(std::string_view message) const { log(LogLevel::kWarn, message); }
  void error(std::string_view message) const { log(LogLevel::kError, message); }

  // Sends `value` to the agent named `agent`. From an agent's handle(), returns once it is queued:
  // the consumed message is committed only after the broker acknowledged it, and a refusal
  // applies the agent's on_error to the consumed message (await_sends() to know first). In a
  // batch or exactly-once unit, and in an on_leader timer's tick, it is queued in the unit's
  // transaction, which delivers nothing if the call throws. Elsewhere (timers, services) it
  // returns once the broker acknowledged it (see faust_host_api::send).
  // Throws faust::sdk::Error with the host's message when the send failed.
  void send_to_agent(std::string_view agent, std::string_view value,
                     std::optional<std::string_view> key = std::nullopt, const Headers& headers = {}) const {
    const std::string name(agent);
    send(name.c_str(), nullptr, value, key, headers);
  }
  // Same, to a topic by name.
  void send_to_topic(std::string_view topic, std::string_view value,
                     std::optional<std::string_view> key = std::nullopt, const Headers& headers = {}) const {
    const std::string name(topic);
    send(nullptr, name.c_str(), value, key, headers);
  }

  // ABI 1.3. Waits until the broker acknowledged every send this handle() call made so far.
  // Throws faust::sdk::Error with the broker's reason when one was refused; the refusal is then the
  // caller's to handle (catch it to go on, let it propagate to fail the message).
  void await_sends() const {
    faust_error error{};
    if (api_->await_sends(context_, &error) != FAUST_OK) throw_host_error(error, "await_sends failed");
  }

  bool is_leader() const { return api_->is_leader(context_) != 0; }
  std::string_view app_id() const {
    const char* id = api_->app_id(context_);
    return id == nullptr ? std::string_view() : std::string_view(id);
  }

  // This instance's `config:` value for `key` from the manifest, or nullopt.
  std::optional<std::string> config(std::string_view key) const {
    const std::string name(key);
    const char* value = api_->config_get(context_, name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  }
  std::string config(std::string_view key, std::string_view default_value) const {
    std::optional<std::string> value = config(key);
    return value ? *value : std::string(default_value);
  }

  // ABI 1.1. Waits up to `timeout` for this instance to be asked to stop: in a service's lead(),
  // when its leadership term ends or the worker stops; elsewhere when the worker stops. True once
  // it is; a long-running call polls it and returns soon after.
  bool wait_for_stop(std::chrono::milliseconds timeout) const {
    const auto capped = std::min<std::chrono::milliseconds::rep>(std::max<std::chrono::milliseconds::rep>(timeout.count(), 0),
                                                                 UINT32_MAX);
    return api_->wait_for_stop(context_, static_cast<std::uint32_t>(capped)) != 0;
  }

  // ---- ABI 1.1: metrics and pages ----

  // A metric exported on /metrics with the label plugin="<this plugin>". Asking again for the
  // same name, kind and help returns the same series (every instance of an agent shares it).
  // Throws faust::sdk::Error when the host refuses: a name outside [a-zA-Z_][a-zA-Z0-9_]*, one
  // starting with "faust_" or "__", or one already used with another kind or help.
  Counter counter(std::string_view name, std::string_view help = {}) const {
    return Counter(api_, create_metric(FAUST_METRIC_COUNTER, name, help, {}));
  }
  Gauge gauge(std::string_view name, std::string_view help = {}) const {
    return Gauge(api_, create_metric(FAUST_METRIC_GAUGE, name, help, {}));
  }
  // `buckets`: upper bounds, strictly increasing; empty: the host's defaults (5 ms to 10 s).
  Histogram histogram(std::string_view name, std::string_view help = {}, const std::vector<double>& buckets = {}) const {
    return Histogram(api_, create_metric(FAUST_METRIC_HISTOGRAM, name, help, buckets));
  }

  // Serves GET /plugins/<plugin>/<path> with `handler` while this instance lives. `path`: segments
  // of [A-Za-z0-9._~-] separated by '/', no leading '/'. The handler runs on the host's page
  // threads, concurrently with this instance's other calls: guard what they share. What it
  // throws becomes a 500 with the exception's message. Throws faust::sdk::Error when refused.
  void page(std::string_view path, PageHandler handler) {
    auto slot = std::make_unique<detail::PageSlot>(detail::PageSlot{api_, std::move(handler)});
    const std::string text(path);
    faust_error error{};
    if (api_->page_register(context_, text.c_str(), &detail::serve_page, slot.get(), &error) != FAUST_OK) {
      throw_host_error(error, "page registration failed");
    }
    pages_.push_back(std::move(slot));
  }

  // ---- ABI 1.1: leader state ----
  // A key-value store of the leader, for leader work only (an on_leader tick, a leader-only
  // agent's handle, a service's elected and lead); elsewhere these throw faust::sdk::Error. A write
  // commits with the work's sends, or not at all (see faust_host_api.state_get).
  std::optional<std::string> state_get(std::string_view key) const {
    std::optional<std::string> found;
    faust_error error{};
    const auto visit = [](void* user, const void*, std::size_t, const void* value, std::size_t size) {
      static_cast<std::optional<std::string>*>(user)->emplace(static_cast<const char*>(value), size);
    };
    if (api_->state_get(context_, key.data(), key.size(), visit, &found, &error) != FAUST_OK) {
      throw_host_error(error, "state_get failed");
    }
    return found;
  }
  void state_put(std::string_view key, std::string_view value) const {
    faust_error error{};
    if (api_->state_put(context_, key.data(), key.size(), value.data(), value.size(), &error) != FAUST_OK) {
      throw_host_error(error, "state_put failed");
    }
  }
  void state_delete(std::string_view key) const {
    faust_error error{};
    if (api_->state_delete(context_, key.data(), key.size(), &error) != FAUST_OK) {
      throw_host_error(error, "state_delete failed");
    }
  }
  // Every entry whose key starts with `prefix`, in key order.
  std::vector<std::pair<std::string, std::string>> state_scan(std::string_view prefix) const {
    std::vector<std::pair<std::string, std::string>> entries;
    faust_error error{};
    const auto visit = [](void* user, const void* key, std::size_t key_size, const void* value, std::size_t size) {
      static_cast<std::vector<std::pair<std::string, std::string>>*>(user)->emplace_back(
          std::string(static_cast<const char*>(key), key_size), std::string(static_cast<const char*>(value), size));
    };
    if (api_->state_scan(context_, prefix.data(), prefix.size(), visit, &entries, &error) != FAUST_OK) {
      throw_host_error(error, "state_scan failed");
    }
    return entries;
  }

  const faust_host_api* api() const noexcept { return api_; }
  faust_host_context* context() const noexcept { return context_; }

 private:
  faust_metric* create_metric(faust_metric_kind kind, std::string_view name, std::string_view help,
                              const std::vector<double>& buckets) const {
    const std::string name_text(name);
    const std::string help_text(help);
    faust_metric_spec spec{};
    spec.struct_size = static_cast<std::uint32_t>(sizeof(faust_metric_spec));
    spec.kind = kind;
    spec.name = name_text.c_str();
    spec.help = help_text.c_str();
    spec.buckets = buckets.empty() ? nullptr : buckets.data();
    spec.bucket_count = buckets.size();
    faust_error error{};
    faust_metric* metric = api_->metric_create(context_, &spec, &error);
    if (metric == nullptr) throw_host_error(error, "metric creation failed");
    return metric;
  }

  [[noreturn]] static void throw_host_error(faust_error& error, const char* fallback) {
    error.message[FAUST_ERROR_MESSAGE_SIZE - 1] = '\0';
    throw Error(error.message[0] != '\0' ? error.message : fallback);
  }

  // Exactly one of agent and topic is non-null, as the ABI requires.
  void send(const char* agent, const char* topic, std::string_view value, std::optional<std::string_view> key,
            const Headers& headers) const {
    std::vector<faust_header> c_headers;
    c_headers.reserve(headers.size());
    for (const auto& [name, header_value] : headers) {
      c_headers.push_back(faust_header{name.c_str(), header_value.data(), header_value.size()});
    }
    faust_send_request request{};
    request.struct_size = static_cast<std::uint32_t>(sizeof(faust_send_request));
    request.agent = agent;
    request.topic = topic;
    if (key) {
      // An empty key is still a key: never pass NULL for it.
      request.key = key->data() == nullptr ? "" : key->data();
      request.key_size = key->size();
    }
    request.value = value.data() == nullptr ? "" : value.data();
    request.value_size = value.size();
    request.headers = c_headers.empty() ? nullptr : c_headers.data();
    request.header_count = c_headers.size();

    faust_error error{};
    if (api_->send(context_, &request, &error) != FAUST_OK) {
      error.message[FAUST_ERROR_MESSAGE_SIZE - 1] = '\0';
      throw Error(error.message[0] != '\0' ? error.message : "send failed");
    }
  }

  const faust_host_api* api_;
  faust_host_context* context_;
  // The page handlers registered; the host drops the registrations before the instance (and
  // this Host) is destroyed.
  std::vector<std::unique_ptr<detail::PageSlot>> pages_;
};

// Base of every agent: handle() is called once per message, never concurrently on one instance.
class Agent {
 public:
  virtual ~Agent() = default;
  virtual void handle(const Message& message) = 0;
};

// Base of an agent that also handles its messages in batches (ABI 1.2; the manifest's `batch:`
// sizes them): handle_batch() gets messages of one partition in offset order, and their offsets
// commit once it returns. If it throws, the batch is handled again message by message through
// handle(), and the agent's on_error applies to each message that fails alone.
class BatchAgent : public Agent {
 public:
  virtual void handle_batch(const std::vector<Message>& messages) = 0;
};

// Base of every timer: tick() is called once per interval, never concurrently on one instance.
class Timer {
 public:
  virtual ~Timer() = default;
  virtual void tick() = 0;
};

// The leadership term a service was elected for (ABI 1.1).
struct Term {
  std::int32_t generation = -1;  // the term's number (faust_term.generation): larger for every later term
  std::chrono::system_clock::time_point established_at{};
};

// Base of every service (ABI 1.1). Calls to one instance never overlap, in this order: start();
// per leadership term of this worker elected(), lead(), revoked(); stop() at shutdown. What
// elected() sends commits together, as one transaction; lead() is the term's long task and
// returns once host.wait_for_stop(...) says so. Every method does nothing unless overridden.
// An exception from start(), elected() or lead() is logged by the host as the call's failure;
// revoked() follows a failed elected() too.
class Service {
 public:
  virtual ~Service() = default;
  virtual void start() {}
  virtual void elected(const Term& /*term*/) {}
  virtual void lead() {}
  virtual void revoked() {}
  virtual void stop() {}
};

namespace detail {

inline void write_error(faust_error* error, const char* message) noexcept {
  abi::write_error(error, message == nullptr ? "" : message);
}

// Runs `body`, turning any exception into FAUST_ERROR plus its message.
template <typename Body>
faust_status guarded(faust_error* error, Body&& body) noexcept {
  try {
    body();
    return FAUST_OK;
  } catch (const std::exception& e) {
    write_error(error, e.what());
  } catch (...) {
    write_error(error, "unknown exception");
  }
  return FAUST_ERROR;
}

// One live agent/timer: the Host it was given and the author's object, destroyed together.
template <typename Component>
struct Instance {
  Instance(const faust_host_api* api, faust_host_context* context) : host(api, context), component(make()) {}

  Host host;
  Component component;

 private:
  Component make() {
    if constexpr (std::is_constructible_v<Component, Host&>) {
      return Component(host);
    } else {
      return Component();
    }
  }
};

template <typename Component>
void* create(const faust_host_api* api, faust_host_context* context, faust_error* error) noexcept {
  void* instance = nullptr;
  guarded(error, [&] { instance = new Instance<Component>(api, context); });
  return instance;
}

template <typename Component>
void destroy(void* instance) noexcept {
  delete static_cast<Instance<Component>*>(instance);
}

template <typename AgentType>
faust_status handle(void* instance, const faust_message* message, faust_error* error) noexcept {
  return guarded(error,
                 [&] { static_cast<Instance<AgentType>*>(instance)->component.handle(Message(*message)); });
}

template <typename AgentType>
faust_status handle_batch(void* instance, const faust_message* messages, std::size_t count,
                          faust_error* error) noexcept {
  return guarded(error, [&] {
    std::vector<Message> views;
    views.reserve(count);
    for (std::size_t i = 0; i < count; ++i) views.emplace_back(messages[i]);
    static_cast<Instance<AgentType>*>(instance)->component.handle_batch(views);
  });
}

template <typename TimerType>
faust_status tick(void* instance, faust_error* error) noexcept {
  return guarded(error, [&] { static_cast<Instance<TimerType>*>(instance)->component.tick(); });
}

template <typename ServiceType>
Service& service_of(void* instance) noexcept {
  return static_cast<Instance<ServiceType>*>(instance)->component;
}

template <typename ServiceType>
faust_status service_start(void* instance, faust_error* error) noexcept {
  return guarded(error, [&] { service_of<ServiceType>(instance).start(); });
}

template <typename ServiceType>
faust_status service_elected(void* instance, const faust_term* term, faust_error* error) noexcept {
  return guarded(error, [&] {
    Term view;
    view.generation = term->generation;
    view.established_at = std::chrono::system_clock::time_point(std::chrono::milliseconds(term->established_ms));
    service_of<ServiceType>(instance).elected(view);
  });
}

template <typename ServiceType>
faust_status service_lead(void* instance, faust_error* error) noexcept {
  return guarded(error, [&] { service_of<ServiceType>(instance).lead(); });
}

// revoked() and stop() report nothing to the host by the ABI: an exception is logged.
template <typename ServiceType, void (Service::*Call)()>
void service_notify(void* instance) noexcept {
  faust_error error{};
  if (guarded(&error, [&] { (service_of<ServiceType>(instance).*Call)(); }) != FAUST_OK) {
    static_cast<Instance<ServiceType>*>(instance)->host.error(error.message);
  }
}

// The definitions a plugin exports plus the pointer array the descriptor refers to. Lives in a
// function-local static, so the addresses stay valid for the life of the library.
template <typename Def, std::size_t N>
class DefTable {
 public:
  explicit DefTable(const std::array<Def, N>& defs) noexcept : defs_(defs) {
    std::size_t index = 0;
    for (const Def& def : defs_) pointers_[index++] = &def;
  }
  DefTable(const DefTable&) = delete;
  DefTable& operator=(const DefTable&) = delete;

  const Def* const* pointers() const noexcept { return N == 0 ? nullptr : pointers_.data(); }
  static constexpr std::size_t size() noexcept { return N; }

 private:
  std::array<Def, N> defs_;
  std::array<const Def*, N> pointers_{};
};

template <typename Def, std::size_t N>
DefTable(const std::array<Def, N>&) -> DefTable<Def, N>;

// What FAUST_AGENTS lists: an agent's definition, and its batch handling when it has one.
struct AgentEntry {
  faust_agent_def def;
  faust_agent_handle_batch_fn handle_batch;  // null unless the agent is a BatchAgent
};

template <typename... Entries>
constexpr std::array<AgentEntry, sizeof...(Entries)> agent_list(const Entries&... entries) noexcept {
  static_assert((std::is_same_v<Entries, AgentEntry> && ...),
                "FAUST_AGENTS takes faust::sdk::agent<T>(\"name\") entries");
  return {entries...};
}

// The agents' definitions and the batch definitions of those that have one, with the pointer
// arrays the descriptor refers to.
template <std::size_t N>
class AgentTable {
 public:
  explicit AgentTable(const std::array<AgentEntry, N>& entries) noexcept {
    for (std::size_t i = 0; i < N; ++i) {
      defs_[i] = entries[i].def;
      def_pointers_[i] = &defs_[i];
      if (entries[i].handle_batch == nullptr) continue;
      batches_[batch_count_] = faust_agent_batch_def{static_cast<std::uint32_t>(sizeof(faust_agent_batch_def)),
                                                     entries[i].def.name, entries[i].handle_batch};
      batch_pointers_[batch_count_] = &batches_[batch_count_];
      ++batch_count_;
    }
  }
  AgentTable(const AgentTable&) = delete;
  AgentTable& operator=(const AgentTable&) = delete;

  const faust_agent_def* const* pointers() const noexcept { return N == 0 ? nullptr : def_pointers_.data(); }
  static constexpr std::size_t size() noexcept { return N; }
  const faust_agent_batch_def* const* batch_pointers() const noexcept {
    return batch_count_ == 0 ? nullptr : batch_pointers_.data();
  }
  std::size_t batch_count() const noexcept { return batch_count_; }

 private:
  std::array<faust_agent_def, N> defs_{};
  std::array<const faust_agent_def*, N> def_pointers_{};
  std::array<faust_agent_batch_def, N> batches_{};
  std::array<const faust_agent_batch_def*, N> batch_pointers_{};
  std::size_t batch_count_ = 0;
};

template <std::size_t N>
AgentTable(const std::array<AgentEntry, N>&) -> AgentTable<N>;

template <typename... Defs>
constexpr std::array<faust_timer_def, sizeof...(Defs)> timer_list(const Defs&... defs) noexcept {
  static_assert((std::is_same_v<Defs, faust_timer_def> && ...),
                "FAUST_TIMERS takes faust::sdk::timer<T>(\"name\") entries");
  return {defs...};
}

template <typename... Defs>
constexpr std::array<faust_service_def, sizeof...(Defs)> service_list(const Defs&... defs) noexcept {
  static_assert((std::is_same_v<Defs, faust_service_def> && ...),
                "FAUST_SERVICES takes faust::sdk::service<T>(\"name\") entries");
  return {defs...};
}

template <typename Agents, typename Timers, typename Services>
faust_plugin_descriptor make_descriptor(const char* name, const char* version, const Agents& agents,
                                        const Timers& timers, const Services& services) noexcept {
  faust_plugin_descriptor descriptor{};
  descriptor.abi_major = FAUST_PLUGIN_ABI_MAJOR;
  descriptor.abi_minor = FAUST_PLUGIN_ABI_MINOR;
  descriptor.struct_size = static_cast<std::uint32_t>(sizeof(faust_plugin_descriptor));
  descriptor.name = name;
  descriptor.version = version;
  descriptor.agents = agents.pointers();
  descriptor.agent_count = agents.size();
  descriptor.timers = timers.pointers();
  descriptor.timer_count = timers.size();
  descriptor.services = services.pointers();
  descriptor.service_count = services.size();
  descriptor.agent_batches = agents.batch_pointers();
  descriptor.agent_batch_count = agents.batch_count();
  return descriptor;
}

}  // namespace detail

// An agent entry for FAUST_AGENTS: `name` is what the manifest's `agents:` refers to. A
// BatchAgent also gets its batch handling registered.
template <typename AgentType>
constexpr detail::AgentEntry agent(const char* name) noexcept {
  static_assert(std::is_base_of_v<Agent, AgentType>, "agent<T>: T must derive from faust::sdk::Agent");
  static_assert(std::is_constructible_v<AgentType, Host&> || std::is_default_constructible_v<AgentType>,
                "agent<T>: T needs a constructor taking faust::sdk::Host& (or a default constructor)");
  faust_agent_handle_batch_fn handle_batch = nullptr;
  if constexpr (std::is_base_of_v<BatchAgent, AgentType>) handle_batch = &detail::handle_batch<AgentType>;
  return detail::AgentEntry{
      faust_agent_def{name, &detail::create<AgentType>, &detail::destroy<AgentType>, &detail::handle<AgentType>},
      handle_batch};
}

// A timer entry for FAUST_TIMERS: `name` is what the manifest's `timers:` refers to.
template <typename TimerType>
constexpr faust_timer_def timer(const char* name) noexcept {
  static_assert(std::is_base_of_v<Timer, TimerType>, "timer<T>: T must derive from faust::sdk::Timer");
  static_assert(std::is_constructible_v<TimerType, Host&> || std::is_default_constructible_v<TimerType>,
                "timer<T>: T needs a constructor taking faust::sdk::Host& (or a default constructor)");
  return faust_timer_def{name, &detail::create<TimerType>, &detail::destroy<TimerType>,
                         &detail::tick<TimerType>};
}

// A service entry for FAUST_SERVICES: `name` is what the manifest's `services:` refers to.
template <typename ServiceType>
constexpr faust_service_def service(const char* name) noexcept {
  static_assert(std::is_base_of_v<Service, ServiceType>, "service<T>: T must derive from faust::sdk::Service");
  static_assert(std::is_constructible_v<ServiceType, Host&> || std::is_default_constructible_v<ServiceType>,
                "service<T>: T needs a constructor taking faust::sdk::Host& (or a default constructor)");
  return faust_service_def{static_cast<std::uint32_t>(sizeof(faust_service_def)),
                           name,
                           &detail::create<ServiceType>,
                           &detail::destroy<ServiceType>,
                           &detail::service_start<ServiceType>,
                           &detail::service_notify<ServiceType, &Service::stop>,
                           &detail::service_elected<ServiceType>,
                           &detail::service_lead<ServiceType>,
                           &detail::service_notify<ServiceType, &Service::revoked>};
}

}  // namespace faust::sdk

// The agents a plugin provides: FAUST_AGENTS(faust::sdk::agent<A>("a"), ...), or FAUST_AGENTS().
#define FAUST_AGENTS(...) ::faust::sdk::detail::agent_list(__VA_ARGS__)
// The timers a plugin provides: FAUST_TIMERS(faust::sdk::timer<T>("t"), ...), or FAUST_TIMERS().
#define FAUST_TIMERS(...) ::faust::sdk::detail::timer_list(__VA_ARGS__)
// The services a plugin provides (ABI 1.1): FAUST_SERVICES(faust::sdk::service<S>("s"), ...).
#define FAUST_SERVICES(...) ::faust::sdk::detail::service_list(__VA_ARGS__)

// Defines the plugin's exported entry point. Use once per plugin, at namespace scope, followed by
// a semicolon. (Declared first so -Wmissing-prototypes stays quiet.)
#define FAUST_PLUGIN_WITH_SERVICES(name, version, agents, timers, services)                               \
  extern "C" FAUST_PLUGIN_EXPORT const faust_plugin_descriptor* FAUST_PLUGIN_ENTRY_SYMBOL(void);           \
  extern "C" FAUST_PLUGIN_EXPORT const faust_plugin_descriptor* FAUST_PLUGIN_ENTRY_SYMBOL(void) {          \
    static const ::faust::sdk::detail::AgentTable faust_plugin_agents_(agents);                            \
    static const ::faust::sdk::detail::DefTable faust_plugin_timers_(timers);                              \
    static const ::faust::sdk::detail::DefTable faust_plugin_services_(services);                          \
    static const faust_plugin_descriptor faust_plugin_descriptor_ = ::faust::sdk::detail::make_descriptor( \
        (name), (version), faust_plugin_agents_, faust_plugin_timers_, faust_plugin_services_);            \
    return &faust_plugin_descriptor_;                                                                      \
  }                                                                                                        \
  static_assert(true, "FAUST_PLUGIN(...) ends with a semicolon")

// A plugin without services.
#define FAUST_PLUGIN(name, version, agents, timers) \
  FAUST_PLUGIN_WITH_SERVICES(name, version, agents, timers, FAUST_SERVICES())
