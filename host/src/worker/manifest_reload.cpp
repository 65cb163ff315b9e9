#include "worker/manifest_reload.h"

#include <spdlog/spdlog.h>

#include "plugins/plugin_search_path.h"

namespace faust {

void reload_manifest(const Manifest& running, isolation::AgentVersions& versions, Metrics& metrics) {
  using Outcome = isolation::AgentVersions::Outcome;
  Result<Manifest> next = load_manifest(running.file);
  std::optional<std::string> refusal;
  if (!next) {
    refusal = next.error().message + "; reload refused, the running manifest stays";
  } else {
    refusal = reload_refusal(running, *next);
  }
  if (refusal) {
    spdlog::error("{}", *refusal);
    metrics.manifest_reloaded("refused");
    return;
  }
  metrics.manifest_reloaded("applied");
  const auto search_dirs = default_plugin_search_dirs();
  int swapped = 0;
  int refused = 0;
  int unchanged = 0;
  for (const AgentConfig& agent : next->agents) {
    if (agent.isolation != Isolation::kProcess) continue;
    Result<std::filesystem::path> file = resolve_plugin_library(agent.library, search_dirs);
    isolation::AgentVersions::Offered offered;
    if (file) {
      offered = versions.offer(agent.name, *file, agent.config);
    } else {
      offered = {Outcome::kRefused, versions.plugin_of(agent.name), file.error().message};
    }
    const std::string named = file ? file->string() : agent.library;
    switch (offered.outcome) {
      case Outcome::kUnchanged:
        ++unchanged;
        break;
      case Outcome::kSwapped:
        ++swapped;
        metrics.plugin_reloaded(offered.plugin, "swapped");
        spdlog::info("reload: agent '{}' (plugin {}): {} checked; each lane swaps to it before its next message",
                     agent.name, offered.plugin, named);
        break;
      case Outcome::kRefused:
        ++refused;
        metrics.plugin_reloaded(offered.plugin, "refused");
        spdlog::error("reload: agent '{}' (plugin {}): {} refused, the running version stays: {}", agent.name,
                      offered.plugin, named, next->redact(offered.why));
        break;
    }
  }
  spdlog::info("reloaded {}: {} isolated agent(s) swapped, {} refused, {} unchanged", running.file.string(), swapped,
               refused, unchanged);
}

}  // namespace faust
