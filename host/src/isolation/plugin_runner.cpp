#include "isolation/plugin_runner.h"

#include <poll.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/plugin_metric.h"
#include "isolation/frame.h"
#include "plugins/agent_instance.h"
#include "plugins/loaded_components.h"
#include "plugins/plugin_library.h"
#include "plugins/service_instance.h"
#include "plugins/timer_instance.h"

namespace faust::isolation {
namespace {

// What the runner holds outside a call before it drops log lines and metric updates made by a
// plugin's own threads: the worker reads them only with its next call.
constexpr std::size_t kMaxPendingOutsideCalls = 1024 * 1024;

[[noreturn]] void protocol_failure(const char* what) {
  std::fprintf(stderr, "faust-host plugin-runner: %s\n", what);
  std::_Exit(2);
}

class RemoteHostServices;

// A metric of the worker, reached by its id; updates ride along with the runner's next frame.
class RemoteMetric final : public faust_metric {
 public:
  RemoteMetric(RemoteHostServices& services, std::uint32_t id) : services_(services), id_(id) {}
  void add(double value) noexcept override;
  void set(double value) noexcept override;

 private:
  RemoteHostServices& services_;
  std::uint32_t id_;
};

// The worker's host services as the plugin in this process sees them: each call is a frame the
// worker answers while it waits on a handler call (or on the create).
class RemoteHostServices final : public HostServices {
 public:
  RemoteHostServices(Channel& channel, std::string app_id, std::uint8_t lowest_level)
      : channel_(channel), app_id_(std::move(app_id)), lowest_level_(lowest_level) {}

  void log(const ComponentRef& /*from*/, faust_log_level level, std::string_view message) override {
    if (static_cast<std::uint8_t>(level) < lowest_level_) return;
    std::lock_guard lock(mutex_);
    if (!in_call_ && pending_.size() > kMaxPendingOutsideCalls) return;
    FrameWriter out(pending_, FrameType::kLog);
    out.u8(static_cast<std::uint8_t>(level)).bytes(message);
    out.finish();
    // In a call, at once: the line a plugin logs right before it crashes is the one to keep.
    if (in_call_) write_pending();
  }

  Status send(const ComponentRef& /*from*/, OutgoingMessage message) override {
    std::string request;
    FrameWriter out(request, FrameType::kCall);
    out.u8(static_cast<std::uint8_t>(HostCall::kSend)).bytes(message.agent).bytes(message.topic);
    out.u8(message.key ? 1 : 0);
    if (message.key) out.bytes(*message.key);
    out.bytes(message.value).u32(static_cast<std::uint32_t>(message.headers.size()));
    for (const auto& [key, value] : message.headers) out.bytes(key).bytes(value);
    out.finish();
    return status_call(request);
  }

  Status await_sends(const ComponentRef& /*from*/) override {
    std::string request;
    FrameWriter(request, FrameType::kCall).u8(static_cast<std::uint8_t>(HostCall::kAwaitSends)).finish();
    return status_call(request);
  }

  bool is_leader() const override {
    std::string request;
    FrameWriter(request, FrameType::kCall).u8(static_cast<std::uint8_t>(HostCall::kIsLeader)).finish();
    const std::optional<std::string> reply = call(request);
    return reply && !reply->empty() && (*reply)[0] == 1;
  }

  const std::string& app_id() const override { return app_id_; }

  bool wait_for_stop(const ComponentRef& /*from*/, std::chrono::milliseconds timeout) override {
    std::string request;
    FrameWriter out(request, FrameType::kCall);
    out.u8(static_cast<std::uint8_t>(HostCall::kWaitForStop));
    out.u32(static_cast<std::uint32_t>(std::clamp<std::int64_t>(timeout.count(), 0, UINT32_MAX)));
    out.finish();
    const std::optional<std::string> reply = call(request);
    return !reply || reply->empty() || (*reply)[0] == 1;  // cannot wait: tell the caller to stop
  }

