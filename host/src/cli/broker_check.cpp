#include "cli/broker_check.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/exit_code.h"
#include "manifest/required_acls.h"
#include "transport/kafka/kafka_access.h"

namespace faust {
namespace {

constexpr int kTimeoutMs = 10000;
constexpr int kStepMs = 250;

using Handle = std::unique_ptr<rd_kafka_t, void (*)(rd_kafka_t*)>;

// The first refused login a client reports, from its error callback, and why a broker
// certificate failed verification.
struct LoginWatch {
  std::mutex mutex;
  std::string principal;
  std::optional<Error> refusal;
  BrokerCertificates certificates;
};

void on_error(rd_kafka_t* /*rk*/, int err, const char* reason, void* opaque) {
  auto* watch = static_cast<LoginWatch*>(opaque);
  std::lock_guard lock(watch->mutex);
  if (!watch->refusal) {
    watch->refusal =
        authentication_error(static_cast<RdKafka::ErrorCode>(err), watch->principal, reason, &watch->certificates);
  }
}

int on_certificate(rd_kafka_t* /*rk*/, const char* broker_name, int32_t /*broker_id*/, int* x509_error, int depth,
                   const char* buf, size_t size, char* errstr, size_t errstr_size, void* opaque) {
  std::string why;
  const bool passed = static_cast<LoginWatch*>(opaque)->certificates.verify(broker_name, *x509_error, depth,
                                                                            std::string_view(buf, size), why);
  std::snprintf(errstr, errstr_size, "%s", why.c_str());
  return passed ? 1 : 0;
}

// A consumer-type client (it never creates topics by asking for them) with the manifest's
// properties; `group` set for offset probes.
Result<Handle> connect(const Manifest& manifest, LoginWatch& watch, const std::string& group) {
  char error[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  std::vector<std::pair<std::string, std::string>> settings = {
      {"bootstrap.servers", manifest.app.broker.bootstrap_servers()},
      {"client.id", manifest.app.id + "-check"},
      {"allow.auto.create.topics", "false"},
      {"log_level", "0"}};
  if (!group.empty()) settings.emplace_back("group.id", group);
  for (const auto& property : manifest.kafka) settings.push_back(property);
  for (const auto& [key, value] : settings) {
    if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), error, sizeof error) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return Error{ExitCode::kManifestInvalid, "kafka." + key + ": " + error};
    }
  }
  rd_kafka_conf_set_error_cb(conf, on_error);
  rd_kafka_conf_set_ssl_cert_verify_cb(conf, on_certificate);
  rd_kafka_conf_set_opaque(conf, &watch);
  rd_kafka_t* handle = rd_kafka_new(RD_KAFKA_CONSUMER, conf, error, sizeof error);
  if (handle == nullptr) {
    rd_kafka_conf_destroy(conf);
    return Error{ExitCode::kFailure, std::string("kafka: ") + error};
  }
  return Handle(handle, rd_kafka_destroy);
}

struct Binding {
  std::string type;  // "topic", "group", "transactional-id"
  std::string name;
  bool prefixed = false;
  std::string operation;  // "All" or as kafka-acls names it
  bool allow = true;
};

std::string type_name(rd_kafka_ResourceType_t type) {
  switch (type) {
    case RD_KAFKA_RESOURCE_TOPIC: return "topic";
    case RD_KAFKA_RESOURCE_GROUP: return "group";
    default: return "other";
  }
}

std::string operation_name(rd_kafka_AclOperation_t operation) {
  switch (operation) {
    case RD_KAFKA_ACL_OPERATION_ALL: return "All";
    case RD_KAFKA_ACL_OPERATION_READ: return "Read";
    case RD_KAFKA_ACL_OPERATION_WRITE: return "Write";
    case RD_KAFKA_ACL_OPERATION_CREATE: return "Create";
    case RD_KAFKA_ACL_OPERATION_DELETE: return "Delete";
    case RD_KAFKA_ACL_OPERATION_ALTER: return "Alter";
    case RD_KAFKA_ACL_OPERATION_DESCRIBE: return "Describe";
    default: return "other";
  }
}

