#include "transport/kafka/kafka_access.h"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <memory>

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

template <typename T, void (*Free)(T*)>
using Owned = std::unique_ptr<T, std::integral_constant<decltype(Free), Free>>;

// The client certificate librdkafka presents: the first of a PEM file or text, or a PKCS#12
// keystore's; null when it cannot be read (librdkafka then says why, at start-up).
Owned<X509, X509_free> client_certificate(const std::map<std::string, std::string>& properties) {
  if (const std::string pem = property(properties, "ssl.certificate.pem"); !pem.empty()) {
    Owned<BIO, BIO_free_all> in(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    return Owned<X509, X509_free>(in ? PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr) : nullptr);
  }
  if (const std::string file = property(properties, "ssl.certificate.location"); !file.empty()) {
    Owned<BIO, BIO_free_all> in(BIO_new_file(file.c_str(), "r"));
    return Owned<X509, X509_free>(in ? PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr) : nullptr);
  }
  if (const std::string file = property(properties, "ssl.keystore.location"); !file.empty()) {
    Owned<BIO, BIO_free_all> in(BIO_new_file(file.c_str(), "rb"));
    Owned<PKCS12, PKCS12_free> store(in ? d2i_PKCS12_bio(in.get(), nullptr) : nullptr);
    EVP_PKEY* key = nullptr;
    X509* certificate = nullptr;
    STACK_OF(X509)* chain = nullptr;
    const std::string password = property(properties, "ssl.keystore.password");
    if (store && PKCS12_parse(store.get(), password.c_str(), &key, &certificate, &chain) != 1) certificate = nullptr;
    EVP_PKEY_free(key);
    sk_X509_pop_free(chain, X509_free);
    return Owned<X509, X509_free>(certificate);
  }
  return Owned<X509, X509_free>(nullptr);
}

// A certificate's subject as RFC 2253 writes it (most specific name first, "CN=app,O=example"),
// UTF-8 kept as it is.
std::string certificate_subject(X509* certificate) {
  Owned<BIO, BIO_free_all> out(BIO_new(BIO_s_mem()));
  if (!out || X509_NAME_print_ex(out.get(), X509_get_subject_name(certificate), 0,
                                 XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0) {
    return {};
  }
  char* text = nullptr;
  const long size = BIO_get_mem_data(out.get(), &text);
  return size > 0 ? std::string(text, static_cast<std::size_t>(size)) : std::string();
}

// The principal Kafka's default mapping gives a certificate: "User:" and its subject.
std::string certificate_principal(X509* certificate) {
  const std::string subject = certificate_subject(certificate);
  return subject.empty() ? subject : "User:" + subject;
}

// "2025-12-06 14:06:55 UTC"
std::string utc_text(const ASN1_TIME* time) {
  std::tm parts{};
  if (ASN1_TIME_to_tm(time, &parts) != 1) return "an unreadable date";
  char text[32];
  return std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &parts) > 0 ? text : "an unreadable date";
}

// Where the client certificate comes from, as the manifest names it.
std::string certificate_source(const std::map<std::string, std::string>& properties) {
  for (const char* key : {"ssl.certificate.location", "ssl.keystore.location"}) {
    if (const std::string file = property(properties, key); !file.empty()) return file;
  }
  return "ssl.certificate.pem";
}

}  // namespace

bool BrokerCertificates::verify(std::string_view broker, int x509_error, int depth, std::string_view der,
                                std::string& why) {
  if (x509_error == X509_V_OK) return true;
  why = X509_verify_cert_error_string(x509_error);
  if (x509_error != X509_V_ERR_CERT_HAS_EXPIRED && x509_error != X509_V_ERR_CERT_NOT_YET_VALID) return false;
  const auto* bytes = reinterpret_cast<const unsigned char*>(der.data());
  const Owned<X509, X509_free> certificate(d2i_X509(nullptr, &bytes, static_cast<long>(der.size())));
  if (!certificate) return false;
  const std::string subject = certificate_subject(certificate.get());
  const std::string whose = depth == 0 ? "the broker certificate of " + std::string(broker) + " (" + subject + ")"
                                       : "the CA certificate " + subject + " of broker " + std::string(broker);
  why = x509_error == X509_V_ERR_CERT_HAS_EXPIRED
            ? whose + " expired on " + utc_text(X509_get0_notAfter(certificate.get())) +
                  ": the client cannot trust it; the broker needs a renewed one"
            : whose + " is not valid before " + utc_text(X509_get0_notBefore(certificate.get())) +
                  ": the client cannot trust it until then (is this host's clock right?)";
  const std::lock_guard lock(mutex_);
  if (!problem_) problem_ = why;
  return false;
}

std::optional<std::string> BrokerCertificates::problem() const {
  const std::lock_guard lock(mutex_);
  return problem_;
}

std::optional<Error> client_certificate_error(const std::map<std::string, std::string>& properties) {
  const auto certificate = client_certificate(properties);
  if (!certificate) return std::nullopt;
  const std::string whose = "kafka: the client certificate of " + certificate_principal(certificate.get()) + " (" +
                            certificate_source(properties) + ")";
  if (X509_cmp_current_time(X509_get0_notAfter(certificate.get())) < 0) {
    return Error{ExitCode::kKafkaAuthentication,
                 whose + " expired on " + utc_text(X509_get0_notAfter(certificate.get())) +
                     ": the broker refuses it; renew it"};
  }
  if (X509_cmp_current_time(X509_get0_notBefore(certificate.get())) > 0) {
    return Error{ExitCode::kKafkaAuthentication,
                 whose + " is not valid before " + utc_text(X509_get0_notBefore(certificate.get())) +
                     ": the broker refuses it until then (is this host's clock right?)"};
  }
  return std::nullopt;
}

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
    // Named as the broker names it unless its ssl.principal.mapping.rules say otherwise.
    if (const auto certificate = client_certificate(properties)) {
      if (std::string principal = certificate_principal(certificate.get()); !principal.empty()) return principal;
    }
    const std::string file = property(properties, "ssl.certificate.location");
    if (!file.empty()) return "the principal of certificate " + file;
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
                                          std::string_view detail, const BrokerCertificates* certificates) {
  if (code == RdKafka::ERR__AUTHENTICATION) {
    return Error{ExitCode::kKafkaAuthentication,
                 "kafka: authentication failed for " + principal + ": " + std::string(detail)};
  }
  // On TLS 1.3 the broker checks the client certificate after the handshake: its refusal is an
  // alert on the first read ("sslv3 alert certificate unknown", "tlsv1 alert unknown ca"), which
  // librdkafka reports as a transport failure. It does not heal by reconnecting.
  if (code == RdKafka::ERR__TRANSPORT && detail.find(" alert ") != std::string_view::npos &&
      (detail.find("certificate") != std::string_view::npos || detail.find("unknown ca") != std::string_view::npos)) {
    return Error{ExitCode::kKafkaAuthentication, "kafka: TLS handshake failed for " + principal +
                                                     " (the broker refuses the client certificate): " +
                                                     std::string(detail)};
  }
  if (code == RdKafka::ERR__SSL) {
    if (const auto problem = certificates != nullptr ? certificates->problem() : std::nullopt) {
      return Error{ExitCode::kKafkaAuthentication, "kafka: TLS handshake failed for " + principal + ": " + *problem};
    }
    return Error{ExitCode::kKafkaAuthentication,
                 "kafka: TLS handshake failed for " + principal + " (check ssl.ca.location and the certificate): " +
                     std::string(detail)};
  }
  return std::nullopt;
}

}  // namespace faust
