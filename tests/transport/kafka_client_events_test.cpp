#include "transport/kafka/kafka_client_events.h"

#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>

#include <gtest/gtest.h>

namespace faust {
namespace {

// An error event as librdkafka hands one to the event callback.
class ErrorEvent final : public RdKafka::Event {
 public:
  ErrorEvent(RdKafka::ErrorCode code, bool fatal, std::string text) : code_(code), fatal_(fatal), text_(std::move(text)) {}
  Type type() const override { return EVENT_ERROR; }
  RdKafka::ErrorCode err() const override { return code_; }
  Severity severity() const override { return EVENT_SEVERITY_ERROR; }
  std::string fac() const override { return {}; }
  std::string str() const override { return text_; }
  int throttle_time() const override { return 0; }
  std::string broker_name() const override { return {}; }
  int broker_id() const override { return -1; }
  bool fatal() const override { return fatal_; }

 private:
  RdKafka::ErrorCode code_;
  bool fatal_;
  std::string text_;
};

TEST(KafkaClientEventsTest, AFatalErrorIsReportedToTheWorkerAndAnOrdinaryOneIsNot) {
  std::atomic<BrokerState> state{BrokerState::kUp};
  std::vector<std::string> fatal;
  KafkaClientEvents events(state, nullptr, [&](const Error& error) {
    EXPECT_EQ(error.code, ExitCode::kKafkaFatal);
    fatal.push_back(error.message);
  });

  ErrorEvent ordinary(RdKafka::ERR__TIMED_OUT, false, "request timed out");
  events.event_cb(ordinary);
  EXPECT_TRUE(fatal.empty());

  ErrorEvent unusable(RdKafka::ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, true, "producer sequence gap");
  events.event_cb(unusable);
  ASSERT_EQ(fatal.size(), 1u);
  EXPECT_EQ(fatal[0], "kafka: fatal error: " + RdKafka::err2str(RdKafka::ERR_OUT_OF_ORDER_SEQUENCE_NUMBER) +
                          ": producer sequence gap");
}

TEST(KafkaClientEventsTest, WithoutAnObserverAFatalErrorIsOnlyLogged) {
  std::atomic<BrokerState> state{BrokerState::kUp};
  KafkaClientEvents events(state);
  ErrorEvent fenced(RdKafka::ERR__FENCED, true, "fenced by a newer producer");
  events.event_cb(fenced);  // the leader producer's term handles its own fatal errors
  EXPECT_EQ(state.load(), BrokerState::kUp);
}

TEST(KafkaClientEventsTest, ARefusedLoginOrOperationStopsTheWorkerNamingPrincipalAndResource) {
  std::atomic<BrokerState> state{BrokerState::kUp};
  std::vector<Error> refusals;
  KafkaClientEvents events(state, nullptr, [&](const Error& error) { refusals.push_back(error); }, "User:app",
                           KafkaAccess{"app-say", "Read", "app", ""});

  ErrorEvent password(RdKafka::ERR__AUTHENTICATION, false, "sasl_ssl://b:9093/bootstrap: SASL authentication error");
  events.event_cb(password);
  ErrorEvent group(RdKafka::ERR_GROUP_AUTHORIZATION_FAILED, false, "JoinGroup failed");
  events.event_cb(group);
  ErrorEvent certificate(RdKafka::ERR__SSL, false, "ssl://b:9093/bootstrap: SSL handshake failed: certificate verify failed");
  events.event_cb(certificate);

  ASSERT_EQ(refusals.size(), 3u);
  EXPECT_EQ(refusals[0].code, ExitCode::kKafkaAuthentication);
  EXPECT_EQ(refusals[0].message,
            "kafka: authentication failed for User:app: sasl_ssl://b:9093/bootstrap: SASL authentication error");
  EXPECT_EQ(refusals[1].code, ExitCode::kKafkaAuthorization);
  EXPECT_EQ(refusals[1].message.rfind("kafka: not authorized: User:app may not Read group 'app' (", 0), 0u)
      << refusals[1].message;
  EXPECT_EQ(refusals[2].code, ExitCode::kKafkaAuthentication);
  EXPECT_NE(refusals[2].message.find("TLS handshake failed for User:app"), std::string::npos);
}

TEST(KafkaAccessTest, ThePrincipalComesFromTheSecurityProperties) {
  EXPECT_EQ(kafka_principal({}), "User:ANONYMOUS");
  EXPECT_EQ(kafka_principal({{"security.protocol", "SASL_SSL"}, {"sasl.mechanisms", "SCRAM-SHA-512"},
                             {"sasl.username", "app"}}),
            "User:app");
  EXPECT_EQ(kafka_principal({{"security.protocol", "ssl"}, {"ssl.certificate.location", "/nonexistent/app.pem"}}),
            "the principal of certificate /nonexistent/app.pem");
  EXPECT_EQ(kafka_principal({{"security.protocol", "SASL_SSL"}, {"sasl.mechanism", "GSSAPI"}}),
            "the Kerberos principal of this host");
}

// openssl req -x509 -subj "/C=DE/O=Faust Host, Inc./OU=Stream Ops/CN=app": valid from
// 2026-12-06 14:07:34 to 2026-12-07 14:07:34 UTC.
const char* const kCertificate = R"(-----BEGIN CERTIFICATE-----
MIIB6zCCAZGgAwIBAgIUcKAuwmv/CJAaLZ194TI4JnUTjZAwCgYIKoZIzj0EAwIw
SzELMAkGA1UEBhMCREUxGTAXBgNVBAoMEEZhdXN0IEhvc3QsIEluYy4xEzARBgNV
BAsMClN0cmVhbSBPcHMxDDAKBgNVBAMMA2FwcDAeFw0yNjEyMDYxNDA3MzRaFw0y
NjEyMDcxNDA3MzRaMEsxCzAJBgNVBAYTAkRFMRkwFwYDVQQKDBBGYXVzdCBIb3N0
LCBJbmMuMRMwEQYDVQQLDApTdHJlYW0gT3BzMQwwCgYDVQQDDANhcHAwWTATBgcq
hkjOPQIBBggqhkjOPQMBBwNCAATe4eXzVxN20UvUQk3ivAjeFSJXiwNPC7xuPUZW
Ekjeg88Jeau8GsKDGvMbTNrRDY4nfG2nFMzKx9kAQuTggou2o1MwUTAdBgNVHQ4E
FgQUvwUpRc0/P7YevJ05wZcc7QNI4oAwHwYDVR0jBBgwFoAUvwUpRc0/P7YevJ05
wZcc7QNI4oAwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiA1IcYu
C1i2Pqu4VN8czkCT4INLsjb260HALJHsfM0ljwIhAIb9KHJTjWKtFZzHaK8ontrY
E72KQ8IS6qz1r+9em7ts
-----END CERTIFICATE-----
)";
// Its subject as RFC 2253 writes it: most specific name first, a comma in a name escaped.
const char* const kSubject = "CN=app,OU=Stream Ops,O=Faust Host\\, Inc.,C=DE";

// The certificate's DER bytes, as librdkafka hands them to the verification callback.
std::string der_of(const char* pem) {
  std::unique_ptr<BIO, void (*)(BIO*)> in(BIO_new_mem_buf(pem, -1), BIO_free_all);
  std::unique_ptr<X509, void (*)(X509*)> certificate(PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr), X509_free);
  unsigned char* bytes = nullptr;
  const int size = i2d_X509(certificate.get(), &bytes);
  std::string der(reinterpret_cast<const char*>(bytes), static_cast<std::size_t>(std::max(size, 0)));
  OPENSSL_free(bytes);
  return der;
}

