// faust-host on a secured broker (SASL_SSL with SCRAM-SHA-512, mTLS, the StandardAuthorizer with
// allow.everyone.if.no.acl.found=false): the tutorial through SIGINT and SIGKILL failovers and an
// exactly-once agent, with exactly the documented ACLs; the line and exit code of each refusal.
// One broker for the whole binary, started by the binary.
#include <signal.h>
#include <stdlib.h>

#include <algorithm>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>

#include <gtest/gtest.h>

#include "common/exit_code.h"
#include "support/committed_reader.h"
#include "support/topic_seeder.h"
#include "manifest/manifest.h"
#include "manifest/required_acls.h"
#include "secured/secured_kafka.h"
#include "support/http_get.h"
#include "support/worker_cluster.h"

namespace faust::testing {
namespace {

using namespace std::chrono_literals;

// The SCRAM user's principal. The client certificate's is the broker's fact
// FAUST_SECURED_CLIENT_PRINCIPAL (its subject, by Kafka's default mapping).
constexpr const char* kPrincipal = "User:app";
// Refusals that cannot heal stop a worker within this.
constexpr auto kRefusalDeadline = 20s;

SecuredKafka* secured = nullptr;

std::string certificate_principal() { return secured->fact("FAUST_SECURED_CLIENT_PRINCIPAL"); }

// The app id of each test's cluster, known before the clusters exist so that the environment
// grants their transactional-id ACLs in one go: "it-<name>-<pid>" (the broker is the binary's own).
std::string app_id(const std::string& name) { return "it-" + name + "-" + std::to_string(::getpid()); }

// The apps whose transactional ids the environment grants, by principal. The test of a missing
// transactional-id ACL uses an app outside these.
const std::map<std::string, std::vector<std::string>>& apps_by_principal() {
  static const std::map<std::string, std::vector<std::string>> apps = {
      {kPrincipal, {"scram", "eos", "no-topic-write", "no-group-read", "check", "quiet"}},
      {"", {"mtls", "eos-mtls"}}};  // the certificate's principal
  return apps;
}

class SecuredKafkaEnvironment final : public ::testing::Environment {
 public:
  void SetUp() override {
    const auto began = std::chrono::steady_clock::now();
    broker_ = std::make_unique<SecuredKafka>();
    secured = broker_.get();
    // As systemd's LoadCredential= does: manifests name their secrets by file name.
    ::setenv("CREDENTIALS_DIRECTORY", secured->secrets_dir().c_str(), 1);
    // The manifests' app.broker: the SASL_SSL listener (mTLS workers get --broker).
    ::setenv("FAUST_TEST_BROKER", secured->sasl_ssl().c_str(), 1);
    const auto started = std::chrono::steady_clock::now();
    std::cout << "[ report ] the secured broker started in " << std::chrono::duration<double>(started - began).count()
              << " s\n";
    // The documented transactional-id ACL (prefixed "<app-id>-") of each test's app, for its
    // principal: librdkafka 2.0.2 cannot create transactional-id ACLs, Kafka's kafka-acls can, one
    // JVM start per principal. Each test checks that the host documents just this one.
    std::map<std::string, std::vector<std::string>> prefixes;
    for (const auto& [principal, names] : apps_by_principal()) {
      auto& of_principal = prefixes[principal.empty() ? certificate_principal() : principal];
      for (const auto& name : names) of_principal.push_back(app_id(name) + "-");
    }
    secured->grant_transactional_ids(prefixes);
    std::cout << "[ report ] transactional-id ACLs granted in "
              << std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() << " s\n";
  }
  void TearDown() override {
    secured = nullptr;
    broker_.reset();
  }