  Result<faust_metric*> create_metric(const ComponentRef& /*from*/, const faust_metric_spec& spec) override {
    std::string request;
    FrameWriter out(request, FrameType::kCall);
    out.u8(static_cast<std::uint8_t>(HostCall::kMetricCreate)).u8(static_cast<std::uint8_t>(spec.kind));
    out.bytes(spec.name != nullptr ? spec.name : "").u8(spec.help != nullptr ? 1 : 0);
    if (spec.help != nullptr) out.bytes(spec.help);
    const std::size_t buckets = spec.buckets != nullptr ? spec.bucket_count : 0;
    out.u32(static_cast<std::uint32_t>(buckets));
    for (std::size_t i = 0; i < buckets; ++i) out.f64(spec.buckets[i]);
    out.finish();
    const std::optional<std::string> reply = call(request);
    if (!reply) return not_answered();
    FrameReader in(*reply);
    if (in.u8() != 1) return Error{ExitCode::kFailure, std::string(in.bytes())};
    const std::uint32_t id = in.u32();
    std::lock_guard lock(metrics_mutex_);
    while (metrics_.size() <= id) metrics_.emplace_back();
    if (!metrics_[id]) metrics_[id] = std::make_unique<RemoteMetric>(*this, id);
    return static_cast<faust_metric*>(metrics_[id].get());
  }

  Result<std::optional<std::string>> state_get(const ComponentRef& /*from*/, std::string_view key) override {
    std::string request;
    FrameWriter(request, FrameType::kCall).u8(static_cast<std::uint8_t>(HostCall::kStateGet)).bytes(key).finish();
    const std::optional<std::string> reply = call(request);
    if (!reply) return not_answered();
    FrameReader in(*reply);
    if (in.u8() != 1) return Error{ExitCode::kFailure, std::string(in.bytes())};
    const bool found = in.u8() == 1;
    std::string value(in.bytes());
    if (!found) return std::optional<std::string>();
    return std::optional<std::string>(std::move(value));
  }

  Status state_put(const ComponentRef& /*from*/, std::string_view key, std::string_view value) override {
    std::string request;
    FrameWriter(request, FrameType::kCall).u8(static_cast<std::uint8_t>(HostCall::kStatePut)).bytes(key).bytes(value).finish();
    return status_call(request);
  }

  Status state_delete(const ComponentRef& /*from*/, std::string_view key) override {
    std::string request;
    FrameWriter(request, FrameType::kCall).u8(static_cast<std::uint8_t>(HostCall::kStateDelete)).bytes(key).finish();
    return status_call(request);
  }

  Result<StateEntries> state_scan(const ComponentRef& /*from*/, std::string_view prefix) override {
    std::string request;
    FrameWriter(request, FrameType::kCall).u8(static_cast<std::uint8_t>(HostCall::kStateScan)).bytes(prefix).finish();
    const std::optional<std::string> reply = call(request);
    if (!reply) return not_answered();
    FrameReader in(*reply);
    if (in.u8() != 1) return Error{ExitCode::kFailure, std::string(in.bytes())};
    StateEntries entries(std::min<std::uint32_t>(in.u32(), 1U << 20));
    for (auto& [key, value] : entries) {
      key = in.bytes();
      value = in.bytes();
    }
    if (!in.done()) protocol_failure("malformed state entries");
    return entries;
  }

  Result<std::shared_ptr<void>> register_page(const ComponentRef& /*from*/, const std::string& path,
                                              PageHandler /*handler*/) override {
    return Error{ExitCode::kFailure, "page " + path + ": pages are not available with isolation: process"};
  }

  void metric_update(std::uint32_t id, MetricOp op, double value) {
    std::lock_guard lock(mutex_);
    if (!in_call_ && pending_.size() > kMaxPendingOutsideCalls) return;
    FrameWriter out(pending_, FrameType::kMetric);
    out.u32(id).u8(static_cast<std::uint8_t>(op)).f64(value);
    out.finish();
  }

  // Host calls are answered from here until end_call.
  void begin_call() {
    std::lock_guard lock(mutex_);
    in_call_ = true;
  }

  // Writes what is pending and then the call's answer `frame`.
  void end_call(const std::string& frame) {
    std::lock_guard lock(mutex_);
    in_call_ = false;
    pending_ += frame;
    write_pending();
  }

 private:
  static Error not_answered() {
    return Error{ExitCode::kFailure, "isolation: process: the worker answers host calls only during the plugin's "
                                     "create and handler calls"};
  }

  Status status_call(const std::string& request) {
    const std::optional<std::string> reply = call(request);
    if (!reply) return not_answered();
    FrameReader in(*reply);
    if (in.u8() == 1) return ok_status();
    return Error{ExitCode::kFailure, std::string(in.bytes())};
  }

  // Writes `request` after what is pending and waits for the worker's kReply; its payload, or
  // nullopt outside a call. Calls from several plugin threads take turns.
  std::optional<std::string> call(const std::string& request) const {
    std::lock_guard lock(mutex_);
    if (!in_call_) return std::nullopt;
    pending_ += request;
    write_pending();
    Frame frame;
    const Channel::Read read = channel_.read(frame);
    if (read == Channel::Read::kClosed) std::_Exit(0);  // the worker is gone, or gave up on us
    if (read != Channel::Read::kFrame || frame.type != FrameType::kReply) protocol_failure("expected a reply");
    return std::string(frame.payload);
  }

