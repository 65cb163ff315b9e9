#include "manifest/secret_references.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <string_view>
#include <system_error>

#include "manifest/yaml_schema.h"

namespace faust::schema {
namespace {

// A credential is a line or a PEM block; anything bigger is the wrong file (or /dev/zero).
constexpr std::uintmax_t kMaxSecretFileBytes = 1024 * 1024;

std::filesystem::path secret_file_path(std::string_view written, const std::filesystem::path& manifest_file) {
  std::filesystem::path path(written);
  if (path.is_absolute()) return path;
  if (const char* credentials = std::getenv("CREDENTIALS_DIRECTORY"); credentials != nullptr && *credentials != '\0') {
    return std::filesystem::path(credentials) / path;
  }
  const std::filesystem::path folder = manifest_file.parent_path();
  return (folder.empty() ? std::filesystem::path(".") : folder) / path;
}

std::string read_secret_file(const YAML::Mark& mark, const std::string& reference, const std::filesystem::path& path) {
  const auto cannot_read = [&](std::string_view why) {
    fail(mark, reference + ": cannot read " + path.string() + ": " + std::string(why));
  };
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  if (error) cannot_read(error.message());
  if (!std::filesystem::is_regular_file(status)) cannot_read("not a regular file");
  if (std::filesystem::file_size(path, error) > kMaxSecretFileBytes) cannot_read("larger than 1 MiB");
  std::ifstream stream(path, std::ios::binary);
  if (!stream) cannot_read(std::strerror(errno));
  std::string contents((std::istreambuf_iterator<char>(stream)), std::istreambuf_iterator<char>());
  if (stream.bad()) cannot_read(std::strerror(errno));
  // Files written by `echo` or an editor end in a newline that is no part of the password.
  if (contents.ends_with("\r\n")) {
    contents.resize(contents.size() - 2);
  } else if (contents.ends_with('\n')) {
    contents.pop_back();
  }
  return contents;
}

// The value a scalar stands for, or nullopt when it is no reference.
std::optional<std::string> referenced_value(const YAML::Node& scalar, const std::string& path,
                                           const std::filesystem::path& manifest_file) {
  const std::string& written = scalar.Scalar();
  // Only these two prefixes make a reference: any other text, "${x}" included, is a plain value.
  const bool env = written.starts_with("${env:");
  if ((!env && !written.starts_with("${file:")) || !written.ends_with('}')) return std::nullopt;
  const std::string text = path + ": " + written;  // how messages name the reference
  const std::string_view kind = env ? "env" : "file";
  const std::string_view inner = std::string_view(written).substr(2, written.size() - 3);
  const auto colon = inner.find(':');
  const std::string name(inner.substr(colon + 1));
  if (name.empty()) fail(scalar.Mark(), text + ": the " + std::string(kind) + " reference names nothing");
  if (env) {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) fail(scalar.Mark(), text + ": environment variable " + name + " is not set");
    return std::string(value);
  }
  return read_secret_file(scalar.Mark(), text, secret_file_path(name, manifest_file));
}

// `ancestors`: the collections that contain `node`. An alias can make a collection contain itself
// (`a: &x {b: *x}`), and such a cycle is walked once.
void resolve(YAML::Node node, const std::string& path, const std::filesystem::path& manifest_file,
             std::vector<std::string>& taken, std::vector<YAML::Node>& ancestors) {
  if (node.IsScalar()) {
    if (auto value = referenced_value(node, path, manifest_file)) {
      node = *value;  // in place: the node keeps its mark for later messages
      taken.push_back(std::move(*value));
    }
    return;
  }
  if (!node.IsMap() && !node.IsSequence()) return;
  for (const auto& ancestor : ancestors) {
    if (ancestor.is(node)) return;
  }
  ancestors.push_back(node);
  if (node.IsMap()) {
    for (auto item : node) {
      const std::string key = item.first.IsScalar() ? item.first.Scalar() : "?";
      resolve(item.second, path.empty() ? key : path + "." + key, manifest_file, taken, ancestors);
    }
  } else {
    std::size_t index = 0;
    for (auto item : node) {
      resolve(item, path + "[" + std::to_string(index++) + "]", manifest_file, taken, ancestors);
    }
  }
  ancestors.pop_back();
}

}  // namespace

std::vector<std::string> resolve_references(YAML::Node& root, const std::filesystem::path& manifest_file) {
  std::vector<std::string> taken;
  std::vector<YAML::Node> ancestors;
  resolve(root, "", manifest_file, taken, ancestors);
  return taken;
}

}  // namespace faust::schema