// The principal's ACLs, or nullopt with `why` when the broker does not show them.
std::optional<std::vector<Binding>> describe_acls(rd_kafka_t* handle, const std::string& principal, std::string& why) {
  char error[512];
  rd_kafka_AclBindingFilter_t* filter = rd_kafka_AclBindingFilter_new(
      RD_KAFKA_RESOURCE_ANY, nullptr, RD_KAFKA_RESOURCE_PATTERN_ANY, principal.c_str(), nullptr,
      RD_KAFKA_ACL_OPERATION_ANY, RD_KAFKA_ACL_PERMISSION_TYPE_ANY, error, sizeof error);
  if (filter == nullptr) {
    why = error;
    return std::nullopt;
  }
  rd_kafka_AdminOptions_t* options = rd_kafka_AdminOptions_new(handle, RD_KAFKA_ADMIN_OP_DESCRIBEACLS);
  rd_kafka_AdminOptions_set_request_timeout(options, kTimeoutMs, error, sizeof error);
  rd_kafka_queue_t* queue = rd_kafka_queue_new(handle);
  rd_kafka_DescribeAcls(handle, filter, options, queue);
  rd_kafka_event_t* event = rd_kafka_queue_poll(queue, kTimeoutMs + 2000);
  std::optional<std::vector<Binding>> bindings;
  if (event == nullptr) {
    why = "no answer";
  } else if (rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    why = rd_kafka_event_error_string(event);
  } else {
    bindings.emplace();
    size_t count = 0;
    const rd_kafka_AclBinding_t** acls =
        rd_kafka_DescribeAcls_result_acls(rd_kafka_event_DescribeAcls_result(event), &count);
    for (size_t i = 0; i < count; ++i) {
      bindings->push_back(Binding{type_name(rd_kafka_AclBinding_restype(acls[i])), rd_kafka_AclBinding_name(acls[i]),
                                  rd_kafka_AclBinding_resource_pattern_type(acls[i]) == RD_KAFKA_RESOURCE_PATTERN_PREFIXED,
                                  operation_name(rd_kafka_AclBinding_operation(acls[i])),
                                  rd_kafka_AclBinding_permission_type(acls[i]) == RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW});
    }
  }
  if (event != nullptr) rd_kafka_event_destroy(event);
  rd_kafka_queue_destroy(queue);
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_AclBinding_destroy(filter);
  return bindings;
}

// Whether an ALLOW binding grants `operation` on everything `rule` covers (Kafka's rules: a
// literal "*" or a prefix of the rule's name covers it; All grants everything; Read, Write,
// Delete and Alter grant Describe).
bool grants(const Binding& binding, const AclRule& rule, const std::string& operation) {
  if (!binding.allow || binding.type != rule.resource_type) return false;
  const bool covers = binding.prefixed ? rule.name.starts_with(binding.name)
                                       : (binding.name == "*" || (!rule.prefixed && binding.name == rule.name));
  if (!covers) return false;
  if (binding.operation == "All" || binding.operation == operation) return true;
  return operation == "Describe" &&
         (binding.operation == "Read" || binding.operation == "Write" || binding.operation == "Delete" ||
          binding.operation == "Alter");
}

enum class Verdict { kAllowed, kMissing, kUnknown };

struct Finding {
  Verdict verdict = Verdict::kUnknown;
  std::string how;
};

// Topic Describe by asking for each topic's metadata: refused topics say TOPIC_AUTHORIZATION_FAILED.
Finding probe_topics(rd_kafka_t* handle, const std::vector<std::string>& topics) {
  for (const auto& name : topics) {
    rd_kafka_topic_t* topic = rd_kafka_topic_new(handle, name.c_str(), nullptr);
    const rd_kafka_metadata_t* metadata = nullptr;
    const auto err = rd_kafka_metadata(handle, 0, topic, &metadata, kTimeoutMs);
    rd_kafka_resp_err_t topic_err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR && metadata->topic_cnt > 0) topic_err = metadata->topics[0].err;
    if (metadata != nullptr) rd_kafka_metadata_destroy(metadata);
    rd_kafka_topic_destroy(topic);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return {Verdict::kUnknown, std::string("metadata: ") + rd_kafka_err2str(err)};
    if (topic_err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) return {Verdict::kMissing, "refused for topic " + name};
  }
  return {Verdict::kAllowed, "topic metadata"};
}

