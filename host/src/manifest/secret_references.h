#pragma once

// Manifest values kept outside the manifest: a scalar written exactly as `${env:NAME}` or
// `${file:PATH}` stands for the environment variable's value or the file's contents (one trailing
// newline trimmed), so passwords live in the environment or in credential files, never in the YAML.
// Internal to the manifest loader; the public interface is manifest.h.

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <string>
#include <vector>

namespace faust::schema {

// Replaces every reference among the scalar values of `root` (map keys stay as written) by what it
// refers to, and returns the values so taken, in document order. A relative `${file:}` path is read
// from $CREDENTIALS_DIRECTORY when that is set (systemd's LoadCredential=), else from the manifest's
// folder. Fails (schema::Invalid, at the reference) on an unset variable or an unreadable file.
std::vector<std::string> resolve_references(YAML::Node& root, const std::filesystem::path& manifest_file);

}  // namespace faust::schema
