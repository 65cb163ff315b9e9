// The crawler plugin through the SDK's harness, as faust-host runs it: the subscriptions agent as
// a leader-only agent (handle_on_leader), the dispatch timer as an on_leader timer
// (tick_on_leader), the crawl agent against a local feed server.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <faust/testing/plugin_harness.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../test_dirs.h"
#include "feed_server.h"

namespace faust::testing {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;
using FeedServer = crawler::testing::FeedServer;
using namespace std::chrono_literals;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string rfc822(std::int64_t ms) {
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[64];
  std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &utc);
  return text;
}

std::string rss(const std::vector<std::pair<std::string, std::int64_t>>& items) {
  std::string out = "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>";
  for (const auto& [title, published] : items) {
    out += "<item><title>" + title + "</title><link>http://example.test/" + title + "</link><pubDate>" +
           rfc822(published) + "</pubDate></item>";
  }
  return out + "</channel></rss>";
}

json subscription(const std::string& url, std::int64_t period_ms, std::int64_t next_due_ms,
                  std::optional<std::int64_t> last_dispatch_ms = std::nullopt, std::int64_t dispatches = 0) {
  return json{{"url", url},
              {"period_ms", period_ms},
              {"added_ms", 1000},
              {"last_dispatch_ms", last_dispatch_ms ? json(*last_dispatch_ms) : json(nullptr)},
              {"next_due_ms", next_due_ms},
              {"dispatches", dispatches}};
}

class CrawlerPluginTest : public ::testing::Test {
 protected:
  CrawlerPluginTest() : harness_(plugin("crawler").string()) {}

  json state(const std::string& url) const {
    const auto entries = harness_.leader_state();
    const auto found = entries.find("sub/" + url);
    return found == entries.end() ? json(nullptr) : json::parse(found->second);
  }
  double metric(const std::string& name) const {
    const auto sample = harness_.metric(name);
    return sample ? sample->value : -1;
  }

  PluginHarness harness_;
};

TEST_F(CrawlerPluginTest, ProvidesTheSubscriptionsAndCrawlAgentsAndTheDispatchTimer) {
  EXPECT_EQ(harness_.plugin_name(), "crawler");
  EXPECT_EQ(harness_.agent_names(), (std::vector<std::string>{"subscriptions", "crawl"}));
  EXPECT_EQ(harness_.timer_names(), std::vector<std::string>{"dispatch"});
}

// ---- subscriptions ----