 private:
  std::unique_ptr<SecuredKafka> broker_;
};

enum class Login { kScram, kMtls };

std::string kafka_section(Login login, const std::string& password_file = "app.password",
                          const std::string& ca = "") {
  const std::string ca_file = ca.empty() ? secured->fact("FAUST_SECURED_CA") : ca;
  if (login == Login::kScram) {
    return "kafka:\n  security.protocol: SASL_SSL\n  sasl.mechanisms: SCRAM-SHA-512\n  sasl.username: app\n"
           "  sasl.password: ${file:" + password_file + "}\n  ssl.ca.location: " + ca_file + "\n";
  }
  return "kafka:\n  security.protocol: SSL\n  ssl.ca.location: " + ca_file +
         "\n  ssl.certificate.location: " + secured->fact("FAUST_SECURED_CLIENT_CERT") +
         "\n  ssl.key.location: " + secured->fact("FAUST_SECURED_CLIENT_KEY") + "\n";
}

ClusterManifest tutorial(const std::string& kafka) {
  ClusterManifest manifest;
  manifest.sections = kafka +
                      "agents:\n  say:\n    library: say\n"
                      "timers:\n  publish_greetings:\n    library: publish_greetings\n"
                      "    interval: 0.5\n    on_leader: true\n";
  return manifest;
}

std::string principal_of(Login login) { return login == Login::kScram ? kPrincipal : certificate_principal(); }

std::string broker_of(Login login) { return "kafka://" + (login == Login::kScram ? secured->sasl_ssl() : secured->ssl()); }

// On the login's listener, or the broker URL `broker`.
WorkerCluster::StartOptions start_on(Login login, bool wait = true, const std::string& broker = {}) {
  WorkerCluster::StartOptions options;
  options.extra_args = {"--broker", broker.empty() ? broker_of(login) : broker};
  options.wait_serving = wait;
  options.wait_ready = wait;
  return options;
}

// The ACLs the README documents for the cluster's app, as the host computes them.
std::vector<AclRule> documented_acls(const WorkerCluster& cluster) {
  auto manifest = load_manifest(cluster.manifest_path());
  if (!manifest) throw std::runtime_error(manifest.error().message);
  return required_acls(*manifest);
}

// Grants `principal` the documented ACLs of the cluster's app. The transactional-id ones were
// granted by the environment: the documented ones must be exactly those.
void grant_documented_acls(const std::string& principal, const WorkerCluster& cluster) {
  const auto rules = documented_acls(cluster);
  std::vector<std::string> transactional;
  for (const auto& rule : rules) {
    if (rule.resource_type != "transactional-id") continue;
    std::string operations;
    for (const auto& op : rule.operations) operations += " " + op;
    transactional.push_back((rule.prefixed ? "prefixed " : "literal ") + rule.name + operations);
  }
  EXPECT_EQ(transactional, std::vector<std::string>{"prefixed " + cluster.app_id() + "- Write Describe"});
  secured->grant(principal, rules);
}

// No worker log holds the password (nor anything it printed).
void expect_no_secret(const WorkerCluster& cluster, const std::string& secret) {
  ASSERT_GE(secret.size(), 8u);
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    EXPECT_EQ(cluster.worker(i).process->log().find(secret), std::string::npos) << "worker " << i << " logged the secret";
  }
}

// A handover of leadership: the leader that died and the worker that leads after it.
struct Handover {
  std::size_t dead = 0;
  std::size_t successor = 0;
  std::chrono::system_clock::time_point elected;  // the successor's "now the leader" line
};

// Fenced greetings: once a greeting of the successor's term has been printed, none of the dead
// leader's is. The say topic has one partition, read by one worker at a time in offset order, so
// the order of first prints is the committed order: a greeting of the dead term first printed later
// would be one the dead leader got through after its successor's term began. A greeting printed
// again (at least once: the partition moved on before its offset was committed) repeats one
// printed before, and only its first print counts.
void expect_no_greeting_of_the_dead_term_after_the_new_one(const WorkerCluster& cluster, const Handover& handover) {
  std::set<std::string> dead_term, new_term;
  for (const auto& sent : cluster.sent_greetings(handover.dead)) dead_term.insert(sent.greeting);
  for (const auto& sent : cluster.sent_greetings(handover.successor)) {
    if (sent.logged >= handover.elected) new_term.insert(sent.greeting);
  }
  std::vector<std::pair<std::chrono::system_clock::time_point, std::string>> printed;  // by log time
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    for (const auto& line : cluster.worker(i).process->log_lines()) {
      const auto at = line.find("[say] ");
      const auto time = log_time(line);
      if (at != std::string::npos && time) printed.emplace_back(*time, line.substr(at + 6));
    }
  }
  std::stable_sort(printed.begin(), printed.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  bool new_term_printed = false;
  std::size_t of_new_term = 0;
  std::set<std::string> seen;
  for (const auto& [time, greeting] : printed) {
    if (!seen.insert(greeting).second) continue;
    if (new_term.count(greeting) > 0) {
      new_term_printed = true;
      ++of_new_term;
    }
    EXPECT_FALSE(new_term_printed && dead_term.count(greeting) > 0)
        << "greeting " << greeting << " of worker " << handover.dead << "'s dead term printed after worker "
        << handover.successor << "'s term had greetings printed";
  }
  EXPECT_GT(of_new_term, 0u) << "no greeting of worker " << handover.successor << "'s term printed";
}

// The leader stops with `signal`; another worker takes over and its greetings go on.
Handover fail_over(WorkerCluster& cluster, std::size_t leader, int signal) {
  const auto stopped = std::chrono::system_clock::now() - 1ms;
  cluster.worker(leader).process->signal(signal);
  const auto code = cluster.worker(leader).process->wait_exit(20s);
  EXPECT_EQ(code, signal == SIGKILL ? std::optional(128 + SIGKILL) : std::optional(0));
  Handover handover{leader, SIZE_MAX, {}};
  std::vector<std::size_t> successors;
  EXPECT_TRUE(eventually(20s, [&] {
    successors = cluster.leaders();
    return successors.size() == 1;
  })) << "no successor leader after signal " << signal;
  if (successors.size() != 1) return handover;
  handover.successor = successors.front();
  const auto elected = first_log_time(*cluster.worker(handover.successor).process, "this worker is now the leader", stopped);
  EXPECT_TRUE(elected.has_value());
  handover.elected = elected.value_or(stopped);
  std::cout << "[ report ] " << (signal == SIGKILL ? "SIGKILL" : "SIGINT") << " failover: new leader after "
            << std::chrono::duration<double>(handover.elected - stopped).count() << " s\n";
  const std::size_t before = cluster.acknowledged_greetings().size();
  EXPECT_TRUE(eventually(20s, [&] { return cluster.acknowledged_greetings().size() >= before + 3; }))
      << "the successor sends no greetings";
  return handover;
}

void run_tutorial_with_failover(Login login) {
  const std::string name = login == Login::kScram ? "scram" : "mtls";
  // A short session timeout: a SIGKILLed leader's partitions move on quickly.
  auto manifest = tutorial(kafka_section(login));
  manifest.app_id = app_id(name);
  manifest.app_lines = "  topic_partitions: 1\n";  // one say partition: printed in committed order
  WorkerCluster cluster(name, ClusterSettings{.session_timeout = 2.0, .heartbeat_interval = 0.3}, manifest);
  grant_documented_acls(principal_of(login), cluster);
  for (std::size_t i = 0; i < 3; ++i) cluster.start_worker(start_on(login));

  const std::size_t leader = await_single_leader(cluster, 20s);
  ASSERT_NE(leader, SIZE_MAX);
  ASSERT_TRUE(eventually(20s, [&] { return cluster.acknowledged_greetings().size() >= 4; }));
  // Nor does any page of the web port show it.
  for (const char* page : {"/status", "/metrics", "/readyz", "/leader"}) {
    const auto reply = http_get(cluster.worker(leader).web_port, page);
    ASSERT_TRUE(reply.has_value()) << page;
    EXPECT_EQ(reply->body.find(secured->app_password()), std::string::npos) << page;
  }
  const Handover interrupted = fail_over(cluster, leader, SIGINT);
  ASSERT_NE(interrupted.successor, SIZE_MAX);
  const Handover killed = fail_over(cluster, interrupted.successor, SIGKILL);
  ASSERT_NE(killed.successor, SIZE_MAX);
  expect_acknowledged_greetings_printed(cluster, 20s);
  expect_no_greeting_of_the_dead_term_after_the_new_one(cluster, interrupted);
  expect_no_greeting_of_the_dead_term_after_the_new_one(cluster, killed);
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    auto& process = *cluster.worker(i).process;
    EXPECT_TRUE(i == interrupted.dead || i == killed.dead || process.running()) << "worker " << i << "\n" << process.log();
    EXPECT_EQ(process.log().find("[critical]"), std::string::npos) << "worker " << i << "\n" << process.log();
  }
  expect_no_secret(cluster, secured->app_password());

