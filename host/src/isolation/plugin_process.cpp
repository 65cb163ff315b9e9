#include "isolation/plugin_process.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "runtime/agents/delivery_unit.h"

namespace faust::isolation {
namespace {

using Clock = std::chrono::steady_clock;

// How long a child may take to destroy its instance at shutdown (at most its handler_timeout).
constexpr std::chrono::milliseconds kShutdownGrace{5000};
// How long a child whose end of the socket closed may take to be gone before it is killed.
constexpr std::chrono::milliseconds kReapGrace{1000};
constexpr std::chrono::milliseconds kFirstBackoff{100};
constexpr std::chrono::milliseconds kLongestBackoff{5000};

// The lowest plugin log level the worker's log shows: the child drops the others unsent.
std::uint8_t lowest_level() {
  switch (spdlog::get_level()) {
    case spdlog::level::trace: return FAUST_LOG_TRACE;
    case spdlog::level::debug: return FAUST_LOG_DEBUG;
    case spdlog::level::info: return FAUST_LOG_INFO;
    case spdlog::level::warn: return FAUST_LOG_WARN;
    case spdlog::level::err: return FAUST_LOG_ERROR;
    default: return FAUST_LOG_ERROR + 1;
  }
}

std::string seconds_text(std::chrono::milliseconds duration) {
  const double seconds = static_cast<double>(duration.count()) / 1000;
  std::string text = std::to_string(seconds);
  text.erase(text.find_last_not_of('0') + 1);
  if (text.ends_with('.')) text.pop_back();
  return text + " s";
}

// The sends of one call to the child, held until it answers and then handed to the unit the lane
// handles (pipelined, a batch or a transaction): a call that crashes leaves nothing behind.
class AttemptSends final : public UnitSends {
 public:
  explicit AttemptSends(UnitSends& outer) : outer_(outer) {}

  Status send(const ProducedRecord& record) override {
    records_.push_back(record);
    return ok_status();
  }
  // await_sends: what the call sent so far is handed on, then waited for.
  Status await_acknowledged() override {
    if (Status handed = flush(); !handed) return handed;
    return outer_.await_acknowledged();
  }
  Status flush() {
    Status status = ok_status();
    for (const ProducedRecord& record : records_) {
      flushed_ = true;
      status = outer_.send(record);
      if (!status) break;
    }
    records_.clear();
    return status;
  }
  bool flushed() const { return flushed_; }

