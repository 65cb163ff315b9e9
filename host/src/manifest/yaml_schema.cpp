#include "manifest/yaml_schema.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <system_error>

namespace faust::schema {
namespace {

std::string lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return static_cast<char>((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
  });
  return out;
}

// Levenshtein distance with adjacent transpositions counted as one edit ("intreval").
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

std::string qualified(std::string_view path, std::string_view key) {
  return path.empty() ? std::string(key) : std::string(path) + "." + std::string(key);
}

std::string where_in(std::string_view path) {
  return path.empty() ? std::string(" at the top level") : " in " + std::string(path);
}

}  // namespace

void fail(const YAML::Mark& mark, std::string message) { throw Invalid{mark, std::move(message)}; }

std::string located_message(const std::filesystem::path& file, const YAML::Mark& mark,
                            std::string_view message) {
  std::string out = file.string();
  if (!mark.is_null() && mark.line >= 0 && mark.column >= 0) {
    // Appended piece by piece: GCC 12 at -O3 reports a false -Wrestrict on `":" + std::to_string(...)`.
    out += ':';
    out += std::to_string(mark.line + 1);
    out += ':';
    out += std::to_string(mark.column + 1);
  }
  out += ": ";
  out += message;
  return out;
}

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return "'" + node.Scalar() + "'";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

std::optional<std::string> did_you_mean(std::string_view word, std::span<const std::string_view> candidates) {
  const std::string lower_word = lowercase(word);
  // A one-letter key is "close" to every two-letter key; allow fewer edits for short words.
  const std::size_t max_distance =
      std::min<std::size_t>(2, lower_word.size() > 0 ? lower_word.size() - 1 : 0);
  constexpr std::size_t kMinPrefix = 3;

  std::optional<std::string> best;
  std::size_t best_distance = max_distance + 1;
  std::optional<std::string> prefix_match;
  for (std::string_view candidate : candidates) {
    const std::string lower_candidate = lowercase(candidate);
    const std::size_t distance = edit_distance(lower_word, lower_candidate);
    if (distance < best_distance) {
      best_distance = distance;
      best = std::string(candidate);
    }
    const std::size_t shorter = std::min(lower_word.size(), lower_candidate.size());
    if (!prefix_match && shorter >= kMinPrefix &&
        lower_word.compare(0, shorter, lower_candidate, 0, shorter) == 0) {
      prefix_match = std::string(candidate);
    }
  }
  return best ? best : prefix_match;
}

std::string format_seconds(double seconds) {
  std::array<char, 64> buffer{};
  const auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), seconds);
  return std::string(buffer.data(), result.ptr);
}

YAML::Mark Entry::value_mark() const { return value.IsNull() ? key.Mark() : value.Mark(); }

std::vector<Entry> map_entries(const YAML::Node& node, std::string_view path, const YAML::Mark& where,
                               std::string_view expected) {
  std::vector<Entry> entries;
  if (node.IsNull()) return entries;
  if (!node.IsMap()) {
    fail(node.IsDefined() ? node.Mark() : where,
         std::string(path) + ": expected " + std::string(expected) + ", got " + describe(node));
  }
  std::map<std::string, int, std::less<>> first_line;  // key -> 1-based line of its first use
  // Range-for on purpose: `it->first` goes through a temporary proxy and would dangle.
  for (const auto& pair : node) {
    const YAML::Node& key = pair.first;
    if (!key.IsScalar()) {
      fail(key.Mark(), "keys must be plain names, got " + describe(key) + where_in(path));
    }
    const auto [seen, inserted] = first_line.emplace(key.Scalar(), key.Mark().line + 1);
    if (!inserted) {
      fail(key.Mark(), "duplicate key '" + key.Scalar() + "'" + where_in(path) + " (first at line " +
                           std::to_string(seen->second) + ")");
    }
    entries.push_back(Entry{key, pair.second, qualified(path, key.Scalar())});
  }
  return entries;
}

