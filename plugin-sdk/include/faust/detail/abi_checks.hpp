// faust-host plugin SDK, internal: the checks both sides of the plugin ABI make, shared by
// faust-host and the SDK's test harness so the two cannot drift apart. C++17, header-only,
// needs only faust/plugin.h. Not a public API: it may change with any release.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cmath>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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
inline constexpr std::size_t kDescriptorAgentBatchesEnd =
    offsetof(faust_plugin_descriptor, agent_batch_count) + sizeof(std::size_t);
inline constexpr std::size_t kAgentBatchDefSize_1_2 = offsetof(faust_agent_batch_def, handle_batch) + sizeof(void*);
inline constexpr std::size_t kDescriptorSharedEnd = offsetof(faust_plugin_descriptor, shared) + sizeof(void*);
inline constexpr std::size_t kSharedDefSize_1_4 = offsetof(faust_shared_def, destroy) + sizeof(void*);
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

// ---- ABI 1.1: plugin metrics and pages ----

// Histogram buckets when a plugin passes none: Prometheus' client defaults (seconds, from 5 ms to
// 10 s), which suit the usual thing a histogram measures, a duration.
inline const std::vector<double>& default_histogram_buckets() {
  static const std::vector<double> buckets{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0};
  return buckets;
}

inline const char* metric_kind_name(faust_metric_kind kind) {
  switch (kind) {
    case FAUST_METRIC_COUNTER:
      return "counter";
    case FAUST_METRIC_GAUGE:
      return "gauge";
    case FAUST_METRIC_HISTOGRAM:
      break;
  }
  return "histogram";
}

// What a metric is, once its spec is checked: one name has one shape for every plugin.
struct MetricShape {
  faust_metric_kind kind = FAUST_METRIC_COUNTER;
  std::string name;
  std::string help;
  std::vector<double> buckets;  // histograms only: the upper bounds, defaults filled in
};

// "metric 'NAME' of plugin 'PLUGIN'": how every metric message starts.
inline std::string metric_subject(std::string_view plugin, std::string_view name) {
  return "metric '" + std::string(name) + "' of plugin '" + std::string(plugin) + "'";
}

