#pragma once

// Refusals that waiting cannot heal: the broker does not accept who the client is
// (authentication: a wrong password, an untrusted or expired certificate) or does not let it do
// what it asked (authorization: a missing ACL). Each becomes one line naming the principal, the
// resource and the operation, with its own exit code, instead of a retry loop.

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <librdkafka/rdkafkacpp.h>

#include "common/result.h"

namespace faust {

// Who the clients authenticate as, from the `kafka:` properties, for messages: "User:NAME" for
// SASL/PLAIN and SCRAM (sasl.username); for a TLS client certificate (ssl.certificate.location or
// .pem, or ssl.keystore.location) what Kafka's default ssl.principal.mapping.rules make of it,
// "User:" and its subject as RFC 2253 writes it ("User:CN=app,O=example"), or "the principal of
// certificate FILE" when it cannot be read; else "User:ANONYMOUS".
std::string kafka_principal(const std::map<std::string, std::string>& properties);

// The refusal a TLS client certificate of the properties is sure to meet: it expired, or is not
// valid yet (exit code kKafkaAuthentication); nullopt when it is valid or there is none. Asked
// before connecting: a broker on TLS 1.3 refuses such a certificate only after the handshake, with
// an alert ("certificate unknown") that does not say why.
std::optional<Error> client_certificate_error(const std::map<std::string, std::string>& properties);

// Why a broker's certificate failed a client's TLS verification, kept for the handshake failure
// librdkafka reports next: that only says "certificate verify failed" and points at
// ssl.ca.location, also when the broker's certificate expired. Fed by librdkafka's
// ssl.certificate.verify_cb (from its broker threads); read by the error handler that follows.
class BrokerCertificates {
 public:
  // One certificate of the chain `broker` presented, as OpenSSL verified it: `x509_error` its
  // verdict (X509_V_OK when it passed), `depth` 0 the broker's own certificate, `der` its bytes.
  // Notes an expired or not yet valid one; returns OpenSSL's verdict (whether it passed) and sets
  // `why` to the reason when it did not.
  bool verify(std::string_view broker, int x509_error, int depth, std::string_view der, std::string& why);
  // The first certificate noted: "the broker certificate of HOST:PORT (CN=broker) expired on ...".
  std::optional<std::string> problem() const;

 private:
  mutable std::mutex mutex_;
  std::optional<std::string> problem_;
};

// What a client was doing when the broker answered: the resources a refusal can be about.
struct KafkaAccess {
  std::string topic;            // the topic used, if any
  std::string topic_operation;  // as kafka-acls names it: "Read", "Write", "Create", "Describe"
  std::string group;            // the consumer group, if any
  std::string transactional_id;
};

// The authorization error for `code` (TOPIC_, GROUP_, TRANSACTIONAL_ID_ or
// CLUSTER_AUTHORIZATION_FAILED), exit code kKafkaAuthorization; nullopt for any other code.
std::optional<Error> authorization_error(RdKafka::ErrorCode code, const std::string& principal,
                                         const KafkaAccess& access);

// The authentication error for a client error event (SASL authentication or TLS handshake
// failed), exit code kKafkaAuthentication; nullopt for any other code. `detail` is librdkafka's
// text, which names the broker and the cause but never the password; a failed handshake is named
// by what `certificates` noted of the broker's certificate instead, when it noted anything.
std::optional<Error> authentication_error(RdKafka::ErrorCode code, const std::string& principal,
                                          std::string_view detail, const BrokerCertificates* certificates = nullptr);

}  // namespace faust