// The broker certificate a handshake failed on is named by the refusal, instead of librdkafka's
// "certificate verify failed" that points at ssl.ca.location; the verdict stays OpenSSL's.
TEST(KafkaClientEventsTest, AnExpiredBrokerCertificateIsNamedByTheHandshakeFailure) {
  std::atomic<BrokerState> state{BrokerState::kUp};
  std::vector<Error> refusals;
  KafkaClientEvents events(state, nullptr, [&](const Error& error) { refusals.push_back(error); }, "User:app");
  const std::string der = der_of(kCertificate);
  std::string why;
  int error = X509_V_OK;
  EXPECT_TRUE(events.ssl_cert_verify_cb("b:9093", -1, &error, 1, der.data(), der.size(), why));
  error = X509_V_ERR_CERT_HAS_EXPIRED;
  EXPECT_FALSE(events.ssl_cert_verify_cb("b:9093", -1, &error, 0, der.data(), der.size(), why));
  EXPECT_EQ(error, X509_V_ERR_CERT_HAS_EXPIRED);
  EXPECT_EQ(why, std::string("the broker certificate of b:9093 (") + kSubject +
                     ") expired on 2026-12-07 14:07:34 UTC: the client cannot trust it; the broker needs a renewed one");
  ErrorEvent handshake(RdKafka::ERR__SSL, false, "ssl://b:9093/bootstrap: SSL handshake failed: certificate verify failed");
  events.event_cb(handshake);
  ASSERT_EQ(refusals.size(), 1u);
  EXPECT_EQ(refusals[0].code, ExitCode::kKafkaAuthentication);
  EXPECT_EQ(refusals[0].message, "kafka: TLS handshake failed for User:app: " + why);

  // A CA of the chain, not valid yet; an issuer not trusted is OpenSSL's reason only.
  KafkaClientEvents other(state, nullptr, [&](const Error& e) { refusals.push_back(e); }, "User:app");
  error = X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY;
  EXPECT_FALSE(other.ssl_cert_verify_cb("b:9093", -1, &error, 0, der.data(), der.size(), why));
  EXPECT_EQ(why, "unable to get local issuer certificate");
  error = X509_V_ERR_CERT_NOT_YET_VALID;
  EXPECT_FALSE(other.ssl_cert_verify_cb("b:9093", -1, &error, 1, der.data(), der.size(), why));
  EXPECT_EQ(why, std::string("the CA certificate ") + kSubject +
                     " of broker b:9093 is not valid before 2026-12-06 14:07:34 UTC: the client cannot trust it until "
                     "then (is this host's clock right?)");
}

