// faust-host plugin SDK: a header-only C++ layer over the C ABI in faust/plugin.h.
//
// A plugin author writes one class per agent (derived from faust::sdk::Agent), timer (derived
// from faust::sdk::Timer) or service (derived from faust::sdk::Service, ABI 1.1), reaches the
// host through host() (or a constructor taking `faust::sdk::Host&`), and ends the file with one
// macro listing them:
//
//   struct SayAgent : faust::sdk::Agent {
//     void handle(const faust::sdk::Message& message) override { host().info(message.value()); }
//   };
//
//   FAUST_PLUGIN("say", "1.0.0", faust::sdk::agent<SayAgent>());
//
// A component listed without a name takes the plugin's; a manifest entry uses the component of
// its own name or, when the library has one of the kind only, that one. A plugin-wide part
// (faust::sdk::Shared, ABI 1.4) holds what all instances share: pages, metrics, state. The older
// forms FAUST_PLUGIN(name, version, FAUST_AGENTS(...), FAUST_TIMERS(...)) and
// FAUST_PLUGIN_WITH_SERVICES(..., FAUST_SERVICES(...)) still work.
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

  // ABI 1.4. The plugin-wide part, faust::sdk::shared<SharedType>() in FAUST_PLUGIN: one object
  // for every instance of the plugin in this worker. Throws faust::sdk::Error when the plugin has
  // none, has one of another type, or from the part's own constructor.
  template <typename SharedType>
  SharedType& shared() const;

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

namespace detail {

// The Host of the instance being created on this thread, for Component's constructor.
inline Host*& constructing_host() noexcept {
  static thread_local Host* host = nullptr;
  return host;
}

// Sets constructing_host() while an instance's object is constructed.
class ConstructionScope {
 public:
  explicit ConstructionScope(Host& host) noexcept : previous_(constructing_host()) { constructing_host() = &host; }
  ~ConstructionScope() { constructing_host() = previous_; }
  ConstructionScope(const ConstructionScope&) = delete;
  ConstructionScope& operator=(const ConstructionScope&) = delete;

 private:
  Host* previous_;
};

}  // namespace detail

// What every agent, timer, service and plugin-wide part derives from: host() is the Host of the
// instance, usable from the constructor on (and in default member initializers), as long as the
// SDK creates the object.
class Component {
 public:
  virtual ~Component() = default;

  Host& host() const {
    if (host_ == nullptr) throw Error("host() is only available in objects the plugin SDK created");
    return *host_;
  }

 protected:
  Component() noexcept : host_(detail::constructing_host()) {}
  Component(const Component&) = default;
  Component& operator=(const Component&) = default;

 private:
  Host* host_;
};

// Base of every agent: handle() is called once per message, never concurrently on one instance.
class Agent : public Component {
 public:
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
class Timer : public Component {
 public:
  virtual void tick() = 0;
};

// Base of the plugin-wide part (ABI 1.4): one object per loaded plugin and worker, created before
// any agent, timer or service instance and destroyed after the last one. Register pages and
// metrics that describe the whole plugin here (its host() belongs to the plugin, not to one
// instance), and keep what instances share; every instance reaches it with
// host().shared<T>(). Pages and instances call it from several threads at once: guard what it
// holds (a mutex, atomics).
class Shared : public Component {};

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
class Service : public Component {
 public:
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

// One live agent/timer/service: the Host it was given and the author's object, destroyed together.
template <typename Object>
struct Instance {
  Instance(const faust_host_api* api, faust_host_context* context) : host(api, context), component(make()) {}

  Host host;
  Object component;

