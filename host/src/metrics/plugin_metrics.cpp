#include "metrics/plugin_metrics.h"

namespace faust {
namespace {

// prometheus-cpp's series are thread-safe, so these only forward.
class CounterSeries final : public faust_metric {
 public:
  explicit CounterSeries(prometheus::Counter& counter) : counter_(counter) {}
  // A counter only grows: negative (and NaN) increments are ignored, as plugin.h documents.
  void add(double value) noexcept override {
    if (value > 0) counter_.Increment(value);
  }
  void set(double /*value*/) noexcept override {}

 private:
  prometheus::Counter& counter_;
};

class GaugeSeries final : public faust_metric {
 public:
  explicit GaugeSeries(prometheus::Gauge& gauge) : gauge_(gauge) {}
  void add(double value) noexcept override { gauge_.Increment(value); }
  void set(double value) noexcept override { gauge_.Set(value); }

 private:
  prometheus::Gauge& gauge_;
};

class HistogramSeries final : public faust_metric {
 public:
  explicit HistogramSeries(prometheus::Histogram& histogram) : histogram_(histogram) {}
  void add(double value) noexcept override { histogram_.Observe(value); }
  void set(double /*value*/) noexcept override {}

 private:
  prometheus::Histogram& histogram_;
};

}  // namespace

std::unique_ptr<faust_metric> PluginMetrics::Family::make_series(const std::string& plugin) const {
    const prometheus::Labels labels{{"plugin", plugin}};
  switch (shape.kind) {
    case FAUST_METRIC_COUNTER:
      return std::make_unique<CounterSeries>(counters->Add(labels));
    case FAUST_METRIC_GAUGE:
      return std::make_unique<GaugeSeries>(gauges->Add(labels));
    case FAUST_METRIC_HISTOGRAM:
      break;
  }
  return std::make_unique<HistogramSeries>(histograms->Add(labels, shape.buckets));
}

Result<faust_metric*> PluginMetrics::create(const std::string& plugin, const faust_metric_spec& spec) {
  abi::MetricShape shape;
  if (std::optional<std::string> problem = abi::read_metric_spec(plugin, &spec, shape)) {
    return Error{ExitCode::kFailure, *problem};
  }
  std::lock_guard lock(mutex_);
  auto found = families_.find(shape.name);
  if (found == families_.end()) {
    Family family;
    switch (shape.kind) {
      case FAUST_METRIC_COUNTER:
        family.counters = &prometheus::BuildCounter().Name(shape.name).Help(shape.help).Register(registry_);
        break;
      case FAUST_METRIC_GAUGE:
        family.gauges = &prometheus::BuildGauge().Name(shape.name).Help(shape.help).Register(registry_);
        break;
      case FAUST_METRIC_HISTOGRAM:
        family.histograms = &prometheus::BuildHistogram().Name(shape.name).Help(shape.help).Register(registry_);
        break;
    }
    family.owner = plugin;
    const std::string name = shape.name;
    family.shape = std::move(shape);
    found = families_.emplace(name, std::move(family)).first;
  } else if (auto conflict = abi::metric_conflict(plugin, shape, found->second.owner, found->second.shape)) {
    return Error{ExitCode::kFailure, *conflict};
  }
  Family& family = found->second;
  auto series = family.series.find(plugin);
  if (series == family.series.end()) series = family.series.emplace(plugin, family.make_series(plugin)).first;
  return series->second.get();
}

}  // namespace faust
