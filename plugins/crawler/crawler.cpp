// The seed's news crawler: the leader keeps the subscriptions (the sources to crawl) and
// periodically tells the workers to crawl them.
//
//   subscriptions  agent, leader-only (manifest on_leader: true): commands that add or remove a
//                  source, kept in the leader state under "sub/<url>"
//                    {"add": "http://host/feed.xml", "period": 60}   period in seconds, 1 to a year
//                    {"remove": "http://host/feed.xml"}
//                  A command that cannot be carried out is logged, counted and skipped: retrying
//                  it would never help, and it must not block the commands behind it.
//   dispatch       timer, on_leader: each tick sends every due source (at most max_per_tick) to
//                  `crawl` and records the dispatch in the state: both commit in the tick's
//                  transaction, so a dispatch is recorded exactly when it is delivered. Due
//                  sources come from an in-memory index (DueIndex), read whole at a term's first
//                  tick and every `resync` seconds, and kept up by "due/<url>" marks of adds.
//                    {"crawled": "http://host/feed.xml", ...}   a crawl's report (from `crawl`):
//                  validators, seen item identities, failures and backoff, kept with the source
//   crawl          agent, every worker: fetches the feed (conditionally, at most
//                  per_host_concurrency at once per host), parses RSS 2.0 or Atom, sends the new
//                  items (by identity once the source has a report, else those of the dispatch's
//                  window) to the results topic and a report to `subscriptions`. Fetch and parse
//                  errors are logged and counted once per crawl, never failures of the message.
//   page           GET /plugins/crawler/subscriptions (from the dispatch timer): the subscriptions
//                  and their last dispatch as the leader's last tick saw them.
//
// Config (manifest `config:`):
//   subscriptions: default_period (seconds, for an add without "period"; default 60), max_seen
//                  (item identities kept per source; default 200), max_backoff (seconds; default
//                  21600)
//   dispatch:      agent (default "crawl"), max_per_tick (default 100), resync (seconds between
//                  full reads of the subscriptions; default 300)
//   crawl:         results_topic (default "<app-id>-crawl-results"), timeout (seconds, default 10),
//                  max_body_kib (default 4096), max_redirects (default 3), worker_id (default
//                  "<hostname>:<pid>"), ca_file (default: the system's CA store), user_agent,
//                  allow_private_addresses (default false), allowed_addresses (comma-separated),
//                  per_host_concurrency (default 2), report_agent (default "subscriptions")
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <faust/plugin.hpp>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

#include "due_index.hpp"
#include "feed.hpp"
#include "host_slots.hpp"
#include "http_fetch.hpp"
#include "subscription.hpp"

namespace {

using nlohmann::json;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A positive number from the config, or `fallback`; a bad value fails the component's creation
// with a message naming the key.
double config_number(const faust::sdk::Host& host, const char* key, double fallback) {
  const std::optional<std::string> text = host.config(key);
  if (!text) return fallback;
  double value = 0;
  const auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (error != std::errc() || end != text->data() + text->size() || !(value > 0)) {
    throw faust::sdk::Error(std::string("config ") + key + ": expected a positive number, got '" + *text + "'");
  }
  return value;
}

// "2 s", "2.5 s".
std::string seconds_text(std::int64_t ms) {
  std::string text = std::to_string(ms / 1000);
  if (ms % 1000 != 0) {
    std::string fraction = std::to_string(1000 + ms % 1000).substr(1);
    while (fraction.back() == '0') fraction.pop_back();
    text += "." + fraction;
  }
  return text + " s";
}

// ---- subscriptions ------------------------------------------------------------------------------

class SubscriptionsAgent : public faust::sdk::Agent {
 public:
  explicit SubscriptionsAgent(faust::sdk::Host& host)
      : host_(host),
        rules_{static_cast<std::size_t>(config_number(host, "max_seen", 200)),
               static_cast<std::int64_t>(config_number(host, "max_backoff", 21600) * 1000)},
        default_period_ms_(static_cast<std::int64_t>(config_number(host, "default_period", 60) * 1000)),
        commands_(host.counter("crawler_commands_total", "Subscription commands carried out")),
        rejected_(host.counter("crawler_commands_rejected_total", "Subscription commands rejected as malformed")) {
    if (default_period_ms_ < crawler::kMinPeriodMs || default_period_ms_ > crawler::kMaxPeriodMs) {
      throw faust::sdk::Error("config default_period: must be 1 to 31536000 seconds");
    }
  }