  // check --broker connects as the principal the broker sees.
  const auto check = cluster.run_faust_host(
      {"check", "--manifest", cluster.manifest_path().string(), "--broker", broker_of(login)});
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_NE(check.output.find("connected as " + principal_of(login) + "\n"), std::string::npos) << check.output;
}

TEST(SecuredKafka, TutorialOverScramWithTheDocumentedAclsFailsOverAfterSigintAndSigkill) {
  run_tutorial_with_failover(Login::kScram);
}

TEST(SecuredKafka, TutorialOverMutualTlsWithTheDocumentedAclsFailsOverAfterSigintAndSigkill) {
  run_tutorial_with_failover(Login::kMtls);
}

// An exactly-once agent (the test plugin `copy`) with the documented ACLs only: it copies numbers
// from its topic to another of the app's topics while one of its two workers is SIGKILLed
// mid-copy; read read_committed, each number is there exactly once.
void copy_exactly_once_through_a_sigkill(Login login) {
  constexpr int kMessages = 3000;
  constexpr int kPartitions = 4;
  const std::string name = login == Login::kScram ? "eos" : "eos-mtls";
  ClusterManifest manifest;
  manifest.app_id = app_id(name);
  manifest.app_lines = "  topic_partitions: " + std::to_string(kPartitions) + "\n";
  const std::string output_topic = manifest.app_id + "-copies";
  manifest.sections = kafka_section(login) + "agents:\n  copy:\n    library: " + FAUST_COPY_PLUGIN +
                      "\n    concurrency: 2\n    processing_guarantee: exactly_once\n"
                      "    batch:\n      max_messages: 50\n      max_wait: 0.1\n"
                      "    config:\n      to: " + output_topic + "\n      delay_us: 4000\n";
  WorkerCluster cluster(name, ClusterSettings{.session_timeout = 2.0, .heartbeat_interval = 0.3}, manifest);
  grant_documented_acls(principal_of(login), cluster);
  // The tests' own clients are the admin user's; the output topic is made beforehand, as an
  // operator makes the topics the app only writes to.
  const TopicSeeder seeder(secured->sasl_ssl(), secured->admin_settings());
  ASSERT_EQ(seeder.create_topics({{cluster.app_id() + "-copy", kPartitions}, {output_topic, 1}}), "");
  for (int i = 0; i < 2; ++i) cluster.start_worker(start_on(login));
  ASSERT_EQ(seeder.produce_numbered(cluster.app_id() + "-copy", kMessages).size(), static_cast<std::size_t>(kPartitions));

  CommittedReader reader(secured->sasl_ssl(), output_topic, 0, secured->admin_settings());
  std::map<std::string, int> copies;
  std::size_t total = 0;
  // At most 200 ms a call: while the copy runs, copies keep coming, and the kill is due mid-copy.
  const auto read_new = [&] {
    const auto until = std::chrono::steady_clock::now() + 200ms;
    while (std::chrono::steady_clock::now() < until) {
      const auto record = reader.next(10ms);
      if (!record) break;
      ++copies[record->value];
      ++total;
    }
  };
  ASSERT_TRUE(eventually(30s, [&] {
    read_new();
    return copies.size() >= kMessages / 4;
  })) << copies.size() << " numbers copied\n" << cluster.worker(0).process->log();
  cluster.worker(0).process->signal(SIGKILL);
  ASSERT_TRUE(cluster.worker(0).process->wait_exit(10s).has_value());
  EXPECT_TRUE(eventually(60s, [&] {
    read_new();
    return copies.size() >= static_cast<std::size_t>(kMessages);
  })) << copies.size() << " of " << kMessages << " numbers copied\n" << cluster.worker(1).process->log();
  // A late duplicate would land within this.
  const auto quiet_until = std::chrono::steady_clock::now() + 2s;
  while (std::chrono::steady_clock::now() < quiet_until) read_new();
  std::cout << "[ report ] exactly-once over " << (login == Login::kScram ? "SASL_SSL" : "mTLS") << ": " << total << " copies of " << copies.size()
            << " numbers after a SIGKILL\n";
  EXPECT_EQ(copies.size(), static_cast<std::size_t>(kMessages));
  EXPECT_EQ(total, static_cast<std::size_t>(kMessages)) << "duplicates in the read_committed output";
  EXPECT_EQ(copies.begin()->first, numbered_value(0));
  EXPECT_EQ(copies.rbegin()->first, numbered_value(kMessages - 1));
  EXPECT_TRUE(cluster.worker(1).process->running()) << cluster.worker(1).process->log();
  EXPECT_EQ(cluster.worker(1).process->log().find("[critical]"), std::string::npos) << cluster.worker(1).process->log();
  expect_no_secret(cluster, secured->app_password());
}

