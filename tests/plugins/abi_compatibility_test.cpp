// ABI compatibility: the 1.0 layout is frozen, a plugin built against the frozen 1.0 header loads
// and runs on this host, and a host of an older minor refuses a plugin built for this one.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstddef>

#include "faust/detail/abi_checks.hpp"
#include "plugins/agent_instance.h"
#include "plugins/plugin_library.h"
#include "plugins/timer_instance.h"
#include "recording_host_services.h"
#include "test_dirs.h"

namespace faust {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using testing::fixture;
using testing::plugin;

// Sizes and offsets of every ABI 1.0 struct on LP64 Linux. A change here breaks every 1.0 plugin.
TEST(AbiCompatibilityTest, TheAbi10LayoutIsFrozen) {
  EXPECT_EQ(sizeof(faust_error), 512u);
  EXPECT_EQ(sizeof(faust_header), 24u);
  EXPECT_EQ(offsetof(faust_header, value_size), 16u);
  EXPECT_EQ(sizeof(faust_message), 80u);
  EXPECT_EQ(offsetof(faust_message, headers), 32u);
  EXPECT_EQ(offsetof(faust_message, topic), 48u);
  EXPECT_EQ(offsetof(faust_message, partition), 56u);
  EXPECT_EQ(offsetof(faust_message, offset), 64u);
  EXPECT_EQ(offsetof(faust_message, timestamp_ms), 72u);
  EXPECT_EQ(sizeof(faust_send_request), 72u);
  EXPECT_EQ(offsetof(faust_send_request, agent), 8u);
  EXPECT_EQ(offsetof(faust_send_request, header_count), 64u);
  EXPECT_EQ(offsetof(faust_host_api, log), 8u);
  EXPECT_EQ(offsetof(faust_host_api, send), 16u);
  EXPECT_EQ(offsetof(faust_host_api, is_leader), 24u);
  EXPECT_EQ(offsetof(faust_host_api, app_id), 32u);
  EXPECT_EQ(offsetof(faust_host_api, config_get), 40u);
  EXPECT_EQ(sizeof(faust_agent_def), 32u);
  EXPECT_EQ(offsetof(faust_agent_def, handle), 24u);
  EXPECT_EQ(sizeof(faust_timer_def), 32u);
  EXPECT_EQ(offsetof(faust_timer_def, tick), 24u);
  EXPECT_EQ(offsetof(faust_plugin_descriptor, struct_size), 8u);
  EXPECT_EQ(offsetof(faust_plugin_descriptor, name), 16u);
  EXPECT_EQ(offsetof(faust_plugin_descriptor, agents), 32u);
  EXPECT_EQ(offsetof(faust_plugin_descriptor, timer_count), 56u);
  // The least sizes a 1.x writer may give are the 1.0 sizes, whatever later minors append.
  EXPECT_EQ(abi::kDescriptorSize_1_0, 64u);
  EXPECT_EQ(abi::kSendRequestSize_1_0, 72u);
  EXPECT_EQ(abi::kHostApiSize_1_0, 48u);
  // 1.1 appended after the 1.0 fields.
  EXPECT_EQ(offsetof(faust_plugin_descriptor, services), 64u);
  EXPECT_EQ(offsetof(faust_host_api, wait_for_stop), 48u);
  // 1.4 appended after 1.3's last fields.
  EXPECT_EQ(offsetof(faust_plugin_descriptor, shared), 96u);
  EXPECT_EQ(offsetof(faust_host_api, shared_object), 136u);
}

// A 1.3 descriptor ends before `shared`: the host reads no plugin-wide part from it, whatever
// lies beyond its struct_size, and its agents run without one.
TEST(AbiCompatibilityTest, APluginBuiltFor13LoadsWithoutAPluginWidePart) {
  Result<std::shared_ptr<const PluginLibrary>> library = PluginLibrary::open(fixture("abi_1_3"));
  ASSERT_TRUE(library.ok()) << library.error().message;
  EXPECT_EQ((*library)->info().abi, "1.3");
  EXPECT_EQ((*library)->shared_def(), nullptr);

  testing::RecordingHostServices services;
  const faust_agent_def* agent_def = (*library)->find_agent("agent_1_3");
  ASSERT_NE(agent_def, nullptr);
  auto agent = AgentInstance::create(*library, *agent_def, services,
                                     ComponentRef{ComponentRef::Kind::kAgent, "agent_1_3", "abi_1_3", false}, {});
  ASSERT_TRUE(agent.ok()) << agent.error().message;
  IncomingMessage message;
  message.value = "hello";
  message.topic = "t";
  EXPECT_TRUE(agent->handle(message).ok());
}

TEST(AbiCompatibilityTest, APluginBuiltAgainstTheFrozen10HeaderLoadsAndRuns) {
  Result<std::shared_ptr<const PluginLibrary>> library = PluginLibrary::open(fixture("abi_1_0"));
  ASSERT_TRUE(library.ok()) << library.error().message;
  const PluginInfo& info = (*library)->info();
  EXPECT_EQ(info.abi, "1.0");
  EXPECT_THAT(info.agents, ElementsAre("echo_1_0"));
  EXPECT_THAT(info.timers, ElementsAre("leader_1_0"));
  EXPECT_THAT(info.services, IsEmpty()) << "a 1.0 descriptor has no service list to read";
  EXPECT_EQ((*library)->find_service("echo_1_0"), nullptr);

  testing::RecordingHostServices services;
  const faust_agent_def* agent_def = (*library)->find_agent("echo_1_0");
  ASSERT_NE(agent_def, nullptr);
  auto agent = AgentInstance::create(*library, *agent_def, services,
                                     ComponentRef{ComponentRef::Kind::kAgent, "echo_1_0", "abi_1_0", false},
                                     {{"prefix", "> "}, {"agent", "say"}});
  ASSERT_TRUE(agent.ok()) << agent.error().message;
  IncomingMessage message;
  message.value = "hello";
  message.topic = "t";
  ASSERT_TRUE(agent->handle(message).ok());

  const faust_timer_def* timer_def = (*library)->find_timer("leader_1_0");
  ASSERT_NE(timer_def, nullptr);
  auto timer = TimerInstance::create(*library, *timer_def, services,
                                     ComponentRef{ComponentRef::Kind::kTimer, "leader_1_0", "abi_1_0", true}, {});
  ASSERT_TRUE(timer.ok()) << timer.error().message;
  ASSERT_TRUE(timer->tick().ok());

  EXPECT_THAT(services.log_lines(), ElementsAre("> hello", "leader=1 app=leader-example"));
  ASSERT_EQ(services.sent().size(), 1u);
  EXPECT_EQ(services.sent()[0].agent, "say");
  EXPECT_EQ(services.sent()[0].value, "hello");
}

TEST(AbiCompatibilityTest, AHostOfAnOlderMinorRefusesAPluginBuiltForThisOne) {
  Result<std::shared_ptr<const PluginLibrary>> say = PluginLibrary::open(plugin("say"));
  ASSERT_TRUE(say.ok()) << say.error().message;
  ASSERT_EQ((*say)->info().abi, "1.4") << "the SDK builds plugins for 1.4";
  // A descriptor as a 1.1 plugin exports it, checked the way a 1.0 host checks it.
  faust_plugin_descriptor built_for_1_1{};
  built_for_1_1.abi_major = 1;
  built_for_1_1.abi_minor = 1;
  built_for_1_1.struct_size = sizeof(faust_plugin_descriptor);
  const Status refused = check_handshake("say.so", built_for_1_1, /*host_minor=*/0);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ExitCode::kPluginAbiMinorNewer);
  EXPECT_EQ(refused.error().message,
            "plugin say.so: plugin ABI 1.1 is newer than faust-host's 1.0; upgrade faust-host or rebuild the plugin "
            "against an older SDK");
  EXPECT_TRUE(check_handshake("say.so", built_for_1_1, /*host_minor=*/1).ok());
}

}  // namespace
}  // namespace faust
