#pragma once

// The Kafka ACLs a manifest's workers need, least privilege: what the README's "Secured Kafka"
// section lists and `faust-host check --broker` prints as kafka-acls lines.

#include <string>
#include <vector>

#include "manifest/manifest.h"

namespace faust {

struct AclRule {
  std::string resource_type;  // as kafka-acls names the option: "topic", "group", "transactional-id"
  std::string name;
  bool prefixed = false;  // a PREFIXED pattern (everything starting with name), else LITERAL
  std::vector<std::string> operations;  // as kafka-acls names them: "Read", "Write", ...
  std::string why;                      // what of the app uses it, for messages
};

// Every rule the app's workers, `send` and `send --dead-letter` need:
//  - topics prefixed "<app-id>-" (the agents' topics, the leader topic, the leader state, the
//    dead-letter topics): Describe, Create (the workers create missing topics), Read, Write;
//  - the same for each agent or dead-letter topic the manifest names outside that prefix;
//  - group "<app-id>" (the agents') and groups prefixed "<app-id>-" (the leader group, the
//    leader-only agents' and the dead-letter replays'): Read;
//  - transactional ids prefixed "<app-id>-" (the leader's, each exactly-once agent partition's):
//    Write and Describe.
// Idempotent sends need no cluster ACL: Kafka 2.8 and later accept Write on a topic instead.
std::vector<AclRule> required_acls(const Manifest& manifest);

// The kafka-acls command line that grants `rule` to `principal` ("User:app").
std::string kafka_acls_command(const AclRule& rule, const std::string& principal, const std::string& bootstrap);

}  // namespace faust
