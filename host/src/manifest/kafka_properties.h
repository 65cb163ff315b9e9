#pragma once

#include <optional>
#include <string_view>

namespace faust {

// Why a librdkafka property in the manifest's `kafka:` section is refused, or nullopt when it is
// passed through to the Kafka clients unchanged. Refused are the properties faust-host sets itself
// for leadership, fencing, commits or its own bookkeeping (the manifest's properties are applied
// after the host's, so they would silently switch those off), their librdkafka aliases, and the
// callbacks and objects librdkafka only takes through its API. A topic-level property is also
// refused with librdkafka's "topic." prefix. Names match exactly, as librdkafka matches them.
std::optional<std::string_view> refused_kafka_property(std::string_view key);

}  // namespace faust

namespace faust {

// Whether a librdkafka property holds a secret (a password, a private key, an OAuth secret): its
// value is redacted wherever faust-host prints text, whether the manifest wrote it or referenced it.
bool is_secret_kafka_property(std::string_view key);

}  // namespace faust
