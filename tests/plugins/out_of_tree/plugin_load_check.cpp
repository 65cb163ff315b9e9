// plugin_load_check <plugin.so> <agent> <value>
//
// Loads one plugin file through PluginRegistry, prints what it provides, creates <agent> and hands
// it one message with <value>, printing every log line the plugin writes. Exits with the loader's
// ExitCode on refusal, 1 if the handler fails.
#include <cstdio>
#include <iostream>
#include <string>

#include "metrics/metrics.h"
#include "plugins/host_services.h"
#include "plugins/loaded_components.h"
#include "plugins/plugin_registry.h"
#include "web/plugin_pages.h"

namespace {

class PrintingHostServices : public faust::HostServices {
 public:
  void log(const faust::ComponentRef& from, faust_log_level /*level*/, std::string_view message) override {
    std::cout << "[" << from.plugin << "] " << from.name << ": " << message << "\n";
  }
  faust::Status send(const faust::ComponentRef& /*from*/, faust::OutgoingMessage /*message*/) override {
    return faust::Error{faust::ExitCode::kFailure, "plugin_load_check does not send"};
  }
  bool is_leader() const override { return false; }
  const std::string& app_id() const override { return app_id_; }
  bool wait_for_stop(const faust::ComponentRef& /*from*/, std::chrono::milliseconds /*timeout*/) override { return true; }
  // Checked as faust-host checks them; nothing is served.
  faust::Result<faust_metric*> create_metric(const faust::ComponentRef& from, const faust_metric_spec& spec) override {
    return metrics_.plugins().create(from.plugin, spec);
  }
  faust::Result<std::shared_ptr<void>> register_page(const faust::ComponentRef& from, const std::string& path,
                                                     faust::PageHandler handler) override {
    return pages_.add(from.plugin, path, std::move(handler));
  }

 private:
  std::string app_id_ = "plugin-load-check";
  faust::Metrics metrics_;
  faust::PluginPages pages_{1};
};

std::string join(const std::vector<std::string>& names) {
  std::string text;
  for (const std::string& name : names) text += (text.empty() ? "" : ",") + name;
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: plugin_load_check <plugin.so> <agent> <value>\n";
    return faust::to_int(faust::ExitCode::kUsage);
  }
  const std::filesystem::path file = std::filesystem::absolute(argv[1]);
  faust::PluginRegistry registry;
  faust::Result<std::shared_ptr<const faust::PluginLibrary>> library = registry.load(file);
  if (!library) {
    std::cerr << library.error().message << "\n";
    return faust::to_int(library.error().code);
  }
  const faust::PluginInfo& info = (*library)->info();
  std::cout << "loaded " << info.name << " " << info.version << " (ABI " << info.abi
            << ") agents=" << join(info.agents) << " timers=" << join(info.timers) << "\n";

  faust::Manifest manifest;
  manifest.file = "plugin_load_check";
  faust::AgentConfig agent;
  agent.name = argv[2];
  agent.library = file.string();
  manifest.agents.push_back(agent);
  PrintingHostServices services;
  faust::Result<faust::LoadedComponents> loaded = faust::instantiate(manifest, services, registry, {});
  if (!loaded) {
    std::cerr << loaded.error().message << "\n";
    return faust::to_int(loaded.error().code);
  }
  faust::IncomingMessage message;
  message.value = argv[3];
  message.topic = "plugin-load-check";
  if (faust::Status handled = loaded->agents[0].instances[0]->handle(message); !handled) {
    std::cerr << handled.error().message << "\n";
    return faust::to_int(handled.error().code);
  }
  return 0;
}
