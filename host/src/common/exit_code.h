#pragma once

namespace faust {

// Every fatal refusal has its own exit code so scripts and systemd can tell them apart.
// Documented in README.md and faust-host(1); never renumber a published code.
enum class ExitCode : int {
  kOk = 0,
  kFailure = 1,          // anything not listed below
  kUsage = 2,            // bad command line
  kManifestInvalid = 3,  // manifest unreadable, malformed or failing validation
  kPluginMissing = 10,
  kPluginNotSharedObject = 11,
  kPluginNoEntrySymbol = 12,
  kPluginAbiMajor = 13,
  kPluginAbiMinorNewer = 14,
  kPluginDescriptorTooSmall = 15,
  kPluginCreateFailed = 16,
  kPluginDuplicateName = 17,
  kPluginUnsafePermissions = 18,
  kPluginNameUnknown = 19,   // manifest names an agent/timer the library does not provide
  kWebPortBusy = 20,
  kBrokerUnreachable = 21,   // only where the command cannot retry (e.g. `send`)
  kHandlerStopped = 22,      // an agent with on_error: stop hit an error
  kKafkaFatal = 23,          // a Kafka client hit a fatal error and cannot go on
  kKafkaAuthentication = 24,  // the broker refused the credentials (password, certificate, CA)
  kKafkaAuthorization = 25,   // the broker refused an operation: an ACL is missing
  kPluginRestartLimit = 26,   // an isolated agent's processes needed more restarts than max_restarts_per_minute
};

inline int to_int(ExitCode code) { return static_cast<int>(code); }

}  // namespace faust