  void handle(const faust::sdk::Message& message) override {
    const crawler::Command command = crawler::parse_command(message.value(), default_period_ms_);
    if (const auto* rejected = std::get_if<crawler::RejectedCommand>(&command)) {
      rejected_.inc();
      host_.warn("skipping command at offset " + std::to_string(message.offset()) + ": " + rejected->reason);
      return;
    }
    if (const auto* report = std::get_if<crawler::CrawlReport>(&command)) {
      apply(*report);
    } else if (const auto* add = std::get_if<crawler::AddCommand>(&command)) {
      const std::string key = crawler::subscription_key(add->url);
      std::optional<crawler::Subscription> existing;
      if (const std::optional<std::string> stored = host_.state_get(key)) {
        std::string problem;
        existing = crawler::subscription_from_json(*stored, problem);
        if (!existing) host_.warn("replacing unreadable subscription " + add->url + ": " + problem);
      }
      const crawler::Subscription subscription = crawler::apply_add(existing, *add, now_ms());
      host_.state_put(key, crawler::to_json(subscription));
      host_.state_put(crawler::due_marker_key(add->url), "");
      host_.info(std::string(existing ? "updated " : "added ") + add->url + " every " + seconds_text(add->period_ms));
    } else {
      const auto& remove = std::get<crawler::RemoveCommand>(command);
      const std::string key = crawler::subscription_key(remove.url);
      if (!host_.state_get(key)) {
        host_.info("not subscribed, nothing to remove: " + remove.url);
      } else {
        host_.state_delete(key);
        host_.state_delete(crawler::due_marker_key(remove.url));
        host_.info("removed " + remove.url);
      }
    }
    commands_.inc();
  }

 private:
  // A crawl's report: kept with its subscription unless that was removed meanwhile.
  void apply(const crawler::CrawlReport& report) {
    const std::string key = crawler::subscription_key(report.url);
    const std::optional<std::string> stored = host_.state_get(key);
    if (!stored) return;
    std::string problem;
    const std::optional<crawler::Subscription> subscription = crawler::subscription_from_json(*stored, problem);
    if (!subscription) {
      host_.warn("dropping the crawl report of " + report.url + ": its subscription is unreadable: " + problem);
      return;
    }
    const crawler::Subscription next = crawler::apply_report(*subscription, report, rules_, now_ms());
    host_.state_put(key, crawler::to_json(next));
    if (next.backoff_until_ms && next.backoff_until_ms != subscription->backoff_until_ms) {
      host_.info("backing off " + report.url + " until " + crawler::format_rfc3339(*next.backoff_until_ms) + " (" +
                 (report.error.empty() ? "Retry-After" : report.error) + "; " + std::to_string(next.failures) +
                 " failures in a row)");
    }
  }

  faust::sdk::Host& host_;
  crawler::ReportRules rules_;
  std::int64_t default_period_ms_;
  faust::sdk::Counter commands_;
  faust::sdk::Counter rejected_;
};

// ---- dispatch -----------------------------------------------------------------------------------

// What the page shows: the subscriptions as the leader's last full read and later dispatches
// left them.
struct Snapshot {
  std::int64_t taken_ms = 0;
  std::map<std::string, crawler::Subscription> subscriptions;  // by URL
};

class DispatchTimer : public faust::sdk::Timer {
 public:
  explicit DispatchTimer(faust::sdk::Host& host)
      : host_(host),
        agent_(host.config("agent", "crawl")),
        max_per_tick_(static_cast<std::size_t>(config_number(host, "max_per_tick", 100))),
        resync_ms_(static_cast<std::int64_t>(config_number(host, "resync", 300) * 1000)),
        index_id_(std::to_string(now_ms()) + "-" + std::to_string(reinterpret_cast<std::uintptr_t>(this))),
        dispatches_(host.counter("crawler_dispatches_total", "Sources sent to the crawl agent")),
        backlog_(host.gauge("crawler_dispatch_backlog", "Due sources left for a later tick by max_per_tick")),
        subscriptions_(host.gauge("crawler_subscriptions", "Subscriptions the leader keeps")),
        tick_seconds_(host.histogram("crawler_dispatch_tick_seconds", "Time of one dispatch tick",
                                     {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1})) {
    host_.page("subscriptions", [this](const faust::sdk::PageRequest&) { return page(); });
  }

