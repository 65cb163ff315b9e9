// faust-host on a secured broker (SASL_SSL with SCRAM-SHA-512, mTLS, the StandardAuthorizer with
// allow.everyone.if.no.acl.found=false): the tutorial with exactly the documented ACLs, and the
// line and exit code of each refusal. One broker for the whole binary, started by the binary.
#include <signal.h>
#include <stdlib.h>

#include <algorithm>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>

#include <gtest/gtest.h>

#include "common/exit_code.h"
#include "manifest/manifest.h"
#include "manifest/required_acls.h"
#include "secured/secured_kafka.h"
#include "support/http_get.h"
#include "support/worker_cluster.h"

namespace faust::testing {
namespace {

using namespace std::chrono_literals;

// The principal of both the SCRAM user and the client certificate (CN=app, mapped to its CN).
constexpr const char* kPrincipal = "User:app";
// Refusals that cannot heal stop a worker within this.
constexpr auto kRefusalDeadline = 20s;

SecuredKafka* secured = nullptr;

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
    // The documented transactional-id ACL (prefixed "<app-id>-") for each test's apps, whose ids
    // start "it-<name>-" (WorkerCluster): librdkafka 2.0.2 cannot create transactional-id ACLs,
    // Kafka's kafka-acls can, one JVM start for all. The test without it has a name of its own.
    secured->grant_transactional_ids(kPrincipal, {"it-scram-", "it-mtls-", "it-no-topic-write-", "it-no-group-read-",
                                                  "it-check-", "it-quiet-"});
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

std::string broker_of(Login login) { return "kafka://" + (login == Login::kScram ? secured->sasl_ssl() : secured->ssl()); }

WorkerCluster::StartOptions start_on(Login login, bool wait = true) {
  WorkerCluster::StartOptions options;
  options.extra_args = {"--broker", broker_of(login)};
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

// No worker log holds the password (nor anything it printed).
void expect_no_secret(const WorkerCluster& cluster, const std::string& secret) {
  ASSERT_GE(secret.size(), 8u);
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    EXPECT_EQ(cluster.worker(i).process->log().find(secret), std::string::npos) << "worker " << i << " logged the secret";
  }
}

void run_tutorial_with_failover(Login login, std::size_t workers) {
  WorkerCluster cluster(login == Login::kScram ? "scram" : "mtls", ClusterSettings{}, tutorial(kafka_section(login)));
  secured->grant(kPrincipal, documented_acls(cluster));
  for (std::size_t i = 0; i < workers; ++i) cluster.start_worker(start_on(login));

  const std::size_t leader = await_single_leader(cluster, 20s);
  ASSERT_NE(leader, SIZE_MAX);
  ASSERT_TRUE(eventually(20s, [&] { return cluster.acknowledged_greetings().size() >= 4; }));
  // Nor does any page of the web port show it.
  for (const char* page : {"/status", "/metrics", "/readyz", "/leader"}) {
    const auto reply = http_get(cluster.worker(leader).web_port, page);
    ASSERT_TRUE(reply.has_value()) << page;
    EXPECT_EQ(reply->body.find(secured->app_password()), std::string::npos) << page;
  }
  cluster.worker(leader).process->signal(SIGINT);
  ASSERT_EQ(cluster.worker(leader).process->wait_exit(20s), 0);
  std::vector<std::size_t> successors;
  ASSERT_TRUE(eventually(20s, [&] {
    successors = cluster.leaders();
    return successors.size() == 1;
  })) << "no successor leader";
  const std::size_t before = cluster.acknowledged_greetings().size();
  EXPECT_TRUE(eventually(20s, [&] { return cluster.acknowledged_greetings().size() >= before + 3; }))
      << "the successor sends no greetings";
  expect_acknowledged_greetings_printed(cluster, 20s);
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    auto& process = *cluster.worker(i).process;
    EXPECT_TRUE(i == leader || process.running()) << "worker " << i << "\n" << process.log();
    EXPECT_EQ(process.log().find("[critical]"), std::string::npos) << "worker " << i << "\n" << process.log();
  }
  expect_no_secret(cluster, secured->app_password());
}

TEST(SecuredKafka, TutorialOverScramWithTheDocumentedAclsFailsOver) { run_tutorial_with_failover(Login::kScram, 3); }

TEST(SecuredKafka, TutorialOverMutualTlsWithTheDocumentedAclsFailsOver) { run_tutorial_with_failover(Login::kMtls, 3); }

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
  WorkerCluster cluster("no-" + missing.name, ClusterSettings{}, tutorial(kafka_section(Login::kScram)));
  auto rules = documented_acls(cluster);
  for (auto& rule : rules) {
    if (rule.resource_type == missing.resource_type) std::erase(rule.operations, missing.operation);
  }
  std::erase_if(rules, [](const AclRule& rule) { return rule.operations.empty(); });
  // Transactional ids: granted for the other tests' apps by the environment, not for this one's.
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

// A worker the broker does not let in: exit 24 within seconds, its reason in one line, and not
// the password it tried.
void expect_authentication_refused(WorkerCluster& cluster, const std::string& reason, const std::string& secret) {
  const auto began = std::chrono::steady_clock::now();
  const std::size_t index = cluster.start_worker(start_on(Login::kScram, false));
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

TEST(SecuredKafka, WrongPasswordStopsTheWorkerWithoutShowingIt) {
  const std::string wrong = "not-the-password-" + std::to_string(::getpid());
  std::ofstream(secured->secrets_dir() / "wrong.password") << wrong << "\n";
  WorkerCluster cluster("password", ClusterSettings{}, tutorial(kafka_section(Login::kScram, "wrong.password")));
  expect_authentication_refused(cluster, "kafka: authentication failed for User:app: ", wrong);
}

TEST(SecuredKafka, UntrustedCertificateAuthorityStopsTheWorker) {
  WorkerCluster cluster("untrusted", ClusterSettings{},
                        tutorial(kafka_section(Login::kScram, "app.password", secured->fact("FAUST_SECURED_UNTRUSTED_CA"))));
  expect_authentication_refused(cluster, "kafka: TLS handshake failed for User:app", secured->app_password());
}

TEST(SecuredKafka, CheckAndSendShowNoSecret) {
  WorkerCluster cluster("quiet", ClusterSettings{}, tutorial(kafka_section(Login::kScram)));
  secured->grant(kPrincipal, documented_acls(cluster));
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
  WorkerCluster cluster("check", ClusterSettings{}, tutorial(kafka_section(Login::kScram)));
  const auto rules = documented_acls(cluster);
  secured->grant(kPrincipal, rules);
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
