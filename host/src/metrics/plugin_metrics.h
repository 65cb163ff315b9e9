#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/plugin_metric.h"
#include "common/result.h"
#include "faust/detail/abi_checks.hpp"
#include "faust/plugin.h"

namespace faust {

// The metrics plugins create through the host API, exported beside the host's own with the label
// plugin="<plugin name>". A name is one family: every plugin using it must give the same kind,
// help and buckets (abi::metric_conflict); a plugin asking again for a metric it created gets the
// same series, so the instances of one agent share it. Thread-safe; series live as long as this.
class PluginMetrics {
 public:
  explicit PluginMetrics(prometheus::Registry& registry) : registry_(registry) {}
  PluginMetrics(const PluginMetrics&) = delete;
  PluginMetrics& operator=(const PluginMetrics&) = delete;

  // The series of `plugin` for `spec`, created on first use; the error names metric and plugin
  // (abi::read_metric_spec's rules: name, reserved prefixes, kind, buckets).
  Result<faust_metric*> create(const std::string& plugin, const faust_metric_spec& spec);

 private:
  // One name: its shape, the plugin that created it first, its prometheus family (one of three
  // kinds) and a series per plugin.
  struct Family {
    abi::MetricShape shape;
    std::string owner;
    prometheus::Family<prometheus::Counter>* counters = nullptr;
    prometheus::Family<prometheus::Gauge>* gauges = nullptr;
    prometheus::Family<prometheus::Histogram>* histograms = nullptr;
    std::map<std::string, std::unique_ptr<faust_metric>, std::less<>> series;

    std::unique_ptr<faust_metric> make_series(const std::string& plugin) const;
  };

  prometheus::Registry& registry_;
  std::mutex mutex_;
  std::map<std::string, Family, std::less<>> families_;
};

}  // namespace faust
