#include "plugins/host_api.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <string_view>

#include "common/plugin_metric.h"
#include "faust/detail/abi_checks.hpp"
#include "plugins/error_buffer.h"
#include "plugins/plugin_instance.h"

// The C ABI's opaque page answer: the host's PageAnswer.
struct faust_page_response {
  faust::PageAnswer answer;
};

namespace faust {
namespace {

// Plugins are C: an out-of-range level must not become an invalid enum value on our side.
// A C plugin may pass any int as a level; in C++ reading an enum outside its range is undefined,
// so the bytes are read as an int first.
faust_log_level clamp_level(const faust_log_level& level) {
  int raw = 0;
  static_assert(sizeof raw == sizeof level);
  std::memcpy(&raw, &level, sizeof raw);
  return static_cast<faust_log_level>(
      std::clamp(raw, static_cast<int>(FAUST_LOG_TRACE), static_cast<int>(FAUST_LOG_ERROR)));
}

void log_from_plugin(faust_host_context* context, faust_log_level level, const char* message) noexcept {
  if (context == nullptr) return;
  try {
    context->services.log(context->component, clamp_level(level), message == nullptr ? "" : message);
  } catch (...) {
    // A failing logger must not take the plugin down; there is nowhere to report it.
  }
}

faust_status send_from_plugin(faust_host_context* context, const faust_send_request* request,
                              faust_error* error) noexcept {
  if (context == nullptr) {
    write_error(error, "invalid send request: no host context");
    return FAUST_ERROR;
  }
  try {
    Result<OutgoingMessage> message = to_outgoing_message(request);
    if (!message) {
      write_error(error, message.error().message);
      return FAUST_ERROR;
    }
    Status sent = context->services.send(context->component, std::move(*message));
    if (!sent) {
      write_error(error, sent.error().message);
      return FAUST_ERROR;
    }
    return FAUST_OK;
  } catch (const std::exception& e) {
    write_error(error, std::string("send failed: ") + e.what());
  } catch (...) {
    write_error(error, "send failed: unknown error");
  }
  return FAUST_ERROR;
}

faust_status await_sends_for_plugin(faust_host_context* context, faust_error* error) noexcept {
  if (context == nullptr) {
    write_error(error, "await_sends: no host context");
    return FAUST_ERROR;
  }
  try {
    Status acknowledged = context->services.await_sends(context->component);
    if (acknowledged) return FAUST_OK;
    write_error(error, acknowledged.error().message);
  } catch (const std::exception& e) {
    write_error(error, std::string("await_sends failed: ") + e.what());
  } catch (...) {
    write_error(error, "await_sends failed: unknown error");
  }
  return FAUST_ERROR;
}

int is_leader_for_plugin(faust_host_context* context) noexcept {
  if (context == nullptr) return 0;
  try {
    return context->services.is_leader() ? 1 : 0;
  } catch (...) {
    return 0;
  }
}

const char* app_id_for_plugin(faust_host_context* context) noexcept {
  return context == nullptr ? "" : context->app_id.c_str();
}

const char* config_for_plugin(faust_host_context* context, const char* key) noexcept {
  if (context == nullptr || key == nullptr) return nullptr;
  try {
    const auto found = context->config.find(key);
    return found == context->config.end() ? nullptr : found->second.c_str();
  } catch (...) {
    return nullptr;  // only allocation can throw here
  }
}

int wait_for_stop_for_plugin(faust_host_context* context, std::uint32_t timeout_ms) noexcept {
  if (context == nullptr) return 1;
  try {
    return context->services.wait_for_stop(context->component, std::chrono::milliseconds(timeout_ms)) ? 1 : 0;
  } catch (...) {
    return 1;  // cannot wait: tell the caller to stop rather than spin
  }
}

void metric_add_for_plugin(faust_metric* metric, double value) noexcept {
  if (metric != nullptr) metric->add(value);
}

void metric_set_for_plugin(faust_metric* metric, double value) noexcept {
  if (metric != nullptr) metric->set(value);
}

faust_metric* create_metric_for_plugin(faust_host_context* context, const faust_metric_spec* spec,
                                       faust_error* error) noexcept {
  if (context == nullptr || spec == nullptr || spec->struct_size < abi::kMetricSpecSize_1_1) {
    write_error(error, "invalid metric: no context, no spec, or a spec smaller than ABI 1.1's");
    return nullptr;
  }
  try {
    Result<faust_metric*> metric = context->services.create_metric(context->component, *spec);
    if (metric) return *metric;
    write_error(error, metric.error().message);
  } catch (const std::exception& e) {
    write_error(error, std::string("metric: ") + e.what());
  } catch (...) {
    write_error(error, "metric: unknown error");
  }
  return nullptr;
}

// Calls a plugin's page handler and turns what it did into the host's answer.
PageAnswer call_page(faust_page_fn handler, void* user, const PageRequest& request) {
  faust_page_request c_request{static_cast<std::uint32_t>(sizeof(faust_page_request)), request.path.c_str(),
                               request.query.c_str()};
  faust_page_response response;
  faust_error error;
  error.message[0] = '\0';
  const faust_status status =
      call_plugin(error, FAUST_ERROR, [&] { return handler(user, &c_request, &response, &error); });
  if (status != FAUST_OK) {
    return PageAnswer{true, 500, "text/plain; charset=utf-8", abi::page_failed_body(read_error(error))};
  }
  if (!response.answer.answered) {
    return PageAnswer{true, 500, "text/plain; charset=utf-8", std::string(abi::kPageUnansweredBody)};
  }
  return std::move(response.answer);
}

faust_status register_page_for_plugin(faust_host_context* context, const char* path, faust_page_fn handler,
                                      void* user, faust_error* error) noexcept {
  if (context == nullptr || path == nullptr || handler == nullptr) {
    write_error(error, "page: no context, path or handler");
    return FAUST_ERROR;
  }
  try {
    Result<std::shared_ptr<void>> registration = context->services.register_page(
        context->component, path,
        [handler, user](const PageRequest& request) { return call_page(handler, user, request); });
    if (!registration) {
      write_error(error, registration.error().message);
      return FAUST_ERROR;
    }
    context->pages.push_back(std::move(*registration));
    return FAUST_OK;
  } catch (const std::exception& e) {
    write_error(error, std::string("page: ") + e.what());
  } catch (...) {
    write_error(error, "page: unknown error");
  }
  return FAUST_ERROR;
}

void respond_page_for_plugin(faust_page_response* response, int status, const char* content_type, const void* body,
                             std::size_t body_size) noexcept {
  if (response == nullptr) return;
  try {
    PageAnswer& answer = response->answer;
    answer.answered = true;
    answer.status = abi::page_status(status);
    if (content_type != nullptr) answer.content_type = content_type;
    answer.body = body != nullptr ? std::string(static_cast<const char*>(body), body_size) : std::string();
  } catch (...) {
    response->answer = PageAnswer{};  // out of memory: unanswered, so a 500
  }
}

// The leader state's C functions: each forwards to HostServices and never lets an exception out.
template <typename Call>
faust_status state_call(faust_host_context* context, faust_error* error, Call&& call) noexcept {
  if (context == nullptr) {
    write_error(error, "leader state: no host context");
    return FAUST_ERROR;
  }
  try {
    Status status = call();
    if (status) return FAUST_OK;
    write_error(error, status.error().message);
  } catch (const std::exception& e) {
    write_error(error, std::string("leader state: ") + e.what());
  } catch (...) {
    write_error(error, "leader state: unknown error");
  }
  return FAUST_ERROR;
}

std::string_view bytes(const void* data, std::size_t size) {
  return data == nullptr ? std::string_view() : std::string_view(static_cast<const char*>(data), size);
}

faust_status state_get_for_plugin(faust_host_context* context, const void* key, std::size_t key_size,
                                  faust_state_visit_fn visit, void* user, faust_error* error) noexcept {
  return state_call(context, error, [&]() -> Status {
    if (visit == nullptr) return Error{ExitCode::kFailure, "leader state: no visit function"};
    Result<std::optional<std::string>> value = context->services.state_get(context->component, bytes(key, key_size));
    if (!value) return value.error();
    if (*value) visit(user, key, key_size, (*value)->data(), (*value)->size());
    return ok_status();
  });
}

faust_status state_put_for_plugin(faust_host_context* context, const void* key, std::size_t key_size,
                                  const void* value, std::size_t value_size, faust_error* error) noexcept {
  return state_call(context, error, [&] {
    return context->services.state_put(context->component, bytes(key, key_size), bytes(value, value_size));
  });
}

faust_status state_delete_for_plugin(faust_host_context* context, const void* key, std::size_t key_size,
                                     faust_error* error) noexcept {
  return state_call(context, error,
                    [&] { return context->services.state_delete(context->component, bytes(key, key_size)); });
}

faust_status state_scan_for_plugin(faust_host_context* context, const void* prefix, std::size_t prefix_size,
                                   faust_state_visit_fn visit, void* user, faust_error* error) noexcept {
  return state_call(context, error, [&]() -> Status {
    if (visit == nullptr) return Error{ExitCode::kFailure, "leader state: no visit function"};
    auto entries = context->services.state_scan(context->component, bytes(prefix, prefix_size));
    if (!entries) return entries.error();
    for (const auto& [key, value] : *entries) visit(user, key.data(), key.size(), value.data(), value.size());
    return ok_status();
  });
}

void* shared_object_for_plugin(faust_host_context* context) noexcept {
  return context == nullptr || context->shared == nullptr ? nullptr : context->shared->object();
}

constexpr faust_host_api kHostApi{
    static_cast<std::uint32_t>(sizeof(faust_host_api)),
    &log_from_plugin,
    &send_from_plugin,
    &is_leader_for_plugin,
    &app_id_for_plugin,
    &config_for_plugin,
    &wait_for_stop_for_plugin,
    &create_metric_for_plugin,
    &metric_add_for_plugin,
    &metric_set_for_plugin,
    &register_page_for_plugin,
    &respond_page_for_plugin,
    &state_get_for_plugin,
    &state_put_for_plugin,
    &state_delete_for_plugin,
    &state_scan_for_plugin,
    &await_sends_for_plugin,
    &shared_object_for_plugin,
};

}  // namespace

const faust_host_api& host_api() { return kHostApi; }

Result<OutgoingMessage> to_outgoing_message(const faust_send_request* request) {
  if (std::optional<std::string> problem = abi::send_request_problem(request)) {
    return Error{ExitCode::kFailure, *problem};
  }
  const bool has_agent = request->agent != nullptr && request->agent[0] != '\0';
  OutgoingMessage message;
  if (has_agent) {
    message.agent = request->agent;
  } else {
    message.topic = request->topic;
  }
  if (request->key != nullptr) message.key.emplace(static_cast<const char*>(request->key), request->key_size);
  if (request->value_size > 0)
    message.value.assign(static_cast<const char*>(request->value), request->value_size);
  message.headers.reserve(request->header_count);
  for (std::size_t i = 0; i < request->header_count; ++i) {
    const faust_header& header = request->headers[i];
    message.headers.emplace_back(header.key,
                                 header.value_size > 0
                                     ? std::string(static_cast<const char*>(header.value), header.value_size)
                                     : std::string());
  }
  return message;
}

}  // namespace faust