  void tick() override {
    const auto started = std::chrono::steady_clock::now();
    const std::int64_t now = now_ms();
    const std::optional<std::string> mark = host_.state_get(crawler::kIndexMarkKey);
    if (!mark || *mark != expected_mark_ || now - last_full_read_ms_ >= resync_ms_) {
      read_all(now);
    } else {
      read_due_markers();
    }
    std::size_t count = 0;
    try {
      count = dispatch_due(now);
    } catch (...) {
      expected_mark_.clear();  // the tick fails and is rolled back: the index is ahead of the state
      throw;
    }
    if (count > 0) {
      expected_mark_ = index_id_ + ":" + std::to_string(++ticks_);
      host_.state_put(crawler::kIndexMarkKey, expected_mark_);
    }
    const std::size_t left = index_.count_due(now);
    dispatches_.inc(static_cast<double>(count));
    backlog_.set(static_cast<double>(left));
    subscriptions_.set(static_cast<double>(index_.size()));
    if (count > 0) {
      host_.debug("dispatched " + std::to_string(count) + " of " + std::to_string(index_.size()) + " sources" +
                  (left > 0 ? " (" + std::to_string(left) + " due left for the next tick)" : ""));
    }
    tick_seconds_.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  }

 private:
  // Every subscription into the index and the page's snapshot: at a term's first tick, after a
  // tick that did not commit, and every `resync` seconds so reports show on the page.
  void read_all(std::int64_t now) {
    index_.clear();
    std::map<std::string, crawler::Subscription> all;
    for (const auto& [key, value] : host_.state_scan(crawler::kSubscriptionPrefix)) {
      std::string problem;
      if (std::optional<crawler::Subscription> subscription = crawler::subscription_from_json(value, problem)) {
        index_.set(subscription->url, subscription->next_due_ms);
        all.emplace(subscription->url, std::move(*subscription));
      } else if (unreadable_.insert(key).second) {
        // Once per key: the entry stays until someone removes it, and every read would repeat it.
        host_.warn("skipping unreadable state entry " + key + ": " + problem);
      }
    }
    for (const auto& [key, value] : host_.state_scan(crawler::kDueMarkerPrefix)) host_.state_delete(key);
    last_full_read_ms_ = now;
    expected_mark_ = index_id_ + ":" + std::to_string(++ticks_);
    host_.state_put(crawler::kIndexMarkKey, expected_mark_);
    std::lock_guard lock(snapshot_mutex_);
    snapshot_ = Snapshot{now, std::move(all)};
  }

  // The sources added since the last tick.
  void read_due_markers() {
    for (const auto& [key, value] : host_.state_scan(crawler::kDueMarkerPrefix)) {
      const std::string url = key.substr(crawler::kDueMarkerPrefix.size());
      host_.state_delete(key);
      refresh(url);
    }
  }

  // Re-reads one source into the index and the snapshot; nullopt when it is gone or unreadable.
  std::optional<crawler::Subscription> refresh(const std::string& url) {
    std::optional<crawler::Subscription> subscription;
    if (const std::optional<std::string> stored = host_.state_get(crawler::subscription_key(url))) {
      std::string problem;
      subscription = crawler::subscription_from_json(*stored, problem);
    }
    std::lock_guard lock(snapshot_mutex_);
    if (subscription) {
      index_.set(url, subscription->next_due_ms);
      snapshot_.subscriptions.insert_or_assign(url, *subscription);
    } else {
      index_.erase(url);
      snapshot_.subscriptions.erase(url);
    }
    return subscription;
  }

  // Sends the due sources, the most overdue first, at most max_per_tick, so a bounded tick is fair
  // and no source starves. Each is checked against the state: a source the index thinks due may
  // have been removed or backed off since.
  std::size_t dispatch_due(std::int64_t now) {
    std::size_t count = 0;
    while (count < max_per_tick_) {
      const std::optional<std::string> url = index_.first_due(now);
      if (!url) break;
      std::optional<crawler::Subscription> subscription = refresh(*url);
      if (!subscription || !crawler::is_due(*subscription, now)) continue;  // refresh moved or dropped it
      // Keyed by URL: one source's dispatches stay in order on one partition of the crawl topic.
      host_.send_to_agent(agent_, crawler::dispatch_message(*subscription, now), subscription->url);
      const crawler::Subscription next = crawler::after_dispatch(*subscription, now);
      host_.state_put(crawler::subscription_key(next.url), crawler::to_json(next));
      std::lock_guard lock(snapshot_mutex_);
      index_.set(next.url, next.next_due_ms);
      snapshot_.subscriptions.insert_or_assign(next.url, next);
      ++count;
    }
    return count;
  }

