#include "metrics/metrics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace faust {
namespace {

using namespace std::chrono_literals;

bool is_name(std::string_view name, bool allow_colon) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [allow_colon](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || (allow_colon && c == ':');
  });
}

bool is_sample_value(std::string_view value) {
  if (value == "+Inf" || value == "-Inf" || value == "NaN") return true;
  if (value.empty()) return false;
  const std::string text(value);
  char* end = nullptr;
  std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size() && std::isdigit(static_cast<unsigned char>(text.back()));
}

// Parses `name{label="value",...} value [timestamp]`; sets `name` on success.
bool parse_sample(std::string_view line, std::string& name) {
  std::size_t pos = line.find_first_of("{ ");
  if (pos == std::string_view::npos || !is_name(line.substr(0, pos), true)) return false;
  name = std::string(line.substr(0, pos));
  if (line[pos] == '{') {
    ++pos;
    while (pos < line.size() && line[pos] != '}') {
      const std::size_t equals = line.find('=', pos);
      if (equals == std::string_view::npos || !is_name(line.substr(pos, equals - pos), false)) return false;
      pos = equals + 1;
      if (pos >= line.size() || line[pos] != '"') return false;
      for (++pos; pos < line.size() && line[pos] != '"'; ++pos) {
        if (line[pos] == '\\') {
          if (++pos >= line.size() || (line[pos] != '\\' && line[pos] != '"' && line[pos] != 'n'))
            return false;
        }
      }
      if (pos >= line.size()) return false;  // unterminated value
      ++pos;                                 // closing quote
      if (pos < line.size() && line[pos] == ',')
        ++pos;
      else if (pos >= line.size() || line[pos] != '}')
        return false;
    }
    if (pos >= line.size()) return false;
    ++pos;  // '}'
  }
  if (pos >= line.size() || line[pos] != ' ') return false;
  std::string_view rest = line.substr(pos + 1);
  const std::size_t space = rest.find(' ');
  if (!is_sample_value(rest.substr(0, space))) return false;
  if (space == std::string_view::npos) return true;
  const std::string_view timestamp = rest.substr(space + 1);
  return !timestamp.empty() && std::all_of(timestamp.begin(), timestamp.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) || c == '-';
  });
}

// Checks the Prometheus text format line by line: every sample is `name{labels} value`, and its
// family has HELP and TYPE lines before it. Returns the problems found (empty when valid).
std::vector<std::string> text_format_problems(const std::string& text) {
  static const std::set<std::string, std::less<>> kTypes{"counter", "gauge", "histogram", "summary",
                                                         "untyped"};
  std::vector<std::string> problems;
  std::set<std::string> helped;
  std::map<std::string, std::string> types;
  std::istringstream lines(text);
  std::string line;
  int number = 0;
  if (text.empty() || text.back() != '\n') problems.push_back("text does not end with a newline");
  while (std::getline(lines, line)) {
    ++number;
    const std::string where = "line " + std::to_string(number) + ": ";
    std::string name;
    if (line.empty()) {
      problems.push_back(where + "empty line");
    } else if (line.rfind("# HELP ", 0) == 0) {
      name = line.substr(7, line.find(' ', 7) - 7);
      if (!is_name(name, true) || line.size() <= 8 + name.size())
        problems.push_back(where + "bad HELP: " + line);
      helped.insert(name);
    } else if (line.rfind("# TYPE ", 0) == 0) {
      const std::size_t space = line.find(' ', 7);
      name = line.substr(7, space - 7);
      const std::string type = space == std::string::npos ? "" : line.substr(space + 1);
      if (!is_name(name, true) || kTypes.count(type) == 0) problems.push_back(where + "bad TYPE: " + line);
      if (!types.emplace(name, type).second) problems.push_back(where + "second TYPE for " + name);
    } else if (line[0] == '#') {
      problems.push_back(where + "unknown comment: " + line);
    } else if (parse_sample(line, name)) {
      for (const std::string suffix : {"_bucket", "_sum", "_count"}) {
        const std::string base =
            name.size() > suffix.size() ? name.substr(0, name.size() - suffix.size()) : "";
        if (name.ends_with(suffix) && types.count(base) != 0 && types[base] == "histogram") name = base;
      }
      if (types.count(name) == 0) problems.push_back(where + "sample without TYPE: " + line);
      if (helped.count(name) == 0) problems.push_back(where + "sample without HELP: " + line);
    } else {
      problems.push_back(where + "not a sample: " + line);
    }
  }
  return problems;
}

bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

TEST(PrometheusTextCheckerTest, AcceptsValidAndRejectsMalformedText) {
  EXPECT_TRUE(text_format_problems("# HELP a_total x\n# TYPE a_total counter\na_total{x=\"1\"} 2\n").empty());
  EXPECT_FALSE(text_format_problems("a_total 2\n").empty());                               // no TYPE/HELP
  EXPECT_FALSE(text_format_problems("# HELP a x\n# TYPE a gauge\na{x=1} 2\n").empty());    // unquoted
  EXPECT_FALSE(text_format_problems("# HELP a x\n# TYPE a gauge\na two\n").empty());       // value
  EXPECT_FALSE(text_format_problems("# HELP a x\n# TYPE a gauge\na 1").empty());           // no newline
  EXPECT_FALSE(text_format_problems("# HELP a x\n# TYPE a gauge\n\na 1\n").empty());       // blank line
  EXPECT_FALSE(text_format_problems("# HELP a x\n# TYPE a gauge\na{x=\"1} 1\n").empty());  // open quote
  EXPECT_FALSE(text_format_problems("# HELP a x\n# TYPE a meter\na 1\n").empty());         // bad type
  EXPECT_TRUE(text_format_problems("# HELP h x\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 0.5\n"
                                   "h_count 1\n")
                  .empty());
}

TEST(MetricsTest, FreshRegistryShowsUnlabelledFamiliesOnly) {
  Metrics metrics("1.2.3");
  const std::string text = metrics.serialize();
  EXPECT_EQ(text_format_problems(text), std::vector<std::string>{}) << text;
  EXPECT_TRUE(has_line(text, R"(faust_build_info{version="1.2.3"} 1)")) << text;
  EXPECT_TRUE(has_line(text, "faust_up 1")) << text;
  EXPECT_TRUE(has_line(text, "faust_is_leader 0")) << text;
  EXPECT_TRUE(has_line(text, "faust_rebalances_total 0")) << text;
  // A labelled family has no series until something creates one; prometheus-cpp omits it.
  EXPECT_EQ(text.find("faust_agent_messages_total"), std::string::npos) << text;
}

TEST(MetricsTest, EveryFamilyIsExposedWithItsType) {
  Metrics metrics;
  (void)metrics.agent("say");
  (void)metrics.timer("publish_greetings");
  (void)metrics.send_target("say");
  metrics.set_lag("leader-say", 0, 0);
  const std::string text = metrics.serialize();
  EXPECT_EQ(text_format_problems(text), std::vector<std::string>{}) << text;
  for (const std::string family :
       {"faust_agent_messages_total counter", "faust_agent_errors_total counter",
        "faust_agent_dead_lettered_total counter", "faust_agent_handler_duration_seconds histogram",
        "faust_timer_fires_total counter",
        "faust_timer_skipped_ticks_total counter", "faust_timer_lateness_seconds histogram",
        "faust_is_leader gauge", "faust_rebalances_total counter", "faust_consumer_lag gauge",
        "faust_sends_total counter", "faust_send_errors_total counter", "faust_build_info gauge",
        "faust_up gauge"}) {
    EXPECT_TRUE(has_line(text, "# TYPE " + family)) << family << "\n" << text;
  }
  // Handles start at zero, so a dashboard sees the series before the first message.
  EXPECT_TRUE(has_line(text, R"(faust_agent_messages_total{agent="say"} 0)")) << text;
  EXPECT_TRUE(has_line(text, R"(faust_timer_fires_total{timer="publish_greetings"} 0)")) << text;
}

