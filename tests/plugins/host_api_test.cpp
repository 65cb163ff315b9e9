#include "plugins/host_api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "plugins/error_buffer.h"
#include "recording_host_services.h"

namespace faust {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;
using testing::RecordingHostServices;

faust_send_request to_agent(const char* agent, const char* value) {
  faust_send_request request{};
  request.struct_size = sizeof(faust_send_request);
  request.agent = agent;
  request.value = value;
  request.value_size = std::char_traits<char>::length(value);
  return request;
}

std::string invalid(const faust_send_request& request) {
  Result<OutgoingMessage> message = to_outgoing_message(&request);
  EXPECT_FALSE(message.ok());
  return message.ok() ? std::string() : message.error().message;
}

TEST(HostApiTest, ConvertsASendRequest) {
  const faust_header headers[] = {{"trace-id", "abc", 3}, {"empty", nullptr, 0}};
  faust_send_request request = to_agent("say", "hello");
  request.key = "k";
  request.key_size = 1;
  request.headers = headers;
  request.header_count = 2;
  Result<OutgoingMessage> message = to_outgoing_message(&request);
  ASSERT_TRUE(message.ok()) << message.error().message;
  EXPECT_EQ(message->agent, "say");
  EXPECT_EQ(message->topic, "");
  EXPECT_EQ(message->key, "k");
  EXPECT_EQ(message->value, "hello");
  EXPECT_THAT(message->headers, ElementsAre(Pair("trace-id", "abc"), Pair("empty", "")));
}

TEST(HostApiTest, KeepsAnEmptyKeyApartFromNoKey) {
  faust_send_request request = to_agent("say", "v");
  EXPECT_EQ(to_outgoing_message(&request)->key, std::nullopt);
  request.key = "";
  EXPECT_EQ(to_outgoing_message(&request)->key, std::optional<std::string>(""));
}

TEST(HostApiTest, RefusesMalformedSendRequests) {
  EXPECT_EQ(to_outgoing_message(nullptr).error().message, "invalid send request: null request");

  faust_send_request both = to_agent("say", "v");
  both.topic = "t";
  EXPECT_EQ(invalid(both), "invalid send request: set exactly one of agent and topic");

  faust_send_request neither = to_agent(nullptr, "v");
  EXPECT_EQ(invalid(neither), "invalid send request: set exactly one of agent and topic");
  neither.agent = "";
  EXPECT_EQ(invalid(neither), "invalid send request: set exactly one of agent and topic");

  faust_send_request small = to_agent("say", "v");
  small.struct_size = 8;
  EXPECT_EQ(invalid(small), "invalid send request: struct_size 8 is smaller than " +
                                std::to_string(sizeof(faust_send_request)));

  faust_send_request null_value = to_agent("say", "v");
  null_value.value = nullptr;
  EXPECT_EQ(invalid(null_value), "invalid send request: value is null");

  faust_send_request null_headers = to_agent("say", "v");
  null_headers.header_count = 1;
  EXPECT_EQ(invalid(null_headers), "invalid send request: headers are null");

  const faust_header keyless[] = {{nullptr, "x", 1}};
  faust_send_request keyless_header = to_agent("say", "v");
  keyless_header.headers = keyless;
  keyless_header.header_count = 1;
  EXPECT_EQ(invalid(keyless_header), "invalid send request: header #0 has no key");
}

class HostApiTableTest : public ::testing::Test {
 protected:
  HostApiTableTest()
      : context_{services_,
                 ComponentRef{ComponentRef::Kind::kTimer, "tick", "clock", true},
                 {{"agent", "say"}},
                 "leader-example",
                 {},
                 {}} {}

