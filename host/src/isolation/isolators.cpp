#include "isolation/isolators.h"

#include <utility>

#include "isolation/isolated_agent.h"
#include "isolation/isolated_service.h"
#include "isolation/isolated_timer.h"

namespace faust::isolation {

Isolators isolators(HostServices& services, IsolationSettings settings) {
  Isolators isolate;
  isolate.agent = isolated_agent_factory(services, settings);
  isolate.timer = [&services, settings](const TimerConfig& config, const PluginLibrary& library, const char* def_name,
                                        ComponentRef component) {
    return IsolatedTimer::start(config, library, def_name, std::move(component), services, settings);
  };
  isolate.service = [&services, settings](const ServiceConfig& config, const PluginLibrary& library,
                                          const char* def_name, ComponentRef component) {
    return IsolatedService::create(config, library, def_name, std::move(component), services, settings);
  };
  return isolate;
}

}  // namespace faust::isolation