 private:
  faust::sdk::Page page() const {
    json body;
    if (!host_.is_leader()) {
      body = {{"leader", false},
              {"message", "this worker is not the leader: the leader's page lists the subscriptions"}};
    } else {
      std::lock_guard lock(snapshot_mutex_);
      json list = json::array();
      for (const auto& [url, each] : snapshot_.subscriptions) {
        json entry{{"url", each.url},
                   {"period", static_cast<double>(each.period_ms) / 1000.0},
                   {"added", crawler::format_rfc3339(each.added_ms)},
                   {"last_dispatch", nullptr},
                   {"next_due", crawler::format_rfc3339(each.next_due_ms)},
                   {"dispatches", each.dispatches}};
        if (each.last_dispatch_ms) entry["last_dispatch"] = crawler::format_rfc3339(*each.last_dispatch_ms);
        if (each.last_crawl_ms) {
          entry["last_crawl"] = crawler::format_rfc3339(*each.last_crawl_ms);
          entry["last_outcome"] = each.last_outcome;
          entry["failures"] = each.failures;
          entry["last_error"] = each.last_error.empty() ? json(nullptr) : json(each.last_error);
          entry["backoff_until"] =
              each.backoff_until_ms ? json(crawler::format_rfc3339(*each.backoff_until_ms)) : json(nullptr);
          entry["etag"] = each.etag.empty() ? json(nullptr) : json(each.etag);
          entry["last_modified"] = each.last_modified.empty() ? json(nullptr) : json(each.last_modified);
          entry["seen"] = each.seen.size();
        }
        list.push_back(std::move(entry));
      }
      body = {{"leader", true},
              {"as_of", snapshot_.taken_ms > 0 ? json(crawler::format_rfc3339(snapshot_.taken_ms)) : json(nullptr)},
              {"count", snapshot_.subscriptions.size()},
              {"subscriptions", std::move(list)}};
    }
    return faust::sdk::Page{200, "application/json", body.dump(2) + "\n"};
  }

  faust::sdk::Host& host_;
  std::string agent_;
  std::size_t max_per_tick_;
  std::int64_t resync_ms_;
  std::string index_id_;  // names this instance's index in kIndexMarkKey
  faust::sdk::Counter dispatches_;
  faust::sdk::Gauge backlog_;
  faust::sdk::Gauge subscriptions_;
  faust::sdk::Histogram tick_seconds_;
  std::set<std::string> unreadable_;
  crawler::DueIndex index_;
  std::string expected_mark_;  // empty: read everything at the next tick
  std::uint64_t ticks_ = 0;
  std::int64_t last_full_read_ms_ = 0;
  mutable std::mutex snapshot_mutex_;  // the page runs on the host's page threads
  Snapshot snapshot_;
};

// ---- crawl --------------------------------------------------------------------------------------

std::string default_worker_id() {
  std::array<char, 256> name{};
  if (::gethostname(name.data(), name.size() - 1) != 0) name[0] = '\0';
  return std::string(name.data()) + ":" + std::to_string(::getpid());
}

// A dispatch as the timer sends it.
struct Dispatch {
  std::string url;
  std::optional<std::int64_t> since_ms;
  std::int64_t dispatched_ms = 0;
  crawler::Validators validators;
  // The identities already sent; nullopt until a crawl of the source reported (then the items
  // of the dispatch window are the new ones).
  std::optional<std::set<std::string>> seen;
};

std::optional<Dispatch> parse_dispatch(std::string_view text, std::string& problem) {
  const json value = json::parse(text, nullptr, false);
  if (value.is_discarded() || !value.is_object()) {
    problem = "not a JSON object";
    return std::nullopt;
  }
  Dispatch out;
  const auto url = value.find("url");
  const auto dispatched = value.find("dispatched_ms");
  const auto since = value.find("since_ms");
  const auto etag = value.find("etag");
  const auto modified = value.find("last_modified");
  const auto seen = value.find("seen");
  const auto string_or_absent = [&](const json::const_iterator& found) {
    return found == value.end() || found->is_string();
  };
  if (url == value.end() || !url->is_string() || dispatched == value.end() || !dispatched->is_number_integer() ||
      (since != value.end() && !since->is_null() && !since->is_number_integer()) || !string_or_absent(etag) ||
      !string_or_absent(modified) || (seen != value.end() && !seen->is_array())) {
    problem = "expected {\"url\": string, \"since_ms\": integer or null, \"dispatched_ms\": integer, optional "
              "\"etag\" and \"last_modified\" strings and \"seen\" array}";
    return std::nullopt;
  }
  out.url = url->get<std::string>();
  out.dispatched_ms = dispatched->get<std::int64_t>();
  if (since != value.end() && !since->is_null()) out.since_ms = since->get<std::int64_t>();
  if (etag != value.end()) out.validators.etag = etag->get<std::string>();
  if (modified != value.end()) out.validators.last_modified = modified->get<std::string>();
  if (seen != value.end()) {
    out.seen.emplace();
    for (const json& id : *seen) {
      if (id.is_string()) out.seen->insert(id.get<std::string>());
    }
  }
  return out;
}

// "true" or "false" from the config, or `fallback`.
bool config_flag(const faust::sdk::Host& host, const char* key, bool fallback) {
  const std::optional<std::string> text = host.config(key);
  if (!text) return fallback;
  if (*text == "true") return true;
  if (*text == "false") return false;
  throw faust::sdk::Error(std::string("config ") + key + ": expected true or false, got '" + *text + "'");
}

crawler::FetchLimits fetch_limits(const faust::sdk::Host& host) {
  crawler::FetchLimits limits;
  limits.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(config_number(host, "timeout", 10) * 1000));
  limits.max_body_bytes = static_cast<std::size_t>(config_number(host, "max_body_kib", 4096) * 1024);
  limits.max_redirects = static_cast<int>(config_number(host, "max_redirects", 3));
  limits.ca_file = host.config("ca_file", "");
  limits.user_agent = host.config("user_agent", limits.user_agent);
  limits.allow_private_addresses = config_flag(host, "allow_private_addresses", false);
  // "10.0.0.5, fd00::7": non-public addresses of feeds this worker may still fetch.
  const std::string allowed = host.config("allowed_addresses", "");
  std::size_t start = 0;
  while (start < allowed.size()) {
    std::size_t end = allowed.find(',', start);
    if (end == std::string::npos) end = allowed.size();
    std::string address = allowed.substr(start, end - start);
    address.erase(0, address.find_first_not_of(' '));
    address.erase(address.find_last_not_of(' ') + 1);
    if (!address.empty()) limits.allowed_addresses.push_back(address);
    start = end + 1;
  }
  return limits;
}

