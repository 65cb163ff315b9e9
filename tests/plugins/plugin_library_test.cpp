#include "plugins/plugin_library.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "plugins/plugin_registry.h"
#include "test_dirs.h"

namespace faust {
namespace {

using ::testing::ElementsAre;
using testing::fixture;
using ::testing::IsEmpty;
using testing::plugin;
using ::testing::StartsWith;
using testing::TempDir;

// The refusal of loading `file`, checked to be one line.
Error refusal(const std::filesystem::path& file) {
  Result<std::shared_ptr<const PluginLibrary>> library = PluginLibrary::open(file);
  EXPECT_FALSE(library.ok()) << file << " was loaded";
  if (library.ok()) return {};
  EXPECT_EQ(library.error().message.find('\n'), std::string::npos) << library.error().message;
  return library.error();
}

TEST(PluginLibraryTest, LoadsSayAndDescribesIt) {
  Result<std::shared_ptr<const PluginLibrary>> say = PluginLibrary::open(plugin("say"));
  ASSERT_TRUE(say.ok()) << say.error().message;
  const PluginInfo& info = (*say)->info();
  EXPECT_EQ(info.name, "say");
  EXPECT_EQ(info.version, "1.0.0");
  EXPECT_EQ(info.abi, "1.4");
  EXPECT_EQ(info.file, std::filesystem::canonical(plugin("say")));
  EXPECT_THAT(info.agents, ElementsAre("say"));
  EXPECT_THAT(info.timers, IsEmpty());
  EXPECT_NE((*say)->find_agent("say"), nullptr);
  EXPECT_EQ((*say)->find_agent("sey"), nullptr);
  EXPECT_EQ((*say)->find_timer("say"), nullptr);
}

TEST(PluginLibraryTest, LoadsTheCPlugin) {
  Result<std::shared_ptr<const PluginLibrary>> hello = PluginLibrary::open(plugin("hello_c"));
  ASSERT_TRUE(hello.ok()) << hello.error().message;
  EXPECT_THAT((*hello)->info().agents, ElementsAre("hello_c"));
  EXPECT_THAT((*hello)->info().timers, ElementsAre("hello_c_timer"));
}

TEST(PluginLibraryTest, RefusesAMissingFile) {
  TempDir dir;
  const Error error = refusal(dir.path() / "nope.so");
  EXPECT_EQ(error.code, ExitCode::kPluginMissing);
  EXPECT_EQ(error.message, "plugin " + (dir.path() / "nope.so").string() + ": no such file");
}

TEST(PluginLibraryTest, RefusesATextFileNamedSo) {
  TempDir dir;
  const auto file = dir.write("x.so", "this is not a plugin\n");
  const Error error = refusal(file);
  EXPECT_EQ(error.code, ExitCode::kPluginNotSharedObject);
  EXPECT_EQ(error.message, "plugin " + file.string() + " is not a shared object (no ELF header)");
}

TEST(PluginLibraryTest, RefusesAnElfFileTheLoaderRejects) {
  TempDir dir;
  const auto file = dir.write("truncated.so", std::string("\x7f"
                                                          "ELF",
                                                          4) +
                                                  "garbage");
  const Error error = refusal(file);
  EXPECT_EQ(error.code, ExitCode::kPluginNotSharedObject);
  EXPECT_THAT(error.message, StartsWith("plugin " + file.string() + ": cannot load: "));
  EXPECT_GT(error.message.size(), ("plugin " + file.string() + ": cannot load: ").size());
}

TEST(PluginLibraryTest, RefusesADirectory) {
  TempDir dir;
  std::filesystem::create_directory(dir.path() / "dir.so");
  const Error error = refusal(dir.path() / "dir.so");
  EXPECT_EQ(error.code, ExitCode::kPluginNotSharedObject);
  EXPECT_EQ(error.message, "plugin " + (dir.path() / "dir.so").string() + " is not a regular file");
}

TEST(PluginLibraryTest, RefusesASharedObjectWithoutEntrySymbol) {
  const Error error = refusal(fixture("no_entry"));
  EXPECT_EQ(error.code, ExitCode::kPluginNoEntrySymbol);
  EXPECT_EQ(error.message,
            "plugin " + fixture("no_entry").string() +
                ": no entry symbol faust_plugin_entry (a plugin ends with FAUST_PLUGIN(...) or "
                "exports it itself)");
}

TEST(PluginLibraryTest, RefusesAnotherAbiMajor) {
  const Error error = refusal(fixture("abi_major_2"));
  EXPECT_EQ(error.code, ExitCode::kPluginAbiMajor);
  EXPECT_EQ(error.message,
            "plugin " + fixture("abi_major_2").string() + ": plugin ABI 2.0, faust-host supports 1.x");
}

TEST(PluginLibraryTest, RefusesANewerAbiMinor) {
  const Error error = refusal(fixture("abi_minor_newer"));
  EXPECT_EQ(error.code, ExitCode::kPluginAbiMinorNewer);
  EXPECT_EQ(error.message,
            "plugin " + fixture("abi_minor_newer").string() +
                ": plugin ABI 1.5 is newer than faust-host's 1.4; upgrade faust-host or rebuild the "
                "plugin against an older SDK");
}

TEST(PluginLibraryTest, RefusesADescriptorSmallerThanTheAbiNeeds) {
  const Error error = refusal(fixture("descriptor_too_small"));
  EXPECT_EQ(error.code, ExitCode::kPluginDescriptorTooSmall);
  EXPECT_EQ(error.message, "plugin " + fixture("descriptor_too_small").string() +
                               ": descriptor struct_size 16 is smaller than the 64 bytes of ABI 1.0");
}

TEST(PluginLibraryTest, RefusesAnAgentListedTwice) {
  const Error error = refusal(fixture("duplicate_names"));
  EXPECT_EQ(error.code, ExitCode::kPluginDuplicateName);
  EXPECT_EQ(error.message, "plugin " + fixture("duplicate_names").string() + ": agent 'dup' is listed twice");
}

TEST(PluginLibraryTest, RefusesAGroupWritableCopy) {
  TempDir dir;
  const auto file = dir.copy(plugin("say"), "say.so", 0664);
  const Error error = refusal(file);
  EXPECT_EQ(error.code, ExitCode::kPluginUnsafePermissions);
  EXPECT_EQ(error.message, "plugin " + file.string() +
                               " is group-writable; refusing to load it (fix: chmod g-w " + file.string() +
                               ")");
}

TEST(PluginLibraryTest, RefusesAFileInAWorldWritableDirectory) {
  TempDir dir;
  const auto file = dir.copy(plugin("say"), "say.so", 0755);
  ::chmod(dir.path().c_str(), 0777);
  const Error error = refusal(file);
  EXPECT_EQ(error.code, ExitCode::kPluginUnsafePermissions);
  EXPECT_EQ(error.message,
            "plugin " + file.string() + ": its directory " + dir.path().string() +
                " is group- and world-writable and not sticky; refusing to load it (fix: chmod go-w " +
                dir.path().string() + ")");
}

TEST(PluginLibraryTest, AcceptsAFileInAStickyWorldWritableDirectory) {
  TempDir dir;
  const auto file = dir.copy(plugin("say"), "say.so", 0755);
  ::chmod(dir.path().c_str(), 01777);
  Result<std::shared_ptr<const PluginLibrary>> say = PluginLibrary::open(file);
  EXPECT_TRUE(say.ok()) << say.error().message;
}

TEST(PluginLibraryTest, ChecksTheFileASymlinkPointsTo) {
  TempDir dir;
  const auto real = dir.copy(plugin("say"), "real-say.so", 0666);
  std::filesystem::create_symlink(real, dir.path() / "say.so");
  const Error error = refusal(dir.path() / "say.so");
  EXPECT_EQ(error.code, ExitCode::kPluginUnsafePermissions);
  EXPECT_THAT(error.message, StartsWith("plugin " + real.string() + " is group- and world-writable;"));
}

TEST(PluginRegistryTest, LoadsEachFileOnce) {
  TempDir dir;
  std::filesystem::create_symlink(plugin("say"), dir.path() / "say-link.so");
  PluginRegistry registry;
  Result<std::shared_ptr<const PluginLibrary>> first = registry.load(plugin("say"));
  Result<std::shared_ptr<const PluginLibrary>> again = registry.load(plugin("say"));
  Result<std::shared_ptr<const PluginLibrary>> via_link = registry.load(dir.path() / "say-link.so");
  ASSERT_TRUE(first.ok() && again.ok() && via_link.ok());
  EXPECT_EQ(first->get(), again->get());
  EXPECT_EQ(first->get(), via_link->get());
  ASSERT_EQ(registry.plugins().size(), 1U);
  EXPECT_EQ(registry.plugins()[0].name, "say");
}

TEST(PluginRegistryTest, ReportsEveryLoadedPluginInOrder) {
  PluginRegistry registry;
  ASSERT_TRUE(registry.load(plugin("publish_greetings")).ok());
  ASSERT_TRUE(registry.load(plugin("say")).ok());
  const std::vector<PluginInfo> plugins = registry.plugins();
  ASSERT_EQ(plugins.size(), 2U);
  EXPECT_EQ(plugins[0].name, "publish_greetings");
  EXPECT_THAT(plugins[0].timers, ElementsAre("publish_greetings"));
  EXPECT_EQ(plugins[1].name, "say");
}

TEST(PluginRegistryTest, RefusesTwoPluginsProvidingTheSameAgent) {
  PluginRegistry registry;
  ASSERT_TRUE(registry.load(plugin("say")).ok());
  Result<std::shared_ptr<const PluginLibrary>> duplicate = registry.load(fixture("duplicate_say"));
  ASSERT_FALSE(duplicate.ok());
  EXPECT_EQ(duplicate.error().code, ExitCode::kPluginDuplicateName);
  EXPECT_EQ(duplicate.error().message, "plugin " + fixture("duplicate_say").string() +
                                           ": agent 'say' is also provided by plugin " +
                                           std::filesystem::canonical(plugin("say")).string());
  EXPECT_EQ(registry.plugins().size(), 1U);
}

}  // namespace
}  // namespace faust
