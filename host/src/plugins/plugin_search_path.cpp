#include "plugins/plugin_search_path.h"

#include <boost/dll/runtime_symbol_info.hpp>
#include <cstdlib>
#include <string>
#include <system_error>

namespace faust {

std::vector<std::filesystem::path> plugin_search_dirs(std::string_view plugin_path_env,
                                                      const std::filesystem::path& executable) {
  std::vector<std::filesystem::path> dirs;
  while (!plugin_path_env.empty()) {
    const std::size_t colon = plugin_path_env.find(':');
    const std::string_view entry = plugin_path_env.substr(0, colon);
    if (!entry.empty()) dirs.emplace_back(entry);
    if (colon == std::string_view::npos) break;
    plugin_path_env.remove_prefix(colon + 1);
  }
  // Without a known executable there is no default directory (never fall back to the cwd).
  if (!executable.empty()) {
    const std::filesystem::path bin_dir = executable.parent_path();
    dirs.push_back((bin_dir / FAUST_PLUGIN_DIR_FROM_BIN).lexically_normal());
    // /usr belongs to the package manager; what an administrator builds goes to /usr/local, the
    // default prefix of `cmake --install`, so a host in /usr looks there too (after its own).
    std::filesystem::path prefix = (bin_dir / FAUST_PREFIX_FROM_BIN).lexically_normal();
    if (!prefix.has_filename()) prefix = prefix.parent_path();  // "/usr/bin/.." normalizes to "/usr/"
    if (prefix.filename() == "usr") {
      dirs.push_back((prefix / "local" / FAUST_PLUGIN_DIR_FROM_PREFIX).lexically_normal());
    }
  }
  return dirs;
}

std::vector<std::filesystem::path> default_plugin_search_dirs() {
  const char* env = std::getenv("FAUST_HOST_PLUGIN_PATH");
  boost::dll::fs::error_code error;
  const boost::dll::fs::path executable = boost::dll::program_location(error);
  return plugin_search_dirs(env == nullptr ? std::string_view() : std::string_view(env),
                            error ? std::filesystem::path() : std::filesystem::path(executable.native()));
}

Result<std::filesystem::path> resolve_plugin_library(std::string_view library,
                                                     std::span<const std::filesystem::path> search_dirs) {
  if (library.find('/') != std::string_view::npos) return std::filesystem::path(library);

  std::string file_name(library);
  if (!file_name.ends_with(".so")) file_name += ".so";
  std::string searched;
  for (const std::filesystem::path& dir : search_dirs) {
    const std::filesystem::path candidate = dir / file_name;
    std::error_code error;
    if (std::filesystem::exists(candidate, error)) return candidate;
    if (!searched.empty()) searched += ", ";
    searched += dir.string();
  }
  if (searched.empty()) searched = "(no directories)";
  return Error{ExitCode::kPluginMissing, "plugin '" + std::string(library) + "' not found: no " + file_name +
                                             " in " + searched +
                                             " (FAUST_HOST_PLUGIN_PATH adds directories)"};
}

}  // namespace faust
