#include "secured/secured_kafka.h"

#include <fstream>
#include <iterator>
#include <map>
#include <stdexcept>

#include "broker_env.h"

namespace faust::testing {
namespace {

constexpr int kAdminTimeoutMs = 10000;

rd_kafka_ResourceType_t resource_type(const std::string& name) {
  if (name == "topic") return RD_KAFKA_RESOURCE_TOPIC;
  if (name == "group") return RD_KAFKA_RESOURCE_GROUP;
  if (name == "cluster") return RD_KAFKA_RESOURCE_BROKER;  // Kafka's CLUSTER resource type (4)
  throw std::invalid_argument("unknown ACL resource type " + name);
}

rd_kafka_AclOperation_t operation(const std::string& name) {
  static const std::map<std::string, rd_kafka_AclOperation_t> kOperations = {
      {"Read", RD_KAFKA_ACL_OPERATION_READ},         {"Write", RD_KAFKA_ACL_OPERATION_WRITE},
      {"Create", RD_KAFKA_ACL_OPERATION_CREATE},     {"Describe", RD_KAFKA_ACL_OPERATION_DESCRIBE},
      {"Delete", RD_KAFKA_ACL_OPERATION_DELETE},     {"Alter", RD_KAFKA_ACL_OPERATION_ALTER},
      {"IdempotentWrite", RD_KAFKA_ACL_OPERATION_IDEMPOTENT_WRITE}};
  return kOperations.at(name);
}

// Waits for an admin result event of `queue`; throws on a request-level error.
rd_kafka_event_t* await_result(rd_kafka_queue_t* queue) {
  rd_kafka_event_t* event = rd_kafka_queue_poll(queue, kAdminTimeoutMs + 5000);
  if (event == nullptr) throw std::runtime_error("ACL change: no answer from the secured broker");
  if (rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    const std::string message = rd_kafka_event_error_string(event);
    rd_kafka_event_destroy(event);
    throw std::runtime_error("ACL change: " + message);
  }
  return event;
}

}  // namespace

SecuredKafka::SecuredKafka() {
  if (const std::string failure = broker_.start("start-secured"); !failure.empty()) {
    broker_.keep_logs();
    throw std::runtime_error(failure);
  }
}

SecuredKafka::~SecuredKafka() { admin_.reset(); }

std::string SecuredKafka::fact(const std::string& key) const {
  return detail::state_file_value((broker_.state_dir() / "broker.env").string(), key);
}

std::string SecuredKafka::app_password() const {
  std::ifstream in(fact("FAUST_SECURED_APP_PASSWORD_FILE"));
  std::string password((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!password.empty() && password.back() == '\n') password.pop_back();
  return password;
}

std::map<std::string, std::string> SecuredKafka::admin_settings() const {
  std::ifstream in(fact("FAUST_SECURED_ADMIN_PASSWORD_FILE"));
  std::string password;
  std::getline(in, password);
  return {{"security.protocol", "SASL_SSL"},
          {"sasl.mechanisms", "SCRAM-SHA-512"},
          {"sasl.username", fact("FAUST_SECURED_ADMIN_USER")},
          {"sasl.password", password},
          {"ssl.ca.location", fact("FAUST_SECURED_CA")}};
}

rd_kafka_t* SecuredKafka::admin() {
  if (admin_) return admin_.get();
  char error[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  auto settings = admin_settings();
  settings.insert({{"bootstrap.servers", sasl_ssl()}, {"client.id", "faust-secured-test-admin"}});
  for (const auto& [name, value] : settings) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), error, sizeof error) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      throw std::runtime_error(error);
    }
  }
  rd_kafka_t* handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error);
  if (handle == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(error);
  }
  admin_.reset(handle);
  return handle;
}

void SecuredKafka::grant(const std::string& principal, const std::vector<AclRule>& rules) { change(principal, rules, true); }
void SecuredKafka::revoke(const std::string& principal, const std::vector<AclRule>& rules) { change(principal, rules, false); }

void SecuredKafka::grant_transactional_ids(
    const std::map<std::string, std::vector<std::string>>& prefixes_by_principal) {
  std::vector<std::unique_ptr<WorkerProcess>> scripts;
  for (const auto& [principal, prefixes] : prefixes_by_principal) {
    std::vector<std::string> args = {"acls", "--add", "--allow-principal", principal, "--operation", "Write",
                                     "--operation", "Describe", "--resource-pattern-type", "prefixed"};
    for (const auto& prefix : prefixes) {
      args.push_back("--transactional-id");
      args.push_back(prefix);
    }
    scripts.push_back(
        broker_.run_script_in_background(args, "script-acls-" + std::to_string(scripts.size()) + ".log"));
  }
  for (const auto& script : scripts) {
    const auto code = script->wait_exit(std::chrono::seconds(60));
    if (code != 0) throw std::runtime_error("kafka-acls failed:\n" + script->log());
  }
}

void SecuredKafka::change(const std::string& principal, const std::vector<AclRule>& rules, bool add) {
  rd_kafka_t* handle = admin();
  char error[512];
  std::vector<rd_kafka_AclBinding_t*> bindings;
  for (const auto& rule : rules) {
    if (rule.resource_type == "transactional-id") continue;
    for (const auto& op : rule.operations) {
      rd_kafka_AclBinding_t* binding = rd_kafka_AclBinding_new(
          resource_type(rule.resource_type), rule.name.c_str(),
          rule.prefixed ? RD_KAFKA_RESOURCE_PATTERN_PREFIXED : RD_KAFKA_RESOURCE_PATTERN_LITERAL, principal.c_str(),
          "*", operation(op), RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW, error, sizeof error);
      if (binding == nullptr) throw std::runtime_error(error);
      bindings.push_back(binding);
    }
  }
  rd_kafka_queue_t* queue = rd_kafka_queue_new(handle);
  rd_kafka_AdminOptions_t* options =
      rd_kafka_AdminOptions_new(handle, add ? RD_KAFKA_ADMIN_OP_CREATEACLS : RD_KAFKA_ADMIN_OP_DELETEACLS);
  rd_kafka_AdminOptions_set_request_timeout(options, kAdminTimeoutMs, error, sizeof error);
  std::string failure;
  if (add) {
    rd_kafka_CreateAcls(handle, bindings.data(), bindings.size(), options, queue);
  } else {
    // A binding used as a filter matches exactly itself.
    rd_kafka_DeleteAcls(handle, bindings.data(), bindings.size(), options, queue);
  }
  try {
    rd_kafka_event_t* event = await_result(queue);
    if (add) {
      size_t count = 0;
      const rd_kafka_acl_result_t** results =
          rd_kafka_CreateAcls_result_acls(rd_kafka_event_CreateAcls_result(event), &count);
      for (size_t i = 0; i < count && failure.empty(); ++i) {
        if (const rd_kafka_error_t* e = rd_kafka_acl_result_error(results[i]); e != nullptr) {
          failure = rd_kafka_error_string(e);
        }
      }
    }
    rd_kafka_event_destroy(event);
  } catch (const std::exception& e) {
    failure = e.what();
  }
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_queue_destroy(queue);
  rd_kafka_AclBinding_destroy_array(bindings.data(), bindings.size());
  if (!failure.empty()) throw std::runtime_error("ACL change: " + failure);
}

}  // namespace faust::testing
