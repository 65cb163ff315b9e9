#include "isolation/isolated_agent.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
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
constexpr std::size_t kCrashRecords = 16;

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

// "topic[3]@17", or for a batch "a batch of 10 messages of topic[3]@17..26".
std::string in_hand(std::span<const IncomingMessage> messages, bool batch) {
  const IncomingMessage& first = messages.front();
  std::string where = std::string(first.topic) + "[" + std::to_string(first.partition) + "]@" + std::to_string(first.offset);
  if (!batch) return where;
  return "a batch of " + std::to_string(messages.size()) + " messages of " + where + ".." +
         std::to_string(messages.back().offset);
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

Result<std::unique_ptr<AgentCalls>> IsolatedAgent::start(const AgentConfig& config, const PluginLibrary& library,
                                                         const char* def_name, ComponentRef component,
                                                         HostServices& services, const IsolationSettings& settings,
                                                         std::shared_ptr<RestartBudget> restarts) {
  if (!restarts) restarts = std::make_shared<RestartBudget>(config.max_restarts_per_minute);
  std::unique_ptr<IsolatedAgent> agent(
      new IsolatedAgent(config, library.file(), def_name, component, services, settings, std::move(restarts)));
  if (settings.versions) {
    // A new version is checked in a child of its own, apart from every lane, then let go. The
    // check holds no versions of its own: the agent's record does not keep itself alive.
    IsolationSettings apart = settings;
    apart.versions = nullptr;
    auto check = [config, def = std::string(def_name), component, &services, apart](const AgentVersion& version) {
      AgentConfig next = config;
      next.config = version.config;
      IsolatedAgent probe(next, version.library_file, def.c_str(), component, services, apart, nullptr);
      return probe.start_child();
    };
    agent->versions_ = settings.versions->join(
        config.name, component.plugin, AgentVersion{library.file(), stamp_of(library.file()), config.config}, check);
    std::lock_guard lock(agent->versions_->mutex);
    agent->version_ = agent->versions_->current;
    agent->version_number_ = agent->versions_->number.load(std::memory_order_relaxed);
  }
  if (Status started = agent->start_child(); !started) return started.error();
  return std::unique_ptr<AgentCalls>(std::move(agent));
}

IsolatedAgent::IsolatedAgent(const AgentConfig& config, const std::filesystem::path& library_file,
                             const char* def_name, ComponentRef component, HostServices& services,
                             IsolationSettings settings, std::shared_ptr<RestartBudget> restarts)
    : config_(config),
      version_(std::make_shared<const AgentVersion>(AgentVersion{library_file, std::nullopt, config.config})),
      def_name_(def_name),
      component_(std::move(component)),
      what_(component_.plugin + " agent '" + component_.name + "'"),
      services_(services),
      settings_(std::move(settings)),
      restarts_(std::move(restarts)) {}

IsolatedAgent::~IsolatedAgent() {
  if (child_) retire(std::move(child_));
}

void IsolatedAgent::retire(std::unique_ptr<RunnerProcess> child) const {
  std::string request;
  FrameWriter(request, FrameType::kShutdown).finish();
  if (child->channel().write(request)) {
    child->reap(std::min(config_.handler_timeout, kShutdownGrace));
  }
  // Destroyed here: killed if it is still there.
}

void IsolatedAgent::swap_version() {
  std::shared_ptr<const AgentVersion> next;
  {
    std::lock_guard lock(versions_->mutex);
    next = versions_->current;
    version_number_ = versions_->number.load(std::memory_order_relaxed);
  }
  if (next == version_) return;
  // The running child stands aside while the new one starts, and comes back if it does not.
  std::unique_ptr<RunnerProcess> old = std::move(child_);
  std::vector<faust_metric*> old_metrics = std::move(metrics_);
  const bool old_batches = handles_batches_;
  std::shared_ptr<const AgentVersion> previous = std::exchange(version_, std::move(next));
  const std::string old_process = old ? "process " + std::to_string(old->pid()) : "no process";
  const std::string head = "agent '" + component_.name + "' (plugin " + component_.plugin + "): ";
  if (Status started = start_child(); !started) {
    spdlog::error("{}{} not swapped in, {} keeps the lane: {}", head, version_->library_file.string(), old_process,
                  started.error().message);
    child_ = std::move(old);
    metrics_ = std::move(old_metrics);
    handles_batches_ = old_batches;
    version_ = std::move(previous);
    return;
  }
  consecutive_crashes_ = 0;
  if (old) retire(std::move(old));
  spdlog::info("{}swapped to {}: process {} took over the lane from {}", head, version_->library_file.string(),
               child_->pid(), old_process);
}

int IsolatedAgent::child_pid() const { return child_ ? static_cast<int>(child_->pid()) : 0; }

Status IsolatedAgent::start_child() {
  auto spawned = RunnerProcess::spawn(settings_.runner);
  if (!spawned) return spawned.error();
  child_ = std::move(spawned).value();
  metrics_.clear();

  std::string request;
  FrameWriter init(request, FrameType::kInit);
  init.bytes(version_->library_file.string()).bytes(def_name_).bytes(component_.name).bytes(component_.plugin);
  init.bytes(services_.app_id()).u8(lowest_level());
  init.u32(static_cast<std::uint32_t>(version_->config.size()));
  for (const auto& [key, value] : version_->config) init.bytes(key).bytes(value);
  init.finish();

  Exchange ready = exchange(request, FrameType::kReady);
  if (!ready.answered) {
    child_.reset();
    return Error{ExitCode::kPluginCreateFailed, what_ + ": its process " + ready.how + " while starting"};
  }
  FrameReader in(ready.answer);
  if (in.u8() == 1) {
    handles_batches_ = in.u8() == 1;
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

IsolatedAgent::Exchange IsolatedAgent::crashed(const char* reason, std::string how) {
  Exchange exchange;
  exchange.reason = reason;
  exchange.how = std::move(how);
  child_.reset();
  if (settings_.crashed) settings_.crashed(component_.plugin, reason);
  return exchange;
}

std::optional<IsolatedAgent::Exchange> IsolatedAgent::over_memory_limit() {
  const auto now = Clock::now();
  if (now < next_memory_check_) return std::nullopt;
  next_memory_check_ = now + settings_.memory_check_interval;
  const std::optional<std::uint64_t> resident = child_->resident_bytes();
  const std::uint64_t limit = static_cast<std::uint64_t>(config_.memory_limit_mib) << 20;
  if (!resident || *resident <= limit) return std::nullopt;
  child_->kill();
  const std::uint64_t mib = (*resident + (1 << 20) - 1) >> 20;  // rounded up: never "128 MiB, past 128"
  return crashed("memory", "used " + std::to_string(mib) + " MiB of resident memory, past memory_limit_mib " +
                               std::to_string(config_.memory_limit_mib) + ", and was killed");
}

IsolatedAgent::Exchange IsolatedAgent::ended() {
  const ProcessEnd end = child_->reap(kReapGrace);
  return crashed(end.signaled ? "signal" : "exit", end.describe());
}

IsolatedAgent::Exchange IsolatedAgent::exchange(std::string_view request, FrameType answer) {
  if (!child_->channel().write(request)) return ended();
  std::optional<AttemptSends> sends;
  std::optional<UnitSends::Scope> scope;
  if (UnitSends* outer = UnitSends::current()) {
    sends.emplace(*outer);
    scope.emplace(*sends);
  }
  auto deadline = Clock::now() + config_.handler_timeout;
  const bool watched = config_.memory_limit_mib > 0;
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
        return crashed("timeout", "did not answer within handler_timeout " + seconds_text(config_.handler_timeout) +
                                      " and was killed");
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
        deadline = Clock::now() + config_.handler_timeout;  // the worker's time is not the plugin's
        break;
      case FrameType::kLog: {
        FrameReader in(frame.payload);
        const auto level = static_cast<faust_log_level>(std::min<std::uint8_t>(in.u8(), FAUST_LOG_ERROR));
        const std::string_view message = in.bytes();
        if (in.done()) services_.log(component_, level, message);
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

void IsolatedAgent::apply_metric(std::string_view payload) {
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

bool IsolatedAgent::serve_call(std::string_view payload, std::string& reply) {
  FrameReader in(payload);
  switch (static_cast<HostCall>(in.u8())) {
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
      reply_status(reply, services_.send(component_, std::move(message)));
      return true;
    }
    case HostCall::kAwaitSends:
      if (!in.done()) return false;
      reply_status(reply, services_.await_sends(component_));
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
      out.u8(services_.wait_for_stop(component_, timeout) ? 1 : 0);
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
      Result<faust_metric*> metric = services_.create_metric(component_, spec);
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
  }
  return false;
}

Status IsolatedAgent::restart_child() {
  if (!restarts_->take()) {
    const std::string count = std::to_string(restarts_->per_minute());
    Error limit{ExitCode::kPluginRestartLimit,
                "agent '" + component_.name + "' (plugin " + component_.plugin + ") crashed again after " + count +
                    " restarts of its processes within a minute (max_restarts_per_minute " + count +
                    "); stopping the worker"};
    if (settings_.fatal) {
      settings_.fatal(limit);
      // The lane learns of the stop before this call fails: its message stays uncommitted rather
      // than going to on_error.
      services_.wait_for_stop(component_, kShutdownGrace);
    }
    return limit;
  }
  if (!back_off()) return Error{ExitCode::kFailure, what_ + ": not restarted: the worker is stopping"};
  if (Status started = start_child(); !started) {
    ++consecutive_crashes_;
    return Error{ExitCode::kFailure, what_ + " failed: its process could not be restarted: " + started.error().message};
  }
  return ok_status();
}

bool IsolatedAgent::back_off() {
  if (consecutive_crashes_ <= 1) return true;
  const auto wait = std::min(kFirstBackoff * (1 << std::min(consecutive_crashes_ - 2, 6)), kLongestBackoff);
  return !services_.wait_for_stop(component_, wait);
}

IsolatedAgent::Poisoned* IsolatedAgent::crash_record(const IncomingMessage& message) {
  for (Poisoned& record : crash_records_) {
    if (record.offset == message.offset && record.partition == message.partition && record.topic == message.topic) {
      return &record;
    }
  }
  return nullptr;
}

Status IsolatedAgent::handle(const IncomingMessage& message) { return call(std::span(&message, 1), false); }

Status IsolatedAgent::handle_batch(std::span<const IncomingMessage> messages) {
  if (messages.empty()) return ok_status();
  return call(messages, true);
}

Status IsolatedAgent::call(std::span<const IncomingMessage> messages, bool batch) {
  if (versions_ && versions_->number.load(std::memory_order_acquire) != version_number_) swap_version();
  Poisoned* record = batch ? nullptr : crash_record(messages.front());
  if (record != nullptr && record->crashes >= config_.max_crashes) return Error{ExitCode::kFailure, record->error};

  request_.clear();
  FrameWriter out(request_, FrameType::kHandle);
  out.u8(batch ? 1 : 0);
  write_messages(out, messages);
  out.finish();

  while (true) {
    if (!child_) {
      if (Status restarted = restart_child(); !restarted) return restarted;
    }
    const int pid = child_pid();
    Exchange result = exchange(request_, FrameType::kResult);
    if (result.answered) {
      FrameReader in(result.answer);
      const bool ok = in.u8() == 1;
      const std::string_view error = ok ? std::string_view() : in.bytes();
      if (!in.done()) {
        child_->kill();
        result = crashed("protocol", "answered malformed and was killed");
      } else {
        consecutive_crashes_ = 0;
        if (record != nullptr) record->crashes = 0;
        if (!ok) return Error{ExitCode::kFailure, std::string(error)};
        return result.sends;
      }
    }
    ++consecutive_crashes_;
    const std::string where = in_hand(messages, batch);
    const std::string head = "agent '" + component_.name + "' (plugin " + component_.plugin + "): process " +
                             std::to_string(pid) + " " + result.how + " while handling " + where;
    if (batch) {
      spdlog::error("{}; restarting it, the batch goes again message by message", head);
      return Error{ExitCode::kFailure, what_ + " failed: its process " + result.how + " handling a batch"};
    }
    if (record == nullptr) {
      if (crash_records_.size() == kCrashRecords) crash_records_.pop_front();
      const IncomingMessage& message = messages.front();
      crash_records_.push_back(Poisoned{std::string(message.topic), message.partition, message.offset, 0, {}});
      record = &crash_records_.back();
    }
    ++record->crashes;
    const std::string count = "crash " + std::to_string(record->crashes) + " of max_crashes " +
                              std::to_string(config_.max_crashes);
    if (record->crashes < config_.max_crashes && !result.sends_flushed) {
      spdlog::error("{} ({}); restarting it and handling the message again", head, count);
      continue;
    }
    spdlog::error("{} ({}); restarting it, on_error {} applies to the message", head, count,
                  on_error_name(config_.on_error));
    record->error = what_ + " failed: its process " + result.how + " handling this message (" + count + ")";
    if (result.sends_flushed) record->crashes = config_.max_crashes;  // handed-on sends: not again
    return Error{ExitCode::kFailure, record->error};
  }
}

std::function<Result<std::unique_ptr<AgentCalls>>(const AgentConfig&, const PluginLibrary&, const char*, ComponentRef)>
isolated_agent_factory(HostServices& services, IsolationSettings settings) {
  // One restart budget per agent, shared by its lanes.
  auto budgets = std::make_shared<std::map<std::string, std::shared_ptr<RestartBudget>>>();
  return [&services, settings = std::move(settings), budgets](const AgentConfig& config, const PluginLibrary& library,
                                                              const char* def_name, ComponentRef component) {
    std::shared_ptr<RestartBudget>& budget = (*budgets)[config.name];
    if (!budget) budget = std::make_shared<RestartBudget>(config.max_restarts_per_minute);
    return IsolatedAgent::start(config, library, def_name, std::move(component), services, settings, budget);
  };
}

}  // namespace faust::isolation
