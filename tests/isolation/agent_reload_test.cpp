// A reload of isolated agents (AgentVersions): a new library file or config is checked in a child
// of its own, and each lane swaps to it before its next call; a new version that fails its checks
// is refused and the old child keeps handling. Run on the test plugin `faulty` and fixtures.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "isolation/isolated_agent.h"
#include "isolation_test_support.h"
#include "recording_host_services.h"

namespace faust::isolation {
namespace {

using ::testing::HasSubstr;
using test::alive;
using test::kSegfaultEnd;
using test::message;
using Outcome = AgentVersions::Outcome;


// Whether process `pid` has `file` mapped: the library its child loaded.
bool maps(int pid, const std::filesystem::path& file) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/maps");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text.find(file.string()) != std::string::npos;
}

class AgentReloadTest : public ::testing::Test {
 protected:
  AgentReloadTest() {
    settings_.runner = FAUST_HOST_BINARY;
    settings_.versions = versions_;
    std::filesystem::create_directories(dir_);
  }
  ~AgentReloadTest() override { std::filesystem::remove_all(dir_); }

  // A lane of the agent `faulty` from `file` (joining the agent's record of versions).
  std::unique_ptr<AgentCalls> lane(const std::filesystem::path& file = FAUST_FAULTY_PLUGIN) {
    auto library = PluginLibrary::open(file);
    EXPECT_TRUE(library.ok()) << library.error().message;
    if (!library) return nullptr;
    AgentConfig config;
    config.name = "faulty";
    config.isolation = Isolation::kProcess;
    ComponentRef component;
    component.name = "faulty";
    component.plugin = "faulty";
    auto started = IsolatedAgent::start(config, **library, "faulty", component, services_, settings_);
    EXPECT_TRUE(started.ok()) << started.error().message;
    return started ? std::move(*started) : nullptr;
  }
  static int pid(const std::unique_ptr<AgentCalls>& lane) { return static_cast<IsolatedAgent&>(*lane).child_pid(); }

  // A copy of `from` in the test's folder, as `name`.
  std::filesystem::path copy(const std::filesystem::path& from, const std::string& name) {
    const std::filesystem::path to = dir_ / name;
    std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing);
    std::filesystem::permissions(to, std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
                                         std::filesystem::perms::others_read);
    return to;
  }

  testing::RecordingHostServices services_;
  std::shared_ptr<AgentVersions> versions_ = std::make_shared<AgentVersions>();
  IsolationSettings settings_;
  const std::filesystem::path dir_ =
      std::filesystem::temp_directory_path() / ("faust-reload-test-" + std::to_string(::getpid()));
};

TEST_F(AgentReloadTest, ANewConfigIsHandledByANewChildFromEachLanesNextMessage) {
  auto busy = lane();
  auto idle = lane();
  ASSERT_TRUE(busy && idle);
  ASSERT_FALSE(busy->handle(message("fail-1", 1)).ok()) << "not fixed yet";
  const int old_busy = pid(busy);
  const int old_idle = pid(idle);

  // Any file that exists "fixes" the plugin.
  const auto offered = versions_->offer("faulty", FAUST_FAULTY_PLUGIN, {{"fixed_by", FAUST_HOST_BINARY}});
  EXPECT_EQ(offered.outcome, Outcome::kSwapped) << offered.why;
  EXPECT_EQ(offered.plugin, "faulty");
  EXPECT_EQ(pid(busy), old_busy) << "swapped at the lane's next call, not before";

  EXPECT_TRUE(busy->handle(message("fail-2", 2)).ok()) << "handled by the new version";
  EXPECT_NE(pid(busy), old_busy);
  EXPECT_FALSE(alive(old_busy)) << "the old child exited and was reaped";
  EXPECT_EQ(pid(idle), old_idle) << "a lane without messages keeps its child until its next call";
  EXPECT_TRUE(alive(old_idle));
  EXPECT_TRUE(idle->handle(message("fail-3", 3)).ok());
  EXPECT_NE(pid(idle), old_idle);
  EXPECT_FALSE(alive(old_idle));

  const auto again = versions_->offer("faulty", FAUST_FAULTY_PLUGIN, {{"fixed_by", FAUST_HOST_BINARY}});
  EXPECT_EQ(again.outcome, Outcome::kUnchanged);
  EXPECT_EQ(versions_->offer("other", FAUST_FAULTY_PLUGIN, {}).outcome, Outcome::kUnchanged) << "no such agent";
}

