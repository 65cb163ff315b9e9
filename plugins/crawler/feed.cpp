#include "feed.hpp"

#include <array>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <chrono>
#include <date/date.h>
#include <pugixml.hpp>

namespace crawler {
namespace {

// An element's name without its namespace prefix ("atom:entry" -> "entry").
std::string_view local_name(const pugi::xml_node& node) {
  std::string_view name = node.name();
  const auto colon = name.find(':');
  return colon == std::string_view::npos ? name : name.substr(colon + 1);
}

pugi::xml_node child(const pugi::xml_node& node, std::string_view name) {
  for (pugi::xml_node each : node.children()) {
    if (each.type() == pugi::node_element && local_name(each) == name) return each;
  }
  return {};
}

// Only a dc:date counts as "date" (RSS 2.0 with the Dublin Core module).
pugi::xml_node prefixed_child(const pugi::xml_node& node, std::string_view qualified) {
  for (pugi::xml_node each : node.children()) {
    if (each.type() == pugi::node_element && std::string_view(each.name()) == qualified) return each;
  }
  return {};
}

std::string trimmed(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return std::string(text);
}

std::string text_of(const pugi::xml_node& node) { return node ? trimmed(node.child_value()) : std::string(); }

// Atom text constructs may hold XHTML (<title type="xhtml"><div>...</div></title>): all text below.
std::string all_text(const pugi::xml_node& node) {
  if (!node) return {};
  std::string text;
  struct Collector : pugi::xml_tree_walker {
    explicit Collector(std::string& out) : out_(out) {}
    bool for_each(pugi::xml_node& each) override {
      if (each.type() == pugi::node_pcdata || each.type() == pugi::node_cdata) out_ += each.value();
      return true;
    }
    std::string& out_;
  } collector(text);
  pugi::xml_node walked = node;  // traverse() is not const
  walked.traverse(collector);
  return trimmed(text);
}

std::vector<FeedItem> rss_items(const pugi::xml_node& channel) {
  std::vector<FeedItem> items;
  for (pugi::xml_node item : channel.children()) {
    if (item.type() != pugi::node_element || local_name(item) != "item") continue;
    FeedItem out;
    out.title = all_text(child(item, "title"));
    out.link = text_of(child(item, "link"));
    const pugi::xml_node guid = child(item, "guid");
    out.guid = text_of(guid);
    if (out.link.empty() && guid && std::string_view(guid.attribute("isPermaLink").as_string("true")) != "false") {
      out.link = out.guid;
    }
    if (const pugi::xml_node date = child(item, "pubDate")) {
      out.published_ms = parse_rfc822_date(text_of(date));
    } else if (const pugi::xml_node dc = prefixed_child(item, "dc:date")) {
      out.published_ms = parse_rfc3339_date(text_of(dc));
    }
    items.push_back(std::move(out));
  }
  return items;
}

std::vector<FeedItem> atom_items(const pugi::xml_node& feed) {
  std::vector<FeedItem> items;
  for (pugi::xml_node entry : feed.children()) {
    if (entry.type() != pugi::node_element || local_name(entry) != "entry") continue;
    FeedItem out;
    out.title = all_text(child(entry, "title"));
    out.guid = text_of(child(entry, "id"));
    for (pugi::xml_node link : entry.children()) {
      if (link.type() != pugi::node_element || local_name(link) != "link") continue;
      const std::string_view rel = link.attribute("rel").as_string("alternate");
      if (rel == "alternate") {
        out.link = trimmed(link.attribute("href").as_string());
        break;
      }
    }
    pugi::xml_node date = child(entry, "published");
    if (!date) date = child(entry, "updated");
    if (date) out.published_ms = parse_rfc3339_date(text_of(date));
    items.push_back(std::move(out));
  }
  return items;
}

bool valid_date_time(int year, int month, int day, int hour, int minute, int second) {
  static constexpr std::array<int, 12> kDays{31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return year >= 1970 && year <= 9999 && month >= 1 && month <= 12 && day >= 1 && day <= kDays[month - 1] &&
         hour >= 0 && hour <= 23 && minute >= 0 && minute <= 59 && second >= 0 && second <= 60;
}

std::int64_t epoch_ms(int year, int month, int day, int hour, int minute, int second, int millis,
                      int offset_minutes) {
  const date::sys_days days{date::year(year) / static_cast<unsigned>(month) / static_cast<unsigned>(day)};
  const auto local = days + std::chrono::hours(hour) + std::chrono::minutes(minute - offset_minutes) +
                     std::chrono::seconds(second) + std::chrono::milliseconds(millis);
  return local.time_since_epoch().count();
}

// Reads min_digits..max_digits decimal digits at `pos` and moves past them.
bool read_number(std::string_view text, std::size_t& pos, std::size_t min_digits, std::size_t max_digits, int& value) {
  std::size_t end = pos;
  while (end < text.size() && end - pos < max_digits && std::isdigit(static_cast<unsigned char>(text[end]))) ++end;
  if (end - pos < min_digits) return false;
  std::from_chars(text.data() + pos, text.data() + end, value);
  pos = end;
  return true;
}

bool expect(std::string_view text, std::size_t& pos, char c) {
  if (pos >= text.size() || text[pos] != c) return false;
  ++pos;
  return true;
}

void skip_spaces(std::string_view text, std::size_t& pos) {
  while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos]))) ++pos;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::optional<int> rfc822_zone_minutes(std::string_view zone) {
  if (zone.size() == 5 && (zone[0] == '+' || zone[0] == '-')) {
    int hours = 0;
    int minutes = 0;
    std::size_t pos = 1;
    if (!read_number(zone, pos, 2, 2, hours) || !read_number(zone, pos, 2, 2, minutes) || minutes > 59) return std::nullopt;
    const int total = hours * 60 + minutes;
    return zone[0] == '-' ? -total : total;
  }
  const std::string name = lower(zone);
  static constexpr std::array<std::pair<std::string_view, int>, 12> kZones{{{"gmt", 0},
                                                                            {"ut", 0},
                                                                            {"utc", 0},
                                                                            {"z", 0},
                                                                            {"est", -300},
                                                                            {"edt", -240},
                                                                            {"cst", -360},
                                                                            {"cdt", -300},
                                                                            {"mst", -420},
                                                                            {"mdt", -360},
                                                                            {"pst", -480},
                                                                            {"pdt", -420}}};
  for (const auto& [known, minutes] : kZones) {
    if (name == known) return minutes;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::int64_t> parse_rfc822_date(std::string_view text) {
  std::size_t pos = 0;
  skip_spaces(text, pos);
  // Optional weekday: "Mon,".
  if (const auto comma = text.find(','); comma != std::string_view::npos) {
    pos = comma + 1;
    skip_spaces(text, pos);
  }
  int day = 0;
  if (!read_number(text, pos, 1, 2, day)) return std::nullopt;
  skip_spaces(text, pos);
  if (pos + 3 > text.size()) return std::nullopt;
  static constexpr std::array<std::string_view, 12> kMonths{"jan", "feb", "mar", "apr", "may", "jun",
                                                            "jul", "aug", "sep", "oct", "nov", "dec"};
  const std::string month_name = lower(text.substr(pos, 3));
  int month = 0;
  for (std::size_t i = 0; i < kMonths.size(); ++i) {
    if (month_name == kMonths[i]) month = static_cast<int>(i) + 1;
  }
  if (month == 0) return std::nullopt;
  pos += 3;
  while (pos < text.size() && std::isalpha(static_cast<unsigned char>(text[pos]))) ++pos;  // "June"
  skip_spaces(text, pos);
  int year = 0;
  const std::size_t year_start = pos;
  if (!read_number(text, pos, 2, 4, year)) return std::nullopt;
  if (pos - year_start == 2) year += year < 50 ? 2000 : 1900;
  skip_spaces(text, pos);
  int hour = 0;
  int minute = 0;
  int second = 0;
  if (!read_number(text, pos, 1, 2, hour) || !expect(text, pos, ':') || !read_number(text, pos, 2, 2, minute)) {
    return std::nullopt;
  }
  if (pos < text.size() && text[pos] == ':' && !read_number(text, ++pos, 2, 2, second)) return std::nullopt;
  skip_spaces(text, pos);
  std::size_t end = pos;
  while (end < text.size() && !std::isspace(static_cast<unsigned char>(text[end]))) ++end;
  const std::string_view zone = text.substr(pos, end - pos);
  const std::optional<int> offset = zone.empty() ? std::optional<int>(0) : rfc822_zone_minutes(zone);
  if (!offset || !valid_date_time(year, month, day, hour, minute, second)) return std::nullopt;
  return epoch_ms(year, month, day, hour, minute, second, 0, *offset);
}

std::optional<std::int64_t> parse_rfc3339_date(std::string_view text) {
  const std::string value = trimmed(text);
  const std::string_view view = value;
  std::size_t pos = 0;
  int year = 0;
  int month = 0;
  int day = 0;
  if (!read_number(view, pos, 4, 4, year) || !expect(view, pos, '-') || !read_number(view, pos, 2, 2, month) ||
      !expect(view, pos, '-') || !read_number(view, pos, 2, 2, day)) {
    return std::nullopt;
  }
  int hour = 0;
  int minute = 0;
  int second = 0;
  int millis = 0;
  int offset = 0;
  if (pos < view.size()) {
    if (view[pos] != 'T' && view[pos] != 't' && view[pos] != ' ') return std::nullopt;
    ++pos;
    if (!read_number(view, pos, 2, 2, hour) || !expect(view, pos, ':') || !read_number(view, pos, 2, 2, minute)) {
      return std::nullopt;
    }
    if (pos < view.size() && view[pos] == ':' && !read_number(view, ++pos, 2, 2, second)) return std::nullopt;
    if (pos < view.size() && view[pos] == '.') {
      ++pos;
      const std::size_t start = pos;
      while (pos < view.size() && std::isdigit(static_cast<unsigned char>(view[pos]))) ++pos;
      if (pos == start) return std::nullopt;
      std::string digits(view.substr(start, std::min<std::size_t>(pos - start, 3)));
      digits.resize(3, '0');
      millis = std::stoi(digits);
    }
    if (pos == view.size()) return std::nullopt;  // RFC 3339 requires a zone
    if (view[pos] == 'Z' || view[pos] == 'z') {
      ++pos;
    } else if (view[pos] == '+' || view[pos] == '-') {
      const bool negative = view[pos] == '-';
      ++pos;
      int hours = 0;
      int minutes = 0;
      if (!read_number(view, pos, 2, 2, hours) || !expect(view, pos, ':') || !read_number(view, pos, 2, 2, minutes)) {
        return std::nullopt;
      }
      offset = (negative ? -1 : 1) * (hours * 60 + minutes);
    } else {
      return std::nullopt;
    }
    if (pos != view.size()) return std::nullopt;
  }
  if (!valid_date_time(year, month, day, hour, minute, second)) return std::nullopt;
  return epoch_ms(year, month, day, hour, minute, second, millis, offset);
}

std::string format_rfc3339(std::int64_t epoch_ms_value) {
  const date::sys_time<std::chrono::milliseconds> when{std::chrono::milliseconds(epoch_ms_value)};
  return date::format("%FT%TZ", when);
}

std::optional<ParsedFeed> parse_feed(std::string_view text, std::string& problem) {
  pugi::xml_document document;
  // No entity expansion beyond XML's own, no DTD processing: pugixml never fetches anything.
  const pugi::xml_parse_result result =
      document.load_buffer(text.data(), text.size(), pugi::parse_default);
  if (!result) {
    problem = std::string("not XML: ") + result.description() + " at offset " + std::to_string(result.offset);
    return std::nullopt;
  }
  const pugi::xml_node root = document.document_element();
  const std::string_view name = local_name(root);
  if (name == "rss") {
    const pugi::xml_node channel = child(root, "channel");
    if (!channel) {
      problem = "RSS without <channel>";
      return std::nullopt;
    }
    return ParsedFeed{"rss", rss_items(channel)};
  }
  if (name == "feed") return ParsedFeed{"atom", atom_items(root)};
  problem = "neither RSS nor Atom: root element <" + std::string(root.name()) + ">";
  return std::nullopt;
}

std::string item_identity(const FeedItem& item) {
  const std::string& name = !item.guid.empty() ? item.guid : !item.link.empty() ? item.link : item.title;
  // FNV-1a, 64 bits, of which 48 are kept.
  std::uint64_t hash = 14695981039346656037ULL;
  for (const char c : name) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ULL;
  }
  std::array<char, 16> text{};
  std::snprintf(text.data(), text.size(), "%012llx", static_cast<unsigned long long>(hash >> 16));
  return text.data();
}

bool in_dispatch_window(const FeedItem& item, std::optional<std::int64_t> since_ms, std::int64_t dispatched_ms) {
  if (!item.published_ms) return !since_ms.has_value();
  if (*item.published_ms > dispatched_ms) return false;
  return !since_ms || *item.published_ms > *since_ms;
}

}  // namespace crawler