 private:
  Object make() {
    const ConstructionScope scope(host);
    if constexpr (std::is_constructible_v<Object, Host&>) {
      return Object(host);
    } else {
      return Object();
    }
  }
};

template <typename Object>
void* create(const faust_host_api* api, faust_host_context* context, faust_error* error) noexcept {
  void* instance = nullptr;
  guarded(error, [&] { instance = new Instance<Object>(api, context); });
  return instance;
}

template <typename Object>
void destroy(void* instance) noexcept {
  delete static_cast<Instance<Object>*>(instance);
}

// ---- ABI 1.4: the plugin-wide part ----

// One address per type within the plugin: tells Host::shared<T>() which type the part has.
template <typename T>
inline constexpr char kTypeTag = 0;

// What faust_host_api.shared_object returns points at one of these.
struct SharedHolder {
  const void* type;
  Shared* object;
};

template <typename SharedType>
struct SharedInstance : SharedHolder {
  SharedInstance(const faust_host_api* api, faust_host_context* context)
      : SharedHolder{&kTypeTag<SharedType>, nullptr}, instance(api, context) {
    object = &instance.component;
  }
  Instance<SharedType> instance;
};

template <typename SharedType>
void* create_shared(const faust_host_api* api, faust_host_context* context, faust_error* error) noexcept {
  SharedHolder* holder = nullptr;
  guarded(error, [&] { holder = new SharedInstance<SharedType>(api, context); });
  return holder;
}

template <typename SharedType>
void destroy_shared(void* holder) noexcept {
  delete static_cast<SharedInstance<SharedType>*>(static_cast<SharedHolder*>(holder));
}

}  // namespace detail

template <typename SharedType>
SharedType& Host::shared() const {
  static_assert(std::is_base_of_v<Shared, SharedType>, "shared<T>: T must derive from faust::sdk::Shared");
  const auto* holder = static_cast<const detail::SharedHolder*>(api_->shared_object(context_));
  if (holder == nullptr || holder->object == nullptr) {
    throw Error("the plugin has no plugin-wide part (list faust::sdk::shared<T>() in FAUST_PLUGIN), or it is "
                "still being created");
  }
  if (holder->type != &detail::kTypeTag<SharedType>) throw Error("the plugin-wide part is of another type");
  return static_cast<SharedType&>(*holder->object);
}

namespace detail {

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

// What FAUST_AGENTS lists: an agent's definition, and its batch handling when it has one.
struct AgentEntry {
  faust_agent_def def;
  faust_agent_handle_batch_fn handle_batch;  // null unless the agent is a BatchAgent
};

// What faust::sdk::shared<T>() gives FAUST_PLUGIN (ABI 1.4).
struct SharedEntry {
  faust_shared_def def;
};

template <typename... Entries>
constexpr std::array<AgentEntry, sizeof...(Entries)> agent_list(const Entries&... entries) noexcept {
  static_assert((std::is_same_v<Entries, AgentEntry> && ...),
                "FAUST_AGENTS takes faust::sdk::agent<T>(\"name\") entries");
  return {entries...};
}

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

// How many entries of type Entry one argument of FAUST_PLUGIN holds: an entry, or a list of them.
template <typename Entry, typename Arg>
struct EntryCount : std::integral_constant<std::size_t, 0> {};
template <typename Entry>
struct EntryCount<Entry, Entry> : std::integral_constant<std::size_t, 1> {};
template <typename Entry, std::size_t N>
struct EntryCount<Entry, std::array<Entry, N>> : std::integral_constant<std::size_t, N> {};

template <typename Arg>
struct IsPluginArgument
    : std::bool_constant<std::is_same_v<Arg, AgentEntry> || std::is_same_v<Arg, faust_timer_def> ||
                         std::is_same_v<Arg, faust_service_def> || std::is_same_v<Arg, SharedEntry>> {};
template <typename Entry, std::size_t N>
struct IsPluginArgument<std::array<Entry, N>> : IsPluginArgument<Entry> {};

// Everything FAUST_PLUGIN exports: the definitions, the pointer arrays and the descriptor that
// refers to them. Lives in a function-local static, so the addresses stay valid for the life of
// the library. A component listed without a name takes the plugin's.
template <typename... Args>
class PluginTable {
  static constexpr std::size_t kAgents = (EntryCount<AgentEntry, Args>::value + ... + 0);
  static constexpr std::size_t kTimers = (EntryCount<faust_timer_def, Args>::value + ... + 0);
  static constexpr std::size_t kServices = (EntryCount<faust_service_def, Args>::value + ... + 0);
  static_assert((IsPluginArgument<Args>::value && ...),
                "FAUST_PLUGIN(name, version, ...) takes faust::sdk::agent<T>(), timer<T>(), service<T>() and "
                "shared<T>() entries, or FAUST_AGENTS/FAUST_TIMERS/FAUST_SERVICES lists");
  static_assert((EntryCount<SharedEntry, Args>::value + ... + 0) <= 1,
                "FAUST_PLUGIN takes one faust::sdk::shared<T>() at most");

