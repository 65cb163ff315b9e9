#pragma once

#include <filesystem>
#include <span>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace faust {

// The directories a bare plugin name is looked up in, in order: each entry of `plugin_path_env`
// (FAUST_HOST_PLUGIN_PATH, colon-separated; empty entries are ignored rather than meaning the
// current directory), then the plugin directory installed next to `executable`
// (<bindir>/FAUST_PLUGIN_DIR_FROM_BIN; skipped when `executable` is empty) and, when the
// executable's prefix is a `usr` folder (/usr, or <root>/usr of an unpacked package), the same
// plugin directory under <prefix>/local.
std::vector<std::filesystem::path> plugin_search_dirs(std::string_view plugin_path_env,
                                                      const std::filesystem::path& executable);

// plugin_search_dirs() for this process: FAUST_HOST_PLUGIN_PATH and the running executable.
std::vector<std::filesystem::path> default_plugin_search_dirs();

// Turns a manifest's `library:` into a file. A bare name ("say", no '/') becomes "say.so" and is
// searched in `search_dirs`; anything else is a path and returned as is. A bare name found
// nowhere fails with kPluginMissing, listing the directories searched.
Result<std::filesystem::path> resolve_plugin_library(std::string_view library,
                                                     std::span<const std::filesystem::path> search_dirs);

}  // namespace faust
