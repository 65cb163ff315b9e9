#include "subscription.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <nlohmann/json.hpp>

namespace crawler {

using nlohmann::json;

std::string to_json(const Subscription& subscription) {
  json out{{"url", subscription.url},
           {"period_ms", subscription.period_ms},
           {"added_ms", subscription.added_ms},
           {"last_dispatch_ms", nullptr},
           {"next_due_ms", subscription.next_due_ms},
           {"dispatches", subscription.dispatches}};
  if (subscription.last_dispatch_ms) out["last_dispatch_ms"] = *subscription.last_dispatch_ms;
  // The crawl fields only once a crawl reported, so a subscription never crawled stays small.
  if (subscription.last_crawl_ms) {
    out["last_crawl_ms"] = *subscription.last_crawl_ms;
    out["last_outcome"] = subscription.last_outcome;
    out["etag"] = subscription.etag;
    out["last_modified"] = subscription.last_modified;
    out["seen"] = subscription.seen;
    out["failures"] = subscription.failures;
    out["last_error"] = subscription.last_error;
    out["backoff_until_ms"] = subscription.backoff_until_ms ? json(*subscription.backoff_until_ms) : json(nullptr);
  }
  return out.dump();
}

namespace {

bool read_int(const json& object, const char* key, std::int64_t& value) {
  const auto found = object.find(key);
  if (found == object.end() || !found->is_number_integer()) return false;
  value = found->get<std::int64_t>();
  return true;
}

}  // namespace

std::optional<Subscription> subscription_from_json(std::string_view text, std::string& problem) {
  const json value = json::parse(text, nullptr, false);
  if (value.is_discarded() || !value.is_object()) {
    problem = "not a JSON object";
    return std::nullopt;
  }
  Subscription subscription;
  const auto url = value.find("url");
  if (url == value.end() || !url->is_string()) {
    problem = "no \"url\" string";
    return std::nullopt;
  }
  subscription.url = url->get<std::string>();
  if (!read_int(value, "period_ms", subscription.period_ms) || subscription.period_ms < kMinPeriodMs ||
      !read_int(value, "added_ms", subscription.added_ms) || !read_int(value, "next_due_ms", subscription.next_due_ms) ||
      !read_int(value, "dispatches", subscription.dispatches)) {
    problem = "missing or invalid period_ms, added_ms, next_due_ms or dispatches";
    return std::nullopt;
  }
  const auto last = value.find("last_dispatch_ms");
  if (last != value.end() && !last->is_null()) {
    if (!last->is_number_integer()) {
      problem = "last_dispatch_ms is not an integer";
      return std::nullopt;
    }
    subscription.last_dispatch_ms = last->get<std::int64_t>();
  }
  if (const auto crawled = value.find("last_crawl_ms"); crawled != value.end()) {
    const auto read_text = [&](const char* key, std::string& out) {
      const auto found = value.find(key);
      if (found == value.end() || !found->is_string()) return false;
      out = found->get<std::string>();
      return true;
    };
    const auto seen = value.find("seen");
    const auto backoff = value.find("backoff_until_ms");
    std::int64_t crawled_ms = 0;
    if (!read_int(value, "last_crawl_ms", crawled_ms) || !read_int(value, "failures", subscription.failures) ||
        !read_text("last_outcome", subscription.last_outcome) || !read_text("etag", subscription.etag) ||
        !read_text("last_modified", subscription.last_modified) || !read_text("last_error", subscription.last_error) ||
        seen == value.end() || !seen->is_array() || backoff == value.end() ||
        !(backoff->is_null() || backoff->is_number_integer())) {
      problem = "missing or invalid crawl fields (last_crawl_ms, last_outcome, etag, last_modified, seen, failures, "
                "last_error, backoff_until_ms)";
      return std::nullopt;
    }
    subscription.last_crawl_ms = crawled_ms;
    for (const json& id : *seen) {
      if (!id.is_string()) {
        problem = "\"seen\" holds a value that is not a string";
        return std::nullopt;
      }
      subscription.seen.push_back(id.get<std::string>());
    }
    if (!backoff->is_null()) subscription.backoff_until_ms = backoff->get<std::int64_t>();
  }
  return subscription;
}

std::optional<std::string> url_problem(std::string_view url) {
  if (url.empty()) return "empty URL";
  if (url.size() > kMaxUrlSize) return "URL longer than " + std::to_string(kMaxUrlSize) + " bytes";
  for (const char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return "URL contains a space or control character";
  }
  std::string_view rest;
  for (const std::string_view scheme : {std::string_view("http://"), std::string_view("https://")}) {
    if (url.substr(0, scheme.size()) == scheme) rest = url.substr(scheme.size());
  }
  if (rest.data() == nullptr) return "only http:// and https:// URLs are supported";
  if (rest.empty() || rest.front() == '/' || rest.front() == ':' || rest.front() == '?') return "URL has no host";
  return std::nullopt;
}

namespace {

constexpr std::array<std::pair<std::string_view, CrawlReport::Outcome>, 3> kOutcomes{
    {{"ok", CrawlReport::Outcome::ok},
     {"not_modified", CrawlReport::Outcome::not_modified},
     {"failed", CrawlReport::Outcome::failed}}};

Command parse_report(const json& value) {
  static constexpr std::string_view kShape =
      "a crawl report needs \"crawled\" (string), \"dispatched_ms\" and \"crawled_ms\" (integers), \"outcome\" "
      "(ok, not_modified or failed), optional \"error\", \"etag\", \"last_modified\" (strings), "
      "\"retry_after_ms\" (integer) and \"ids\" (strings)";
  CrawlReport report;
  const auto string_field = [&](const char* key, std::string& out, bool required) {
    const auto found = value.find(key);
    if (found == value.end()) return !required;
    if (!found->is_string()) return false;
    out = found->get<std::string>();
    return true;
  };
  std::string outcome;
  if (!string_field("crawled", report.url, true) || !read_int(value, "dispatched_ms", report.dispatched_ms) ||
      !read_int(value, "crawled_ms", report.crawled_ms) || !string_field("outcome", outcome, true) ||
      !string_field("error", report.error, false) || !string_field("etag", report.etag, false) ||
      !string_field("last_modified", report.last_modified, false)) {
    return RejectedCommand{std::string(kShape)};
  }
  const auto known = std::find_if(kOutcomes.begin(), kOutcomes.end(), [&](const auto& each) { return each.first == outcome; });
  if (known == kOutcomes.end()) return RejectedCommand{std::string(kShape)};
  report.outcome = known->second;
  if (value.contains("retry_after_ms")) {
    std::int64_t retry = 0;
    if (!read_int(value, "retry_after_ms", retry)) return RejectedCommand{std::string(kShape)};
    report.retry_after_ms = retry;
  }
  if (const auto ids = value.find("ids"); ids != value.end()) {
    if (!ids->is_array()) return RejectedCommand{std::string(kShape)};
    for (const json& id : *ids) {
      if (!id.is_string()) return RejectedCommand{std::string(kShape)};
      report.ids.push_back(id.get<std::string>());
    }
  }
  for (const auto& [key, ignored] : value.items()) {
    static constexpr std::array<std::string_view, 9> kKeys{"crawled", "dispatched_ms", "crawled_ms", "outcome",
                                                           "error",   "etag",          "last_modified",
                                                           "retry_after_ms", "ids"};
    if (std::find(kKeys.begin(), kKeys.end(), key) == kKeys.end()) {
      return RejectedCommand{"unknown key \"" + key + "\" in a crawl report"};
    }
  }
  return report;
}

}  // namespace

std::string_view outcome_name(CrawlReport::Outcome outcome) {
  for (const auto& [name, each] : kOutcomes) {
    if (each == outcome) return name;
  }
  return "failed";
}

std::string crawl_report_message(const CrawlReport& report) {
  json out{{"crawled", report.url},       {"dispatched_ms", report.dispatched_ms},
           {"crawled_ms", report.crawled_ms}, {"outcome", outcome_name(report.outcome)}};
  if (!report.error.empty()) out["error"] = report.error;
  if (!report.etag.empty()) out["etag"] = report.etag;
  if (!report.last_modified.empty()) out["last_modified"] = report.last_modified;
  if (report.retry_after_ms) out["retry_after_ms"] = *report.retry_after_ms;
  if (!report.ids.empty()) out["ids"] = report.ids;
  return out.dump();
}

Subscription apply_report(const Subscription& subscription, const CrawlReport& report, const ReportRules& rules,
                          std::int64_t now_ms) {
  Subscription next = subscription;
  next.last_crawl_ms = report.crawled_ms;
  next.last_outcome = std::string(outcome_name(report.outcome));
  std::int64_t hold_until = 0;  // no dispatch before this
  if (report.outcome == CrawlReport::Outcome::failed) {
    next.failures += 1;
    next.last_error = report.error;
    if (next.failures >= 2) {
      // Doubling from the period; the shift is bounded so it cannot overflow.
      const int doublings = static_cast<int>(std::min<std::int64_t>(next.failures - 1, 40));
      const double delay = std::min(static_cast<double>(subscription.period_ms) * std::ldexp(1.0, doublings),
                                    static_cast<double>(rules.max_backoff_ms));
      hold_until = report.crawled_ms + static_cast<std::int64_t>(delay);
    }
  } else {
    next.failures = 0;
    next.last_error.clear();
    if (report.outcome == CrawlReport::Outcome::ok) {
      next.etag = report.etag;
      next.last_modified = report.last_modified;
      // The report's identities first (they are in the feed now), then older ones, up to max_seen.
      std::vector<std::string> seen;
      for (const auto* list : {&report.ids, &subscription.seen}) {
        for (const std::string& id : *list) {
          if (seen.size() >= rules.max_seen) break;
          if (std::find(seen.begin(), seen.end(), id) == seen.end()) seen.push_back(id);
        }
      }
      next.seen = std::move(seen);
    }
  }
  if (report.retry_after_ms) {
    hold_until = std::max(hold_until, report.crawled_ms + std::min(*report.retry_after_ms, rules.max_backoff_ms));
  }
  if (hold_until > now_ms) {
    next.backoff_until_ms = hold_until;
    next.next_due_ms = std::max(next.next_due_ms, hold_until);
  } else {
    next.backoff_until_ms.reset();
  }
  return next;
}

Command parse_command(std::string_view text, std::int64_t default_period_ms) {
  const json value = json::parse(text, nullptr, false);
  if (value.is_discarded()) return RejectedCommand{"not JSON"};
  if (!value.is_object()) return RejectedCommand{"not a JSON object"};
  if (value.contains("crawled") && !value.contains("add") && !value.contains("remove")) return parse_report(value);
  const bool add = value.contains("add");
  const bool remove = value.contains("remove");
  if (add == remove) return RejectedCommand{"expected exactly one of \"add\" or \"remove\""};
  const json& url_value = add ? value.at("add") : value.at("remove");
  if (!url_value.is_string()) return RejectedCommand{std::string("\"") + (add ? "add" : "remove") + "\" is not a string"};
  std::string url = url_value.get<std::string>();
  if (remove) {
    for (const auto& [key, ignored] : value.items()) {
      if (key != "remove") return RejectedCommand{"unknown key \"" + key + "\" in a remove command"};
    }
    if (url.empty()) return RejectedCommand{"empty URL"};
    return RemoveCommand{std::move(url)};
  }
  for (const auto& [key, ignored] : value.items()) {
    if (key != "add" && key != "period") return RejectedCommand{"unknown key \"" + key + "\" in an add command"};
  }
  if (auto problem = url_problem(url)) return RejectedCommand{*problem + ": " + url};
  std::int64_t period_ms = default_period_ms;
  if (const auto period = value.find("period"); period != value.end()) {
    if (!period->is_number()) return RejectedCommand{"\"period\" is not a number of seconds"};
    const double seconds = period->get<double>();
    if (!std::isfinite(seconds) || seconds * 1000 < static_cast<double>(kMinPeriodMs) ||
        seconds * 1000 > static_cast<double>(kMaxPeriodMs)) {
      return RejectedCommand{"\"period\" must be 1 to 31536000 seconds"};
    }
    period_ms = std::llround(seconds * 1000);
  }
  return AddCommand{std::move(url), period_ms};
}

Subscription apply_add(const std::optional<Subscription>& existing, const AddCommand& command, std::int64_t now_ms) {
  if (!existing) {
    Subscription added;
    added.url = command.url;
    added.period_ms = command.period_ms;
    added.added_ms = now_ms;
    added.next_due_ms = now_ms;
    return added;
  }
  Subscription changed = *existing;
  changed.period_ms = command.period_ms;
  changed.next_due_ms = changed.last_dispatch_ms ? *changed.last_dispatch_ms + command.period_ms : now_ms;
  return changed;
}

Subscription after_dispatch(const Subscription& subscription, std::int64_t now_ms) {
  Subscription next = subscription;
  next.last_dispatch_ms = now_ms;
  next.dispatches += 1;
  const std::int64_t on_grid = subscription.next_due_ms + subscription.period_ms;
  next.next_due_ms = now_ms < on_grid ? on_grid : now_ms + subscription.period_ms;
  return next;
}

std::string dispatch_message(const Subscription& subscription, std::int64_t now_ms) {
  json out{{"url", subscription.url}, {"since_ms", nullptr}, {"dispatched_ms", now_ms}};
  if (subscription.last_dispatch_ms) out["since_ms"] = *subscription.last_dispatch_ms;
  if (subscription.last_crawl_ms) {
    if (!subscription.etag.empty()) out["etag"] = subscription.etag;
    if (!subscription.last_modified.empty()) out["last_modified"] = subscription.last_modified;
    out["seen"] = subscription.seen;
  }
  return out.dump();
}

}  // namespace crawler