TEST(MetricsTest, DefaultVersionIsTheHostVersion) {
  Metrics metrics;
  EXPECT_TRUE(has_line(metrics.serialize(), R"(faust_build_info{version=")" FAUST_HOST_VERSION R"("} 1)"));
}

TEST(MetricsTest, AgentHandleCountsMessagesErrorsAndDurations) {
  Metrics metrics;
  const AgentMetrics say = metrics.agent("say");
  say.message_handled(30us);
  say.message_handled(2ms);
  say.message_handled(20s);
  say.handler_failed();
  say.dead_lettered();
  metrics.agent("say").message_handled(1ms);  // a second handle reaches the same series

  const std::string text = metrics.serialize();
  EXPECT_EQ(text_format_problems(text), std::vector<std::string>{}) << text;
  EXPECT_TRUE(has_line(text, R"(faust_agent_messages_total{agent="say"} 4)")) << text;
  EXPECT_TRUE(has_line(text, R"(faust_agent_errors_total{agent="say"} 1)")) << text;
  EXPECT_TRUE(has_line(text, R"(faust_agent_dead_lettered_total{agent="say"} 1)")) << text;
  EXPECT_TRUE(has_line(text, R"(faust_agent_handler_duration_seconds_count{agent="say"} 4)")) << text;
  EXPECT_TRUE(has_line(text, R"(faust_agent_handler_duration_seconds_bucket{agent="say",le="5e-05"} 1)"))
      << text;
  EXPECT_TRUE(has_line(text, R"(faust_agent_handler_duration_seconds_bucket{agent="say",le="0.001"} 2)"))
      << text;
  EXPECT_TRUE(has_line(text, R"(faust_agent_handler_duration_seconds_bucket{agent="say",le="0.0025"} 3)"))
      << text;
  EXPECT_TRUE(has_line(text, R"(faust_agent_handler_duration_seconds_bucket{agent="say",le="10"} 3)"))
      << text;
  EXPECT_TRUE(has_line(text, R"(faust_agent_handler_duration_seconds_bucket{agent="say",le="+Inf"} 4)"))
      << text;
}

TEST(MetricsTest, TimerHandleCountsFiresSkipsAndLateness) {
  Metrics metrics;
  const TimerMetrics timer = metrics.timer("publish_greetings");
  timer.fired(3ms);
  timer.fired(-1ms);  // early counts as on time
  timer.skipped(3);

  const std::string text = metrics.serialize();
  EXPECT_EQ(text_format_problems(text), std::vector<std::string>{}) << text;
  EXPECT_TRUE(has_line(text, R"(faust_timer_fires_total{timer="publish_greetings"} 2)")) << text;
  EXPECT_TRUE(has_line(text, R"(faust_timer_skipped_ticks_total{timer="publish_greetings"} 3)")) << text;
  EXPECT_TRUE(has_line(text, R"(faust_timer_lateness_seconds_count{timer="publish_greetings"} 2)")) << text;
  EXPECT_TRUE(
      has_line(text, R"(faust_timer_lateness_seconds_bucket{timer="publish_greetings",le="0.0001"} 1)"))
      << text;
  EXPECT_TRUE(
      has_line(text, R"(faust_timer_lateness_seconds_bucket{timer="publish_greetings",le="0.005"} 2)"))
      << text;
}