 public:
  PluginTable(const char* name, const char* version, const Args&... args) noexcept : plugin_(name) {
    (add(args), ...);
    descriptor_.abi_major = FAUST_PLUGIN_ABI_MAJOR;
    descriptor_.abi_minor = FAUST_PLUGIN_ABI_MINOR;
    descriptor_.struct_size = static_cast<std::uint32_t>(sizeof(faust_plugin_descriptor));
    descriptor_.name = name;
    descriptor_.version = version;
    descriptor_.agents = kAgents == 0 ? nullptr : agent_pointers_.data();
    descriptor_.agent_count = kAgents;
    descriptor_.timers = kTimers == 0 ? nullptr : timer_pointers_.data();
    descriptor_.timer_count = kTimers;
    descriptor_.services = kServices == 0 ? nullptr : service_pointers_.data();
    descriptor_.service_count = kServices;
    descriptor_.agent_batches = batch_count_ == 0 ? nullptr : batch_pointers_.data();
    descriptor_.agent_batch_count = batch_count_;
    descriptor_.shared = shared_.create == nullptr ? nullptr : &shared_;
  }
  PluginTable(const PluginTable&) = delete;
  PluginTable& operator=(const PluginTable&) = delete;

  const faust_plugin_descriptor* descriptor() const noexcept { return &descriptor_; }

 private:
  const char* name_or_plugin(const char* name) const noexcept { return name == nullptr ? plugin_ : name; }

  void add(const AgentEntry& entry) noexcept {
    faust_agent_def& def = agents_[agent_count_];
    def = entry.def;
    def.name = name_or_plugin(def.name);
    agent_pointers_[agent_count_++] = &def;
    if (entry.handle_batch == nullptr) return;
    batches_[batch_count_] =
        faust_agent_batch_def{static_cast<std::uint32_t>(sizeof(faust_agent_batch_def)), def.name, entry.handle_batch};
    batch_pointers_[batch_count_] = &batches_[batch_count_];
    ++batch_count_;
  }
  void add(const faust_timer_def& entry) noexcept {
    faust_timer_def& def = timers_[timer_count_];
    def = entry;
    def.name = name_or_plugin(def.name);
    timer_pointers_[timer_count_++] = &def;
  }
  void add(const faust_service_def& entry) noexcept {
    faust_service_def& def = services_[service_count_];
    def = entry;
    def.name = name_or_plugin(def.name);
    service_pointers_[service_count_++] = &def;
  }
  void add(const SharedEntry& entry) noexcept { shared_ = entry.def; }
  template <typename Entry, std::size_t N>
  void add(const std::array<Entry, N>& entries) noexcept {
    for (const Entry& entry : entries) add(entry);
  }