TEST(SecuredKafka, ExactlyOnceAgentOverScramWithTheDocumentedAclsCopiesEachMessageOnceThroughASigkill) {
  copy_exactly_once_through_a_sigkill(Login::kScram);
}

TEST(SecuredKafka, ExactlyOnceAgentOverMutualTlsWithTheDocumentedAclsCopiesEachMessageOnceThroughASigkill) {
  copy_exactly_once_through_a_sigkill(Login::kMtls);
}

// The documented ACLs but one operation: the worker stops with the refusal's line and code.
struct MissingAcl {
  std::string name;
  std::string resource_type;
  std::string operation;  // removed from that resource's rules
  std::string expected;   // in the one log line, after the app id's prefix is put in
};

class SecuredKafkaMissingAcl : public ::testing::TestWithParam<MissingAcl> {};

TEST_P(SecuredKafkaMissingAcl, StopsTheWorkerNamingPrincipalResourceAndOperation) {
  const MissingAcl& missing = GetParam();
  auto manifest = tutorial(kafka_section(Login::kScram));
  manifest.app_id = app_id("no-" + missing.name);
  WorkerCluster cluster("no-" + missing.name, ClusterSettings{}, manifest);
  auto rules = documented_acls(cluster);
  for (auto& rule : rules) {
    if (rule.resource_type == missing.resource_type) std::erase(rule.operations, missing.operation);
  }
  std::erase_if(rules, [](const AclRule& rule) { return rule.operations.empty(); });
  // Transactional ids: granted by the environment for the apps it lists, which are all but the
  // one without it.
  secured->grant(kPrincipal, rules);

  const auto began = std::chrono::steady_clock::now();
  const std::size_t index = cluster.start_worker(start_on(Login::kScram, false));
  auto& process = *cluster.worker(index).process;
  const auto code = process.wait_exit(kRefusalDeadline);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  std::cout << "[ report ] missing " << missing.name << ": exit " << code.value_or(-1) << " after " << seconds << " s\n";
  ASSERT_TRUE(code.has_value()) << "the worker did not stop; log:\n" << process.log();
  EXPECT_EQ(*code, to_int(ExitCode::kKafkaAuthorization)) << process.log();
  std::string expected = missing.expected;
  expected.replace(expected.find("APP"), 3, cluster.app_id());
  const std::string line = "kafka: not authorized: User:app may not " + expected;
  const auto lines = process.log_lines();
  const auto count = std::count_if(lines.begin(), lines.end(),
                                   [&](const std::string& l) { return l.find(line) != std::string::npos; });
  EXPECT_EQ(count, 1) << "expected one line with \"" << line << "\"; log:\n" << process.log();
  expect_no_secret(cluster, secured->app_password());
}

