#include "isolation/isolated_service.h"

#include <spdlog/spdlog.h>

#include <utility>

namespace faust::isolation {
namespace {

const char* callback_name(ServiceCallback callback) {
  switch (callback) {
    case ServiceCallback::kStart: return "start";
    case ServiceCallback::kElected: return "elected";
    case ServiceCallback::kLead: return "lead";
    case ServiceCallback::kRevoked: return "revoked";
    case ServiceCallback::kStop: return "stop";
  }
  return "?";
}

}  // namespace

Result<std::unique_ptr<ServiceCalls>> IsolatedService::create(const ServiceConfig& config, const PluginLibrary& library,
                                                              const char* def_name, ComponentRef component,
                                                              HostServices& services, const IsolationSettings& settings) {
  std::unique_ptr<IsolatedService> service(new IsolatedService(
      entry_child(ComponentRef::Kind::kService, config, library.file(), def_name, std::move(component)), services,
      settings));
  if (Status started = service->process_.start(); !started) return started.error();
  return std::unique_ptr<ServiceCalls>(std::move(service));
}

IsolatedService::Called IsolatedService::invoke(ServiceCallback callback, const ServiceTerm* term) {
  std::string request;
  FrameWriter out(request, FrameType::kService);
  out.u8(static_cast<std::uint8_t>(callback));
  if (term != nullptr) {
    out.i32(term->generation);
    out.i64(std::chrono::duration_cast<std::chrono::milliseconds>(term->established_at.time_since_epoch()).count());
  }
  out.finish();
  PluginProcess::Outcome result = process_.call(request);
  if (result.answered) return Called{false, std::move(result.status)};
  const char* name = callback_name(callback);
  spdlog::error("{}: process {} {} in {}; restarting it", process_.label(), result.pid, result.how, name);
  return Called{true, Error{ExitCode::kFailure,
                            process_.what() + " " + name + " failed: its process " + result.how}};
}

Status IsolatedService::revive() {
  if (process_.running()) return ok_status();
  if (Status restarted = process_.restart(); !restarted) return restarted;
  if (started_) {
    if (Called replayed = invoke(ServiceCallback::kStart); replayed.crashed) return replayed.status;
  }
  if (term_) {
    if (Called replayed = invoke(ServiceCallback::kElected, &*term_); replayed.crashed) return replayed.status;
  }
  return ok_status();
}

Status IsolatedService::start() {
  if (Status up = revive(); !up) return up;
  started_ = true;
  return invoke(ServiceCallback::kStart).status;
}

Status IsolatedService::elected(const ServiceTerm& term) {
  if (Status up = revive(); !up) return up;
  term_ = term;  // revoked follows even a failed elected
  return invoke(ServiceCallback::kElected, &term).status;
}

Status IsolatedService::lead() {
  while (true) {
    if (Status up = revive(); !up) return up;
    Called led = invoke(ServiceCallback::kLead);
    // Once the term ended (or the worker stops) a crashed lead is not run again.
    if (!led.crashed || services_.wait_for_stop(process_.component(), std::chrono::milliseconds(0))) {
      return std::move(led.status);
    }
  }
}

Status IsolatedService::revoked() {
  const bool in_term = term_.has_value();
  term_.reset();
  if (!process_.running() || !in_term) return ok_status();  // no child saw the term
  return invoke(ServiceCallback::kRevoked).status;
}

Status IsolatedService::stop() {
  const bool started = std::exchange(started_, false);
  if (!process_.running() || !started) return ok_status();
  return invoke(ServiceCallback::kStop).status;
}

}  // namespace faust::isolation
