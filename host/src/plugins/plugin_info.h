#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace faust {

// What a loaded plugin library says about itself, for `check`, logs and the status page.
struct PluginInfo {
  std::string name;            // from the descriptor
  std::string version;         // from the descriptor
  std::string abi;             // "major.minor" the plugin was built against
  std::filesystem::path file;  // the resolved file that was loaded
  std::vector<std::string> agents;
  std::vector<std::string> timers;
  std::vector<std::string> services;  // ABI 1.1
};

}  // namespace faust
