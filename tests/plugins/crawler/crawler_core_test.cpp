// The crawler's rules on their own: commands, the dispatch grid, feed parsing and dates, URLs,
// and the HTTP client against a local server.
#include <gtest/gtest.h>

#include <string>

#include "feed.hpp"
#include "feed_server.h"
#include "http_fetch.hpp"
#include "subscription.hpp"

namespace crawler {
namespace {

using namespace std::chrono_literals;

TEST(CrawlerCommands, AddTakesAUrlAndAPeriodInSeconds) {
  const Command command = parse_command(R"({"add": "http://example.test/feed.xml", "period": 2.5})", 60000);
  const auto* add = std::get_if<AddCommand>(&command);
  ASSERT_NE(add, nullptr);
  EXPECT_EQ(add->url, "http://example.test/feed.xml");
  EXPECT_EQ(add->period_ms, 2500);
}

TEST(CrawlerCommands, AddWithoutAPeriodTakesTheDefault) {
  const Command command = parse_command(R"({"add": "http://example.test/"})", 60000);
  ASSERT_TRUE(std::holds_alternative<AddCommand>(command));
  EXPECT_EQ(std::get<AddCommand>(command).period_ms, 60000);
}

TEST(CrawlerCommands, RemoveTakesAUrl) {
  const Command command = parse_command(R"({"remove": "http://example.test/feed.xml"})", 60000);
  ASSERT_TRUE(std::holds_alternative<RemoveCommand>(command));
  EXPECT_EQ(std::get<RemoveCommand>(command).url, "http://example.test/feed.xml");
}

TEST(CrawlerCommands, MalformedCommandsAreRejectedWithTheReason) {
  const std::vector<std::pair<std::string, std::string>> cases{
      {"add http://x", "not JSON"},
      {"[1]", "not a JSON object"},
      {"{}", "expected exactly one of \"add\" or \"remove\""},
      {R"({"add": "http://a/", "remove": "http://a/"})", "expected exactly one of \"add\" or \"remove\""},
      {R"({"add": 5})", "\"add\" is not a string"},
      {R"({"add": "https://a/feed"})", "only http:// URLs are supported: https://a/feed"},
      {R"({"add": "http:///feed"})", "URL has no host: http:///feed"},
      {R"({"add": "http://a/ b"})", "URL contains a space or control character: http://a/ b"},
      {R"({"add": "http://a/", "period": "2"})", "\"period\" is not a number of seconds"},
      {R"({"add": "http://a/", "period": 0.5})", "\"period\" must be 1 to 31536000 seconds"},
      {R"({"add": "http://a/", "every": 2})", "unknown key \"every\" in an add command"},
      {R"({"remove": ""})", "empty URL"},
  };
  for (const auto& [text, reason] : cases) {
    const Command command = parse_command(text, 60000);
    ASSERT_TRUE(std::holds_alternative<RejectedCommand>(command)) << text;
    EXPECT_EQ(std::get<RejectedCommand>(command).reason, reason) << text;
  }
  const std::string long_url = "http://a/" + std::string(kMaxUrlSize, 'x');
  EXPECT_TRUE(std::holds_alternative<RejectedCommand>(parse_command(R"({"add": ")" + long_url + "\"}", 60000)));
}

TEST(CrawlerSubscriptions, RoundTripThroughJson) {
  const Subscription subscription{"http://a/feed", 2000, 1000, 5000, 7000, 3};
  std::string problem;
  const auto back = subscription_from_json(to_json(subscription), problem);
  ASSERT_TRUE(back) << problem;
  EXPECT_EQ(back->url, "http://a/feed");
  EXPECT_EQ(back->period_ms, 2000);
  EXPECT_EQ(back->added_ms, 1000);
  EXPECT_EQ(back->last_dispatch_ms, 5000);
  EXPECT_EQ(back->next_due_ms, 7000);
  EXPECT_EQ(back->dispatches, 3);
  EXPECT_FALSE(subscription_from_json("{\"url\": 1}", problem));
  EXPECT_EQ(problem, "no \"url\" string");
}

TEST(CrawlerSubscriptions, ANewSubscriptionIsDueAtOnce) {
  const Subscription added = apply_add(std::nullopt, AddCommand{"http://a/", 2000}, 10'000);
  EXPECT_EQ(added.added_ms, 10'000);
  EXPECT_EQ(added.next_due_ms, 10'000);
  EXPECT_FALSE(added.last_dispatch_ms);
  EXPECT_TRUE(is_due(added, 10'000));
}

TEST(CrawlerSubscriptions, AddingAgainChangesThePeriodAndKeepsTheHistory) {
  const Subscription existing{"http://a/", 2000, 1000, 9000, 11'000, 4};
  const Subscription changed = apply_add(existing, AddCommand{"http://a/", 5000}, 10'000);
  EXPECT_EQ(changed.period_ms, 5000);
  EXPECT_EQ(changed.added_ms, 1000);
  EXPECT_EQ(changed.last_dispatch_ms, 9000);
  EXPECT_EQ(changed.dispatches, 4);
  EXPECT_EQ(changed.next_due_ms, 14'000);
}

TEST(CrawlerSubscriptions, DispatchesKeepToTheGridWhenATickComesLate) {
  Subscription subscription{"http://a/", 2000, 0, std::nullopt, 10'000, 0};
  subscription = after_dispatch(subscription, 10'900);  // 900 ms late
  EXPECT_EQ(subscription.last_dispatch_ms, 10'900);
  EXPECT_EQ(subscription.next_due_ms, 12'000);
  EXPECT_FALSE(is_due(subscription, 11'999));
  EXPECT_TRUE(is_due(subscription, 12'000));
  EXPECT_EQ(subscription.dispatches, 1);
}

TEST(CrawlerSubscriptions, ADispatchAWholePeriodLateRestartsTheGridInsteadOfCatchingUp) {
  Subscription subscription{"http://a/", 2000, 0, 8000, 10'000, 1};
  subscription = after_dispatch(subscription, 17'500);  // a failover of 7.5 s
  EXPECT_EQ(subscription.next_due_ms, 19'500);
}

TEST(CrawlerSubscriptions, TheDispatchMessageCarriesThePreviousDispatchAsSince) {
  EXPECT_EQ(dispatch_message(Subscription{"http://a/", 2000, 0, std::nullopt, 0, 0}, 5000),
            R"({"dispatched_ms":5000,"since_ms":null,"url":"http://a/"})");
  EXPECT_EQ(dispatch_message(Subscription{"http://a/", 2000, 0, 3000, 5000, 1}, 5000),
            R"({"dispatched_ms":5000,"since_ms":3000,"url":"http://a/"})");
}

TEST(CrawlerDates, Rfc822AsRssWritesIt) {
  EXPECT_EQ(parse_rfc822_date("Mon, 02 Jan 2006 15:04:05 GMT"), 1136214245000);
  EXPECT_EQ(parse_rfc822_date("Mon, 02 Jan 2006 15:04:05 +0000"), 1136214245000);
  EXPECT_EQ(parse_rfc822_date("Mon, 02 Jan 2006 16:04:05 +0100"), 1136214245000);
  EXPECT_EQ(parse_rfc822_date("Mon, 02 Jan 2006 10:04:05 EST"), 1136214245000);
  EXPECT_EQ(parse_rfc822_date("2 Jan 2006 15:04:05 UT"), 1136214245000);
  EXPECT_EQ(parse_rfc822_date("Mon, 02 Jan 06 15:04 GMT"), 1136214240000);
  EXPECT_EQ(parse_rfc822_date("Thu, 01 Jan 1970 00:00:00 Z"), 0);
  EXPECT_FALSE(parse_rfc822_date("yesterday"));
  EXPECT_FALSE(parse_rfc822_date("Mon, 32 Jan 2006 15:04:05 GMT"));
  EXPECT_FALSE(parse_rfc822_date("Mon, 02 Foo 2006 15:04:05 GMT"));
  EXPECT_FALSE(parse_rfc822_date("Mon, 02 Jan 2006 15:04:05 XYZ"));
}

TEST(CrawlerDates, Rfc3339AsAtomWritesIt) {
  EXPECT_EQ(parse_rfc3339_date("2006-01-02T15:04:05Z"), 1136214245000);
  EXPECT_EQ(parse_rfc3339_date("2006-01-02T15:04:05.123456Z"), 1136214245123);
  EXPECT_EQ(parse_rfc3339_date("2006-01-02T17:04:05+02:00"), 1136214245000);
  EXPECT_EQ(parse_rfc3339_date(" 2006-01-02T10:04:05-05:00 "), 1136214245000);
  EXPECT_EQ(parse_rfc3339_date("2006-01-02"), 1136160000000);
  EXPECT_FALSE(parse_rfc3339_date("2006-01-02T15:04:05"));
  EXPECT_FALSE(parse_rfc3339_date("2006-13-02T15:04:05Z"));
  EXPECT_FALSE(parse_rfc3339_date("Mon, 02 Jan 2006"));
  EXPECT_EQ(format_rfc3339(1136214245123), "2006-01-02T15:04:05.123Z");
  EXPECT_EQ(format_rfc3339(0), "1970-01-01T00:00:00.000Z");
}

constexpr const char* kRss = R"(<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel>
    <title>Example news</title>
    <item><title>First</title><link>http://example.test/1</link><pubDate>Mon, 02 Jan 2006 15:04:05 GMT</pubDate></item>
    <item><title><![CDATA[Second & more]]></title><guid>http://example.test/2</guid><dc:date>2006-01-02T16:00:00Z</dc:date></item>
    <item><title>Undated</title><guid isPermaLink="false">tag:3</guid></item>
  </channel>
</rss>)";

constexpr const char* kAtom = R"(<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Example</title>
  <entry>
    <title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">Atom <b>one</b></div></title>
    <link rel="self" href="http://example.test/self"/>
    <link href="http://example.test/a1"/>
    <updated>2006-01-02T15:04:05Z</updated>
  </entry>
  <entry>
    <title>Atom two</title>
    <link rel="alternate" href="http://example.test/a2"/>
    <published>2006-01-02T16:00:00+01:00</published>
    <updated>2007-01-01T00:00:00Z</updated>
  </entry>
</feed>)";

TEST(CrawlerFeeds, ParsesRss) {
  std::string problem;
  const auto feed = parse_feed(kRss, problem);
  ASSERT_TRUE(feed) << problem;
  EXPECT_EQ(feed->format, "rss");
  ASSERT_EQ(feed->items.size(), 3u);
  EXPECT_EQ(feed->items[0].title, "First");
  EXPECT_EQ(feed->items[0].link, "http://example.test/1");
  EXPECT_EQ(feed->items[0].published_ms, 1136214245000);
  EXPECT_EQ(feed->items[1].title, "Second & more");
  EXPECT_EQ(feed->items[1].link, "http://example.test/2");
  EXPECT_EQ(feed->items[1].published_ms, 1136217600000);
  EXPECT_EQ(feed->items[2].link, "");  // a guid that is not a permalink is no link
  EXPECT_FALSE(feed->items[2].published_ms);
}

TEST(CrawlerFeeds, ParsesAtom) {
  std::string problem;
  const auto feed = parse_feed(kAtom, problem);
  ASSERT_TRUE(feed) << problem;
  EXPECT_EQ(feed->format, "atom");
  ASSERT_EQ(feed->items.size(), 2u);
  EXPECT_EQ(feed->items[0].title, "Atom one");
  EXPECT_EQ(feed->items[0].link, "http://example.test/a1");
  EXPECT_EQ(feed->items[0].published_ms, 1136214245000);
  EXPECT_EQ(feed->items[1].link, "http://example.test/a2");
  EXPECT_EQ(feed->items[1].published_ms, 1136214000000);  // published wins over updated
}

TEST(CrawlerFeeds, RejectsWhatIsNotAFeed) {
  std::string problem;
  EXPECT_FALSE(parse_feed("<rss><channel><item>", problem));
  EXPECT_EQ(problem.rfind("not XML: ", 0), 0u) << problem;
  EXPECT_FALSE(parse_feed("<html><body/></html>", problem));
  EXPECT_EQ(problem, "neither RSS nor Atom: root element <html>");
  EXPECT_FALSE(parse_feed("<rss version=\"2.0\"/>", problem));
  EXPECT_EQ(problem, "RSS without <channel>");
}

TEST(CrawlerFeeds, TheDispatchWindowHoldsEachDatedItemOnce) {
  const FeedItem early{"a", "l", 1000};
  const FeedItem late{"b", "l", 3000};
  const FeedItem undated{"c", "l", std::nullopt};
  EXPECT_TRUE(in_dispatch_window(early, std::nullopt, 2000));
  EXPECT_FALSE(in_dispatch_window(late, std::nullopt, 2000));  // after the dispatch: the next one takes it
  EXPECT_TRUE(in_dispatch_window(undated, std::nullopt, 2000));
  EXPECT_FALSE(in_dispatch_window(early, 1000, 4000));  // (since, dispatched]: since itself is out
  EXPECT_TRUE(in_dispatch_window(late, 1000, 4000));
  EXPECT_TRUE(in_dispatch_window(FeedItem{"d", "l", 4000}, 1000, 4000));
  EXPECT_FALSE(in_dispatch_window(undated, 1000, 4000));
}

TEST(CrawlerUrls, ParsesHttpUrls) {
  std::string problem;
  auto url = parse_http_url("http://example.test/feeds/1.xml?x=1#top", problem);
  ASSERT_TRUE(url) << problem;
  EXPECT_EQ(url->host, "example.test");
  EXPECT_EQ(url->port, 80);
  EXPECT_EQ(url->target, "/feeds/1.xml?x=1");
  url = parse_http_url("http://127.0.0.1:8080", problem);
  ASSERT_TRUE(url) << problem;
  EXPECT_EQ(url->port, 8080);
  EXPECT_EQ(url->target, "/");
  url = parse_http_url("http://[::1]:81?q", problem);
  ASSERT_TRUE(url) << problem;
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->target, "/?q");
  EXPECT_FALSE(parse_http_url("https://example.test/", problem));
  EXPECT_FALSE(parse_http_url("http://example.test:0/", problem));
  EXPECT_EQ(problem, "bad port in http://example.test:0/");
  EXPECT_FALSE(parse_http_url("http://user@example.test/", problem));
}

class CrawlerHttp : public ::testing::Test {
 protected:
  testing::FeedServer server_;
};

TEST_F(CrawlerHttp, GetsTheBody) {
  server_.set("/feed.xml", testing::FeedServer::ok(kRss));
  const FetchResult result = http_get(server_.url("/feed.xml"), FetchLimits{});
  EXPECT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.body, kRss);
}

TEST_F(CrawlerHttp, AnHttpErrorStatusIsAnError) {
  const FetchResult result = http_get(server_.url("/missing.xml"), FetchLimits{});
  EXPECT_EQ(result.error, "HTTP 404 Not Found");
}

TEST_F(CrawlerHttp, FollowsRedirectsUpToTheLimit) {
  server_.set("/old", testing::FeedServer::redirect(301, "/new"));
  server_.set("/new", testing::FeedServer::redirect(302, server_.url("/feed.xml")));
  server_.set("/feed.xml", testing::FeedServer::ok("<feed/>"));
  FetchResult result = http_get(server_.url("/old"), FetchLimits{});
  EXPECT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.body, "<feed/>");
  EXPECT_EQ(result.final_url, server_.url("/feed.xml"));

  FetchLimits one;
  one.max_redirects = 1;
  result = http_get(server_.url("/old"), one);
  EXPECT_EQ(result.error, "more than 1 redirects");
  server_.set("/loop", testing::FeedServer::redirect(302, "/loop"));
  EXPECT_EQ(http_get(server_.url("/loop"), FetchLimits{}).error, "more than 3 redirects");
  server_.set("/tls", testing::FeedServer::redirect(302, "https://example.test/"));
  EXPECT_EQ(http_get(server_.url("/tls"), FetchLimits{}).error,
            "redirect to a URL that is not http://: https://example.test/");
}

TEST_F(CrawlerHttp, ABodyOverTheCapIsAnError) {
  server_.set("/big.xml", testing::FeedServer::ok(std::string(5000, 'x')));
  FetchLimits limits;
  limits.max_body_bytes = 4096;
  EXPECT_EQ(http_get(server_.url("/big.xml"), limits).error, "body larger than 4096 bytes");
}

TEST_F(CrawlerHttp, ASlowServerTimesOut) {
  server_.set("/slow.xml", testing::FeedServer::ok("<feed/>", 3s));
  FetchLimits limits;
  limits.timeout = 300ms;
  const auto started = std::chrono::steady_clock::now();
  const FetchResult result = http_get(server_.url("/slow.xml"), limits);
  EXPECT_EQ(result.error, "timed out after 300 ms (read response)");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
}

TEST(CrawlerHttpUnreachable, ARefusedConnectionIsAnError) {
  const FetchResult result =
      http_get("http://127.0.0.1:" + std::to_string(testing::closed_port()) + "/feed.xml", FetchLimits{});
  EXPECT_EQ(result.error, "connect: Connection refused");
}

}  // namespace
}  // namespace crawler
