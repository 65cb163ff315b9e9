#include "manifest/required_acls.h"

#include <algorithm>

namespace faust {
namespace {

const std::vector<std::string> kTopicOperations = {"Describe", "Create", "Read", "Write"};

}  // namespace

std::vector<AclRule> required_acls(const Manifest& manifest) {
  const std::string prefix = manifest.app.id + "-";
  std::vector<AclRule> rules;
  rules.push_back(AclRule{"topic", prefix, true, kTopicOperations,
                          "agent topics, leader topic, leader state, dead-letter topics"});
  const auto add_outside_topic = [&](const std::string& topic, const std::string& why) {
    if (topic.empty() || topic.starts_with(prefix)) return;
    const bool listed = std::any_of(rules.begin(), rules.end(), [&](const AclRule& rule) {
      return rule.resource_type == "topic" && rule.name == topic;
    });
    if (!listed) rules.push_back(AclRule{"topic", topic, false, kTopicOperations, why});
  };
  for (const auto& agent : manifest.agents) {
    add_outside_topic(manifest.agent_topic(agent), "topic of agent " + agent.name);
    add_outside_topic(manifest.dead_letter_topic(agent), "dead-letter topic of agent " + agent.name);
  }
  rules.push_back(AclRule{"group", manifest.app.id, false, {"Read"}, "the agents' consumer group"});
  rules.push_back(AclRule{"group", prefix, true, {"Read"}, "leader group, leader-only agents, dead-letter replays"});
  rules.push_back(AclRule{"transactional-id", prefix, true, {"Write", "Describe"},
                          "the leader's and exactly-once agents' transactions"});
  return rules;
}

std::string kafka_acls_command(const AclRule& rule, const std::string& principal, const std::string& bootstrap) {
  std::string line = "kafka-acls.sh --bootstrap-server " + bootstrap +
                     " --command-config admin.properties --add --allow-principal " + principal;
  for (const auto& operation : rule.operations) line += " --operation " + operation;
  line += " --" + rule.resource_type + " " + rule.name;
  if (rule.prefixed) line += " --resource-pattern-type prefixed";
  return line;
}

}  // namespace faust
