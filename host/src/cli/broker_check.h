#pragma once

#include <ostream>

#include "manifest/manifest.h"

namespace faust {

// `faust-host check --broker`: connects with the manifest's settings and reports, per ACL rule the
// app needs (required_acls), whether its principal has it: from the broker's own ACLs where it may
// read them (DescribeAcls, which needs Describe on the cluster), and by harmless probes otherwise
// (topic metadata, a group's committed offsets). Writes, topic creation and transactional ids are
// never probed: a probe would write, create or fence a running leader. Prints the kafka-acls
// lines for what is missing. Returns the exit code: 0, 24 (login refused), 25 (an ACL missing) or
// 21 (no broker answered).
int run_broker_check(const Manifest& manifest, std::ostream& out);

}  // namespace faust
