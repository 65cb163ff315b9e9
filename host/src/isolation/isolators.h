#pragma once

#include "isolation/plugin_process.h"
#include "plugins/host_services.h"
#include "plugins/loaded_components.h"

namespace faust::isolation {

// The factories instantiate() starts the entries with `isolation: process` through: agents
// (IsolatedAgent, one restart budget per agent shared by its lanes), timers (IsolatedTimer) and
// services (IsolatedService), their host calls answered through `services`.
Isolators isolators(HostServices& services, IsolationSettings settings);

}  // namespace faust::isolation
