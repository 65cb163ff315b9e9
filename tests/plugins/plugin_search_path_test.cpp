#include "plugins/plugin_search_path.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <vector>

#include "test_dirs.h"

namespace faust {
namespace {

using ::testing::ElementsAre;
using testing::TempDir;

namespace fs = std::filesystem;

// Sets an environment variable for one test and restores it afterwards.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value == nullptr) {
      ::unsetenv(name);
    } else {
      ::setenv(name, value, 1);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(PluginSearchPathTest, EnvDirsComeFirstThenTheDirNextToTheExecutable) {
  const std::vector<fs::path> dirs = plugin_search_dirs("/a::/b/", "/opt/faust/bin/faust-host");
  ASSERT_EQ(dirs.size(), 3U);
  EXPECT_EQ(dirs[0], "/a");
  EXPECT_EQ(dirs[1], "/b/");
  // Relative to bin/, normalized: no "..", under the prefix the executable is in.
  EXPECT_EQ(dirs[2].string().rfind("/opt/faust/", 0), 0U) << dirs[2];
  EXPECT_EQ(dirs[2].string().find(".."), std::string::npos) << dirs[2];
  EXPECT_EQ(dirs[2].filename(), "plugins");
}

// `cmake --install` of a plugin project defaults to /usr/local; a host in /usr finds it there.
TEST(PluginSearchPathTest, HostInUsrAlsoSearchesTheLocalPrefix) {
  for (const fs::path& usr : {fs::path("/usr"), fs::path("/tmp/root/usr")}) {
    const std::vector<fs::path> dirs = plugin_search_dirs("", usr / "bin/faust-host");
    ASSERT_EQ(dirs.size(), 2U) << usr;
    const fs::path own = fs::relative(dirs[0], usr);
    EXPECT_EQ(own.filename(), "plugins") << dirs[0];
    EXPECT_EQ(own.begin()->string(), "lib") << dirs[0];
    EXPECT_EQ(dirs[1], usr / "local" / own);
  }
  // Any other prefix has no local counterpart.
  EXPECT_EQ(plugin_search_dirs("", "/usr/local/bin/faust-host").size(), 1U);
  EXPECT_EQ(plugin_search_dirs("", "/opt/usr-like/bin/faust-host").size(), 1U);
}

TEST(PluginSearchPathTest, NoExecutableMeansNoDefaultDir) {
  EXPECT_THAT(plugin_search_dirs("/a", fs::path()), ElementsAre(fs::path("/a")));
  EXPECT_TRUE(plugin_search_dirs("", fs::path()).empty());
}

// The build tree mirrors the install tree, so from this test's bin/ the default dir is where the
// build puts the example plugins.
TEST(PluginSearchPathTest, DefaultDirFromTheBuildTreeIsTheBuiltPluginsDir) {
  ScopedEnv env("FAUST_HOST_PLUGIN_PATH", "/from/env");
  const std::vector<fs::path> dirs = default_plugin_search_dirs();
  ASSERT_EQ(dirs.size(), 2U);
  EXPECT_EQ(dirs[0], "/from/env");
  EXPECT_EQ(fs::weakly_canonical(dirs[1]), fs::weakly_canonical(testing::kPluginDir));
}

TEST(PluginSearchPathTest, ResolvesABareNameInSearchOrder) {
  TempDir first;
  TempDir second;
  second.write("say.so", "");
  first.write("other.so", "");
  const std::vector<fs::path> dirs{first.path(), second.path()};
  Result<fs::path> say = resolve_plugin_library("say", dirs);
  ASSERT_TRUE(say.ok()) << say.error().message;
  EXPECT_EQ(*say, second.path() / "say.so");

  first.write("say.so", "");
  EXPECT_EQ(*resolve_plugin_library("say", dirs), first.path() / "say.so");
  EXPECT_EQ(*resolve_plugin_library("say.so", dirs), first.path() / "say.so");
}

TEST(PluginSearchPathTest, APathIsTakenAsIs) {
  EXPECT_EQ(*resolve_plugin_library("/x/y/say.so", {}), "/x/y/say.so");
  EXPECT_EQ(*resolve_plugin_library("./say.so", {}), "./say.so");
}

TEST(PluginSearchPathTest, AMissingBareNameListsTheDirsSearched) {
  const std::vector<fs::path> dirs{"/nonexistent/a", "/nonexistent/b"};
  Result<fs::path> missing = resolve_plugin_library("sey", dirs);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ExitCode::kPluginMissing);
  EXPECT_EQ(
      missing.error().message,
      "plugin 'sey' not found: no sey.so in /nonexistent/a, /nonexistent/b (FAUST_HOST_PLUGIN_PATH adds "
      "directories)");
}

}  // namespace
}  // namespace faust