// Group Describe by fetching a group's committed offsets: a refused group says
// GROUP_AUTHORIZATION_FAILED. Never joins the group (that would rebalance the workers).
Finding probe_group(const Manifest& manifest, LoginWatch& watch, const std::string& group) {
  auto handle = connect(manifest, watch, group);
  if (!handle) return {Verdict::kUnknown, handle.error().message};
  rd_kafka_topic_partition_list_t* partitions = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(partitions, manifest.leader_topic().c_str(), 0);
  const auto err = rd_kafka_committed(handle->get(), partitions, kTimeoutMs);
  rd_kafka_topic_partition_list_destroy(partitions);
  if (err == RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED) return {Verdict::kMissing, "refused for group " + group};
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return {Verdict::kUnknown, std::string("offset fetch: ") + rd_kafka_err2str(err)};
  return {Verdict::kUnknown, "Describe allowed (committed offsets); Read is only seen by joining, which would rebalance the workers"};
}

std::string describe_rule(const AclRule& rule) {
  return rule.resource_type + " " + (rule.prefixed ? "prefixed '" : "'") + rule.name + "'";
}

}  // namespace

int run_broker_check(const Manifest& manifest, std::ostream& out) {
  if (manifest.app.broker.scheme != "kafka") {
    out << "check --broker: broker " << manifest.app.broker.scheme << "://: nothing to check\n";
    return 0;
  }
  LoginWatch watch;
  watch.principal = kafka_principal(manifest.kafka);
  if (auto refusal = client_certificate_error(manifest.kafka)) {
    out << "faust-host: " << refusal->message << "\n";
    return to_int(refusal->code);
  }
  const auto refused = [&]() -> std::optional<Error> {
    std::lock_guard lock(watch.mutex);
    return watch.refusal;
  };
  auto handle = connect(manifest, watch, "");
  if (!handle) {
    out << "faust-host: " << handle.error().message << "\n";
    return to_int(handle.error().code);
  }
  // A refused login or certificate is an error event, delivered only by polling, while the
  // metadata request waits out its whole timeout: ask in short steps and poll between them.
  auto err = RD_KAFKA_RESP_ERR__TIMED_OUT;
  for (int waited = 0; waited < kTimeoutMs && err != RD_KAFKA_RESP_ERR_NO_ERROR && !refused();
       waited += kStepMs) {
    const rd_kafka_metadata_t* metadata = nullptr;
    err = rd_kafka_metadata(handle->get(), 0, nullptr, &metadata, kStepMs);
    if (metadata != nullptr) rd_kafka_metadata_destroy(metadata);
    rd_kafka_poll(handle->get(), 0);
  }
  if (auto refusal = refused()) {
    out << "faust-host: " << refusal->message << "\n";
    return to_int(refusal->code);
  }
  const std::string bootstrap = manifest.app.broker.bootstrap_servers();
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    out << "faust-host: broker " << bootstrap << ": " << rd_kafka_err2str(err) << "\n";
    return to_int(ExitCode::kBrokerUnreachable);
  }
  out << "broker " << bootstrap << ": connected as " << watch.principal << "\n";

  // The broker's own ACLs need a principal name to filter on: a SASL user's, or a readable client
  // certificate's (by Kafka's default mapping), is known here.
  std::string why;
  std::optional<std::vector<Binding>> bindings;
  if (watch.principal.starts_with("User:")) {
    bindings = describe_acls(handle->get(), watch.principal, why);
    // librdkafka 2.0.2 reports a DescribeAcls the broker refused (no Describe on the cluster) as
    // an empty answer; a principal with no ACL at all is a super user or has none to see either.
    if (bindings && bindings->empty()) {
      bindings.reset();
      why = "the broker shows none: Describe on the cluster is missing, or " + watch.principal + " has no ACL at all";
    }
  } else {
    why = "the client certificate's principal is unknown";
  }
  out << (bindings ? "ACLs read from the broker (DescribeAcls)\n"
                   : "ACLs not readable (" + why + "): probing what can be probed without side effects\n");

  std::vector<std::string> topics;
  for (const auto& agent : manifest.agents) {
    topics.push_back(manifest.agent_topic(agent));
    if (const auto dead = manifest.dead_letter_topic(agent); !dead.empty()) topics.push_back(dead);
  }
  topics.push_back(manifest.leader_topic());
  topics.push_back(manifest.leader_state_topic());
  const std::vector<std::string> groups = {manifest.app.id, manifest.app.id + "-__leader", manifest.leader_agents_group()};

  std::vector<AclRule> missing;
  std::size_t unknown = 0;
  for (const AclRule& rule : required_acls(manifest)) {
    AclRule lacking = rule;
    lacking.operations.clear();
    for (const auto& operation : rule.operations) {
      Finding finding;
      if (rule.resource_type == "transactional-id") {
        // librdkafka 2.0.2 knows no transactional-id resource type: it reads such ACLs as of an
        // unknown type, and probing would fence the running leader.
        finding = {Verdict::kUnknown, "not readable through librdkafka 2.0.2, and a probe would fence the running leader"};
      } else if (bindings) {
        const bool granted = std::any_of(bindings->begin(), bindings->end(),
                                         [&](const Binding& b) { return grants(b, rule, operation); });
        finding = {granted ? Verdict::kAllowed : Verdict::kMissing, "DescribeAcls"};
      } else if (rule.resource_type == "topic" && operation == "Describe") {
        std::vector<std::string> covered;
        for (const auto& topic : topics) {
          if (rule.prefixed ? topic.starts_with(rule.name) : topic == rule.name) covered.push_back(topic);
        }
        finding = probe_topics(handle->get(), covered);
      } else if (rule.resource_type == "group" && operation == "Read") {
        finding = {Verdict::kAllowed, ""};
        for (const auto& group : groups) {
          if (rule.prefixed ? !group.starts_with(rule.name) : group != rule.name) continue;
          finding = probe_group(manifest, watch, group);
          if (finding.verdict == Verdict::kMissing) break;
        }
      } else {
        finding = {Verdict::kUnknown, "not probed: it would " +
                                          std::string(rule.resource_type == "transactional-id"
                                                          ? "fence a running leader"
                                                          : (operation == "Create" ? "create a topic" : "write or read messages"))};
      }
      const char* verdict = finding.verdict == Verdict::kAllowed ? "allowed"
                            : finding.verdict == Verdict::kMissing ? "MISSING"
                                                                   : "unknown";
      out << "  " << describe_rule(rule) << " " << operation << ": " << verdict
          << (finding.how.empty() ? "" : " (" + finding.how + ")") << "\n";
      if (finding.verdict == Verdict::kMissing) lacking.operations.push_back(operation);
      if (finding.verdict == Verdict::kUnknown) ++unknown;
    }
    if (!lacking.operations.empty()) missing.push_back(lacking);
  }
  if (auto refusal = refused()) {
    out << "faust-host: " << refusal->message << "\n";
    return to_int(refusal->code);
  }
  if (missing.empty()) {
    out << (unknown == 0 ? "every ACL the app needs is granted\n"
                         : "nothing found missing; " + std::to_string(unknown) +
                               " operation(s) could not be checked (see the README's Secured Kafka section)\n");
    return 0;
  }
  out << "missing ACLs; grant them with:\n";
  for (const auto& rule : missing) out << kafka_acls_command(rule, watch.principal, bootstrap) << "\n";
  return to_int(ExitCode::kKafkaAuthorization);
}

}  // namespace faust