// Prometheus' metric name rule without the colon, which is for recording rules:
// [a-zA-Z_][a-zA-Z0-9_]*.
inline bool is_metric_name(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

// Checks a plugin's metric spec and fills `shape`; returns why it is refused, or nullopt.
inline std::optional<std::string> read_metric_spec(std::string_view plugin, const faust_metric_spec* spec,
                                                   MetricShape& shape) {
  if (spec == nullptr || spec->struct_size < kMetricSpecSize_1_1) {
    return "invalid metric spec of plugin '" + std::string(plugin) + "': null or smaller than ABI 1.1's";
  }
  shape.name = spec->name == nullptr ? std::string() : std::string(spec->name);
  const std::string subject = metric_subject(plugin, shape.name);
  if (!is_metric_name(shape.name)) return subject + ": invalid name (use [a-zA-Z_][a-zA-Z0-9_]*)";
  if (shape.name.rfind("faust_", 0) == 0) return subject + ": names starting with 'faust_' are faust-host's own";
  if (shape.name.rfind("__", 0) == 0) return subject + ": names starting with '__' are reserved by Prometheus";
  // A C plugin may pass any int as the kind: read the bytes as an int, never as an enum.
  int kind = 0;
  static_assert(sizeof kind == sizeof spec->kind, "faust_metric_kind is an int");
  std::memcpy(&kind, &spec->kind, sizeof kind);
  if (kind < FAUST_METRIC_COUNTER || kind > FAUST_METRIC_HISTOGRAM) {
    return subject + ": unknown kind " + std::to_string(kind);
  }
  shape.kind = static_cast<faust_metric_kind>(kind);
  shape.help = spec->help == nullptr ? std::string() : std::string(spec->help);
  shape.buckets.clear();
  if (shape.kind != FAUST_METRIC_HISTOGRAM) return std::nullopt;
  if (spec->buckets == nullptr || spec->bucket_count == 0) {
    shape.buckets = default_histogram_buckets();
    return std::nullopt;
  }
  for (std::size_t i = 0; i < spec->bucket_count; ++i) {
    const double bound = spec->buckets[i];
    const auto refuse = [&](const char* why) {
      return subject + ": histogram buckets must be finite and strictly increasing (bucket #" + std::to_string(i) +
             why + ")";
    };
    if (!std::isfinite(bound)) return refuse(" is not finite");
    if (i > 0 && !(bound > spec->buckets[i - 1])) return refuse(" is not greater than the one before");
    shape.buckets.push_back(bound);
  }
  return std::nullopt;
}

// Why `wanted` cannot share the name of `existing`, which `owner` created first, or nullopt when
// it is the same metric: every plugin that uses a name gives it the same kind, help and buckets.
inline std::optional<std::string> metric_conflict(std::string_view plugin, const MetricShape& wanted,
                                                  std::string_view owner, const MetricShape& existing) {
  if (wanted.kind == existing.kind && wanted.help == existing.help && wanted.buckets == existing.buckets) {
    return std::nullopt;
  }
  const std::string by = owner == plugin ? "" : " by plugin '" + std::string(owner) + "'";
  const std::string subject = metric_subject(plugin, wanted.name) + ": already created" + by;
  if (wanted.kind != existing.kind) {
    return subject + " as a " + metric_kind_name(existing.kind) + ", not a " + metric_kind_name(wanted.kind);
  }
  if (wanted.help != existing.help) return subject + " with help '" + existing.help + "'";
  return subject + " with other histogram buckets";
}

// Why a plugin's page path is refused, or nullopt: one or more segments of [A-Za-z0-9._~-]
// separated by '/', no leading '/', no empty, "." or ".." segment.
inline std::optional<std::string> page_path_problem(std::string_view plugin, const char* path) {
  const std::string_view text = path == nullptr ? std::string_view() : std::string_view(path);
  bool valid = !text.empty();
  std::size_t start = 0;
  while (valid && start <= text.size()) {
    std::size_t end = text.find('/', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view segment = text.substr(start, end - start);
    valid = !segment.empty() && segment != "." && segment != "..";
    for (const char c : segment) {
      const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                              c == '.' || c == '_' || c == '~' || c == '-';
      valid = valid && unreserved;
    }
    start = end + 1;
  }
  if (valid) return std::nullopt;
  return "page '" + std::string(text) + "' of plugin '" + std::string(plugin) +
         "': invalid path (use segments of [A-Za-z0-9._~-] separated by '/', without a leading '/' or an "
         "empty, '.' or '..' segment)";
}

inline std::string page_duplicate_message(std::string_view plugin, std::string_view path) {
  return "page '" + std::string(path) + "' of plugin '" + std::string(plugin) +
         "': already registered (each lane of an agent with concurrency above 1 is an instance of its own; "
         "register a page once, from the plugin-wide part: faust::sdk::Shared, ABI 1.4)";
}

// The plugin-wide part of a descriptor (ABI 1.4), or null: none, or a plugin built before 1.4.
inline const faust_shared_def* shared_def(const faust_plugin_descriptor& descriptor) {
  return covers(descriptor.struct_size, kDescriptorSharedEnd) ? descriptor.shared : nullptr;
}

// Why a plugin-wide part cannot be used, or nullopt.
inline std::optional<std::string> shared_def_problem(const faust_shared_def& def) {
  if (def.struct_size < kSharedDefSize_1_4 || def.create == nullptr || def.destroy == nullptr) {
    return std::string("the plugin-wide part lacks create or destroy, or is smaller than ABI 1.4's");
  }
  return std::nullopt;
}

// A page's status as served: 100..599, anything else is the handler's fault (500).
constexpr int page_status(int status) { return status >= 100 && status <= 599 ? status : 500; }

// The text/plain bodies of a page's 500s.
inline std::string page_failed_body(std::string_view message) { return "page failed: " + std::string(message) + "\n"; }
inline constexpr std::string_view kPageUnansweredBody = "page handler gave no answer\n";

// Leader state limits (the whole state's limit is the manifest's app.leader_state_mib).
inline constexpr std::size_t kStateMaxKeySize = 1024;
inline constexpr std::size_t kStateMaxValueSize = 1024 * 1024;

// Why a leader state key (and value, for a put) is refused, or nullopt.
inline std::optional<std::string> state_entry_problem(std::size_t key_size, std::optional<std::size_t> value_size) {
  if (key_size == 0) return std::string("leader state: empty key");
  if (key_size > kStateMaxKeySize) {
    return "leader state: key of " + std::to_string(key_size) + " bytes, more than " +
           std::to_string(kStateMaxKeySize);
  }
  if (value_size && *value_size > kStateMaxValueSize) {
    return "leader state: value of " + std::to_string(*value_size) + " bytes, more than " +
           std::to_string(kStateMaxValueSize);
  }
  return std::nullopt;
}

}  // namespace faust::abi