Section::Section(const YAML::Node& node, std::string path, const YAML::Mark& where,
                 std::initializer_list<std::string_view> known_keys)
    : path_(std::move(path)), where_(where), entries_(map_entries(node, path_, where)) {
  const std::span<const std::string_view> known(known_keys.begin(), known_keys.size());
  for (const Entry& entry : entries_) {
    if (std::find(known.begin(), known.end(), entry.name()) != known.end()) continue;
    std::string message = "unknown key '" + entry.name() + "'" + where_in(path_);
    if (auto suggestion = did_you_mean(entry.name(), known)) {
      message += " (did you mean '" + *suggestion + "'?)";
    }
    fail(entry.key.Mark(), std::move(message));
  }
}

const Entry* Section::find(std::string_view key) const {
  for (const Entry& entry : entries_) {
    if (entry.name() == key) return &entry;
  }
  return nullptr;
}

const Entry& Section::require(std::string_view key) const {
  if (const Entry* entry = find(key)) return *entry;
  fail(where_, "missing required key '" + std::string(key) + "'" + where_in(path_));
}

std::string read_string(const Entry& entry) {
  if (!entry.value.IsScalar()) {
    fail(entry.value_mark(), entry.path + ": expected a string, got " + describe(entry.value));
  }
  return entry.value.Scalar();
}

int read_int(const Entry& entry, int min, int max) {
  const bool scalar = entry.value.IsScalar();
  const std::string text = scalar ? entry.value.Scalar() : std::string();
  std::int64_t number = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
  const bool parsed_whole = end == text.data() + text.size() && !text.empty();
  if (!scalar || !parsed_whole || (error != std::errc() && error != std::errc::result_out_of_range)) {
    fail(entry.value_mark(), entry.path + ": expected an integer, got " + describe(entry.value));
  }
  if (error == std::errc::result_out_of_range || number < min || number > max) {
    fail(entry.value_mark(),
         entry.path + ": must be in " + std::to_string(min) + ".." + std::to_string(max) + ", got " + text);
  }
  return static_cast<int>(number);
}

double read_seconds(const Entry& entry, double min, double max) {
  const bool scalar = entry.value.IsScalar();
  const std::string text = scalar ? entry.value.Scalar() : std::string();
  double seconds = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), seconds);
  // from_chars also reads "inf" and "nan"; neither is a usable duration.
  if (!scalar || text.empty() || end != text.data() + text.size() || error != std::errc() ||
      !std::isfinite(seconds)) {
    fail(entry.value_mark(), entry.path + ": expected a number of seconds, got " + describe(entry.value));
  }
  if (seconds < min) {
    fail(entry.value_mark(),
         entry.path + ": must be at least " + format_seconds(min) + " seconds, got " + text);
  }
  if (seconds > max) {
    fail(entry.value_mark(),
         entry.path + ": must be at most " + format_seconds(max) + " seconds, got " + text);
  }
  return seconds;
}

bool read_bool(const Entry& entry) {
  bool flag = false;
  // yaml-cpp's reading: true/false, yes/no, on/off, y/n in lower, Title or UPPER case.
  if (!entry.value.IsScalar() || !YAML::convert<bool>::decode(entry.value, flag)) {
    fail(entry.value_mark(), entry.path + ": expected true or false, got " + describe(entry.value));
  }
  return flag;
}

namespace detail {

void fail_choice(const Entry& entry, const std::vector<std::string_view>& names) {
  std::string expected;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) expected += (i + 1 == names.size()) ? " or " : ", ";
    expected += names[i];
  }
  std::string message = entry.path + ": unknown value '" + entry.value.Scalar() + "' (expected " + expected;
  if (auto suggestion = did_you_mean(entry.value.Scalar(), names)) {
    message += "; did you mean '" + *suggestion + "'?";
  }
  fail(entry.value_mark(), message + ")");
}

}  // namespace detail
}  // namespace faust::schema
