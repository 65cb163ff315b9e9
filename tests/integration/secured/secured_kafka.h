// The secured broker of a test binary (`scripts/kafka-broker.sh start-secured`, a state folder of
// its own): its connection facts, and ACLs granted and removed as its admin user.
#pragma once

#include <librdkafka/rdkafka.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cluster/kafka_cluster.h"
#include "manifest/required_acls.h"

namespace faust::testing {

class SecuredKafka {
 public:
  // Starts the broker; throws with the script's output when it does not start.
  SecuredKafka();
  ~SecuredKafka();  // stops it
  SecuredKafka(const SecuredKafka&) = delete;
  SecuredKafka& operator=(const SecuredKafka&) = delete;

  // A fact of the state file: "FAUST_SECURED_SASL_SSL", "FAUST_SECURED_CA", ...
  std::string fact(const std::string& key) const;
  std::string sasl_ssl() const { return fact("FAUST_SECURED_SASL_SSL"); }
  std::string ssl() const { return fact("FAUST_SECURED_SSL"); }
  // The folder of the CA, the certificates and the password files.
  std::filesystem::path secrets_dir() const { return std::filesystem::path(fact("FAUST_SECURED_CA")).parent_path(); }
  std::string app_password() const;

  // Grants (or removes) ALLOW rules to `principal` as the admin user; throws on a refusal.
  // Transactional-id rules are left out: librdkafka 2.0.2 has no such resource type.
  void grant(const std::string& principal, const std::vector<AclRule>& rules);
  void revoke(const std::string& principal, const std::vector<AclRule>& rules);
  // Grants each principal Write and Describe on transactional ids starting with each of its
  // prefixes, through Kafka's own kafka-acls (scripts/kafka-broker.sh acls): one JVM start, some
  // seconds, per principal, all at once.
  void grant_transactional_ids(const std::map<std::string, std::vector<std::string>>& prefixes_by_principal);
  // The client properties of the admin user (a super user): for the tests' own clients.
  std::map<std::string, std::string> admin_settings() const;

 private:
  rd_kafka_t* admin();
  void change(const std::string& principal, const std::vector<AclRule>& rules, bool add);

  KafkaTestCluster broker_;
  std::unique_ptr<rd_kafka_t, void (*)(rd_kafka_t*)> admin_{nullptr, rd_kafka_destroy};
};

}  // namespace faust::testing