INSTANTIATE_TEST_SUITE_P(
    EachResource, SecuredKafkaMissingAcl,
    ::testing::Values(MissingAcl{"topic-write", "topic", "Write", "Write topic 'APP-say'"},
                      MissingAcl{"group-read", "group", "Read", "Read group 'APP"},
                      MissingAcl{"transactional-id-write", "transactional-id", "Write",
                                 "Write transactional id 'APP-leader'"}),
    [](const ::testing::TestParamInfo<MissingAcl>& param_info) {
      std::string name = param_info.param.name;
      std::replace(name.begin(), name.end(), '-', '_');
      return name;
    });

// A line of the private key itself: no output may hold it.
std::string private_key_line(const std::string& file) {
  std::ifstream key(file);
  std::string last;
  for (std::string line; std::getline(key, line);) {
    if (!line.starts_with("-----")) last = line;
  }
  return last;
}

// A worker the broker does not let in (on the login's listener, or the broker URL `broker`): exit 24
// within seconds, its reason in one line, and not the password it tried.
void expect_authentication_refused(WorkerCluster& cluster, const std::string& reason, const std::string& secret,
                                   Login login = Login::kScram, const std::string& broker = {}) {
  const auto began = std::chrono::steady_clock::now();
  const std::size_t index = cluster.start_worker(start_on(login, false, broker));
  auto& process = *cluster.worker(index).process;
  const auto code = process.wait_exit(kRefusalDeadline);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  std::cout << "[ report ] " << reason << ": exit " << code.value_or(-1) << " after " << seconds << " s\n";
  ASSERT_TRUE(code.has_value()) << "the worker did not stop; log:\n" << process.log();
  EXPECT_EQ(*code, to_int(ExitCode::kKafkaAuthentication)) << process.log();
  const auto lines = process.log_lines();
  EXPECT_EQ(std::count_if(lines.begin(), lines.end(),
                          [&](const std::string& l) { return l.find(reason) != std::string::npos; }),
            1)
      << process.log();
  expect_no_secret(cluster, secret);
}

