// RSS 2.0 and Atom 1.0 feeds: their items and the dates they carry.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace crawler {

struct FeedItem {
  std::string title;
  std::string link;
  std::string guid;  // RSS <guid>, Atom <id>; empty when the item has none
  // Milliseconds since the epoch (UTC); nullopt when the item has no date or one we cannot read.
  std::optional<std::int64_t> published_ms;
};

struct ParsedFeed {
  std::string format;  // "rss" or "atom"
  std::vector<FeedItem> items;
};

// Parses an RSS 2.0 (<rss><channel><item>) or Atom 1.0 (<feed><entry>) document, with or without
// namespace prefixes. Dates: RSS pubDate (or dc:date), Atom published (else updated). Links: RSS
// <link> (else a permalink <guid>), Atom's <link rel="alternate"> (or one without rel).
// nullopt with `problem` set when the text is not XML or not one of these formats.
std::optional<ParsedFeed> parse_feed(std::string_view text, std::string& problem);

// RFC 822 / 1123 dates as RSS uses them ("Mon, 02 Jan 2006 15:04:05 GMT", "+0100", "EST", no
// weekday, no seconds, two-digit years); nullopt when unreadable.
std::optional<std::int64_t> parse_rfc822_date(std::string_view text);
// RFC 3339 dates as Atom uses them ("2006-01-02T15:04:05Z", fractions, "+01:00"); nullopt when
// unreadable.
std::optional<std::int64_t> parse_rfc3339_date(std::string_view text);
// "2006-01-02T15:04:05.000Z".
std::string format_rfc3339(std::int64_t epoch_ms);

// What names an item across fetches, whatever its dates do: a short hash of its guid, else its
// link, else its title (12 hex digits: 48 bits, no collision in a source's few hundred items).
std::string item_identity(const FeedItem& item);

// Whether an item belongs to the dispatch window (since_ms, dispatched_ms]: on a source's first
// dispatch (no since_ms) every item published up to dispatched_ms, and items without a date;
// later, only items published in the window, so each dated item is sent by exactly one
// dispatch even when fetches overlap. An item dated after dispatched_ms waits for the dispatch
// whose window holds its date.
bool in_dispatch_window(const FeedItem& item, std::optional<std::int64_t> since_ms, std::int64_t dispatched_ms);

}  // namespace crawler
