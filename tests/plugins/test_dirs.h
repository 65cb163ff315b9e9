#pragma once

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace faust::testing {

// The example plugins as the build puts them (the host's default plugin dir in the build tree).
inline const std::filesystem::path kPluginDir = FAUST_TEST_PLUGIN_DIR;
// The fixture plugins, each broken in one way.
inline const std::filesystem::path kFixtureDir = FAUST_TEST_FIXTURE_DIR;

// Canonical, as the loader names files in its messages.
inline std::filesystem::path plugin(std::string_view name) {
  return std::filesystem::weakly_canonical(kPluginDir / (std::string(name) + ".so"));
}
inline std::filesystem::path fixture(std::string_view name) {
  return std::filesystem::weakly_canonical(kFixtureDir / (std::string(name) + ".so"));
}

// A fresh private directory (mode 0700), removed with everything in it at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "plugins_test.XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    path_ = std::filesystem::canonical(pattern);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all, ignored);
    std::filesystem::remove_all(path_, ignored);
  }

  const std::filesystem::path& path() const { return path_; }

  std::filesystem::path write(std::string_view name, std::string_view content) const {
    const std::filesystem::path file = path_ / name;
    std::ofstream(file, std::ios::binary) << content;
    return file;
  }

  // A copy of `source` in this directory with the given mode.
  std::filesystem::path copy(const std::filesystem::path& source, std::string_view name, mode_t mode) const {
    const std::filesystem::path file = path_ / name;
    std::filesystem::copy_file(source, file, std::filesystem::copy_options::overwrite_existing);
    ::chmod(file.c_str(), mode);
    return file;
  }

 private:
  std::filesystem::path path_;
};

}  // namespace faust::testing
