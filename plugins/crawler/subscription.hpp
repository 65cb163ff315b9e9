// The crawler's subscriptions: the commands that change them, how one is kept in the leader
// state, and when it is due. Pure functions of their inputs (times are passed in), so the leader's
// components stay thin and the rules are tested on their own.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace crawler {

// Leader state keys: "sub/<url>".
inline constexpr std::string_view kSubscriptionPrefix = "sub/";
// A state key is at most 1024 bytes (faust/plugin.h), so a URL at most 1020.
inline constexpr std::size_t kMaxUrlSize = 1024 - kSubscriptionPrefix.size();
// Periods below one second would only be rounded up by the dispatch timer's tick; above a year
// is a mistake.
inline constexpr std::int64_t kMinPeriodMs = 1000;
inline constexpr std::int64_t kMaxPeriodMs = 365LL * 24 * 3600 * 1000;

inline std::string subscription_key(std::string_view url) {
  return std::string(kSubscriptionPrefix) + std::string(url);
}
// "due/<url>": written with an add, so the dispatch timer's in-memory index (DueIndex) learns of a
// new or rescheduled source on its next tick without reading every subscription. The timer
// deletes it once indexed.
inline constexpr std::string_view kDueMarkerPrefix = "due/";
inline std::string due_marker_key(std::string_view url) { return std::string(kDueMarkerPrefix) + std::string(url); }
// The timer's mark of its last committed tick ("<index id>:<tick>"): a tick that finds another
// value knows its index missed something (its last tick was rolled back, or another leader ran)
// and reads every subscription again.
inline constexpr std::string_view kIndexMarkKey = "dispatch/index";

// One source as the leader keeps it (the value of "sub/<url>", as JSON).
struct Subscription {
  std::string url;
  std::int64_t period_ms = 0;
  std::int64_t added_ms = 0;
  // When it was last dispatched (the dispatched_ms sent to `crawl`); nullopt: never.
  std::optional<std::int64_t> last_dispatch_ms;
  // When it is next due. Dispatches keep to a grid of `period` from the first one, so a tick that
  // comes a little late does not stretch every later period.
  std::int64_t next_due_ms = 0;
  std::int64_t dispatches = 0;
  // What the crawls reported (see CrawlReport), so every worker's next fetch can be conditional
  // and send only new items:
  std::string etag;           // of the last 200 answer, sent as If-None-Match
  std::string last_modified;  // of the last 200 answer, sent as If-Modified-Since
  // Identities (item_identity) of the items already sent, most recent first, at most the
  // subscriptions agent's max_seen.
  std::vector<std::string> seen;
  std::optional<std::int64_t> last_crawl_ms;  // when the last report was made
  std::string last_outcome;                   // "ok", "not_modified" or "failed"; empty: none yet
  std::string last_error;                     // the last failure's reason, while failing
  std::int64_t failures = 0;                  // consecutive failed crawls
  // Set while the source is backed off (failures or Retry-After): no dispatch before it.
  std::optional<std::int64_t> backoff_until_ms;
};

std::string to_json(const Subscription& subscription);
// nullopt when `text` is not a subscription this code wrote; `problem` says why.
std::optional<Subscription> subscription_from_json(std::string_view text, std::string& problem);

// {"add": "<url>", "period": <seconds>}: subscribe (or change the period of a subscribed URL).
struct AddCommand {
  std::string url;
  std::int64_t period_ms = 0;
};
// {"remove": "<url>"}: unsubscribe.
struct RemoveCommand {
  std::string url;
};
// {"crawled": "<url>", ...}: what a crawl of a dispatch found, sent by the crawl agent back to
// the subscriptions agent so the leader state keeps it (see crawl_report_message).
struct CrawlReport {
  enum class Outcome { ok, not_modified, failed };
  std::string url;
  std::int64_t dispatched_ms = 0;
  std::int64_t crawled_ms = 0;
  Outcome outcome = Outcome::ok;
  std::string error;          // failed: why
  std::string etag;           // ok: the answer's validators
  std::string last_modified;
  std::optional<std::int64_t> retry_after_ms;  // the server's Retry-After
  // ok: the identities of the feed's items that are now sent (new ones first), for `seen`.
  std::vector<std::string> ids;
};
// A command that cannot be carried out; `reason` says why, for the log.
struct RejectedCommand {
  std::string reason;
};
using Command = std::variant<AddCommand, RemoveCommand, CrawlReport, RejectedCommand>;

std::string crawl_report_message(const CrawlReport& report);
std::string_view outcome_name(CrawlReport::Outcome outcome);

// How the leader keeps reports.
struct ReportRules {
  std::size_t max_seen = 200;  // identities kept per source
  // Backoff of a failing source: from its second consecutive failure, period x 2^(failures-1),
  // at most this; a Retry-After is honoured up to this too.
  std::int64_t max_backoff_ms = 6 * 3600 * 1000;
};

// The subscription after a crawl report at `now_ms`: validators and seen identities on success,
// failures, the last error and the backoff (which moves next_due_ms later) on failure.
Subscription apply_report(const Subscription& subscription, const CrawlReport& report, const ReportRules& rules,
                          std::int64_t now_ms);

// Reads one command. `default_period_ms` applies to an add without "period".
Command parse_command(std::string_view text, std::int64_t default_period_ms);

// Why `url` cannot be crawled, or nullopt when it can: http:// or https://, with a host, short
// enough for a state key, no spaces or control characters.
std::optional<std::string> url_problem(std::string_view url);

// The subscription an add command makes at `now_ms`: a new one is due at once; an existing one
// keeps its history and moves its next dispatch to the new period.
Subscription apply_add(const std::optional<Subscription>& existing, const AddCommand& command, std::int64_t now_ms);

// The subscription after a dispatch at `now_ms` (it must have been due). The next due time stays
// on the grid (next_due + period) unless the dispatch came a whole period late (a failover, a
// long pause), in which case the grid restarts at now: a late source is dispatched once, not once
// per missed period.
Subscription after_dispatch(const Subscription& subscription, std::int64_t now_ms);

inline bool is_due(const Subscription& subscription, std::int64_t now_ms) {
  return now_ms >= subscription.next_due_ms;
}

// The message the dispatch timer sends to `crawl`:
// {"url": ..., "since_ms": <previous dispatched_ms or null>, "dispatched_ms": <now>,
//  "etag": ..., "last_modified": ..., "seen": [...]} (the last three once a crawl reported them).
std::string dispatch_message(const Subscription& subscription, std::int64_t now_ms);

}  // namespace crawler
