// What a reload (SIGHUP) compares: the values a manifest file wrote, and the first one that
// changed outside what a running worker can take on (isolated agents' library and config).
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "manifest/manifest.h"
#include "manifest/yaml_schema.h"

namespace faust {
namespace {

// Deeper than any manifest nests: an alias that makes a collection contain itself ends here.
constexpr std::size_t kDeepest = 16;

void walk(const YAML::Node& node, const YAML::Mark& key, std::vector<std::string>& path,
          std::vector<WrittenValue>& out) {
  const auto add = [&](std::string value, const YAML::Mark& mark) {
    out.push_back(WrittenValue{path, std::move(value), mark.line, mark.column});
  };
  if (node.IsScalar()) return add("s" + node.Scalar(), node.Mark());
  if (!node.IsMap() && !node.IsSequence()) return add("~", key);
  add(node.IsMap() ? "{" : "[", key);
  if (path.size() >= kDeepest) return;
  std::size_t index = 0;
  for (const auto& item : node) {
    if (node.IsMap()) {
      path.push_back(item.first.IsScalar() ? item.first.Scalar() : "?");
      walk(item.second, item.first.Mark(), path, out);
    } else {
      path.push_back("[" + std::to_string(index++) + "]");
      walk(item, item.Mark(), path, out);
    }
    path.pop_back();
  }
}

std::string dotted(const std::vector<std::string>& path) {
  std::string text;
  for (const std::string& key : path) {
    if (!text.empty()) text += '.';
    text += key;
  }
  return text.empty() ? "the manifest" : text;
}

bool isolated(const Manifest& manifest, const std::string& agent) {
  const AgentConfig* config = manifest.find_agent(agent);
  return config != nullptr && config->isolation == Isolation::kProcess;
}

// agents.<name>.library and agents.<name>.config (and within it), of an agent isolated before
// and after: a reload swaps those in.
bool reloadable(const std::vector<std::string>& path, const Manifest& running, const Manifest& next) {
  return path.size() >= 3 && path[0] == "agents" && (path[2] == "library" || path[2] == "config") &&
         isolated(running, path[1]) && isolated(next, path[1]);
}

}  // namespace

namespace schema {

std::vector<WrittenValue> written_values(const YAML::Node& root) {
  std::vector<WrittenValue> out;
  std::vector<std::string> path;
  walk(root, root.Mark(), path, out);
  return out;
}

}  // namespace schema

std::optional<std::string> reload_refusal(const Manifest& running, const Manifest& next) {
  std::map<std::vector<std::string>, const WrittenValue*> before;
  for (const WrittenValue& value : running.written) before.emplace(value.path, &value);
  std::map<std::vector<std::string>, const WrittenValue*> after;
  for (const WrittenValue& value : next.written) after.emplace(value.path, &value);

  // The earliest place in `next`, and what happened there.
  std::optional<std::pair<YAML::Mark, std::string>> first;
  const auto note = [&](int line, int column, const std::vector<std::string>& path, const char* what) {
    YAML::Mark mark;
    mark.line = line;
    mark.column = column;
    if (first && (first->first.line < line || (first->first.line == line && first->first.column <= column))) return;
    first.emplace(mark, dotted(path) + ": " + what);
  };
  for (const WrittenValue& value : next.written) {
    if (reloadable(value.path, running, next)) continue;
    const auto old = before.find(value.path);
    if (old == before.end()) {
      note(value.line, value.column, value.path, "added");
    } else if (old->second->value != value.value) {
      note(value.line, value.column, value.path, "changed");
    }
  }
  for (const WrittenValue& value : running.written) {
    if (after.contains(value.path) || reloadable(value.path, running, next)) continue;
    // Gone: pointed at the nearest enclosing map the file still has (the top, at worst).
    std::vector<std::string> left = value.path;
    while (!left.empty() && !after.contains(left)) left.pop_back();
    const auto at = after.find(left);
    note(at == after.end() ? 0 : at->second->line, at == after.end() ? 0 : at->second->column, value.path,
         "removed");
  }
  if (!first) return std::nullopt;
  return schema::located_message(next.file, first->first,
                                 first->second +
                                     "; a reload may change only the library and config of agents with isolation: "
                                     "process (restart the worker for anything else): reload refused, the "
                                     "running manifest stays");
}

}  // namespace faust