TEST(MetricsTest, LeaderRebalanceLagAndSends) {
  Metrics metrics;
  metrics.set_leader(true);
  metrics.rebalance();
  metrics.rebalance();
  metrics.set_lag("leader-say", 3, 42);
  metrics.set_lag("leader-say", 5, 7);
  metrics.set_lag("leader-say", 5, 0);
  const SendMetrics send = metrics.send_target("say");
  send.sent();
  send.sent();
  send.failed();
  metrics.set_up(false);

  std::string text = metrics.serialize();
  EXPECT_EQ(text_format_problems(text), std::vector<std::string>{}) << text;
  EXPECT_TRUE(has_line(text, "faust_is_leader 1")) << text;
  EXPECT_TRUE(has_line(text, "faust_rebalances_total 2")) << text;
  EXPECT_TRUE(has_line(text, R"(faust_consumer_lag{partition="3",topic="leader-say"} 42)")) << text;
  EXPECT_TRUE(has_line(text, R"(faust_consumer_lag{partition="5",topic="leader-say"} 0)")) << text;
  EXPECT_TRUE(has_line(text, R"(faust_sends_total{target="say"} 2)")) << text;
  EXPECT_TRUE(has_line(text, R"(faust_send_errors_total{target="say"} 1)")) << text;
  EXPECT_TRUE(has_line(text, "faust_up 0")) << text;

  metrics.remove_lag("leader-say", 3);
  metrics.remove_lag("other", 1);  // unknown: no effect
  metrics.set_leader(false);
  text = metrics.serialize();
  EXPECT_EQ(text.find(R"(partition="3")"), std::string::npos) << text;
  EXPECT_TRUE(has_line(text, R"(faust_consumer_lag{partition="5",topic="leader-say"} 0)")) << text;
  EXPECT_TRUE(has_line(text, "faust_is_leader 0")) << text;
}

TEST(MetricsTest, LabelValuesAreEscaped) {
  Metrics metrics;
  metrics.agent("we\"ird\\name").handler_failed();
  const std::string text = metrics.serialize();
  EXPECT_EQ(text_format_problems(text), std::vector<std::string>{}) << text;
  EXPECT_TRUE(has_line(text, R"(faust_agent_errors_total{agent="we\"ird\\name"} 1)")) << text;
}