 private:
  UnitSends& outer_;
  std::vector<ProducedRecord> records_;
  bool flushed_ = false;
};

void reply_status(std::string& reply, const Status& status) {
  FrameWriter out(reply, FrameType::kReply);
  out.u8(status ? 1 : 0);
  out.bytes(status ? std::string_view() : std::string_view(status.error().message));
  out.finish();
}

}  // namespace

PluginProcess::PluginProcess(ChildSpec spec, HostServices& services, IsolationSettings settings,
                             std::shared_ptr<RestartBudget> restarts)
    : spec_(std::move(spec)),
      what_(spec_.component.plugin + " " + component_kind_name(spec_.component.kind) + " '" + spec_.component.name +
            "'"),
      label_(std::string(component_kind_name(spec_.component.kind)) + " '" + spec_.component.name + "' (plugin " +
             spec_.component.plugin + ")"),
      services_(services),
      settings_(std::move(settings)),
      restarts_(restarts ? std::move(restarts) : std::make_shared<RestartBudget>(spec_.limits.max_restarts_per_minute)) {}

PluginProcess::~PluginProcess() {
  if (child_) retire(std::move(child_));
}

void PluginProcess::retire(std::unique_ptr<RunnerProcess> child) const {
  std::string request;
  FrameWriter(request, FrameType::kShutdown).finish();
  if (child->channel().write(request)) child->reap(std::min(spec_.limits.handler_timeout, kShutdownGrace));
  // Destroyed here: killed if it is still there.
}

Status PluginProcess::replace(std::filesystem::path library_file, ConfigMap config) {
  std::unique_ptr<RunnerProcess> old = std::move(child_);
  std::vector<faust_metric*> old_metrics = std::move(metrics_);
  const bool old_flag = ready_flag_;
  std::filesystem::path old_file = std::exchange(spec_.library_file, std::move(library_file));
  ConfigMap old_config = std::exchange(spec_.config, std::move(config));
  if (Status started = start(); !started) {
    child_ = std::move(old);
    metrics_ = std::move(old_metrics);
    ready_flag_ = old_flag;
    spec_.library_file = std::move(old_file);
    spec_.config = std::move(old_config);
    return started;
  }
  consecutive_crashes_ = 0;
  if (old) retire(std::move(old));
  return ok_status();
}

Status PluginProcess::start() {
  auto spawned = RunnerProcess::spawn(settings_.runner);
  if (!spawned) return spawned.error();
  child_ = std::move(spawned).value();
  metrics_.clear();

  std::string request;
  FrameWriter init(request, FrameType::kInit);
  init.u8(static_cast<std::uint8_t>(spec_.component.kind));
  init.bytes(spec_.library_file.string()).bytes(spec_.def_name).bytes(spec_.component.name);
  init.bytes(spec_.component.plugin).bytes(services_.app_id()).u8(lowest_level());
  init.u32(static_cast<std::uint32_t>(spec_.config.size()));
  for (const auto& [key, value] : spec_.config) init.bytes(key).bytes(value);
  init.finish();

  Exchange ready = exchange(request, FrameType::kReady);
  if (!ready.answered) {
    child_.reset();
    return Error{ExitCode::kPluginCreateFailed, what_ + ": its process " + ready.how + " while starting"};
  }
  FrameReader in(ready.answer);
  if (in.u8() == 1) {
    ready_flag_ = in.u8() == 1;
    if (in.done()) return ok_status();
  } else {
    const auto code = static_cast<ExitCode>(in.u32());
    const std::string message(in.bytes());
    if (in.done()) {
      child_->reap(kReapGrace);
      child_.reset();
      return Error{code, message};
    }
  }
  child_.reset();
  return Error{ExitCode::kPluginCreateFailed, what_ + ": its process answered its start malformed"};
}

PluginProcess::Outcome PluginProcess::call(std::string_view request) {
  Outcome outcome;
  outcome.pid = pid();
  Exchange result = exchange(request, FrameType::kResult);
  if (result.answered) {
    FrameReader in(result.answer);
    const bool ok = in.u8() == 1;
    const std::string_view error = ok ? std::string_view() : in.bytes();
    if (in.done()) {
      consecutive_crashes_ = 0;
      outcome.answered = true;
      outcome.status = ok ? std::move(result.sends) : Status(Error{ExitCode::kFailure, std::string(error)});
      outcome.sends_flushed = result.sends_flushed;
      return outcome;
    }
    child_->kill();
    result = crashed("protocol", "answered malformed and was killed");
  }
  ++consecutive_crashes_;
  outcome.sends_flushed = result.sends_flushed;
  outcome.reason = result.reason;
  outcome.how = std::move(result.how);
  return outcome;
}

PluginProcess::Exchange PluginProcess::crashed(const char* reason, std::string how) {
  Exchange exchange;
  exchange.reason = reason;
  exchange.how = std::move(how);
  child_.reset();
  if (settings_.crashed) settings_.crashed(spec_.component.plugin, reason);
  return exchange;
}

std::optional<PluginProcess::Exchange> PluginProcess::over_memory_limit() {
  const auto now = Clock::now();
  if (now < next_memory_check_) return std::nullopt;
  next_memory_check_ = now + settings_.memory_check_interval;
  const std::optional<std::uint64_t> resident = child_->resident_bytes();
  const std::uint64_t limit = static_cast<std::uint64_t>(spec_.limits.memory_limit_mib) << 20;
  if (!resident || *resident <= limit) return std::nullopt;
  child_->kill();
  const std::uint64_t mib = (*resident + (1 << 20) - 1) >> 20;  // rounded up: never "128 MiB, past 128"
  return crashed("memory", "used " + std::to_string(mib) + " MiB of resident memory, past memory_limit_mib " +
                               std::to_string(spec_.limits.memory_limit_mib) + ", and was killed");
}

PluginProcess::Exchange PluginProcess::ended() {
  const ProcessEnd end = child_->reap(kReapGrace);
  return crashed(end.signaled ? "signal" : "exit", end.describe());
}

PluginProcess::Exchange PluginProcess::exchange(std::string_view request, FrameType answer) {
  if (!child_->channel().write(request)) return ended();
  std::optional<AttemptSends> sends;
  std::optional<UnitSends::Scope> scope;
  if (UnitSends* outer = UnitSends::current()) {
    sends.emplace(*outer);
    scope.emplace(*sends);
  }
  // Without a unit, a timer's tick holds its sends too: an on_leader tick that crashes after a
  // send would otherwise leave a record in the transaction its abort has to undo.
  held_.clear();
  holding_sends_ = !sends && spec_.component.kind == ComponentRef::Kind::kTimer;
  const auto timeout = spec_.limits.handler_timeout;
  auto deadline = Clock::now() + timeout;
  const bool watched = spec_.limits.memory_limit_mib > 0;
  std::string reply;
  while (true) {
    if (watched) {
      if (std::optional<Exchange> killed = over_memory_limit()) return std::move(*killed);
    }
    Frame frame;
    switch (child_->channel().read(frame, watched ? std::min(deadline, next_memory_check_) : deadline)) {
      case Channel::Read::kFrame:
        break;
      case Channel::Read::kTimeout:
        if (Clock::now() < deadline) continue;  // woken for a memory check
        child_->kill();
        return crashed("timeout", "did not answer within handler_timeout " + seconds_text(timeout) + " and was killed");
      case Channel::Read::kClosed:
        return ended();
      case Channel::Read::kMalformed:
        child_->kill();
        return crashed("protocol", "sent a malformed frame and was killed");
    }
    if (frame.type == answer) {
      Exchange done;
      done.answered = true;
      done.answer.assign(frame.payload);
      if (sends) {
        scope.reset();
        done.sends = sends->flush();
        done.sends_flushed = sends->flushed();
      } else if (holding_sends_) {
        holding_sends_ = false;
        done.sends = send_held();
      }
      return done;
    }
    switch (frame.type) {
      case FrameType::kCall:
        reply.clear();
        if (!serve_call(frame.payload, reply)) {
          child_->kill();
          return crashed("protocol", "sent a malformed host call and was killed");
        }
        if (!child_->channel().write(reply)) continue;  // gone: the next read says how
        deadline = Clock::now() + timeout;  // the worker's time is not the plugin's
        break;
      case FrameType::kLog: {
        FrameReader in(frame.payload);
        const auto level = static_cast<faust_log_level>(std::min<std::uint8_t>(in.u8(), FAUST_LOG_ERROR));
        const std::string_view message = in.bytes();
        if (in.done()) services_.log(spec_.component, level, message);
        break;
      }
      case FrameType::kMetric:
        apply_metric(frame.payload);
        break;
      default:
        child_->kill();
        return crashed("protocol", "sent an unexpected frame and was killed");
    }
  }
}

void PluginProcess::apply_metric(std::string_view payload) {
  FrameReader in(payload);
  const std::uint32_t id = in.u32();
  const auto op = static_cast<MetricOp>(in.u8());
  const double value = in.f64();
  if (!in.done() || id >= metrics_.size()) return;
  if (op == MetricOp::kSet) {
    metrics_[id]->set(value);
  } else {
    metrics_[id]->add(value);
  }
}

Status PluginProcess::send_held() {
  Status status = ok_status();
  for (OutgoingMessage& message : held_) {
    status = services_.send(spec_.component, std::move(message));
    if (!status) break;
  }
  held_.clear();
  return status;
}

bool PluginProcess::serve_call(std::string_view payload, std::string& reply) {
  FrameReader in(payload);
  const ComponentRef& from = spec_.component;
  const auto call = static_cast<HostCall>(in.u8());
  switch (call) {
    case HostCall::kSend: {
      OutgoingMessage message;
      message.agent = in.bytes();
      message.topic = in.bytes();
      if (in.u8() != 0) message.key.emplace(in.bytes());
      message.value = in.bytes();
      const std::uint32_t headers = in.u32();
      for (std::uint32_t i = 0; i < headers && in.ok(); ++i) {
        std::string key(in.bytes());
        message.headers.emplace_back(std::move(key), std::string(in.bytes()));
      }
      if (!in.done()) return false;
      if (holding_sends_) {
        held_.push_back(std::move(message));
        reply_status(reply, ok_status());
      } else {
        reply_status(reply, services_.send(from, std::move(message)));
      }
      return true;
    }
    case HostCall::kAwaitSends:
      if (!in.done()) return false;
      if (Status handed = send_held(); !handed) {
        reply_status(reply, handed);
      } else {
        reply_status(reply, services_.await_sends(from));
      }
      return true;
    case HostCall::kIsLeader: {
      if (!in.done()) return false;
      FrameWriter out(reply, FrameType::kReply);
      out.u8(services_.is_leader() ? 1 : 0);
      out.finish();
      return true;
    }
    case HostCall::kWaitForStop: {
      const std::chrono::milliseconds timeout(in.u32());
      if (!in.done()) return false;
      FrameWriter out(reply, FrameType::kReply);
      out.u8(services_.wait_for_stop(from, timeout) ? 1 : 0);
      out.finish();
      return true;
    }
    case HostCall::kMetricCreate: {
      const std::uint8_t kind = in.u8();
      const std::string name(in.bytes());
      std::optional<std::string> help;
      if (in.u8() != 0) help.emplace(in.bytes());
      std::vector<double> buckets(std::min<std::uint32_t>(in.u32(), 4096));
      for (double& bucket : buckets) bucket = in.f64();
      if (!in.done() || kind > FAUST_METRIC_HISTOGRAM) return false;
      const faust_metric_spec spec{static_cast<std::uint32_t>(sizeof(faust_metric_spec)),
                                   static_cast<faust_metric_kind>(kind), name.c_str(),
                                   help ? help->c_str() : nullptr, buckets.empty() ? nullptr : buckets.data(),
                                   buckets.size()};
      Result<faust_metric*> metric = services_.create_metric(from, spec);
      FrameWriter out(reply, FrameType::kReply);
      if (metric) {
        // The same series asked for twice keeps one id.
        const auto known = std::find(metrics_.begin(), metrics_.end(), *metric);
        if (known == metrics_.end()) metrics_.push_back(*metric);
        out.u8(1).u32(static_cast<std::uint32_t>(known == metrics_.end() ? metrics_.size() - 1 : known - metrics_.begin()));
      } else {
        out.u8(0).bytes(metric.error().message);
      }
      out.finish();
      return true;
    }
    case HostCall::kStateGet:
    case HostCall::kStatePut:
    case HostCall::kStateDelete:
    case HostCall::kStateScan:
      return serve_state_call(call, in, reply);
  }
  return false;
}

bool PluginProcess::serve_state_call(HostCall call, FrameReader& in, std::string& reply) {
  const ComponentRef& from = spec_.component;
  const std::string key(in.bytes());  // the key, or the scan's prefix
  switch (call) {
    case HostCall::kStateGet: {
      if (!in.done()) return false;
      Result<std::optional<std::string>> value = services_.state_get(from, key);
      FrameWriter out(reply, FrameType::kReply);
      if (value) {
        out.u8(1).u8(value->has_value() ? 1 : 0).bytes(value->value_or(std::string()));
      } else {
        out.u8(0).bytes(value.error().message);
      }
      out.finish();
      return true;
    }
    case HostCall::kStatePut: {
      const std::string_view value = in.bytes();
      if (!in.done()) return false;
      reply_status(reply, services_.state_put(from, key, value));
      return true;
    }
    case HostCall::kStateDelete:
      if (!in.done()) return false;
      reply_status(reply, services_.state_delete(from, key));
      return true;
    case HostCall::kStateScan: {
      if (!in.done()) return false;
      Result<HostServices::StateEntries> entries = services_.state_scan(from, key);
      FrameWriter out(reply, FrameType::kReply);
      if (entries) {
        out.u8(1).u32(static_cast<std::uint32_t>(entries->size()));
        for (const auto& [name, value] : *entries) out.bytes(name).bytes(value);
      } else {
        out.u8(0).bytes(entries.error().message);
      }
      out.finish();
      return true;
    }
    default:
      return false;
  }
}

Status PluginProcess::restart() {
  if (child_) return ok_status();
  if (!restarts_->take()) {
    const std::string count = std::to_string(restarts_->per_minute());
    Error limit{ExitCode::kPluginRestartLimit, label_ + " crashed again after " + count +
                                                   " restarts of its processes within a minute (max_restarts_per_minute " +
                                                   count + "); stopping the worker"};
    if (settings_.fatal) {
      settings_.fatal(limit);
      // The caller learns of the stop before this call fails: an agent's message in hand stays
      // uncommitted rather than going to on_error.
      services_.wait_for_stop(spec_.component, kShutdownGrace);
    }
    return limit;
  }
  if (!back_off()) return Error{ExitCode::kFailure, what_ + ": not restarted: it was asked to stop"};
  if (Status started = start(); !started) {
    ++consecutive_crashes_;
    return Error{ExitCode::kFailure, what_ + " failed: its process could not be restarted: " + started.error().message};
  }
  return ok_status();
}

bool PluginProcess::back_off() {
  if (consecutive_crashes_ <= 1) return true;
  const auto wait = std::min(kFirstBackoff * (1 << std::min(consecutive_crashes_ - 2, 6)), kLongestBackoff);
  return !services_.wait_for_stop(spec_.component, wait);
}

}  // namespace faust::isolation
