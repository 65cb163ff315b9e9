#include "plugins/host_api.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <string_view>

#include "plugins/error_buffer.h"

namespace faust {
namespace {

// The send request size of ABI 1.0; later minors only append fields.
constexpr std::size_t kMinSendRequestSize = sizeof(faust_send_request);

Error invalid_request(const std::string& what) {
  return Error{ExitCode::kFailure, "invalid send request: " + what};
}

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

constexpr faust_host_api kHostApi{
    static_cast<std::uint32_t>(sizeof(faust_host_api)),
    &log_from_plugin,
    &send_from_plugin,
    &is_leader_for_plugin,
    &app_id_for_plugin,
    &config_for_plugin,
};

}  // namespace

const faust_host_api& host_api() { return kHostApi; }

Result<OutgoingMessage> to_outgoing_message(const faust_send_request* request) {
  if (request == nullptr) return invalid_request("null request");
  if (request->struct_size < kMinSendRequestSize) {
    return invalid_request("struct_size " + std::to_string(request->struct_size) + " is smaller than " +
                           std::to_string(kMinSendRequestSize));
  }
  const bool has_agent = request->agent != nullptr && request->agent[0] != '\0';
  const bool has_topic = request->topic != nullptr && request->topic[0] != '\0';
  if (has_agent == has_topic) return invalid_request("set exactly one of agent and topic");
  if (request->value == nullptr && request->value_size > 0) return invalid_request("value is null");
  if (request->key == nullptr && request->key_size > 0) return invalid_request("key is null");
  if (request->headers == nullptr && request->header_count > 0) return invalid_request("headers are null");

  OutgoingMessage message;
  if (has_agent) message.agent = request->agent;
  if (has_topic) message.topic = request->topic;
  if (request->key != nullptr) message.key.emplace(static_cast<const char*>(request->key), request->key_size);
  if (request->value_size > 0)
    message.value.assign(static_cast<const char*>(request->value), request->value_size);
  message.headers.reserve(request->header_count);
  for (std::size_t i = 0; i < request->header_count; ++i) {
    const faust_header& header = request->headers[i];
    if (header.key == nullptr) return invalid_request("header #" + std::to_string(i) + " has no key");
    if (header.value == nullptr && header.value_size > 0) {
      return invalid_request("header '" + std::string(header.key) + "' value is null");
    }
    message.headers.emplace_back(header.key,
                                 header.value_size > 0
                                     ? std::string(static_cast<const char*>(header.value), header.value_size)
                                     : std::string());
  }
  return message;
}

}  // namespace faust
