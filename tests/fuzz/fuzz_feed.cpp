// Feeds, their dates and the crawler's commands come from the network and from users: any bytes
// must parse or be refused without a crash, and what parses must hold together: every item has a
// 12-hex-digit identity, and every date read, written as RFC 3339 and read again, is the same
// instant.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "feed.hpp"
#include "fuzz_check.h"
#include "subscription.hpp"

namespace {

using faust::fuzz::require;

void check_date_round_trip(std::optional<std::int64_t> parsed, std::string_view input) {
  if (!parsed) return;
  const std::string written = crawler::format_rfc3339(*parsed);
  const std::optional<std::int64_t> again = crawler::parse_rfc3339_date(written);
  require(again.has_value() && *again == *parsed, "a parsed date reads back from RFC 3339",
          std::string(input) + " -> " + written);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  std::string problem;
  if (const std::optional<crawler::ParsedFeed> feed = crawler::parse_feed(input, problem)) {
    require(feed->format == "rss" || feed->format == "atom", "a feed is RSS or Atom", feed->format);
    for (const crawler::FeedItem& item : feed->items) {
      const std::string id = crawler::item_identity(item);
      require(id.size() == 12 && id.find_first_not_of("0123456789abcdef") == std::string::npos,
              "an identity is 12 hex digits", id);
      check_date_round_trip(item.published_ms, input);
    }
  } else {
    require(faust::fuzz::is_one_line(problem), "a feed's refusal is one line", problem);
  }

  check_date_round_trip(crawler::parse_rfc822_date(input), input);
  check_date_round_trip(crawler::parse_rfc3339_date(input), input);

  // Commands and reports: refused or read, and a read subscription survives its own JSON.
  (void)crawler::parse_command(input, 60'000);
  if (const std::optional<crawler::Subscription> subscription = crawler::subscription_from_json(input, problem)) {
    const std::optional<crawler::Subscription> again =
        crawler::subscription_from_json(crawler::to_json(*subscription), problem);
    require(again.has_value() && again->url == subscription->url && again->seen == subscription->seen,
            "a subscription reads back from its JSON", problem);
  }
  return 0;
}