TEST_F(CrawlerPluginTest, AnAddCommandKeepsTheSubscriptionInTheLeaderState) {
  auto agent = harness_.agent("subscriptions");
  const std::int64_t before = now_ms();

  const Outcome outcome = agent.handle_on_leader(R"({"add": "http://feeds.test/1.xml", "period": 2})");

  ASSERT_TRUE(outcome) << outcome.error();
  const json stored = state("http://feeds.test/1.xml");
  ASSERT_TRUE(stored.is_object());
  EXPECT_EQ(stored["url"], "http://feeds.test/1.xml");
  EXPECT_EQ(stored["period_ms"], 2000);
  EXPECT_GE(stored["added_ms"].get<std::int64_t>(), before);
  EXPECT_EQ(stored["next_due_ms"], stored["added_ms"]);  // due at the next tick
  EXPECT_TRUE(stored["last_dispatch_ms"].is_null());
  EXPECT_EQ(harness_.log_lines(), std::vector<std::string>{"[subscriptions] added http://feeds.test/1.xml every 2 s"});
  EXPECT_EQ(metric("crawler_commands_total"), 1);
}

TEST_F(CrawlerPluginTest, AddingASubscribedUrlAgainChangesItsPeriodAndKeepsItsHistory) {
  harness_.set_leader_state("sub/http://feeds.test/1.xml", subscription("http://feeds.test/1.xml", 2000, 7000, 5000, 3).dump());
  auto agent = harness_.agent("subscriptions");

  ASSERT_TRUE(agent.handle_on_leader(R"({"add": "http://feeds.test/1.xml", "period": 10.5})"));

  const json stored = state("http://feeds.test/1.xml");
  EXPECT_EQ(stored["period_ms"], 10500);
  EXPECT_EQ(stored["added_ms"], 1000);
  EXPECT_EQ(stored["last_dispatch_ms"], 5000);
  EXPECT_EQ(stored["dispatches"], 3);
  EXPECT_EQ(stored["next_due_ms"], 15500);
  EXPECT_EQ(harness_.log_lines(),
            std::vector<std::string>{"[subscriptions] updated http://feeds.test/1.xml every 10.5 s"});
}

TEST_F(CrawlerPluginTest, ARemoveCommandDeletesTheSubscription) {
  auto agent = harness_.agent("subscriptions");
  ASSERT_TRUE(agent.handle_on_leader(R"({"add": "http://feeds.test/1.xml"})"));
  ASSERT_TRUE(agent.handle_on_leader(R"({"add": "http://feeds.test/2.xml"})"));

  ASSERT_TRUE(agent.handle_on_leader(R"({"remove": "http://feeds.test/1.xml"})"));
  ASSERT_TRUE(agent.handle_on_leader(R"({"remove": "http://feeds.test/9.xml"})"));

  // The subscription and its mark for the dispatch timer's index.
  std::vector<std::string> keys;
  for (const auto& [key, value] : harness_.leader_state()) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"due/http://feeds.test/2.xml", "sub/http://feeds.test/2.xml"}));
  EXPECT_TRUE(state("http://feeds.test/2.xml").is_object());
  EXPECT_EQ(state("http://feeds.test/2.xml")["period_ms"], 60000);  // default_period
  EXPECT_THAT(harness_.log_lines(), ::testing::Contains("[subscriptions] removed http://feeds.test/1.xml"));
  EXPECT_THAT(harness_.log_lines(),
              ::testing::Contains("[subscriptions] not subscribed, nothing to remove: http://feeds.test/9.xml"));
}

TEST_F(CrawlerPluginTest, MalformedCommandsAreLoggedCountedAndSkippedWithoutFailingTheMessage) {
  auto agent = harness_.agent("subscriptions", {{"default_period", "30"}});

  for (const char* command : {"not json", R"({"add": "ftp://x/feed"})", R"({"remove": 7})", R"({"add": "http://a/", "period": -1})"}) {
    const Outcome outcome = agent.handle_on_leader(command);
    EXPECT_TRUE(outcome) << command << ": " << outcome.error();
  }

  EXPECT_TRUE(harness_.leader_state().empty());
  EXPECT_EQ(metric("crawler_commands_rejected_total"), 4);
  EXPECT_EQ(metric("crawler_commands_total"), 0);
  const auto logs = harness_.logs();
  ASSERT_EQ(logs.size(), 4u);
  EXPECT_EQ(logs[0].level, FAUST_LOG_WARN);
  EXPECT_EQ(logs[0].message, "skipping command at offset 0: not JSON");
  EXPECT_EQ(logs[1].message, "skipping command at offset 1: only http:// and https:// URLs are supported: ftp://x/feed");
}

TEST_F(CrawlerPluginTest, OutsideALeaderTermTheSubscriptionsAgentFailsRatherThanLoseACommand) {
  auto agent = harness_.agent("subscriptions");

  const Outcome outcome = agent.handle(R"({"add": "http://feeds.test/1.xml"})");

  EXPECT_FALSE(outcome);
  EXPECT_EQ(outcome.error(), "leader state: not in a leader term");
}

TEST_F(CrawlerPluginTest, ABadDefaultPeriodFailsTheAgentsCreation) {
  EXPECT_THROW(harness_.agent("subscriptions", {{"default_period", "soon"}}), HarnessError);
}

// ---- dispatch ----

TEST_F(CrawlerPluginTest, DispatchSendsOnlyDueSourcesToCrawlAndRecordsTheirDispatchInTheSameTick) {
  const std::int64_t now = now_ms();
  harness_.set_leader_state("sub/http://a/", subscription("http://a/", 2000, now - 500, now - 2500, 4).dump());
  harness_.set_leader_state("sub/http://b/", subscription("http://b/", 2000, now + 60'000, now - 100, 5).dump());
  harness_.set_leader_state("sub/http://c/", subscription("http://c/", 5000, now - 10).dump());
  auto timer = harness_.timer("dispatch");

  const Outcome outcome = timer.tick_on_leader();

  ASSERT_TRUE(outcome) << outcome.error();
  const auto sent = harness_.sent();
  ASSERT_EQ(sent.size(), 2u);
  // The most overdue first.
  const json first = json::parse(sent[0].value);
  const json second = json::parse(sent[1].value);
  EXPECT_EQ(sent[0].agent, "crawl");
  EXPECT_EQ(sent[0].key, "http://a/");
  EXPECT_EQ(first["url"], "http://a/");
  EXPECT_EQ(first["since_ms"], now - 2500);
  EXPECT_GE(first["dispatched_ms"].get<std::int64_t>(), now);
  EXPECT_EQ(second["url"], "http://c/");
  EXPECT_TRUE(second["since_ms"].is_null());
  EXPECT_EQ(second["dispatched_ms"], first["dispatched_ms"]);

  const std::int64_t dispatched = first["dispatched_ms"];
  EXPECT_EQ(state("http://a/")["last_dispatch_ms"], dispatched);
  EXPECT_EQ(state("http://a/")["next_due_ms"], now - 500 + 2000);  // on the grid
  EXPECT_EQ(state("http://a/")["dispatches"], 5);
  EXPECT_EQ(state("http://b/")["last_dispatch_ms"], now - 100);  // untouched
  EXPECT_EQ(state("http://c/")["last_dispatch_ms"], dispatched);
  EXPECT_EQ(metric("crawler_dispatches_total"), 2);
  EXPECT_EQ(metric("crawler_subscriptions"), 3);

  // Nothing is due any more.
  harness_.clear();
  ASSERT_TRUE(timer.tick_on_leader());
  EXPECT_TRUE(harness_.sent().empty());
}

TEST_F(CrawlerPluginTest, DispatchSendsAtMostMaxPerTickAndTheRestInLaterTicks) {
  const std::int64_t now = now_ms();
  for (int i = 0; i < 10; ++i) {
    const std::string url = "http://s" + std::to_string(i) + "/";
    harness_.set_leader_state("sub/" + url, subscription(url, 60'000, now - 1000 * (10 - i)).dump());
  }
  auto timer = harness_.timer("dispatch", {{"max_per_tick", "3"}});

  std::vector<std::string> order;
  for (int tick = 0; tick < 4; ++tick) {
    harness_.clear();
    ASSERT_TRUE(timer.tick_on_leader());
    EXPECT_EQ(harness_.sent().size(), tick < 3 ? 3u : 1u) << "tick " << tick;
    for (const auto& message : harness_.sent()) order.push_back(json::parse(message.value)["url"]);
    EXPECT_EQ(harness_.metric("crawler_dispatch_backlog")->value, tick < 3 ? 7 - 3 * tick : 0) << "tick " << tick;
  }
  ASSERT_EQ(order.size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(order[static_cast<std::size_t>(i)], "http://s" + std::to_string(i) + "/");
}

TEST_F(CrawlerPluginTest, AFailingTickSendsNothingAndLeavesTheStateAsItWas) {
  const std::int64_t now = now_ms();
  harness_.set_leader_state("sub/http://a/", subscription("http://a/", 2000, now - 500).dump());
  harness_.set_leader_state("sub/http://b/", subscription("http://b/", 2000, now - 400).dump());
  const auto before = harness_.leader_state();
  auto timer = harness_.timer("dispatch");
  harness_.fail_sends("transaction aborted: broker down");

  const Outcome outcome = timer.tick_on_leader();

  EXPECT_FALSE(outcome);
  EXPECT_EQ(outcome.error(), "transaction aborted: broker down");
  EXPECT_TRUE(harness_.sent().empty());
  EXPECT_EQ(harness_.leader_state(), before);

  harness_.accept_sends();
  ASSERT_TRUE(timer.tick_on_leader());
  EXPECT_EQ(harness_.sent().size(), 2u);
}

TEST_F(CrawlerPluginTest, TheIndexPicksUpAddsAndRemovesBetweenTicksWithoutReadingEverySubscription) {
  const std::int64_t now = now_ms();
  harness_.set_leader_state("sub/http://a/", subscription("http://a/", 60'000, now - 10).dump());
  auto subscriptions = harness_.agent("subscriptions");
  auto timer = harness_.timer("dispatch");
  ASSERT_TRUE(timer.tick_on_leader());  // the first tick reads everything
  ASSERT_EQ(harness_.sent().size(), 1u);

  // Added after the first tick: due at once, dispatched by the next tick, its mark consumed.
  ASSERT_TRUE(subscriptions.handle_on_leader(json{{"add", "http://b/"}, {"period", 60}}.dump()));
  ASSERT_TRUE(subscriptions.handle_on_leader(json{{"add", "http://c/"}, {"period", 60}}.dump()));
  ASSERT_TRUE(subscriptions.handle_on_leader(json{{"remove", "http://c/"}}.dump()));
  harness_.clear();
  ASSERT_TRUE(timer.tick_on_leader());
  ASSERT_EQ(harness_.sent().size(), 1u);
  EXPECT_EQ(harness_.sent()[0].key, "http://b/");
  EXPECT_EQ(harness_.leader_state().count("due/http://b/"), 0u);
  EXPECT_EQ(metric("crawler_subscriptions"), 2);
  EXPECT_EQ(harness_.metric("crawler_dispatch_tick_seconds")->count, 2u);

  // A subscription written behind the index's back is not seen (ticks do not read everything)...
  harness_.set_leader_state("sub/http://d/", subscription("http://d/", 60'000, now - 5).dump());
  harness_.clear();
  ASSERT_TRUE(timer.tick_on_leader());
  EXPECT_TRUE(harness_.sent().empty());
  // ...until the index mark shows another leader's timer ran meanwhile: then it reads again.
  harness_.set_leader_state("dispatch/index", "another-leader:1");
  ASSERT_TRUE(timer.tick_on_leader());
  ASSERT_EQ(harness_.sent().size(), 1u);
  EXPECT_EQ(harness_.sent()[0].key, "http://d/");
}

TEST_F(CrawlerPluginTest, AnUnreadableStateEntryIsSkippedAndReportedOnce) {
  harness_.set_leader_state("sub/http://bad/", "{oops");
  harness_.set_leader_state("sub/http://a/", subscription("http://a/", 2000, 0).dump());
  auto timer = harness_.timer("dispatch");

  ASSERT_TRUE(timer.tick_on_leader());
  ASSERT_TRUE(timer.tick_on_leader());

  EXPECT_EQ(harness_.sent().size(), 1u);
  std::size_t reports = 0;
  for (const auto& line : harness_.log_lines()) reports += line.find("unreadable state entry sub/http://bad/") != std::string::npos;
  EXPECT_EQ(reports, 1u);
}

TEST_F(CrawlerPluginTest, ThePageListsTheSubscriptionsOnTheLeaderAndSaysSoElsewhere) {
  harness_.set_leader_state("sub/http://a/", subscription("http://a/", 2000, 0).dump());
  harness_.set_leader_state("sub/http://b/", subscription("http://b/", 60'000, now_ms() + 60'000, 1136214245000, 2).dump());
  auto timer = harness_.timer("dispatch");

  harness_.set_leader(false);
  PageResponse page = harness_.get_page("subscriptions");
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.content_type, "application/json");
  EXPECT_EQ(json::parse(page.body)["leader"], false);
  EXPECT_THAT(page.body, HasSubstr("not the leader"));

  harness_.set_leader(true);
  ASSERT_TRUE(timer.tick_on_leader());
  page = harness_.get_page("subscriptions");
  const json body = json::parse(page.body);
  EXPECT_EQ(body["leader"], true);
  EXPECT_EQ(body["count"], 2);
  ASSERT_EQ(body["subscriptions"].size(), 2u);
  EXPECT_EQ(body["subscriptions"][0]["url"], "http://a/");
  EXPECT_EQ(body["subscriptions"][0]["period"], 2.0);
  EXPECT_EQ(body["subscriptions"][0]["dispatches"], 1);
  EXPECT_TRUE(body["subscriptions"][0]["last_dispatch"].is_string());
  EXPECT_EQ(body["subscriptions"][1]["last_dispatch"], "2006-01-02T15:04:05.000Z");
}

// ---- crawl ----

class CrawlerCrawlTest : public CrawlerPluginTest {
 protected:
  // What the crawl agent sent to the results topic, and its reports to the subscriptions agent.
  std::vector<json> results(const std::string& topic = "test-app-crawl-results") const {
    std::vector<json> out;
    for (const auto& message : harness_.sent()) {
      if (message.topic == topic) out.push_back(json::parse(message.value));
    }
    return out;
  }
  std::vector<json> reports() const {
    std::vector<json> out;
    for (const auto& message : harness_.sent()) {
      if (message.agent == "subscriptions") out.push_back(json::parse(message.value));
    }
    return out;
  }
  static std::string dispatch(const std::string& url, std::optional<std::int64_t> since, std::int64_t dispatched) {
    return json{{"url", url}, {"since_ms", since ? json(*since) : json(nullptr)}, {"dispatched_ms", dispatched}}.dump();
  }

  crawler::testing::FeedServer server_;
};

TEST_F(CrawlerCrawlTest, SendsTheRssItemsOfTheDispatchWindowToTheResultsTopic) {
  const std::int64_t t = 1'700'000'000'000;
  server_.set("/feeds/1.xml", FeedServer::ok(rss({{"old", t - 10'000}, {"new", t - 1000}, {"future", t + 5000}})));
  auto agent = harness_.agent("crawl", {{"allow_private_addresses", "true"}, {"worker_id", "w1"}});
  const std::string url = server_.url("/feeds/1.xml");

  const Outcome outcome = agent.handle(dispatch(url, t - 5000, t));

  ASSERT_TRUE(outcome) << outcome.error();
  const auto sent = results();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0]["title"], "new");
  EXPECT_EQ(sent[0]["link"], "http://example.test/new");
  EXPECT_EQ(sent[0]["source"], url);
  EXPECT_EQ(sent[0]["published"], "2023-11-14T22:13:19.000Z");
  EXPECT_EQ(sent[0]["worker"], "w1");
  EXPECT_EQ(sent[0]["dispatched_ms"], t);
  EXPECT_EQ(harness_.sent()[0].key, url);
  EXPECT_EQ(metric("crawler_fetches_total"), 1);
  EXPECT_EQ(metric("crawler_items_total"), 1);
  EXPECT_EQ(harness_.metric("crawler_fetch_duration_seconds")->count, 1u);
  EXPECT_EQ(harness_.log_lines(),
            std::vector<std::string>{"[crawl] fetched " + url + " (rss, 3 items): sent 1 new; dispatched_ms=" +
                                     std::to_string(t) + " since_ms=" + std::to_string(t - 5000)});
  // The leader learns what is sent now: the new item and the one of an earlier window, not the
  // one still to come.
  const auto reported = reports();
  ASSERT_EQ(reported.size(), 1u);
  EXPECT_EQ(reported[0]["crawled"], url);
  EXPECT_EQ(reported[0]["outcome"], "ok");
  EXPECT_EQ(reported[0]["dispatched_ms"], t);
  ASSERT_EQ(reported[0]["ids"].size(), 2u);
  EXPECT_EQ(reported[0]["ids"][0], sent[0]["id"]);
}

TEST_F(CrawlerCrawlTest, TheFirstDispatchSendsEveryItemUpToItsTime) {
  const std::int64_t t = 1'700'000'000'000;
  server_.set("/feeds/1.xml", FeedServer::ok(rss({{"old", t - 10'000'000}, {"new", t - 1000}, {"future", t + 5000}})));
  auto agent = harness_.agent("crawl", {{"allow_private_addresses", "true"}});

  ASSERT_TRUE(agent.handle(dispatch(server_.url("/feeds/1.xml"), std::nullopt, t)));

  const auto sent = results();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0]["title"], "old");
  EXPECT_EQ(sent[1]["title"], "new");
  EXPECT_THAT(sent[0]["worker"].get<std::string>(), ::testing::MatchesRegex(".+:[0-9]+"));  // hostname:pid
}

TEST_F(CrawlerCrawlTest, ParsesAtomFeeds) {
  server_.set("/feeds/a.xml", FeedServer::ok(R"(<feed xmlns="http://www.w3.org/2005/Atom"><title>x</title>
      <entry><title>Atom entry</title><link href="http://example.test/e"/><updated>2023-11-14T22:13:19Z</updated></entry>
    </feed>)"));
  auto agent = harness_.agent("crawl", {{"allow_private_addresses", "true"}, {"results_topic", "news"}});

  ASSERT_TRUE(agent.handle(dispatch(server_.url("/feeds/a.xml"), 1'699'999'998'000, 1'700'000'000'000)));

  const auto sent = results("news");
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0]["title"], "Atom entry");
}

TEST_F(CrawlerCrawlTest, FetchAndParseErrorsAreCountedAndLoggedButNeverFailTheMessage) {
  server_.set("/bad.xml", FeedServer::ok("<rss><channel><item>"));
  server_.set("/slow.xml", FeedServer::ok(rss({}), 3s));
  auto agent = harness_.agent("crawl", {{"allow_private_addresses", "true"}, {"timeout", "0.3"}});
  const std::string refused = "http://127.0.0.1:" + std::to_string(crawler::testing::closed_port()) + "/feed.xml";

  for (const std::string& url : {server_.url("/bad.xml"), server_.url("/missing.xml"), server_.url("/slow.xml"), refused}) {
    const Outcome outcome = agent.handle(dispatch(url, std::nullopt, 1'700'000'000'000));
    EXPECT_TRUE(outcome) << url << ": " << outcome.error();
  }

  EXPECT_TRUE(results().empty());
  const auto reported = reports();
  ASSERT_EQ(reported.size(), 4u);
  for (const json& report : reported) EXPECT_EQ(report["outcome"], "failed");
  EXPECT_EQ(reported[1]["error"], "HTTP 404 Not Found");
  EXPECT_EQ(metric("crawler_fetch_errors_total"), 4);
  EXPECT_EQ(metric("crawler_fetches_total"), 0);
  const auto lines = harness_.log_lines();
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_THAT(lines[0], HasSubstr("/bad.xml failed: not XML: "));
  EXPECT_THAT(lines[1], HasSubstr("/missing.xml failed: HTTP 404 Not Found"));
  EXPECT_THAT(lines[2], HasSubstr("/slow.xml failed: timed out after 300 ms"));
  EXPECT_THAT(lines[3], HasSubstr("[crawl] fetch " + refused + " failed: Failed to connect to 127.0.0.1 port "));
}

TEST_F(CrawlerCrawlTest, AnUnreadableDispatchIsSkipped) {
  auto agent = harness_.agent("crawl", {{"allow_private_addresses", "true"}});

  EXPECT_TRUE(agent.handle("{\"url\": 3}"));

  EXPECT_EQ(metric("crawler_dispatches_rejected_total"), 1);
  EXPECT_EQ(server_.requests("/"), 0);
}

TEST_F(CrawlerCrawlTest, AFailedResultSendFailsTheMessageSoTheHostCanRetryIt) {
  server_.set("/feeds/1.xml", FeedServer::ok(rss({{"new", 1'700'000'000'000 - 1000}})));
  auto agent = harness_.agent("crawl", {{"allow_private_addresses", "true"}});
  harness_.fail_sends("broker down");

  const Outcome outcome = agent.handle(dispatch(server_.url("/feeds/1.xml"), std::nullopt, 1'700'000'000'000));

  EXPECT_FALSE(outcome);
  EXPECT_EQ(outcome.error(), "broker down");
}

// ---- the whole app, through the harness ----

// One period of the app: the dispatch timer ticks, the crawl agent handles what it dispatched,
// and the subscriptions agent takes the crawl's report. Returns the results sent.
class CrawlerAppTest : public CrawlerCrawlTest {
 protected:
  std::vector<json> period() {
    harness_.clear();
    EXPECT_TRUE(timer_.tick_on_leader());
    const auto dispatches = harness_.sent();
    harness_.clear();
    for (const auto& message : dispatches) {
      last_dispatch_ = json::parse(message.value);
      EXPECT_TRUE(crawl_.handle(message.value));
    }
    const auto sent = results();
    for (const json& report : reports()) EXPECT_TRUE(subscriptions_.handle_on_leader(report.dump()));
    return sent;
  }
  static std::vector<std::string> titles(const std::vector<json>& sent) {
    std::vector<std::string> out;
    for (const json& each : sent) out.push_back(each["title"]);
    return out;
  }

  AgentUnderTest subscriptions_ = harness_.agent("subscriptions");
  TimerUnderTest timer_ = harness_.timer("dispatch");
  AgentUnderTest crawl_ = harness_.agent("crawl", {{"allow_private_addresses", "true"}});
  json last_dispatch_;
};

TEST_F(CrawlerAppTest, NewItemsByIdentityConditionalFetchesAndRetryAfter) {
  const std::int64_t start = now_ms();
  const std::string url = server_.url("/feeds/1.xml");
  const auto feed = [&](std::int64_t shift, bool with_c) {
    std::string out = "<rss version=\"2.0\"><channel><title>t</title>"
                      "<item><title>A</title><guid>tag:a</guid><pubDate>" + rfc822(start - 60'000 + shift) +
                      "</pubDate></item><item><title>B</title><link>http://example.test/b</link></item>";
    if (with_c) out += "<item><title>C</title><guid>tag:c</guid><pubDate>" + rfc822(start - 50'000 + shift) + "</pubDate></item>";
    return out + "</channel></rss>";
  };
  FeedServer::Response response = FeedServer::ok(feed(0, false));
  response.etag = "\"v1\"";
  server_.set("/feeds/1.xml", response);
  ASSERT_TRUE(subscriptions_.handle_on_leader(json{{"add", url}, {"period", 1}}.dump()));

  // The first period sends every item, dated or not; the leader keeps the etag and both items.
  EXPECT_EQ(titles(period()), (std::vector<std::string>{"A", "B"}));
  EXPECT_EQ(state(url)["etag"], "\"v1\"");
  EXPECT_EQ(state(url)["seen"].size(), 2u);
  EXPECT_EQ(state(url)["last_outcome"], "ok");

  // Every date moves and C appears: only C is new. The fetch was conditional.
  response.body = feed(3'600'000, true);
  response.etag = "\"v2\"";
  server_.set("/feeds/1.xml", response);
  std::this_thread::sleep_for(1050ms);
  EXPECT_EQ(titles(period()), (std::vector<std::string>{"C"}));
  EXPECT_EQ(server_.last_headers("/feeds/1.xml")["if-none-match"], "\"v1\"");
  EXPECT_EQ(state(url)["seen"].size(), 3u);

  // Unchanged: a 304, a successful crawl with nothing new.
  std::this_thread::sleep_for(1050ms);
  EXPECT_TRUE(period().empty());
  EXPECT_EQ(metric("crawler_not_modified_total"), 1);
  EXPECT_EQ(state(url)["last_outcome"], "not_modified");
  EXPECT_EQ(state(url)["etag"], "\"v2\"");

  // Overloaded, come back in 30 s: the source is held until then, and its state says why.
  FeedServer::Response busy;
  busy.status = 503;
  busy.retry_after = "30";
  server_.set("/feeds/1.xml", busy);
  std::this_thread::sleep_for(1050ms);
  EXPECT_TRUE(period().empty());
  const json held = state(url);
  EXPECT_EQ(held["last_outcome"], "failed");
  EXPECT_EQ(held["last_error"], "HTTP 503 Service Unavailable");
  EXPECT_EQ(held["failures"], 1);
  ASSERT_TRUE(held["backoff_until_ms"].is_number_integer());
  EXPECT_GE(held["backoff_until_ms"].get<std::int64_t>(), now_ms() + 25'000);
  EXPECT_EQ(held["next_due_ms"], held["backoff_until_ms"]);
  std::this_thread::sleep_for(1050ms);
  harness_.clear();
  ASSERT_TRUE(timer_.tick_on_leader());
  EXPECT_TRUE(harness_.sent().empty());
}

TEST_F(CrawlerAppTest, HostileFeedsAreCountedAndLoggedOncePerCrawlAndNothingFloods) {
  const std::string bomb = R"(<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<rss version="2.0"><channel><item><title>&lol4;</title><guid>tag:bomb</guid></item></channel></rss>)";
  FeedServer::Response huge = FeedServer::ok(std::string(8u << 20, ' '));
  FeedServer::Response zipped_huge = FeedServer::ok("<rss>" + std::string(64u << 20, ' ') + "</rss>");
  zipped_huge.content_encoding = "gzip";
  server_.set("/huge.xml", huge);
  server_.set("/zipped.xml", zipped_huge);
  constexpr char kGarbage[] = "\x00\xff<<>>&&\x01garbage";
  server_.set("/garbage.xml", FeedServer::ok(std::string(kGarbage, sizeof kGarbage - 1)));
  server_.set("/bomb.xml", FeedServer::ok(bomb));
  server_.set("/silent.xml", FeedServer::ok("<rss/>", 1h));
  server_.set("/loop.xml", FeedServer::redirect(302, "/loop.xml"));
  auto crawl = harness_.agent("crawl", {{"allow_private_addresses", "true"}, {"timeout", "0.3"}, {"max_body_kib", "1024"}});

  const std::vector<std::string> paths{"/huge.xml", "/zipped.xml", "/garbage.xml", "/silent.xml", "/loop.xml"};
  for (const std::string& path : paths) {
    EXPECT_TRUE(crawl.handle(dispatch(server_.url(path), std::nullopt, now_ms()))) << path;
  }
  // The entity bomb is not expanded (no DTD processing): one item, its title as written.
  EXPECT_TRUE(crawl.handle(dispatch(server_.url("/bomb.xml"), std::nullopt, now_ms())));

  EXPECT_EQ(metric("crawler_fetch_errors_total"), 5);
  const auto lines = harness_.log_lines();
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_THAT(lines[0], HasSubstr("/huge.xml failed: body larger than 1048576 bytes"));
  EXPECT_THAT(lines[1], HasSubstr("/zipped.xml failed: body larger than 1048576 bytes"));
  EXPECT_THAT(lines[2], HasSubstr("/garbage.xml failed: not XML"));
  EXPECT_THAT(lines[3], HasSubstr("/silent.xml failed: timed out after 300 ms"));
  EXPECT_THAT(lines[4], HasSubstr("/loop.xml failed: more than 3 redirects"));
  const auto sent = results();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_LT(sent[0]["title"].get<std::string>().size(), 100u);
  EXPECT_EQ(reports().size(), 6u);
}

}  // namespace
}  // namespace faust::testing