// The crawl agent's instances (one per concurrency lane) share one per worker process: the plugin
// is loaded once per process, so a function-local static is exactly "across a worker".
crawler::HostSlots& worker_host_slots() {
  static crawler::HostSlots slots;
  return slots;
}

class CrawlAgent : public faust::sdk::Agent {
 public:
  explicit CrawlAgent(faust::sdk::Host& host)
      : host_(host),
        results_topic_(host.config("results_topic", std::string(host.app_id()) + "-crawl-results")),
        report_agent_(host.config("report_agent", "subscriptions")),
        worker_id_(host.config("worker_id", default_worker_id())),
        per_host_(static_cast<std::size_t>(config_number(host, "per_host_concurrency", 2))),
        limits_(fetch_limits(host)),
        client_(limits_),
        fetches_(host.counter("crawler_fetches_total", "Feeds fetched and parsed")),
        not_modified_(host.counter("crawler_not_modified_total", "Fetches answered 304 Not Modified")),
        items_(host.counter("crawler_items_total", "Feed items sent to the results topic")),
        errors_(host.counter("crawler_fetch_errors_total", "Fetches that failed: network, HTTP status or XML")),
        rejected_(host.counter("crawler_dispatches_rejected_total", "Dispatch messages that were not readable")),
        duration_(host.histogram("crawler_fetch_duration_seconds", "Time to fetch and parse one feed",
                                 {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30})) {}