  void write_pending() const {
    if (pending_.empty()) return;
    if (!channel_.write(pending_)) std::_Exit(0);  // the worker is gone
    pending_.clear();
  }

  Channel& channel_;
  const std::string app_id_;
  const std::uint8_t lowest_level_;
  mutable std::mutex mutex_;
  mutable std::string pending_;  // frames to write before the next one
  bool in_call_ = false;
  std::mutex metrics_mutex_;
  std::vector<std::unique_ptr<RemoteMetric>> metrics_;
};

void RemoteMetric::add(double value) noexcept { services_.metric_update(id_, MetricOp::kAdd, value); }
void RemoteMetric::set(double value) noexcept { services_.metric_update(id_, MetricOp::kSet, value); }

// What kInit asks for.
struct Init {
  ComponentRef::Kind kind = ComponentRef::Kind::kAgent;
  std::string library_file;
  std::string definition;  // the plugin's agent, timer or service definition
  std::string entry;       // the manifest's entry name
  std::string plugin;      // the plugin's name
  std::string app_id;
  std::uint8_t lowest_level = FAUST_LOG_INFO;
  ConfigMap config;
};

std::optional<Init> read_init(std::string_view payload) {
  FrameReader in(payload);
  Init init;
  const std::uint8_t kind = in.u8();
  if (kind > static_cast<std::uint8_t>(ComponentRef::Kind::kService)) return std::nullopt;
  init.kind = static_cast<ComponentRef::Kind>(kind);
  init.library_file = in.bytes();
  init.definition = in.bytes();
  init.entry = in.bytes();
  init.plugin = in.bytes();
  init.app_id = in.bytes();
  init.lowest_level = in.u8();
  const std::uint32_t entries = in.u32();
  for (std::uint32_t i = 0; i < entries && in.ok(); ++i) {
    std::string key(in.bytes());
    init.config.emplace(std::move(key), std::string(in.bytes()));
  }
  if (!in.done()) return std::nullopt;
  return init;
}

// The instance with what it needs, destroyed in reverse: the instance (one of the three), then
// the plugin-wide part, then the library.
struct Created {
  std::shared_ptr<const PluginLibrary> library;
  std::shared_ptr<const PluginInstance> shared;
  std::unique_ptr<AgentInstance> agent;
  std::unique_ptr<TimerInstance> timer;
  std::unique_ptr<ServiceInstance> service;