// A client certificate's principal is what Kafka's default mapping makes of its subject.
TEST(KafkaAccessTest, ACertificatesPrincipalIsItsSubjectAsTheBrokerNamesIt) {
  const std::string pem = kCertificate;
  const std::string expected = std::string("User:") + kSubject;
  EXPECT_EQ(kafka_principal({{"security.protocol", "SSL"}, {"ssl.certificate.pem", pem}}), expected);
  const auto file = std::filesystem::temp_directory_path() / ("kafka-access-" + std::to_string(::getpid()) + ".pem");
  std::ofstream(file) << pem;
  EXPECT_EQ(kafka_principal({{"security.protocol", "SSL"}, {"ssl.certificate.location", file.string()}}), expected);
  std::filesystem::remove(file);
}

TEST(KafkaAccessTest, EachAuthorizationErrorNamesItsResourceAndOperation) {
  const KafkaAccess access{"app-say", "Write", "app", "app-leader"};
  const auto message = [&](RdKafka::ErrorCode code, KafkaAccess a) {
    auto error = authorization_error(code, "User:app", a);
    EXPECT_TRUE(error.has_value());
    EXPECT_EQ(error->code, ExitCode::kKafkaAuthorization);
    return error->message.substr(0, error->message.find(" ("));
  };
  EXPECT_EQ(message(RdKafka::ERR_TOPIC_AUTHORIZATION_FAILED, access),
            "kafka: not authorized: User:app may not Write topic 'app-say'");
  EXPECT_EQ(message(RdKafka::ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED, access),
            "kafka: not authorized: User:app may not Write transactional id 'app-leader'");
  EXPECT_EQ(message(RdKafka::ERR_CLUSTER_AUTHORIZATION_FAILED, access),
            "kafka: not authorized: User:app may not IdempotentWrite the cluster");
  EXPECT_EQ(message(RdKafka::ERR_CLUSTER_AUTHORIZATION_FAILED, KafkaAccess{"t", "Create", "", ""}),
            "kafka: not authorized: User:app may not Create the cluster");
  EXPECT_FALSE(authorization_error(RdKafka::ERR__TIMED_OUT, "User:app", access).has_value());
  EXPECT_FALSE(authentication_error(RdKafka::ERR__TRANSPORT, "User:app", "connection refused").has_value());
}

}  // namespace
}  // namespace faust
