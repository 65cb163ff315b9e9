#pragma once

#include "isolation/agent_versions.h"
#include "manifest/manifest.h"
#include "metrics/metrics.h"

namespace faust {

// SIGHUP: reads the manifest file again and applies what a running worker can take on: the
// library file or config of an agent with isolation: process, offered to `versions` (a changed
// one is checked in a child of its own, then each lane swaps to it before its next message). A
// manifest that no longer reads, or that changed anything else (reload_refusal), refuses the
// whole reload with one line and changes nothing. Every outcome is logged and counted. Blocks
// while new versions start: run it beside the io_context and the lanes.
void reload_manifest(const Manifest& running, isolation::AgentVersions& versions, Metrics& metrics);

}  // namespace faust
