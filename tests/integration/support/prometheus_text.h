#pragma once

#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace faust::testing {

// Lines of a Prometheus text exposition (0.0.4) that are neither comments nor valid samples.
inline std::vector<std::string> prometheus_format_problems(const std::string& text) {
  static const std::regex kSample(R"(^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? )"
                                  R"(([-+]?[0-9.]+([eE][-+]?[0-9]+)?|NaN|[-+]Inf)( -?[0-9]+)?$)");
  static const std::regex kComment(R"(^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .*$)");
  std::vector<std::string> problems;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || std::regex_match(line, kComment) || std::regex_match(line, kSample)) continue;
    problems.push_back(line);
  }
  return problems;
}

// The value of one series, written exactly as exposed: `faust_is_leader` or
// `faust_agent_messages_total{agent="say"}`.
inline std::optional<double> prometheus_sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 && line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return std::nullopt;
}

}  // namespace faust::testing
