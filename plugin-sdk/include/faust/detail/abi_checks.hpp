// faust-host plugin SDK, internal: the checks both sides of the plugin ABI make, shared by
// faust-host and the SDK's test harness so the two cannot drift apart. C++17, header-only,
// needs only faust/plugin.h. Not a public API: it may change with any release.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "faust/plugin.h"

namespace faust::abi {

// Where a struct's ABI 1.0 fields end: the least struct_size a 1.x writer may give. Fixed by the
// 1.0 layout, so appending fields in later minors never raises them.
inline constexpr std::size_t kDescriptorSize_1_0 = offsetof(faust_plugin_descriptor, timer_count) + sizeof(std::size_t);
inline constexpr std::size_t kSendRequestSize_1_0 = offsetof(faust_send_request, header_count) + sizeof(std::size_t);
inline constexpr std::size_t kHostApiSize_1_0 = offsetof(faust_host_api, config_get) + sizeof(void*);

// Whether a struct of `struct_size` bytes holds the field that ends at `field_end`: a reader
// uses an appended field only then.
constexpr bool covers(std::uint32_t struct_size, std::size_t field_end) { return struct_size >= field_end; }

inline constexpr std::size_t kDescriptorServicesEnd =
    offsetof(faust_plugin_descriptor, service_count) + sizeof(std::size_t);
// The first service_def: every later minor only appends.
inline constexpr std::size_t kServiceDefSize_1_1 = offsetof(faust_service_def, revoked) + sizeof(void*);
inline constexpr std::size_t kMetricSpecSize_1_1 = offsetof(faust_metric_spec, bucket_count) + sizeof(std::size_t);

inline std::string abi_text(std::uint32_t major, std::uint32_t minor) {
  return std::to_string(major) + "." + std::to_string(minor);
}

enum class HandshakeProblem { kMajor, kMinorNewer, kTooSmall };

struct HandshakeRefusal {
  HandshakeProblem problem;
  std::string message;  // "plugin FILE: ..."
};

// Checks a descriptor against a loader that speaks ABI FAUST_PLUGIN_ABI_MAJOR.`loader_minor`;
// `loader` names it in messages ("faust-host", "this SDK").
inline std::optional<HandshakeRefusal> check_handshake(const std::string& file,
                                                       const faust_plugin_descriptor& descriptor,
                                                       std::uint32_t loader_minor, const std::string& loader) {
  const std::string abi = abi_text(descriptor.abi_major, descriptor.abi_minor);
  if (descriptor.abi_major != FAUST_PLUGIN_ABI_MAJOR) {
    return HandshakeRefusal{HandshakeProblem::kMajor, "plugin " + file + ": plugin ABI " + abi + ", " + loader +
                                                          " supports " + std::to_string(FAUST_PLUGIN_ABI_MAJOR) + ".x"};
  }
  if (descriptor.abi_minor > loader_minor) {
    return HandshakeRefusal{HandshakeProblem::kMinorNewer,
                            "plugin " + file + ": plugin ABI " + abi + " is newer than " + loader + "'s " +
                                abi_text(FAUST_PLUGIN_ABI_MAJOR, loader_minor)};
  }
  if (descriptor.struct_size < kDescriptorSize_1_0) {
    return HandshakeRefusal{HandshakeProblem::kTooSmall, "plugin " + file + ": descriptor struct_size " +
                                                             std::to_string(descriptor.struct_size) +
                                                             " is smaller than the " +
                                                             std::to_string(kDescriptorSize_1_0) + " bytes of ABI 1.0"};
  }
  return std::nullopt;
}

// Why a plugin's send request cannot be sent, or nullopt: a struct at least as large as ABI
// 1.0's, exactly one of agent and topic (non-empty), non-null buffers wherever a size is non-zero.
inline std::optional<std::string> send_request_problem(const faust_send_request* request) {
  const std::string invalid = "invalid send request: ";
  if (request == nullptr) return invalid + "null request";
  if (request->struct_size < kSendRequestSize_1_0) {
    return invalid + "struct_size " + std::to_string(request->struct_size) + " is smaller than " +
           std::to_string(kSendRequestSize_1_0);
  }
  const bool has_agent = request->agent != nullptr && request->agent[0] != '\0';
  const bool has_topic = request->topic != nullptr && request->topic[0] != '\0';
  if (has_agent == has_topic) return invalid + "set exactly one of agent and topic";
  if (request->value == nullptr && request->value_size > 0) return invalid + "value is null";
  if (request->key == nullptr && request->key_size > 0) return invalid + "key is null";
  if (request->headers == nullptr && request->header_count > 0) return invalid + "headers are null";
  for (std::size_t i = 0; i < request->header_count; ++i) {
    const faust_header& header = request->headers[i];
    if (header.key == nullptr) return invalid + "header #" + std::to_string(i) + " has no key";
    if (header.value == nullptr && header.value_size > 0) {
      return invalid + "header '" + std::string(header.key) + "' value is null";
    }
  }
  return std::nullopt;
}

// Copies `message` into a plugin-facing error buffer: NUL-terminated, truncated so it never ends
// inside a UTF-8 sequence. A null buffer is ignored.
inline void write_error(faust_error* error, std::string_view message) noexcept {
  if (error == nullptr) return;
  std::size_t length = message.size();
  if (length >= FAUST_ERROR_MESSAGE_SIZE) {
    length = FAUST_ERROR_MESSAGE_SIZE - 1;
    // Back off over continuation bytes (10xxxxxx) and the lead byte they belong to.
    while (length > 0 && (static_cast<unsigned char>(message[length]) & 0xC0U) == 0x80U) --length;
  }
  std::memcpy(error->message, message.data(), length);
  error->message[length] = '\0';
}

// The message a plugin wrote, read defensively (it may not have terminated it), or `fallback`
// when it wrote nothing.
inline std::string read_error(const faust_error& error, std::string_view fallback) {
  std::size_t length = 0;
  while (length < FAUST_ERROR_MESSAGE_SIZE && error.message[length] != '\0') ++length;
  return length == 0 ? std::string(fallback) : std::string(error.message, length);
}

}  // namespace faust::abi
