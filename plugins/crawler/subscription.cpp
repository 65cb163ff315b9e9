#include "subscription.hpp"

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
  return subscription;
}

std::optional<std::string> url_problem(std::string_view url) {
  if (url.empty()) return "empty URL";
  if (url.size() > kMaxUrlSize) return "URL longer than " + std::to_string(kMaxUrlSize) + " bytes";
  for (const char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return "URL contains a space or control character";
  }
  constexpr std::string_view kScheme = "http://";
  if (url.substr(0, kScheme.size()) != kScheme) return "only http:// URLs are supported";
  const std::string_view rest = url.substr(kScheme.size());
  if (rest.empty() || rest.front() == '/' || rest.front() == ':' || rest.front() == '?') return "URL has no host";
  return std::nullopt;
}

Command parse_command(std::string_view text, std::int64_t default_period_ms) {
  const json value = json::parse(text, nullptr, false);
  if (value.is_discarded()) return RejectedCommand{"not JSON"};
  if (!value.is_object()) return RejectedCommand{"not a JSON object"};
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
    return Subscription{command.url, command.period_ms, now_ms, std::nullopt, now_ms, 0};
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
  return out.dump();
}

}  // namespace crawler
