#include "plugins/plugin_library.h"

#include <algorithm>

#include <dlfcn.h>

#include <boost/dll/shared_library.hpp>
#include <set>
#include <string>
#include <system_error>

#include "faust/detail/abi_checks.hpp"
#include "plugins/plugin_file_checks.h"

namespace faust {
namespace {

std::string abi_text(std::uint32_t major, std::uint32_t minor) { return abi::abi_text(major, minor); }

// dlerror() text without the leading "<file>: " the loader repeats.
std::string loader_error(const std::string& file) {
  const char* text = dlerror();
  if (text == nullptr) return "the dynamic loader refused it";
  std::string_view message(text);
  if (message.starts_with(file + ": ")) message.remove_prefix(file.size() + 2);
  return std::string(message);
}

}  // namespace

Status check_handshake(const std::string& file, const faust_plugin_descriptor& descriptor,
                       std::uint32_t host_minor) {
  const auto refusal = abi::check_handshake(file, descriptor, host_minor, "faust-host");
  if (!refusal) return ok_status();
  switch (refusal->problem) {
    case abi::HandshakeProblem::kMajor:
      return Error{ExitCode::kPluginAbiMajor, refusal->message};
    case abi::HandshakeProblem::kMinorNewer:
      return Error{ExitCode::kPluginAbiMinorNewer,
                   refusal->message + "; upgrade faust-host or rebuild the plugin against an older SDK"};
    case abi::HandshakeProblem::kTooSmall:
      break;
  }
  return Error{ExitCode::kPluginDescriptorTooSmall, refusal->message};
}

namespace {

// The service list of a descriptor, empty when the plugin was built before ABI 1.1 had one.
const faust_service_def* const* service_defs(const faust_plugin_descriptor& descriptor) {
  return abi::covers(descriptor.struct_size, abi::kDescriptorServicesEnd) ? descriptor.services : nullptr;
}
std::size_t service_count(const faust_plugin_descriptor& descriptor) {
  return abi::covers(descriptor.struct_size, abi::kDescriptorServicesEnd) ? descriptor.service_count : 0;
}

// The batch handling list, empty when the plugin was built before ABI 1.2 had one.
const faust_agent_batch_def* const* agent_batch_defs(const faust_plugin_descriptor& descriptor) {
  return abi::covers(descriptor.struct_size, abi::kDescriptorAgentBatchesEnd) ? descriptor.agent_batches : nullptr;
}
std::size_t agent_batch_count(const faust_plugin_descriptor& descriptor) {
  return abi::covers(descriptor.struct_size, abi::kDescriptorAgentBatchesEnd) ? descriptor.agent_batch_count : 0;
}

Error malformed(const std::string& file, const std::string& what) {
  return Error{ExitCode::kFailure, "plugin " + file + ": malformed descriptor: " + what};
}

// Reads the agent or timer list into names, rejecting null entries and repeated names.
template <typename Def, typename HasCallbacks>
Result<std::vector<std::string>> read_names(const std::string& file, const char* kind, const Def* const* defs,
                                            std::size_t count, HasCallbacks has_callbacks) {
  std::vector<std::string> names;
  if (count > 0 && defs == nullptr) return malformed(file, std::string(kind) + " list is null");
  std::set<std::string_view> seen;
  for (std::size_t i = 0; i < count; ++i) {
    const Def* def = defs[i];
    if (def == nullptr || def->name == nullptr || def->name[0] == '\0') {
      return malformed(file, std::string(kind) + " #" + std::to_string(i) + " has no name");
    }
    if (!has_callbacks(*def)) {
      return malformed(file, std::string(kind) + " '" + def->name +
                                 "' lacks create, destroy or its callback, or is smaller than its ABI needs");
    }
    if (!seen.insert(def->name).second) {
      return Error{ExitCode::kPluginDuplicateName,
                   "plugin " + file + ": " + kind + " '" + def->name + "' is listed twice"};
    }
    names.emplace_back(def->name);
  }
  return names;
}

// Each batch definition belongs to one of the plugin's agents, once.
Status check_agent_batches(const std::string& file, const faust_plugin_descriptor& descriptor,
                           const std::vector<std::string>& agents) {
  const faust_agent_batch_def* const* defs = agent_batch_defs(descriptor);
  const std::size_t count = agent_batch_count(descriptor);
  if (count > 0 && defs == nullptr) return malformed(file, "agent batch list is null");
  std::set<std::string_view> seen;
  for (std::size_t i = 0; i < count; ++i) {
    const faust_agent_batch_def* def = defs[i];
    if (def == nullptr || def->struct_size < abi::kAgentBatchDefSize_1_2 || def->agent == nullptr ||
        def->handle_batch == nullptr) {
      return malformed(file, "agent batch #" + std::to_string(i) + " lacks its agent or handle_batch");
    }
    if (std::find(agents.begin(), agents.end(), def->agent) == agents.end()) {
      return malformed(file, "agent batch #" + std::to_string(i) + " names '" + def->agent + "', which is not an agent of the plugin");
    }
    if (!seen.insert(def->agent).second) {
      return Error{ExitCode::kPluginDuplicateName,
                   "plugin " + file + ": batch handling of agent '" + def->agent + "' is listed twice"};
    }
  }
  return ok_status();
}

Result<PluginInfo> read_info(const std::filesystem::path& path, const faust_plugin_descriptor& descriptor) {
  const std::string file = path.string();
  if (descriptor.name == nullptr || descriptor.name[0] == '\0') return malformed(file, "no plugin name");
  if (descriptor.version == nullptr) return malformed(file, "no plugin version");
  Result<std::vector<std::string>> agents =
      read_names(file, "agent", descriptor.agents, descriptor.agent_count, [](const faust_agent_def& def) {
        return def.create != nullptr && def.destroy != nullptr && def.handle != nullptr;
      });
  if (!agents) return agents.error();
  Result<std::vector<std::string>> timers =
      read_names(file, "timer", descriptor.timers, descriptor.timer_count, [](const faust_timer_def& def) {
        return def.create != nullptr && def.destroy != nullptr && def.tick != nullptr;
      });
  if (!timers) return timers.error();
  Result<std::vector<std::string>> services =
      read_names(file, "service", service_defs(descriptor), service_count(descriptor),
                 [](const faust_service_def& def) {
                   // Every callback of a service is optional; its def grows by struct_size.
                   return def.struct_size >= abi::kServiceDefSize_1_1 && def.create != nullptr &&
                          def.destroy != nullptr;
                 });
  if (!services) return services.error();
  if (Status batches = check_agent_batches(file, descriptor, *agents); !batches) return batches.error();
  if (const faust_shared_def* shared = abi::shared_def(descriptor); shared != nullptr) {
    if (std::optional<std::string> problem = abi::shared_def_problem(*shared)) return malformed(file, *problem);
  }
  return PluginInfo{descriptor.name,
                    descriptor.version,
                    abi_text(descriptor.abi_major, descriptor.abi_minor),
                    path,
                    std::move(*agents),
                    std::move(*timers),
                    std::move(*services)};
}

}  // namespace

Result<std::shared_ptr<const PluginLibrary>> PluginLibrary::open(const std::filesystem::path& file) {
  std::error_code error;
  const std::filesystem::file_status status = std::filesystem::status(file, error);
  if (!std::filesystem::exists(status)) {
    return Error{ExitCode::kPluginMissing, "plugin " + file.string() + ": no such file"};
  }
  if (!std::filesystem::is_regular_file(status)) {
    return Error{ExitCode::kPluginNotSharedObject, "plugin " + file.string() + " is not a regular file"};
  }
  // Check and load the file itself, not a symlink to it: that is what the loader maps.
  const std::filesystem::path real_file = std::filesystem::canonical(file, error);
  if (error) return Error{ExitCode::kPluginMissing, "plugin " + file.string() + ": " + error.message()};
  const std::string name = real_file.string();

  if (Status safe = check_plugin_permissions(real_file); !safe) return safe.error();
  if (Status elf = check_elf_header(real_file); !elf) return elf.error();

  auto library = std::make_unique<boost::dll::shared_library>();
  boost::dll::fs::error_code load_error;
  library->load(boost::dll::fs::path(real_file.native()),
                boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, load_error);
  if (load_error || !library->is_loaded()) {
    return Error{ExitCode::kPluginNotSharedObject, "plugin " + name + ": cannot load: " + loader_error(name)};
  }
  if (!library->has(FAUST_PLUGIN_ENTRY_NAME)) {
    return Error{ExitCode::kPluginNoEntrySymbol,
                 "plugin " + name +
                     ": no entry symbol " FAUST_PLUGIN_ENTRY_NAME
                     " (a plugin ends with FAUST_PLUGIN(...) or exports it itself)"};
  }
  const auto entry = library->get<const faust_plugin_descriptor*()>(FAUST_PLUGIN_ENTRY_NAME);
  const faust_plugin_descriptor* descriptor = entry();
  if (descriptor == nullptr) {
    return Error{ExitCode::kPluginNoEntrySymbol,
                 "plugin " + name + ": " FAUST_PLUGIN_ENTRY_NAME " returned no descriptor"};
  }
  if (Status handshake = check_handshake(name, *descriptor); !handshake) return handshake.error();
  Result<PluginInfo> info = read_info(real_file, *descriptor);
  if (!info) return info.error();

  return std::shared_ptr<const PluginLibrary>(
      new PluginLibrary(std::move(library), *descriptor, std::move(*info)));
}

PluginLibrary::PluginLibrary(std::unique_ptr<boost::dll::shared_library> library,
                             const faust_plugin_descriptor& descriptor, PluginInfo info)
    : library_(std::move(library)), descriptor_(descriptor), info_(std::move(info)) {}

PluginLibrary::~PluginLibrary() = default;

const faust_agent_def* PluginLibrary::find_agent(std::string_view name) const {
  for (std::size_t i = 0; i < descriptor_.agent_count; ++i) {
    if (descriptor_.agents[i]->name == name) return descriptor_.agents[i];
  }
  return nullptr;
}

faust_agent_handle_batch_fn PluginLibrary::find_agent_batch(std::string_view agent) const {
  const faust_agent_batch_def* const* batches = agent_batch_defs(descriptor_);
  for (std::size_t i = 0; i < agent_batch_count(descriptor_); ++i) {
    if (batches[i]->agent == agent) return batches[i]->handle_batch;
  }
  return nullptr;
}

const faust_service_def* PluginLibrary::find_service(std::string_view name) const {
  const faust_service_def* const* services = service_defs(descriptor_);
  for (std::size_t i = 0; i < service_count(descriptor_); ++i) {
    if (services[i]->name == name) return services[i];
  }
  return nullptr;
}

const faust_timer_def* PluginLibrary::find_timer(std::string_view name) const {
  for (std::size_t i = 0; i < descriptor_.timer_count; ++i) {
    if (descriptor_.timers[i]->name == name) return descriptor_.timers[i];
  }
  return nullptr;
}

}  // namespace faust