TEST_F(AgentReloadTest, ANewLibraryFileIsSwappedInAndAFileReplacedAtTheSamePathToo) {
  const auto v1 = copy(FAUST_FAULTY_PLUGIN, "faulty-v1.so");
  auto agent = lane(v1);
  ASSERT_TRUE(agent);
  EXPECT_TRUE(maps(pid(agent), v1));

  const auto v2 = copy(FAUST_FAULTY_PLUGIN, "faulty-v2.so");
  ASSERT_EQ(versions_->offer("faulty", v2, {}).outcome, Outcome::kSwapped);
  ASSERT_TRUE(agent->handle(message("ok-1", 1)).ok());
  EXPECT_TRUE(maps(pid(agent), v2));
  EXPECT_EQ(versions_->offer("faulty", v2, {}).outcome, Outcome::kUnchanged) << "the same file again";

  // A deployment that puts a new file at the same path (a rename over it: another inode).
  const int before = pid(agent);
  const auto staged = copy(FAUST_FAULTY_PLUGIN, "staged.so");
  std::filesystem::rename(staged, v2);
  ASSERT_EQ(versions_->offer("faulty", v2, {}).outcome, Outcome::kSwapped);
  ASSERT_TRUE(agent->handle(message("ok-2", 2)).ok());
  EXPECT_NE(pid(agent), before);
}

TEST_F(AgentReloadTest, ANewVersionThatFailsItsChecksIsRefusedAndTheOldChildKeepsHandling) {
  auto agent = lane();
  ASSERT_TRUE(agent);
  const int running = pid(agent);
  struct Case {
    std::filesystem::path file;
    ConfigMap config;
    std::string why;
  };
  const std::vector<Case> cases = {
      {FAUST_FAULTY_PLUGIN, {{"create", "fail"}}, "create refused by config"},
      {FAUST_FAULTY_PLUGIN, {{"create", "segv"}}, std::string("its process ") + kSegfaultEnd + " while starting"},
      {FAUST_CREATE_FAILS_PLUGIN, {}, "provides no agent 'faulty'"},
      {dir_ / "missing.so", {}, "missing.so"},
  };
  for (const Case& refused : cases) {
    const auto offered = versions_->offer("faulty", refused.file, refused.config);
    EXPECT_EQ(offered.outcome, Outcome::kRefused) << refused.why;
    EXPECT_EQ(offered.plugin, "faulty");
    EXPECT_THAT(offered.why, HasSubstr(refused.why));
    EXPECT_TRUE(agent->handle(message("fail-1", 1)).ok() == false) << "still the old version: not fixed";
    EXPECT_EQ(pid(agent), running) << refused.why;
  }
}

TEST_F(AgentReloadTest, ALaneWhoseNewChildFailsToStartKeepsItsOldOne) {
  auto agent = lane();
  ASSERT_TRUE(agent);
  const int running = pid(agent);
  const auto next = copy(FAUST_FAULTY_PLUGIN, "next.so");
  ASSERT_EQ(versions_->offer("faulty", next, {}).outcome, Outcome::kSwapped);
  // Broken after its check, before the lane starts it (written over: the same inode).
  copy(FAUST_CREATE_FAILS_PLUGIN, "next.so");
  ASSERT_TRUE(agent->handle(message("ok-1", 1)).ok());
  EXPECT_EQ(pid(agent), running) << "the running child kept the lane";
  ASSERT_TRUE(agent->handle(message("ok-2", 2)).ok());
  EXPECT_EQ(pid(agent), running) << "and is not asked to swap again before the next reload";
}

}  // namespace
}  // namespace faust::isolation
