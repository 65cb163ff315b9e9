#include "plugins/plugin_registry.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <string>
#include <system_error>

namespace faust {
namespace {

bool provides(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

Result<std::shared_ptr<const PluginLibrary>> PluginRegistry::load(const std::filesystem::path& file) {
  std::error_code error;
  const std::filesystem::path real_file = std::filesystem::canonical(file, error);
  if (!error) {
    for (const auto& library : libraries_) {
      if (library->file() == real_file) return library;
    }
  }
  Result<std::shared_ptr<const PluginLibrary>> library = PluginLibrary::open(file);
  if (!library) return library;
  if (Status unique = check_names_unique(**library); !unique) return unique.error();

  const PluginInfo& info = (*library)->info();
  spdlog::debug("loaded plugin {} {} (ABI {}) from {}", info.name, info.version, info.abi,
                info.file.string());
  libraries_.push_back(*library);
  return library;
}

std::vector<PluginInfo> PluginRegistry::plugins() const {
  std::vector<PluginInfo> infos;
  infos.reserve(libraries_.size());
  for (const auto& library : libraries_) infos.push_back(library->info());
  return infos;
}

Status PluginRegistry::check_names_unique(const PluginLibrary& candidate) const {
  using Names = std::vector<std::string> PluginInfo::*;
  const std::pair<const char*, Names> kinds[] = {
      {"agent", &PluginInfo::agents}, {"timer", &PluginInfo::timers}, {"service", &PluginInfo::services}};
  const PluginInfo& info = candidate.info();
  for (const auto& loaded : libraries_) {
    for (const auto& [kind, names] : kinds) {
      for (const std::string& name : info.*names) {
        if (!provides(loaded->info().*names, name)) continue;
        return Error{ExitCode::kPluginDuplicateName, "plugin " + info.file.string() + ": " + kind + " '" + name +
                                                         "' is also provided by plugin " + loaded->file().string()};
      }
    }
  }
  return ok_status();
}

}  // namespace faust
