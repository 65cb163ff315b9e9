#pragma once

// A small toolkit for walking a YAML document against a fixed schema. Every failure carries the
// position of the node at fault so the loader can report "FILE:LINE:COL: message".
// Internal to the manifest loader; the public interface is manifest.h.

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "manifest/manifest.h"

namespace faust::schema {

// Thrown by the walker and caught only in parse_manifest(), which turns it into an Error value.
// This keeps every section reader a straight list of fields instead of a chain of early returns.
struct Invalid {
  YAML::Mark mark;
  std::string message;
};

[[noreturn]] void fail(const YAML::Mark& mark, std::string message);

// The one place that formats a positioned message: "FILE:LINE:COL: message" with 1-based line
// and column, or "FILE: message" when the mark carries no position.
std::string located_message(const std::filesystem::path& file, const YAML::Mark& mark,
                            std::string_view message);

// How a node reads in a message: "'text'", "a list", "a map" or "nothing".
std::string describe(const YAML::Node& node);

// The closest of `candidates` to `word`: equal ignoring case, within edit distance 2 (less for
// very short words), or a prefix of it (or it of a candidate).
std::optional<std::string> did_you_mean(std::string_view word, std::span<const std::string_view> candidates);

// Shortest decimal form of a number of seconds, for messages ("6", "0.5").
std::string format_seconds(double seconds);

// One key/value pair of a YAML map, with the dotted path used in messages
// ("timers.publish_greetings.interval").
struct Entry {
  YAML::Node key;
  YAML::Node value;
  std::string path;

  const std::string& name() const { return key.Scalar(); }
  // Where to point for a problem with the value. A null value's own mark points at the next
  // token, often on a later line, so the key is the better place.
  YAML::Mark value_mark() const;
};

// The pairs of a map node in document order. A null node reads as an empty map. Fails on any
// other non-map (saying it expected `expected`), on non-scalar keys and on repeated keys.
std::vector<Entry> map_entries(const YAML::Node& node, std::string_view path, const YAML::Mark& where,
                               std::string_view expected = "a map");

// A map with a fixed set of keys: unknown keys fail with a suggestion, missing required keys fail
// at `where` (the section's own key, which is where a reader looks for them).
class Section {
 public:
  Section(const YAML::Node& node, std::string path, const YAML::Mark& where,
          std::initializer_list<std::string_view> known_keys);

  const Entry* find(std::string_view key) const;
  const Entry& require(std::string_view key) const;

 private:
  std::string path_;
  YAML::Mark where_;
  std::vector<Entry> entries_;
};

// Every value under `root`, in document order, for a reload to compare (reload_changes.cpp).
std::vector<WrittenValue> written_values(const YAML::Node& root);

// Typed readers. Each fails at the value with "<path>: expected ..., got ..." or a range message.
std::string read_string(const Entry& entry);  // any scalar, as written
int read_int(const Entry& entry, int min, int max);
double read_seconds(const Entry& entry, double min, double max);  // in min..max
bool read_bool(const Entry& entry);

template <typename Enum>
using Choices = std::initializer_list<std::pair<std::string_view, Enum>>;

namespace detail {
[[noreturn]] void fail_choice(const Entry& entry, const std::vector<std::string_view>& names);
}  // namespace detail

template <typename Enum>
Enum read_choice(const Entry& entry, Choices<Enum> choices) {
  const std::string text = read_string(entry);
  std::vector<std::string_view> names;
  for (const auto& [name, value] : choices) {
    if (name == text) return value;
    names.push_back(name);
  }
  detail::fail_choice(entry, names);
}

}  // namespace faust::schema
