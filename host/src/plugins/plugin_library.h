#pragma once

#include <filesystem>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"
#include "faust/detail/abi_checks.hpp"
#include "faust/plugin.h"
#include "plugins/plugin_info.h"

namespace boost::dll {
class shared_library;
}

namespace faust {

// Checks a descriptor's ABI against a host that speaks 1.`host_minor` (this host's own minor in
// production; tests pass an older one to see how an older host refuses a newer plugin).
Status check_handshake(const std::string& file, const faust_plugin_descriptor& descriptor,
                       std::uint32_t host_minor = FAUST_PLUGIN_ABI_MINOR);

// One plugin shared object, checked, loaded (RTLD_NOW | RTLD_LOCAL) and handshaken. It stays
// loaded as long as this object lives; everything created from it holds a shared_ptr to it so the
// code is never unloaded under a live instance.
class PluginLibrary {
 public:
  // Refuses, each with its own ExitCode and a one-line message naming the file: a missing file,
  // unsafe permissions, a file that is not a shared object or that the loader rejects, no entry
  // symbol, another ABI major, a newer ABI minor, a descriptor smaller than ABI 1.0's, a malformed
  // descriptor (kFailure) and an agent or timer name listed twice.
  static Result<std::shared_ptr<const PluginLibrary>> open(const std::filesystem::path& file);

  PluginLibrary(const PluginLibrary&) = delete;
  PluginLibrary& operator=(const PluginLibrary&) = delete;
  ~PluginLibrary();

  const PluginInfo& info() const { return info_; }
  const std::filesystem::path& file() const { return info_.file; }

  // nullptr when the plugin does not provide it.
  const faust_agent_def* find_agent(std::string_view name) const;
  const faust_timer_def* find_timer(std::string_view name) const;
  const faust_service_def* find_service(std::string_view name) const;
  // The agent's batch handling (ABI 1.2), or nullptr when it handles one message at a time.
  faust_agent_handle_batch_fn find_agent_batch(std::string_view agent) const;
  // The plugin-wide part (ABI 1.4), or nullptr when the plugin has none.
  const faust_shared_def* shared_def() const { return abi::shared_def(descriptor_); }

 private:
  PluginLibrary(std::unique_ptr<boost::dll::shared_library> library,
                const faust_plugin_descriptor& descriptor, PluginInfo info);

  // Declared first so it is destroyed last: the descriptor lives inside the library.
  std::unique_ptr<boost::dll::shared_library> library_;
  const faust_plugin_descriptor& descriptor_;
  PluginInfo info_;
};

}  // namespace faust