  // The kReady flag: whether an agent handles batches, whether a service has lead.
  bool flag() const { return agent ? agent->handles_batches() : service ? service->has_lead() : false; }
};

// The instance of `def` (the definition the plugin provides under init's name, or null), after
// the plugin-wide part it holds: a missing definition is refused before any plugin code runs.
template <typename Instance, typename Def>
Result<std::unique_ptr<Instance>> create_instance(Created& created, const Init& init, const Def* def,
                                                  HostServices& services) {
  if (def == nullptr) {
    return Error{ExitCode::kPluginNameUnknown, "plugin " + init.library_file + " provides no " +
                                                   component_kind_name(init.kind) + " '" + init.definition + "'"};
  }
  auto shared = create_shared_part(created.library, services);
  if (!shared) return shared.error();
  created.shared = std::move(*shared);
  ComponentRef component;
  component.kind = init.kind;
  component.name = init.entry;
  component.plugin = init.plugin;
  auto instance = Instance::create(created.library, *def, services, std::move(component), init.config, created.shared);
  if (!instance) return instance.error();
  return std::make_unique<Instance>(std::move(*instance));
}

Result<Created> create(const Init& init, HostServices& services) {
  Created created;
  auto library = PluginLibrary::open(init.library_file);
  if (!library) return library.error();
  created.library = *library;
  const PluginLibrary& plugin = *created.library;
  switch (init.kind) {
    case ComponentRef::Kind::kTimer: {
      auto timer = create_instance<TimerInstance>(created, init, plugin.find_timer(init.definition), services);
      if (!timer) return timer.error();
      created.timer = std::move(*timer);
      return created;
    }
    case ComponentRef::Kind::kService: {
      auto service = create_instance<ServiceInstance>(created, init, plugin.find_service(init.definition), services);
      if (!service) return service.error();
      created.service = std::move(*service);
      return created;
    }
    default: {
      auto agent = create_instance<AgentInstance>(created, init, plugin.find_agent(init.definition), services);
      if (!agent) return agent.error();
      created.agent = std::move(*agent);
      return created;
    }
  }
}

// One kHandle: the messages to the agent, in a batch or one by one up to the first that fails.
Status handle(AgentInstance& agent, std::string_view frame, std::string& payload, std::vector<IncomingMessage>& messages,
              std::vector<Headers>& headers) {
  // The messages are views into a copy of their frame: the channel's buffer moves when the
  // plugin's host calls read their replies.
  payload.assign(frame);
  FrameReader in(payload);
  const bool batch = in.u8() == 1;
  if (!read_messages(in, messages, headers) || (!batch && messages.size() != 1)) protocol_failure("malformed messages");
  if (batch && agent.handles_batches()) return agent.handle_batch(messages);
  for (const IncomingMessage& message : messages) {
    if (Status status = agent.handle(message); !status) return status;
  }
  return ok_status();
}

// One kService: the callback it names.
Status call_service(ServiceInstance& service, std::string_view frame) {
  FrameReader in(frame);
  switch (static_cast<ServiceCallback>(in.u8())) {
    case ServiceCallback::kStart:
      if (in.done()) return service.start();
      break;
    case ServiceCallback::kElected: {
      ServiceTerm term;
      term.generation = in.i32();
      term.established_at = std::chrono::system_clock::time_point(std::chrono::milliseconds(in.i64()));
      if (in.done()) return service.elected(term);
      break;
    }
    case ServiceCallback::kLead:
      if (in.done()) return service.lead();
      break;
    case ServiceCallback::kRevoked:
      if (in.done()) return service.revoked();
      break;
    case ServiceCallback::kStop:
      if (in.done()) return service.stop();
      break;
  }
  protocol_failure("malformed service call");
}

// Ends this process as soon as the worker's end of the socket closes, even while a plugin call
// runs (or hangs): a runner never outlives its worker.
void watch_worker(int fd) {
  std::thread([fd] {
    pollfd watched{fd, POLLRDHUP, 0};
    while (true) {
      if (::poll(&watched, 1, -1) > 0 && (watched.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) std::_Exit(0);
    }
  }).detach();
}

}  // namespace

int run_plugin_runner(int fd) {
  // Signals meant for the worker (a terminal's Ctrl-C reaches the whole process group, systemd
  // signals the whole unit) must not end the runner before the worker drained: it goes when the
  // worker's end closes. A write to a gone worker fails instead of raising SIGPIPE.
  for (const int ignored : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) ::signal(ignored, SIG_IGN);
  Channel channel(fd);
  Frame frame;
  if (channel.read(frame) != Channel::Read::kFrame || frame.type != FrameType::kInit) {
    protocol_failure("expected the start frame");
  }
  const std::optional<Init> init = read_init(frame.payload);
  if (!init) protocol_failure("malformed start frame");
  RemoteHostServices services(channel, init->app_id, init->lowest_level);

  services.begin_call();
  Result<Created> created = create(*init, services);
  std::string answer;
  FrameWriter ready(answer, FrameType::kReady);
  if (created) {
    ready.u8(1).u8(created->flag() ? 1 : 0);
  } else {
    ready.u8(0).u32(static_cast<std::uint32_t>(to_int(created.error().code))).bytes(created.error().message);
  }
  ready.finish();
  services.end_call(answer);
  if (!created) return to_int(created.error().code);
  watch_worker(fd);

  std::string payload;
  std::vector<IncomingMessage> messages;
  std::vector<Headers> headers;
  while (true) {
    const Channel::Read read = channel.read(frame);
    if (read == Channel::Read::kClosed) break;
    if (read != Channel::Read::kFrame) protocol_failure("malformed frame");
    if (frame.type == FrameType::kShutdown) break;

    services.begin_call();
    Status status = ok_status();
    if (frame.type == FrameType::kHandle && created->agent) {
      status = handle(*created->agent, frame.payload, payload, messages, headers);
    } else if (frame.type == FrameType::kTick && created->timer && frame.payload.empty()) {
      status = created->timer->tick();
    } else if (frame.type == FrameType::kService && created->service) {
      payload.assign(frame.payload);
      status = call_service(*created->service, payload);
    } else {
      protocol_failure("unexpected frame");
    }
    answer.clear();
    FrameWriter result(answer, FrameType::kResult);
    result.u8(status ? 1 : 0);
    if (!status) result.bytes(status.error().message);
    result.finish();
    services.end_call(answer);
  }
  return 0;
}

}  // namespace faust::isolation
