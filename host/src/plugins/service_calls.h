#pragma once

#include <chrono>
#include <cstdint>

#include "common/result.h"
#include "plugins/host_services.h"

namespace faust {

// The leadership term a service is told of in elected().
struct ServiceTerm {
  std::int32_t generation = -1;
  std::chrono::system_clock::time_point established_at{};
};

// What the worker calls on a plugin service (ABI 1.1), wherever its code runs: in the worker
// (ServiceInstance) or in a child process (isolation: process). Called from one thread at a time.
// A plugin error becomes Error{kFailure, "<plugin> service '<name>' <callback> failed: <message>"}.
class ServiceCalls {
 public:
  virtual ~ServiceCalls() = default;
  virtual Status start() = 0;
  virtual Status elected(const ServiceTerm& term) = 0;
  virtual Status lead() = 0;
  virtual Status revoked() = 0;
  virtual Status stop() = 0;
  // Whether the plugin has a lead callback (the term's long task).
  virtual bool has_lead() const = 0;
  virtual const ComponentRef& component() const = 0;
};

}  // namespace faust