// `check --broker URL` refuses as the worker does: exit 24, the reason, not the secret.
void expect_check_refused(WorkerCluster& cluster, const std::string& reason, const std::string& secret,
                          const std::string& broker) {
  const auto began = std::chrono::steady_clock::now();
  const auto check =
      cluster.run_faust_host({"check", "--manifest", cluster.manifest_path().string(), "--broker", broker});
  std::cout << "[ report ] check --broker: exit " << check.exit_code << " after "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count() << " s\n";
  EXPECT_EQ(check.exit_code, to_int(ExitCode::kKafkaAuthentication)) << check.output;
  EXPECT_NE(check.output.find("faust-host: " + reason), std::string::npos) << check.output;
  EXPECT_EQ(check.output.find(secret), std::string::npos) << check.output;
}

TEST(SecuredKafka, WrongPasswordStopsTheWorkerWithoutShowingIt) {
  const std::string wrong = "not-the-password-" + std::to_string(::getpid());
  std::ofstream(secured->secrets_dir() / "wrong.password") << wrong << "\n";
  WorkerCluster cluster("password", ClusterSettings{}, tutorial(kafka_section(Login::kScram, "wrong.password")));
  const std::string reason = "kafka: authentication failed for User:app: ";
  expect_authentication_refused(cluster, reason, wrong);
  expect_check_refused(cluster, reason, wrong, broker_of(Login::kScram));
}

// A listener of the broker that presents a broker certificate of the trusted CA that no client may
// trust: it expired a year ago, or is valid only from a year on. The worker stops within seconds
// naming the certificate, its broker and its date (librdkafka's own text blames ssl.ca.location),
// and so does `check --broker`.
struct BadBrokerCertificate {
  std::string name;
  Login login;
  std::string listener;  // the broker fact of its address
  std::string problem;   // what the line says after the certificate's name
};

void PrintTo(const BadBrokerCertificate& bad, std::ostream* out) { *out << bad.name; }

class SecuredKafkaBadBrokerCertificate : public ::testing::TestWithParam<BadBrokerCertificate> {};