TEST(MetricsTest, ConcurrentUpdatesAreAllCounted) {
  Metrics metrics;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&metrics, t] {
      const AgentMetrics agent = metrics.agent("say");
      for (int i = 0; i < kPerThread; ++i) {
        agent.message_handled(100us);
        metrics.set_lag("topic", t, i);
        if (i % 500 == 0) (void)metrics.serialize();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const std::string text = metrics.serialize();
  EXPECT_TRUE(has_line(text, R"(faust_agent_messages_total{agent="say"} 8000)")) << text;
  EXPECT_TRUE(has_line(text, R"(faust_agent_handler_duration_seconds_count{agent="say"} 8000)")) << text;
}

// The /metrics route (worker/status_routes) serves serialize() with this content type.
TEST(MetricsTest, SerializesPrometheusTextFormat) {
  Metrics metrics;
  metrics.rebalance();
  EXPECT_EQ(kPrometheusTextContentType, "text/plain; version=0.0.4; charset=utf-8");
  const std::string text = metrics.serialize();
  EXPECT_TRUE(has_line(text, "faust_rebalances_total 1"));
  EXPECT_EQ(text_format_problems(text), std::vector<std::string>{});
}

// ---- plugin metrics ----

faust_metric_spec spec_of(faust_metric_kind kind, const char* name, const char* help = "h",
                          const std::vector<double>& buckets = {}) {
  return faust_metric_spec{static_cast<std::uint32_t>(sizeof(faust_metric_spec)), kind, name, help,
                           buckets.empty() ? nullptr : buckets.data(), buckets.size()};
}

std::string create_error(Metrics& metrics, const std::string& plugin, const faust_metric_spec& spec) {
  auto created = metrics.plugins().create(plugin, spec);
  return created ? "created" : created.error().message;
}

TEST(PluginMetricsTest, SeriesCarryThePluginLabel) {
  Metrics metrics;
  faust_metric* counter = *metrics.plugins().create("greeter", spec_of(FAUST_METRIC_COUNTER, "greetings_total", "Greetings"));
  faust_metric* gauge = *metrics.plugins().create("greeter", spec_of(FAUST_METRIC_GAUGE, "queue_depth"));
  faust_metric* histogram =
      *metrics.plugins().create("greeter", spec_of(FAUST_METRIC_HISTOGRAM, "greet_seconds", "h", {0.1, 1}));
  counter->add(2);
  counter->add(-5);  // ignored: counters only grow
  counter->set(100);  // ignored for counters
  gauge->set(7);
  gauge->add(-2);
  histogram->add(0.05);
  histogram->add(0.5);
  histogram->add(3);
  const std::string text = metrics.serialize();
  EXPECT_TRUE(has_line(text, "# HELP greetings_total Greetings")) << text;
  EXPECT_TRUE(has_line(text, "# TYPE greetings_total counter")) << text;
  EXPECT_TRUE(has_line(text, R"(greetings_total{plugin="greeter"} 2)")) << text;
  EXPECT_TRUE(has_line(text, R"(queue_depth{plugin="greeter"} 5)")) << text;
  EXPECT_TRUE(has_line(text, R"(greet_seconds_bucket{plugin="greeter",le="0.1"} 1)")) << text;
  EXPECT_TRUE(has_line(text, R"(greet_seconds_bucket{plugin="greeter",le="1"} 2)")) << text;
  EXPECT_TRUE(has_line(text, R"(greet_seconds_bucket{plugin="greeter",le="+Inf"} 3)")) << text;
  EXPECT_TRUE(has_line(text, R"(greet_seconds_count{plugin="greeter"} 3)")) << text;
  EXPECT_EQ(text_format_problems(text), std::vector<std::string>{});
}

TEST(PluginMetricsTest, SameSpecGivesTheSameSeriesAndOtherPluginsAnotherLabel) {
  Metrics metrics;
  const auto spec = spec_of(FAUST_METRIC_COUNTER, "handled_total");
  faust_metric* first = *metrics.plugins().create("a", spec);
  faust_metric* again = *metrics.plugins().create("a", spec);
  faust_metric* other = *metrics.plugins().create("b", spec);
  EXPECT_EQ(first, again);
  EXPECT_NE(first, other);
  first->add(1);
  again->add(1);
  other->add(5);
  const std::string text = metrics.serialize();
  EXPECT_TRUE(has_line(text, R"(handled_total{plugin="a"} 2)")) << text;
  EXPECT_TRUE(has_line(text, R"(handled_total{plugin="b"} 5)")) << text;
}

TEST(PluginMetricsTest, HistogramWithoutBucketsGetsTheDefaults) {
  Metrics metrics;
  (*metrics.plugins().create("p", spec_of(FAUST_METRIC_HISTOGRAM, "took_seconds")))->add(0.2);
  const std::string text = metrics.serialize();
  EXPECT_TRUE(has_line(text, R"(took_seconds_bucket{plugin="p",le="0.005"} 0)")) << text;
  EXPECT_TRUE(has_line(text, R"(took_seconds_bucket{plugin="p",le="10"} 1)")) << text;
}

TEST(PluginMetricsTest, RefusesBadNames) {
  Metrics metrics;
  EXPECT_EQ(create_error(metrics, "p", spec_of(FAUST_METRIC_COUNTER, "bad-name")),
            "metric 'bad-name' of plugin 'p': invalid name (use [a-zA-Z_][a-zA-Z0-9_]*)");
  EXPECT_EQ(create_error(metrics, "p", spec_of(FAUST_METRIC_COUNTER, "a:b")),
            "metric 'a:b' of plugin 'p': invalid name (use [a-zA-Z_][a-zA-Z0-9_]*)");
  EXPECT_EQ(create_error(metrics, "p", spec_of(FAUST_METRIC_COUNTER, "1st")),
            "metric '1st' of plugin 'p': invalid name (use [a-zA-Z_][a-zA-Z0-9_]*)");
  EXPECT_EQ(create_error(metrics, "p", spec_of(FAUST_METRIC_COUNTER, "")),
            "metric '' of plugin 'p': invalid name (use [a-zA-Z_][a-zA-Z0-9_]*)");
  EXPECT_EQ(create_error(metrics, "p", spec_of(FAUST_METRIC_COUNTER, nullptr)),
            "metric '' of plugin 'p': invalid name (use [a-zA-Z_][a-zA-Z0-9_]*)");
  EXPECT_EQ(create_error(metrics, "p", spec_of(FAUST_METRIC_GAUGE, "faust_up")),
            "metric 'faust_up' of plugin 'p': names starting with 'faust_' are faust-host's own");
  EXPECT_EQ(create_error(metrics, "p", spec_of(FAUST_METRIC_GAUGE, "__x")),
            "metric '__x' of plugin 'p': names starting with '__' are reserved by Prometheus");
  EXPECT_EQ(create_error(metrics, "p", spec_of(FAUST_METRIC_GAUGE, "_ok_9")), "created");
}

TEST(PluginMetricsTest, RefusesBadKindsAndBuckets) {
  Metrics metrics;
  faust_metric_spec spec = spec_of(FAUST_METRIC_COUNTER, "x_total");
  const int bad_kind = 7;
  std::memcpy(&spec.kind, &bad_kind, sizeof bad_kind);
  EXPECT_EQ(create_error(metrics, "p", spec), "metric 'x_total' of plugin 'p': unknown kind 7");
  EXPECT_EQ(create_error(metrics, "p", spec_of(FAUST_METRIC_HISTOGRAM, "h", "h", {1, 1})),
            "metric 'h' of plugin 'p': histogram buckets must be finite and strictly increasing (bucket #1 is "
            "not greater than the one before)");
  EXPECT_EQ(create_error(metrics, "p", spec_of(FAUST_METRIC_HISTOGRAM, "h", "h", {1, INFINITY})),
            "metric 'h' of plugin 'p': histogram buckets must be finite and strictly increasing (bucket #1 is "
            "not finite)");
  faust_metric_spec small = spec_of(FAUST_METRIC_COUNTER, "y");
  small.struct_size = 8;
  EXPECT_EQ(create_error(metrics, "p", small), "invalid metric spec of plugin 'p': null or smaller than ABI 1.1's");
}

TEST(PluginMetricsTest, RefusesConflictingSpecs) {
  Metrics metrics;
  ASSERT_EQ(create_error(metrics, "a", spec_of(FAUST_METRIC_COUNTER, "jobs", "Jobs")), "created");
  EXPECT_EQ(create_error(metrics, "a", spec_of(FAUST_METRIC_GAUGE, "jobs", "Jobs")),
            "metric 'jobs' of plugin 'a': already created as a counter, not a gauge");
  EXPECT_EQ(create_error(metrics, "a", spec_of(FAUST_METRIC_COUNTER, "jobs", "Other")),
            "metric 'jobs' of plugin 'a': already created with help 'Jobs'");
  EXPECT_EQ(create_error(metrics, "b", spec_of(FAUST_METRIC_HISTOGRAM, "jobs", "Jobs")),
            "metric 'jobs' of plugin 'b': already created by plugin 'a' as a counter, not a histogram");
  ASSERT_EQ(create_error(metrics, "a", spec_of(FAUST_METRIC_HISTOGRAM, "lat", "L", {1, 2})), "created");
  EXPECT_EQ(create_error(metrics, "a", spec_of(FAUST_METRIC_HISTOGRAM, "lat", "L", {1, 3})),
            "metric 'lat' of plugin 'a': already created with other histogram buckets");
}

TEST(PluginMetricsTest, ConcurrentCreationAndUpdatesAreSafe) {
  Metrics metrics;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) (*metrics.plugins().create("p", spec_of(FAUST_METRIC_COUNTER, "n_total")))->add(1);
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_TRUE(has_line(metrics.serialize(), R"(n_total{plugin="p"} 4000)"));
}

}  // namespace
}  // namespace faust