  RecordingHostServices services_;
  faust_host_context context_;
  const faust_host_api& api_ = host_api();
};

TEST_F(HostApiTableTest, ForwardsToHostServices) {
  EXPECT_EQ(api_.struct_size, sizeof(faust_host_api));
  api_.log(&context_, FAUST_LOG_WARN, "careful");
  // A C plugin can pass any int as a level; call the table as such a caller does at the ABI level
  // (a C++ faust_log_level variable cannot even hold 99 without undefined behaviour).
  using CLog = void (*)(faust_host_context*, int, const char*);
  reinterpret_cast<CLog>(api_.log)(&context_, 99, "clamped");
  api_.log(&context_, FAUST_LOG_INFO, nullptr);
  EXPECT_STREQ(api_.app_id(&context_), "leader-example");
  EXPECT_STREQ(api_.config_get(&context_, "agent"), "say");
  EXPECT_EQ(api_.config_get(&context_, "nope"), nullptr);
  EXPECT_EQ(api_.config_get(&context_, nullptr), nullptr);
  EXPECT_EQ(api_.is_leader(&context_), 1);
  services_.set_leader(false);
  EXPECT_EQ(api_.is_leader(&context_), 0);

  const auto events = services_.events();
  ASSERT_EQ(events.size(), 3U);
  EXPECT_EQ(events[0].component, "tick");
  EXPECT_EQ(events[0].plugin, "clock");
  EXPECT_EQ(events[0].level, FAUST_LOG_WARN);
  EXPECT_EQ(events[0].text, "careful");
  EXPECT_EQ(events[1].level, FAUST_LOG_ERROR);
  EXPECT_EQ(events[2].text, "");
}

TEST_F(HostApiTableTest, SendReportsTheHostsErrorThroughTheBuffer) {
  faust_send_request request = to_agent("say", "hello");
  faust_error error{};
  EXPECT_EQ(api_.send(&context_, &request, &error), FAUST_OK);
  services_.fail_sends_with("broker down");
  EXPECT_EQ(api_.send(&context_, &request, &error), FAUST_ERROR);
  EXPECT_STREQ(error.message, "broker down");
  request.topic = "also";
  EXPECT_EQ(api_.send(&context_, &request, &error), FAUST_ERROR);
  EXPECT_STREQ(error.message, "invalid send request: set exactly one of agent and topic");
  EXPECT_EQ(services_.sent().size(), 2U);  // the invalid request never reached the host
}

TEST(ErrorBufferTest, TruncatesOnACharacterBoundary) {
  std::string euros;
  for (int i = 0; i < 300; ++i) euros += "\xE2\x82\xAC";  // 900 bytes
  faust_error error{};
  write_error(&error, euros);
  const std::string written = read_error(error);
  EXPECT_EQ(written.size(), 510U);  // 170 whole characters; 511 would split one
  EXPECT_EQ(written, euros.substr(0, 510));
}

TEST(ErrorBufferTest, ReadsAnUnterminatedBufferSafely) {
  faust_error error;
  std::fill(std::begin(error.message), std::end(error.message), 'x');
  EXPECT_EQ(read_error(error), std::string(FAUST_ERROR_MESSAGE_SIZE, 'x'));
  error.message[0] = '\0';
  EXPECT_EQ(read_error(error), "(no message)");
}

// ---- ABI 1.1: metrics and pages through the C table ----

TEST_F(HostApiTableTest, CreatesMetricsWithThePluginLabel) {
  const double buckets[] = {1, 2};
  faust_metric_spec spec{static_cast<std::uint32_t>(sizeof(faust_metric_spec)), FAUST_METRIC_HISTOGRAM, "tick_seconds",
                         "Tick time", buckets, 2};
  faust_error error{};
  faust_metric* histogram = api_.metric_create(&context_, &spec, &error);
  ASSERT_NE(histogram, nullptr) << error.message;
  api_.metric_add(histogram, 1.5);
  spec.kind = FAUST_METRIC_GAUGE;
  spec.name = "level";
  faust_metric* gauge = api_.metric_create(&context_, &spec, &error);
  ASSERT_NE(gauge, nullptr) << error.message;
  api_.metric_set(gauge, 4);
  api_.metric_add(gauge, 1);
  api_.metric_add(nullptr, 1);  // ignored
  api_.metric_set(nullptr, 1);
  const std::string text = services_.metrics().serialize();
  EXPECT_NE(text.find("tick_seconds_bucket{plugin=\"clock\",le=\"2\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("level{plugin=\"clock\"} 5\n"), std::string::npos) << text;

  spec.name = "bad name";
  EXPECT_EQ(api_.metric_create(&context_, &spec, &error), nullptr);
  EXPECT_STREQ(error.message, "metric 'bad name' of plugin 'clock': invalid name (use [a-zA-Z_][a-zA-Z0-9_]*)");
  EXPECT_EQ(api_.metric_create(&context_, nullptr, &error), nullptr);
  EXPECT_STREQ(error.message, "invalid metric: no context, no spec, or a spec smaller than ABI 1.1's");
}

struct PageProbe {
  int calls = 0;
  faust_status result = FAUST_OK;
  bool respond = true;
};

faust_status probe_page(void* user, const faust_page_request* request, faust_page_response* response,
                        faust_error* error) {
  auto& probe = *static_cast<PageProbe*>(user);
  ++probe.calls;
  if (probe.result != FAUST_OK) {
    std::strcpy(error->message, "broken");
    return FAUST_ERROR;
  }
  const std::string body = std::string(request->path) + "?" + request->query;
  if (probe.respond) host_api().page_respond(response, 202, "text/x-probe", body.data(), body.size());
  return FAUST_OK;
}

TEST_F(HostApiTableTest, RegistersPagesUntilTheInstanceGoes) {
  PageProbe probe;
  faust_error error{};
  ASSERT_EQ(api_.page_register(&context_, "state/now", &probe_page, &probe, &error), FAUST_OK) << error.message;
  auto answer = services_.get_page("/plugins/clock/state/now?x=1");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 202);
  EXPECT_EQ(answer->content_type, "text/x-probe");
  EXPECT_EQ(answer->body, "state/now?x=1");

  probe.respond = false;
  EXPECT_EQ(services_.get_page("/plugins/clock/state/now")->body, "page handler gave no answer\n");
  probe.result = FAUST_ERROR;
  answer = services_.get_page("/plugins/clock/state/now/");
  EXPECT_EQ(answer->status, 500);
  EXPECT_EQ(answer->body, "page failed: broken\n");

  EXPECT_EQ(api_.page_register(&context_, "state/now", &probe_page, &probe, &error), FAUST_ERROR);
  EXPECT_STREQ(error.message,
               "page 'state/now' of plugin 'clock': already registered (each lane of an agent with concurrency "
               "above 1 is an instance of its own; register a page once, from the plugin-wide part: "
               "faust::sdk::Shared, ABI 1.4)");
  EXPECT_EQ(api_.page_register(&context_, "../x", &probe_page, &probe, &error), FAUST_ERROR);
  EXPECT_STREQ(error.message,
               "page '../x' of plugin 'clock': invalid path (use segments of [A-Za-z0-9._~-] separated by '/', "
               "without a leading '/' or an empty, '.' or '..' segment)");
  EXPECT_EQ(api_.page_register(&context_, "x", nullptr, &probe, &error), FAUST_ERROR);
  EXPECT_STREQ(error.message, "page: no context, path or handler");

  context_.pages.clear();  // what the host does before destroying the instance
  EXPECT_FALSE(services_.get_page("/plugins/clock/state/now"));
  EXPECT_EQ(probe.calls, 3);
}

}  // namespace
}  // namespace faust