TEST_P(SecuredKafkaBadBrokerCertificate, StopsTheWorkerNamingTheCertificate) {
  const BadBrokerCertificate& bad = GetParam();
  WorkerCluster cluster("broker-cert-" + bad.name, ClusterSettings{}, tutorial(kafka_section(bad.login)));
  const std::string address = secured->fact(bad.listener);
  const std::string reason = "kafka: TLS handshake failed for " + principal_of(bad.login) +
                             ": the broker certificate of " + address + " (CN=broker) " + bad.problem;
  const std::string secret = bad.login == Login::kScram ? secured->app_password()
                                                        : private_key_line(secured->fact("FAUST_SECURED_CLIENT_KEY"));
  expect_authentication_refused(cluster, reason, secret, bad.login, "kafka://" + address);
  expect_check_refused(cluster, reason, secret, "kafka://" + address);
}

INSTANTIATE_TEST_SUITE_P(
    EachListener, SecuredKafkaBadBrokerCertificate,
    ::testing::Values(
        BadBrokerCertificate{"expired_scram", Login::kScram, "FAUST_SECURED_EXPIRED_BROKER_SASL_SSL", "expired on "},
        BadBrokerCertificate{"expired_mtls", Login::kMtls, "FAUST_SECURED_EXPIRED_BROKER_SSL", "expired on "},
        BadBrokerCertificate{"not_yet_valid_scram", Login::kScram, "FAUST_SECURED_NOT_YET_VALID_BROKER_SASL_SSL",
                             "is not valid before "}),
    [](const ::testing::TestParamInfo<BadBrokerCertificate>& param_info) { return param_info.param.name; });

TEST(SecuredKafka, UntrustedCertificateAuthorityStopsTheWorker) {
  WorkerCluster cluster("untrusted", ClusterSettings{},
                        tutorial(kafka_section(Login::kScram, "app.password", secured->fact("FAUST_SECURED_UNTRUSTED_CA"))));
  expect_authentication_refused(cluster, "kafka: TLS handshake failed for User:app", secured->app_password());
}

// The mTLS kafka: section with the client certificate and key the broker facts `cert` and `key` name.
std::string kafka_section_with_certificate(const std::string& cert, const std::string& key) {
  std::string kafka = kafka_section(Login::kMtls);
  for (const auto& [valid, other] : {std::pair{"FAUST_SECURED_CLIENT_CERT", cert}, std::pair{"FAUST_SECURED_CLIENT_KEY", key}}) {
    const std::string file = secured->fact(valid);
    kafka.replace(kafka.find(file), file.size(), secured->fact(other));
  }
  return kafka;
}

// A client certificate that expired a year ago (signed by the trusted CA): the broker would
// refuse it after the handshake with an alert that does not say why, so the worker says it
// before connecting, naming the certificate's principal as the broker does.
TEST(SecuredKafka, ExpiredClientCertificateStopsTheWorker) {
  WorkerCluster cluster("expired", ClusterSettings{},
                        tutorial(kafka_section_with_certificate("FAUST_SECURED_EXPIRED_CLIENT_CERT",
                                                                "FAUST_SECURED_EXPIRED_CLIENT_KEY")));
  expect_authentication_refused(cluster,
                                "kafka: the client certificate of " + certificate_principal() + " (" +
                                    secured->fact("FAUST_SECURED_EXPIRED_CLIENT_CERT") + ") expired on ",
                                private_key_line(secured->fact("FAUST_SECURED_EXPIRED_CLIENT_KEY")), Login::kMtls);
  // check --broker says the same.
  expect_check_refused(cluster, "kafka: the client certificate of " + certificate_principal(),
                       private_key_line(secured->fact("FAUST_SECURED_EXPIRED_CLIENT_KEY")), broker_of(Login::kMtls));
}

