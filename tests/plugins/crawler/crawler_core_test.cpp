// The crawler's rules on their own: commands, the dispatch grid, feed parsing and dates.
#include <gtest/gtest.h>

#include <future>
#include <string>
#include <thread>

#include "due_index.hpp"
#include "feed.hpp"
#include "host_slots.hpp"
#include "subscription.hpp"

namespace crawler {
namespace {

using namespace std::chrono_literals;

Subscription source(std::string url, std::int64_t period_ms, std::int64_t added_ms,
                    std::optional<std::int64_t> last_dispatch_ms, std::int64_t next_due_ms, std::int64_t dispatches) {
  Subscription subscription;
  subscription.url = std::move(url);
  subscription.period_ms = period_ms;
  subscription.added_ms = added_ms;
  subscription.last_dispatch_ms = last_dispatch_ms;
  subscription.next_due_ms = next_due_ms;
  subscription.dispatches = dispatches;
  return subscription;
}

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
      {R"({"add": "ftp://a/feed"})", "only http:// and https:// URLs are supported: ftp://a/feed"},
      {R"({"add": "https:///feed"})", "URL has no host: https:///feed"},
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
  const Subscription subscription = source("http://a/feed", 2000, 1000, 5000, 7000, 3);
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
  const Subscription existing = source("http://a/", 2000, 1000, 9000, 11'000, 4);
  const Subscription changed = apply_add(existing, AddCommand{"http://a/", 5000}, 10'000);
  EXPECT_EQ(changed.period_ms, 5000);
  EXPECT_EQ(changed.added_ms, 1000);
  EXPECT_EQ(changed.last_dispatch_ms, 9000);
  EXPECT_EQ(changed.dispatches, 4);
  EXPECT_EQ(changed.next_due_ms, 14'000);
}

TEST(CrawlerSubscriptions, DispatchesKeepToTheGridWhenATickComesLate) {
  Subscription subscription = source("http://a/", 2000, 0, std::nullopt, 10'000, 0);
  subscription = after_dispatch(subscription, 10'900);  // 900 ms late
  EXPECT_EQ(subscription.last_dispatch_ms, 10'900);
  EXPECT_EQ(subscription.next_due_ms, 12'000);
  EXPECT_FALSE(is_due(subscription, 11'999));
  EXPECT_TRUE(is_due(subscription, 12'000));
  EXPECT_EQ(subscription.dispatches, 1);
}

TEST(CrawlerSubscriptions, ADispatchAWholePeriodLateRestartsTheGridInsteadOfCatchingUp) {
  Subscription subscription = source("http://a/", 2000, 0, 8000, 10'000, 1);
  subscription = after_dispatch(subscription, 17'500);  // a failover of 7.5 s
  EXPECT_EQ(subscription.next_due_ms, 19'500);
}

TEST(CrawlerSubscriptions, TheDispatchMessageCarriesThePreviousDispatchAsSince) {
  EXPECT_EQ(dispatch_message(source("http://a/", 2000, 0, std::nullopt, 0, 0), 5000),
            R"({"dispatched_ms":5000,"since_ms":null,"url":"http://a/"})");
  EXPECT_EQ(dispatch_message(source("http://a/", 2000, 0, 3000, 5000, 1), 5000),
            R"({"dispatched_ms":5000,"since_ms":3000,"url":"http://a/"})");
}

TEST(CrawlerReports, ASuccessfulCrawlKeepsTheValidatorsAndTheSeenIdentitiesWithinTheBound) {
  Subscription subscription = source("http://a/", 2000, 0, 3000, 5000, 1);
  subscription.seen = {"old1", "old2", "old3"};
  CrawlReport report;
  report.url = "http://a/";
  report.crawled_ms = 3500;
  report.etag = "\"v2\"";
  report.last_modified = "Mon, 02 Jan 2006 15:04:05 GMT";
  report.ids = {"new1", "old1"};
  const Subscription next = apply_report(subscription, report, ReportRules{4, 60'000}, 3600);
  EXPECT_EQ(next.etag, "\"v2\"");
  EXPECT_EQ(next.last_modified, "Mon, 02 Jan 2006 15:04:05 GMT");
  EXPECT_EQ(next.seen, (std::vector<std::string>{"new1", "old1", "old2", "old3"}));
  EXPECT_EQ(next.last_outcome, "ok");
  EXPECT_EQ(next.next_due_ms, 5000);
  // The memory is bounded: the oldest identities go first.
  report.ids = {"new2", "new3"};
  EXPECT_EQ(apply_report(next, report, ReportRules{4, 60'000}, 3600).seen,
            (std::vector<std::string>{"new2", "new3", "new1", "old1"}));
  // The next dispatch carries them.
  const std::string message = dispatch_message(next, 5000);
  EXPECT_NE(message.find(R"("etag":"\"v2\"")"), std::string::npos) << message;
  EXPECT_NE(message.find(R"("seen":["new1","old1","old2","old3"])"), std::string::npos) << message;
  // And the state keeps them.
  std::string problem;
  const auto back = subscription_from_json(to_json(next), problem);
  ASSERT_TRUE(back) << problem;
  EXPECT_EQ(back->seen, next.seen);
  EXPECT_EQ(back->etag, next.etag);
  EXPECT_EQ(back->last_crawl_ms, 3500);
}

TEST(CrawlerReports, AFailingSourceBacksOffAndSaysWhyAndUntilWhen) {
  Subscription subscription = source("http://a/", 10'000, 0, 100'000, 110'000, 5);
  CrawlReport failed;
  failed.url = "http://a/";
  failed.outcome = CrawlReport::Outcome::failed;
  failed.error = "HTTP 500 Other";
  failed.crawled_ms = 100'500;
  const ReportRules rules{200, 60'000};
  subscription = apply_report(subscription, failed, rules, 100'600);  // the first failure: no backoff yet
  EXPECT_EQ(subscription.failures, 1);
  EXPECT_EQ(subscription.last_error, "HTTP 500 Other");
  EXPECT_FALSE(subscription.backoff_until_ms);
  EXPECT_EQ(subscription.next_due_ms, 110'000);
  subscription = apply_report(subscription, failed, rules, 100'600);  // twice the period
  EXPECT_EQ(subscription.failures, 2);
  EXPECT_EQ(subscription.backoff_until_ms, 120'500);
  EXPECT_EQ(subscription.next_due_ms, 120'500);
  subscription = apply_report(subscription, failed, rules, 100'600);
  subscription = apply_report(subscription, failed, rules, 100'600);  // 80 s, capped at 60 s
  EXPECT_EQ(subscription.backoff_until_ms, 160'500);
  // A success clears it all.
  CrawlReport ok;
  ok.url = "http://a/";
  ok.outcome = CrawlReport::Outcome::not_modified;
  ok.crawled_ms = 170'000;
  subscription = apply_report(subscription, ok, rules, 170'100);
  EXPECT_EQ(subscription.failures, 0);
  EXPECT_EQ(subscription.last_error, "");
  EXPECT_FALSE(subscription.backoff_until_ms);
  EXPECT_EQ(subscription.last_outcome, "not_modified");
}

TEST(CrawlerReports, RetryAfterHoldsTheNextDispatchUpToTheMaximumBackoff) {
  const Subscription subscription = source("http://a/", 2000, 0, 1000, 3000, 1);
  CrawlReport busy;
  busy.url = "http://a/";
  busy.outcome = CrawlReport::Outcome::failed;
  busy.error = "HTTP 503 Service Unavailable";
  busy.crawled_ms = 1500;
  busy.retry_after_ms = 30'000;
  Subscription next = apply_report(subscription, busy, ReportRules{200, 60'000}, 1600);
  EXPECT_EQ(next.backoff_until_ms, 31'500);
  EXPECT_EQ(next.next_due_ms, 31'500);
  EXPECT_FALSE(is_due(next, 31'499));
  busy.retry_after_ms = 3'600'000;
  next = apply_report(subscription, busy, ReportRules{200, 60'000}, 1600);
  EXPECT_EQ(next.next_due_ms, 61'500);
}

TEST(CrawlerReports, ReportsRoundTripAndBadOnesAreRejected) {
  CrawlReport report;
  report.url = "http://a/";
  report.dispatched_ms = 10;
  report.crawled_ms = 20;
  report.outcome = CrawlReport::Outcome::failed;
  report.error = "boom";
  report.retry_after_ms = 5000;
  const Command command = parse_command(crawl_report_message(report), 60'000);
  const auto* back = std::get_if<CrawlReport>(&command);
  ASSERT_NE(back, nullptr);
  EXPECT_EQ(back->url, "http://a/");
  EXPECT_EQ(back->outcome, CrawlReport::Outcome::failed);
  EXPECT_EQ(back->error, "boom");
  EXPECT_EQ(back->retry_after_ms, 5000);
  const Command bad = parse_command(R"({"crawled": "http://a/", "dispatched_ms": 1, "crawled_ms": 2, "outcome": "meh"})", 60'000);
  ASSERT_TRUE(std::holds_alternative<RejectedCommand>(bad));
  EXPECT_NE(std::get<RejectedCommand>(bad).reason.find("a crawl report needs"), std::string::npos);
}

TEST(CrawlerFeeds, AnItemIsKnownByItsGuidElseItsLinkElseItsTitleWhateverItsDates) {
  const FeedItem with_guid{"t", "http://x/1", "tag:1", 1000};
  FeedItem moved = with_guid;
  moved.published_ms = 99'000;
  moved.title = "t (updated)";
  EXPECT_EQ(item_identity(with_guid), item_identity(moved));
  EXPECT_EQ(item_identity(with_guid).size(), 12u);
  EXPECT_EQ(item_identity(FeedItem{"a", "http://x/1", "", std::nullopt}),
            item_identity(FeedItem{"b", "http://x/1", "", 5}));
  EXPECT_EQ(item_identity(FeedItem{"only a title", "", "", std::nullopt}),
            item_identity(FeedItem{"only a title", "", "", 7}));
  EXPECT_NE(item_identity(FeedItem{"a", "http://x/1", "", std::nullopt}),
            item_identity(FeedItem{"a", "http://x/2", "", std::nullopt}));
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
  const FeedItem early{"a", "l", "", 1000};
  const FeedItem late{"b", "l", "", 3000};
  const FeedItem undated{"c", "l", "", std::nullopt};
  EXPECT_TRUE(in_dispatch_window(early, std::nullopt, 2000));
  EXPECT_FALSE(in_dispatch_window(late, std::nullopt, 2000));  // after the dispatch: the next one takes it
  EXPECT_TRUE(in_dispatch_window(undated, std::nullopt, 2000));
  EXPECT_FALSE(in_dispatch_window(early, 1000, 4000));  // (since, dispatched]: since itself is out
  EXPECT_TRUE(in_dispatch_window(late, 1000, 4000));
  EXPECT_TRUE(in_dispatch_window(FeedItem{"d", "l", "", 4000}, 1000, 4000));
  EXPECT_FALSE(in_dispatch_window(undated, 1000, 4000));
}

TEST(CrawlerHostSlots, NamesTheHostOfAUrl) {
  EXPECT_EQ(url_host("https://User@Example.TEST:8443/feed?x#y"), "example.test");
  EXPECT_EQ(url_host("http://[::1]:80/feed"), "[::1]");
  EXPECT_EQ(url_host("http://example.test"), "example.test");
  EXPECT_EQ(url_host("no scheme"), "");
}

TEST(CrawlerHostSlots, AtMostTheLimitPerHostAndOtherHostsAreNotHeldUp) {
  HostSlots slots;
  const auto soon = [] { return std::chrono::steady_clock::now() + 50ms; };
  HostSlots::Slot first = slots.acquire("a.test", 2, soon());
  HostSlots::Slot second = slots.acquire("a.test", 2, soon());
  ASSERT_TRUE(first.held() && second.held());
  EXPECT_EQ(slots.in_use("a.test"), 2u);
  EXPECT_FALSE(slots.acquire("a.test", 2, soon()).held());  // a third waits, and times out
  EXPECT_TRUE(slots.acquire("b.test", 2, soon()).held());   // another host does not wait
  // A waiter gets the slot as soon as one is released.
  auto waiter = std::async(std::launch::async, [&] {
    return slots.acquire("a.test", 2, std::chrono::steady_clock::now() + 5s).held();
  });
  std::this_thread::sleep_for(20ms);
  { HostSlots::Slot released = std::move(first); }
  EXPECT_TRUE(waiter.get());
  EXPECT_EQ(slots.in_use("a.test"), 1u);
}

TEST(CrawlerDueIndex, GivesTheMostOverdueFirstAndMovesAndDropsSources) {
  DueIndex index;
  index.set("http://b/", 2000);
  index.set("http://a/", 2000);
  index.set("http://c/", 1000);
  index.set("http://late/", 9000);
  EXPECT_EQ(index.first_due(500), std::nullopt);
  EXPECT_EQ(index.first_due(2000), "http://c/");
  EXPECT_EQ(index.count_due(2000), 3u);
  index.set("http://c/", 5000);  // moved, not duplicated
  EXPECT_EQ(index.size(), 4u);
  EXPECT_EQ(index.first_due(2000), "http://a/");  // ties by URL
  index.erase("http://a/");
  index.erase("http://never/");
  EXPECT_EQ(index.first_due(2000), "http://b/");
  EXPECT_EQ(index.count_due(10'000), 3u);
}

}  // namespace
}  // namespace crawler
