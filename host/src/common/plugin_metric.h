#pragma once

#include "faust/plugin.h"

// The C ABI's opaque faust_metric: one series a plugin created (metrics/ implements it for
// /metrics; tests record). Calls are thread-safe and never throw.
struct faust_metric {
  faust_metric() = default;
  faust_metric(const faust_metric&) = delete;
  faust_metric& operator=(const faust_metric&) = delete;
  virtual ~faust_metric() = default;
  // Counter: adds (ignores a negative value). Gauge: adds. Histogram: observes.
  virtual void add(double value) noexcept = 0;
  // Gauge: sets. Other kinds ignore it.
  virtual void set(double value) noexcept = 0;
};