  void handle(const faust::sdk::Message& message) override {
    std::string problem;
    const std::optional<Dispatch> dispatch = parse_dispatch(message.value(), problem);
    if (!dispatch) {
      rejected_.inc();
      host_.warn("skipping dispatch at offset " + std::to_string(message.offset()) + ": " + problem);
      return;
    }
    const auto started = std::chrono::steady_clock::now();
    crawler::CrawlReport report;
    report.url = dispatch->url;
    report.dispatched_ms = dispatch->dispatched_ms;
    std::optional<crawler::ParsedFeed> feed;
    crawler::FetchResult fetched;
    const std::string host_name = crawler::url_host(dispatch->url);
    if (const crawler::HostSlots::Slot slot =
            worker_host_slots().acquire(host_name, per_host_, started + limits_.timeout);
        !slot.held()) {
      fetched.error = "no free slot for host " + host_name + " within " + std::to_string(limits_.timeout.count()) +
                      " ms (per_host_concurrency " + std::to_string(per_host_) + ")";
    } else {
      fetched = client_.get(dispatch->url, dispatch->validators);
    }
    if (fetched.ok() && !fetched.not_modified) {
      feed = crawler::parse_feed(fetched.body, problem);
      if (!feed) fetched.error = problem;
    }
    duration_.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    report.crawled_ms = now_ms();
    if (fetched.retry_after) report.retry_after_ms = fetched.retry_after->count() * 1000;
    if (!fetched.ok()) {
      report.outcome = crawler::CrawlReport::Outcome::failed;
      report.error = fetched.error;
      errors_.inc();
      host_.warn("fetch " + dispatch->url + " failed: " + fetched.error);
    } else if (fetched.not_modified) {
      report.outcome = crawler::CrawlReport::Outcome::not_modified;
      not_modified_.inc();
      host_.info("fetched " + dispatch->url + ": not modified; dispatched_ms=" + std::to_string(dispatch->dispatched_ms));
    } else {
      fetches_.inc();
      report.etag = fetched.validators.etag;
      report.last_modified = fetched.validators.last_modified;
      const std::size_t sent = send_new_items(*dispatch, *feed, report.ids);
      host_.info("fetched " + dispatch->url + " (" + feed->format + ", " + std::to_string(feed->items.size()) +
                 " items): sent " + std::to_string(sent) + " new; dispatched_ms=" +
                 std::to_string(dispatch->dispatched_ms) +
                 " since_ms=" + (dispatch->since_ms ? std::to_string(*dispatch->since_ms) : "none"));
    }
    // Back to the leader, which keeps the validators, the seen identities and the failures.
    host_.send_to_agent(report_agent_, crawler::crawl_report_message(report), dispatch->url);
  }

 private:
  // Sends the feed's new items; `ids` gets the identities of the items that are now sent (new
  // ones and those seen before), for the leader's memory.
  std::size_t send_new_items(const Dispatch& dispatch, const crawler::ParsedFeed& feed, std::vector<std::string>& ids) {
    std::size_t sent = 0;
    std::set<std::string> in_this_feed;
    for (const crawler::FeedItem& item : feed.items) {
      const std::string id = crawler::item_identity(item);
      if (!in_this_feed.insert(id).second) continue;  // the same item twice in one feed
      const bool seen_before = dispatch.seen && dispatch.seen->count(id) > 0;
      const bool is_new = dispatch.seen ? !seen_before
                                        : crawler::in_dispatch_window(item, dispatch.since_ms, dispatch.dispatched_ms);
      // Without a memory yet, the items of earlier windows were sent by earlier dispatches; only
      // those dated after this dispatch are still to come.
      const bool sent_earlier =
          seen_before || (!dispatch.seen && !is_new && !(item.published_ms && *item.published_ms > dispatch.dispatched_ms));
      if (sent_earlier) ids.push_back(id);
      if (!is_new) continue;
      ids.insert(ids.begin() + static_cast<std::ptrdiff_t>(sent), id);  // new ones first
      json result{{"title", item.title},     {"link", item.link},
                  {"id", id},                {"source", dispatch.url},
                  {"published", nullptr},    {"dispatched_ms", dispatch.dispatched_ms},
                  {"worker", worker_id_}};
      if (item.published_ms) result["published"] = crawler::format_rfc3339(*item.published_ms);
      // A failed send is the host's failure (the broker), not the feed's: it fails the message,
      // and the agent's on_error policy decides.
      host_.send_to_topic(results_topic_, result.dump(), dispatch.url);
      items_.inc();
      ++sent;
    }
    return sent;
  }

  faust::sdk::Host& host_;
  std::string results_topic_;
  std::string report_agent_;
  std::string worker_id_;
  std::size_t per_host_;
  crawler::FetchLimits limits_;
  crawler::HttpClient client_;
  faust::sdk::Counter fetches_;
  faust::sdk::Counter not_modified_;
  faust::sdk::Counter items_;
  faust::sdk::Counter errors_;
  faust::sdk::Counter rejected_;
  faust::sdk::Histogram duration_;
};

}  // namespace

FAUST_PLUGIN("crawler", "2.0.0",
             FAUST_AGENTS(faust::sdk::agent<SubscriptionsAgent>("subscriptions"),
                          faust::sdk::agent<CrawlAgent>("crawl")),
             FAUST_TIMERS(faust::sdk::timer<DispatchTimer>("dispatch")));