// A valid client certificate of a CA the broker does not trust: refused after the handshake (TLS
// 1.3), the worker stops all the same.
TEST(SecuredKafka, ClientCertificateOfAnUntrustedAuthorityStopsTheWorker) {
  WorkerCluster cluster("foreign", ClusterSettings{},
                        tutorial(kafka_section_with_certificate("FAUST_SECURED_UNTRUSTED_CLIENT_CERT",
                                                                "FAUST_SECURED_UNTRUSTED_CLIENT_KEY")));
  expect_authentication_refused(cluster,
                                "kafka: TLS handshake failed for " + certificate_principal() +
                                    " (the broker refuses the client certificate): ",
                                private_key_line(secured->fact("FAUST_SECURED_UNTRUSTED_CLIENT_KEY")), Login::kMtls);
}

TEST(SecuredKafka, CheckAndSendShowNoSecret) {
  auto manifest = tutorial(kafka_section(Login::kScram));
  manifest.app_id = app_id("quiet");
  WorkerCluster cluster("quiet", ClusterSettings{}, manifest);
  grant_documented_acls(kPrincipal, cluster);
  const auto check = cluster.run_faust_host({"check", "--manifest", cluster.manifest_path().string()});
  EXPECT_EQ(check.exit_code, 0) << check.output;
  const auto sent = cluster.run_faust_host(
      {"send", "say", "hello", "--manifest", cluster.manifest_path().string(), "--broker", broker_of(Login::kScram)});
  EXPECT_EQ(sent.exit_code, 0) << sent.output;
  for (const auto* output : {&check.output, &sent.output}) {
    EXPECT_EQ(output->find(secured->app_password()), std::string::npos) << *output;
  }
}

TEST(SecuredKafka, CheckBrokerReportsEachMissingAclWithItsKafkaAclsLine) {
  auto manifest = tutorial(kafka_section(Login::kScram));
  manifest.app_id = app_id("check");
  WorkerCluster cluster("check", ClusterSettings{}, manifest);
  const auto rules = documented_acls(cluster);
  grant_documented_acls(kPrincipal, cluster);
  const std::vector<std::string> args = {"check", "--manifest", cluster.manifest_path().string(), "--broker",
                                         broker_of(Login::kScram)};
  // Without Describe on the cluster the principal cannot read its ACLs: what can be probed is.
  CommandResult probed;
  EXPECT_TRUE(eventually(15s, [&] {
    probed = cluster.run_faust_host(args);
    return probed.exit_code == 0;
  })) << probed.output;
  EXPECT_NE(probed.output.find("connected as User:app"), std::string::npos) << probed.output;
  EXPECT_NE(probed.output.find("topic prefixed '" + cluster.app_id() + "-' Describe: allowed"), std::string::npos)
      << probed.output;

  // With it, the broker's own ACLs answer for every operation; the agents' group is missing.
  const AclRule describe_cluster{"cluster", "kafka-cluster", false, {"Describe"}, "DescribeAcls"};
  secured->grant(kPrincipal, {describe_cluster});
  std::vector<AclRule> group_rule;
  for (const auto& rule : rules) {
    if (rule.resource_type == "group" && !rule.prefixed) group_rule.push_back(rule);
  }
  ASSERT_EQ(group_rule.size(), 1u);
  secured->revoke(kPrincipal, group_rule);
  const std::string line = "kafka-acls.sh --bootstrap-server " + secured->sasl_ssl() +
                           " --command-config admin.properties --add --allow-principal User:app --operation Read --group " +
                           cluster.app_id() + "\n";
  CommandResult checked;
  EXPECT_TRUE(eventually(15s, [&] {
    checked = cluster.run_faust_host(args);
    return checked.exit_code == to_int(ExitCode::kKafkaAuthorization) && checked.output.ends_with(line);
  })) << "exit " << checked.exit_code << ":\n" << checked.output;
  EXPECT_NE(checked.output.find("group '" + cluster.app_id() + "' Read: MISSING"), std::string::npos) << checked.output;
  EXPECT_EQ(checked.output.find(secured->app_password()), std::string::npos);
  secured->revoke(kPrincipal, {describe_cluster});
}

}  // namespace
}  // namespace faust::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new faust::testing::SecuredKafkaEnvironment);
  return RUN_ALL_TESTS();
}
