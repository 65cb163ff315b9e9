#include "transport/kafka/kafka_access.h"

#include <algorithm>
#include <cctype>

namespace faust {
namespace {

std::string property(const std::map<std::string, std::string>& properties, const std::string& key) {
  const auto it = properties.find(key);
  return it == properties.end() ? std::string() : it->second;
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

Error denied(const std::string& principal, const std::string& operation, const std::string& resource) {
  return Error{ExitCode::kKafkaAuthorization,
               "kafka: not authorized: " + principal + " may not " + operation + " " + resource +
                   " (add the ACL; `faust-host check --broker` lists every one the app needs)"};
}

}  // namespace

std::string kafka_principal(const std::map<std::string, std::string>& properties) {
  const std::string protocol = lower(property(properties, "security.protocol"));
  const std::string mechanism = property(properties, "sasl.mechanisms").empty() ? property(properties, "sasl.mechanism")
                                                                                 : property(properties, "sasl.mechanisms");
  if (protocol.starts_with("sasl")) {
    if (mechanism.empty() || mechanism == "GSSAPI") return "the Kerberos principal of this host";
    if (mechanism == "OAUTHBEARER") return "the OAuth principal of this client";
    return "User:" + property(properties, "sasl.username");
  }
  if (protocol == "ssl") {
    const std::string certificate = property(properties, "ssl.certificate.location");
    if (!certificate.empty()) return "the principal of certificate " + certificate;
    return "the principal of this client's certificate";
  }
  return "User:ANONYMOUS";
}

std::optional<Error> authorization_error(RdKafka::ErrorCode code, const std::string& principal,
                                         const KafkaAccess& access) {
  switch (code) {
    case RdKafka::ERR_TOPIC_AUTHORIZATION_FAILED:
      return denied(principal, access.topic_operation.empty() ? "Describe" : access.topic_operation,
                    "topic '" + access.topic + "'");
    case RdKafka::ERR_GROUP_AUTHORIZATION_FAILED:
      return denied(principal, "Read", "group '" + access.group + "'");
    case RdKafka::ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
      return denied(principal, "Write", "transactional id '" + access.transactional_id + "'");
    case RdKafka::ERR_CLUSTER_AUTHORIZATION_FAILED:
      // Creating topics is the one cluster operation besides an idempotent producer's.
      return denied(principal, access.topic_operation == "Create" ? "Create" : "IdempotentWrite", "the cluster");
    default:
      return std::nullopt;
  }
}

std::optional<Error> authentication_error(RdKafka::ErrorCode code, const std::string& principal,
                                          std::string_view detail) {
  if (code == RdKafka::ERR__AUTHENTICATION) {
    return Error{ExitCode::kKafkaAuthentication,
                 "kafka: authentication failed for " + principal + ": " + std::string(detail)};
  }
  if (code == RdKafka::ERR__SSL) {
    return Error{ExitCode::kKafkaAuthentication,
                 "kafka: TLS handshake failed for " + principal + " (check ssl.ca.location and the certificate): " +
                     std::string(detail)};
  }
  return std::nullopt;
}

}  // namespace faust
