#include "plugins/plugin_file_checks.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

namespace faust {
namespace {

constexpr uid_t kRoot = 0;
constexpr uid_t kMe = 1000;
constexpr uid_t kSomeoneElse = 1001;

const std::filesystem::path kFile = "/opt/plugins/say.so";
const std::filesystem::path kDir = "/opt/plugins";

Status check(FileOwnership file, FileOwnership dir, uid_t running_user = kMe) {
  return check_plugin_permissions(kFile, file, kDir, dir, running_user);
}

std::string refusal(FileOwnership file, FileOwnership dir, uid_t running_user = kMe) {
  Status status = check(file, dir, running_user);
  EXPECT_FALSE(status.ok());
  if (status.ok()) return {};
  EXPECT_EQ(status.error().code, ExitCode::kPluginUnsafePermissions);
  return status.error().message;
}

TEST(PluginFileChecksTest, AcceptsFilesOfRootOrTheRunningUser) {
  EXPECT_TRUE(check({kRoot, 0755}, {kRoot, 0755}).ok());
  EXPECT_TRUE(check({kMe, 0700}, {kMe, 0700}).ok());
  EXPECT_TRUE(check({kMe, 0644}, {kRoot, 01777}).ok());  // a sticky directory such as /tmp
}

TEST(PluginFileChecksTest, RefusesAFileOwnedBySomeoneElse) {
  EXPECT_EQ(refusal({kSomeoneElse, 0755}, {kRoot, 0755}),
            "plugin /opt/plugins/say.so is owned by uid 1001, neither root nor the user running faust-host "
            "(uid 1000); refusing to load it (fix: chown 1000 /opt/plugins/say.so)");
}

TEST(PluginFileChecksTest, RefusesWritableFilesNamingTheChmodThatFixesThem) {
  EXPECT_EQ(refusal({kMe, 0664}, {kRoot, 0755}),
            "plugin /opt/plugins/say.so is group-writable; refusing to load it (fix: chmod g-w "
            "/opt/plugins/say.so)");
  EXPECT_EQ(refusal({kMe, 0646}, {kRoot, 0755}),
            "plugin /opt/plugins/say.so is world-writable; refusing to load it (fix: chmod o-w "
            "/opt/plugins/say.so)");
  EXPECT_EQ(refusal({kRoot, 0666}, {kRoot, 0755}),
            "plugin /opt/plugins/say.so is group- and world-writable; refusing to load it (fix: chmod go-w "
            "/opt/plugins/say.so)");
}

TEST(PluginFileChecksTest, RefusesAnUnsafeDirectory) {
  EXPECT_EQ(
      refusal({kMe, 0755}, {kMe, 0775}),
      "plugin /opt/plugins/say.so: its directory /opt/plugins is group-writable and not sticky; refusing "
      "to load it (fix: chmod g-w /opt/plugins)");
  EXPECT_EQ(
      refusal({kMe, 0755}, {kSomeoneElse, 0755}),
      "plugin /opt/plugins/say.so: its directory /opt/plugins is owned by uid 1001, neither root nor the "
      "user running faust-host (uid 1000); refusing to load it (fix: chown 1000 /opt/plugins)");
}

TEST(PluginFileChecksTest, RootMayLoadOnlyRootsFiles) {
  EXPECT_TRUE(check({kRoot, 0755}, {kRoot, 0755}, kRoot).ok());
  EXPECT_FALSE(check({kMe, 0755}, {kRoot, 0755}, kRoot).ok());
}

}  // namespace
}  // namespace faust
