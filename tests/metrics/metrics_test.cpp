#include "metrics/metrics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
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
        "faust_agent_handler_duration_seconds histogram", "faust_timer_fires_total counter",
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
  metrics.agent("say").message_handled(1ms);  // a second handle reaches the same series

  const std::string text = metrics.serialize();
  EXPECT_EQ(text_format_problems(text), std::vector<std::string>{}) << text;
  EXPECT_TRUE(has_line(text, R"(faust_agent_messages_total{agent="say"} 4)")) << text;
  EXPECT_TRUE(has_line(text, R"(faust_agent_errors_total{agent="say"} 1)")) << text;
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

TEST(MetricsTest, HttpResponseCarriesPrometheusContentType) {
  Metrics metrics;
  metrics.rebalance();
  const HttpResponse response = metrics_http_response(metrics);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_TRUE(has_line(response.body, "faust_rebalances_total 1"));
  EXPECT_EQ(text_format_problems(response.body), std::vector<std::string>{});
}

}  // namespace
}  // namespace faust