  const char* plugin_;
  std::array<faust_agent_def, kAgents> agents_{};
  std::array<const faust_agent_def*, kAgents> agent_pointers_{};
  std::size_t agent_count_ = 0;
  std::array<faust_agent_batch_def, kAgents> batches_{};
  std::array<const faust_agent_batch_def*, kAgents> batch_pointers_{};
  std::size_t batch_count_ = 0;
  std::array<faust_timer_def, kTimers> timers_{};
  std::array<const faust_timer_def*, kTimers> timer_pointers_{};
  std::size_t timer_count_ = 0;
  std::array<faust_service_def, kServices> services_{};
  std::array<const faust_service_def*, kServices> service_pointers_{};
  std::size_t service_count_ = 0;
  faust_shared_def shared_{};
  faust_plugin_descriptor descriptor_{};
};

template <typename... Args>
PluginTable(const char*, const char*, const Args&...) -> PluginTable<Args...>;

}  // namespace detail

// An agent entry for FAUST_PLUGIN (or FAUST_AGENTS): `name` is what the manifest's `agents:`
// refers to; without one, the plugin's name. A BatchAgent also gets its batch handling registered.
template <typename AgentType>
constexpr detail::AgentEntry agent(const char* name = nullptr) noexcept {
  static_assert(std::is_base_of_v<Agent, AgentType>, "agent<T>: T must derive from faust::sdk::Agent");
  static_assert(std::is_constructible_v<AgentType, Host&> || std::is_default_constructible_v<AgentType>,
                "agent<T>: T needs a constructor taking faust::sdk::Host& (or a default constructor)");
  faust_agent_handle_batch_fn handle_batch = nullptr;
  if constexpr (std::is_base_of_v<BatchAgent, AgentType>) handle_batch = &detail::handle_batch<AgentType>;
  return detail::AgentEntry{
      faust_agent_def{name, &detail::create<AgentType>, &detail::destroy<AgentType>, &detail::handle<AgentType>},
      handle_batch};
}

// A timer entry for FAUST_PLUGIN (or FAUST_TIMERS): `name` is what the manifest's `timers:` refers
// to; without one, the plugin's name.
template <typename TimerType>
constexpr faust_timer_def timer(const char* name = nullptr) noexcept {
  static_assert(std::is_base_of_v<Timer, TimerType>, "timer<T>: T must derive from faust::sdk::Timer");
  static_assert(std::is_constructible_v<TimerType, Host&> || std::is_default_constructible_v<TimerType>,
                "timer<T>: T needs a constructor taking faust::sdk::Host& (or a default constructor)");
  return faust_timer_def{name, &detail::create<TimerType>, &detail::destroy<TimerType>,
                         &detail::tick<TimerType>};
}

// A service entry for FAUST_PLUGIN (or FAUST_SERVICES): `name` is what the manifest's `services:`
// refers to; without one, the plugin's name.
template <typename ServiceType>
constexpr faust_service_def service(const char* name = nullptr) noexcept {
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

// The plugin-wide part for FAUST_PLUGIN (ABI 1.4): one SharedType per loaded plugin and worker,
// reached from every instance with host().shared<SharedType>().
template <typename SharedType>
constexpr detail::SharedEntry shared() noexcept {
  static_assert(std::is_base_of_v<Shared, SharedType>, "shared<T>: T must derive from faust::sdk::Shared");
  static_assert(std::is_constructible_v<SharedType, Host&> || std::is_default_constructible_v<SharedType>,
                "shared<T>: T needs a constructor taking faust::sdk::Host& (or a default constructor)");
  return detail::SharedEntry{faust_shared_def{static_cast<std::uint32_t>(sizeof(faust_shared_def)),
                                              &detail::create_shared<SharedType>,
                                              &detail::destroy_shared<SharedType>}};
}

}  // namespace faust::sdk

// Lists for the older form FAUST_PLUGIN(name, version, FAUST_AGENTS(...), FAUST_TIMERS(...)).
#define FAUST_AGENTS(...) ::faust::sdk::detail::agent_list(__VA_ARGS__)
#define FAUST_TIMERS(...) ::faust::sdk::detail::timer_list(__VA_ARGS__)
#define FAUST_SERVICES(...) ::faust::sdk::detail::service_list(__VA_ARGS__)

// Defines the plugin's exported entry point: FAUST_PLUGIN(name, version, components...), where a
// component is faust::sdk::agent<T>(), timer<T>(), service<T>() (each with an optional name) or
// shared<T>(), in any order, or a FAUST_AGENTS/FAUST_TIMERS/FAUST_SERVICES list. Use once per
// plugin, at namespace scope, followed by a semicolon. (Declared first so -Wmissing-prototypes
// stays quiet.)
#define FAUST_PLUGIN(name, version, ...)                                                                \
  extern "C" FAUST_PLUGIN_EXPORT const faust_plugin_descriptor* FAUST_PLUGIN_ENTRY_SYMBOL(void);        \
  extern "C" FAUST_PLUGIN_EXPORT const faust_plugin_descriptor* FAUST_PLUGIN_ENTRY_SYMBOL(void) {       \
    static const ::faust::sdk::detail::PluginTable faust_plugin_table_((name), (version), __VA_ARGS__); \
    return faust_plugin_table_.descriptor();                                                            \
  }                                                                                                     \
  static_assert(true, "FAUST_PLUGIN(...) ends with a semicolon")

// The older form with services: the same as FAUST_PLUGIN.
#define FAUST_PLUGIN_WITH_SERVICES(name, version, agents, timers, services) \
  FAUST_PLUGIN(name, version, agents, timers, services)
