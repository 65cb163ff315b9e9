#include "isolation/agent_versions.h"

#include <sys/stat.h>

namespace faust::isolation {

std::optional<FileStamp> stamp_of(const std::filesystem::path& file) {
  struct stat status {};
  if (::stat(file.c_str(), &status) != 0) return std::nullopt;
  return FileStamp{status.st_dev, status.st_ino, status.st_size,
                   static_cast<std::int64_t>(status.st_mtim.tv_sec) * 1000000000 + status.st_mtim.tv_nsec};
}

std::shared_ptr<AgentVersions::Agent> AgentVersions::join(const std::string& name, std::string plugin,
                                                          AgentVersion first,
                                                          std::function<Status(const AgentVersion&)> check) {
  std::lock_guard lock(mutex_);
  std::shared_ptr<Agent>& agent = agents_[name];
  if (!agent) {
    agent = std::make_shared<Agent>();
    agent->current = std::make_shared<const AgentVersion>(std::move(first));
    agent->plugin = std::move(plugin);
    agent->check = std::move(check);
  }
  return agent;
}

std::string AgentVersions::plugin_of(const std::string& name) {
  std::lock_guard lock(mutex_);
  const auto found = agents_.find(name);
  return found == agents_.end() ? std::string() : found->second->plugin;
}

AgentVersions::Offered AgentVersions::offer(const std::string& name, const std::filesystem::path& library_file,
                                            const ConfigMap& config) {
  std::shared_ptr<Agent> agent;
  {
    std::lock_guard lock(mutex_);
    const auto found = agents_.find(name);
    if (found == agents_.end()) return {};
    agent = found->second;
  }
  Offered offered;
  offered.plugin = agent->plugin;
  AgentVersion next{library_file, stamp_of(library_file), config};
  {
    std::lock_guard lock(agent->mutex);
    const AgentVersion& current = *agent->current;
    // A file that cannot be read is offered: its check says why it is refused.
    if (next.stamp && current.library_file == next.library_file && current.stamp == next.stamp &&
        current.config == next.config) {
      return offered;
    }
  }
  if (Status checked = agent->check(next); !checked) {
    offered.outcome = Outcome::kRefused;
    offered.why = checked.error().message;
    return offered;
  }
  std::lock_guard lock(agent->mutex);
  agent->current = std::make_shared<const AgentVersion>(std::move(next));
  agent->number.fetch_add(1, std::memory_order_release);
  offered.outcome = Outcome::kSwapped;
  return offered;
}

}  // namespace faust::isolation
