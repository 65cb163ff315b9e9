#pragma once

#include <filesystem>
#include <memory>
#include <vector>

#include "common/result.h"
#include "plugins/plugin_info.h"
#include "plugins/plugin_library.h"

namespace faust {

// The plugin libraries of one process, loaded once per file and kept until the registry is
// destroyed (instances hold their library too, so none outlives its code). Not thread-safe: load
// plugins at start-up, before workers run.
class PluginRegistry {
 public:
  PluginRegistry() = default;
  PluginRegistry(const PluginRegistry&) = delete;
  PluginRegistry& operator=(const PluginRegistry&) = delete;

  // Loads `file` (a resolved path) or returns the library already loaded from it. Besides
  // PluginLibrary::open's refusals, refuses (kPluginDuplicateName) a library providing an agent
  // or timer name that an already loaded library provides.
  Result<std::shared_ptr<const PluginLibrary>> load(const std::filesystem::path& file);

  // Every library loaded so far, in load order.
  std::vector<PluginInfo> plugins() const;

 private:
  Status check_names_unique(const PluginLibrary& candidate) const;

  std::vector<std::shared_ptr<const PluginLibrary>> libraries_;
};

}  // namespace faust
