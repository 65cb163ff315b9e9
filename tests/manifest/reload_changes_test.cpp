// What a reload (SIGHUP) may change in a running worker's manifest: the library and config of
// agents with isolation: process. Anything else refuses it with one line naming the first such
// place, FILE:LINE:COL.
#include <gtest/gtest.h>

#include <string>

#include "manifest/manifest.h"

namespace faust {
namespace {

const std::string kRunning = R"(app:
  id: shop
kafka:
  sasl.password: secret-one
web:
  port: 6066
agents:
  orders:
    library: orders
    isolation: process
    concurrency: 2
    processing_guarantee: exactly_once
    config:
      tag: v1
  audit:
    library: audit
    config:
      level: high
timers:
  tick:
    library: ticker
    interval: 1
services:
  cache:
    library: cache
    config:
      size: "10"
)";

constexpr std::string_view kRefused =
    "; a reload may change only the library and config of agents with isolation: process (restart the worker for "
    "anything else): reload refused, the running manifest stays";

Manifest parsed(const std::string& text) {
  auto manifest = parse_manifest(text, "shop.yaml");
  EXPECT_TRUE(manifest.ok()) << manifest.error().message;
  return manifest ? std::move(*manifest) : Manifest{};
}

// `kRunning` with each `from` replaced by its `to` (once).
std::string edited(std::initializer_list<std::pair<std::string, std::string>> edits) {
  std::string text = kRunning;
  for (const auto& [from, to] : edits) {
    const auto at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) text.replace(at, from.size(), to);
  }
  return text;
}
std::string edited(const std::string& from, const std::string& to) { return edited({{from, to}}); }

std::optional<std::string> refusal(const std::string& next) { return reload_refusal(parsed(kRunning), parsed(next)); }

TEST(ReloadChanges, TheSameManifestOrItsKeysInAnotherOrderMayBeReloaded) {
  EXPECT_EQ(refusal(kRunning), std::nullopt);
  EXPECT_EQ(refusal(edited("web:\n  port: 6066\n", "") + "web:\n  port: 6066\n"), std::nullopt);
  EXPECT_EQ(refusal(edited("    library: orders\n", "    # a comment\n    library: orders\n")), std::nullopt);
}

TEST(ReloadChanges, AnIsolatedAgentsLibraryAndConfigMayChange) {
  EXPECT_EQ(refusal(edited("library: orders", "library: ./orders-v2.so")), std::nullopt);
  EXPECT_EQ(refusal(edited("tag: v1", "tag: v2\n      more: yes")), std::nullopt);
  EXPECT_EQ(refusal(edited("    config:\n      tag: v1\n", "")), std::nullopt) << "config removed";
  EXPECT_EQ(refusal(edited("    library: orders\n", "")), std::nullopt) << "library: the entry's name";
}

TEST(ReloadChanges, EachOtherChangeIsRefusedAtItsPlace) {
  struct Case {
    std::string from;
    std::string to;
    std::string expected;  // the line up to kRefused
  };
  const std::vector<Case> cases = {
      {"id: shop", "id: store", "shop.yaml:2:7: app.id: changed"},
      {"secret-one", "secret-two", "shop.yaml:4:18: kafka.sasl.password: changed"},
      {"port: 6066", "port: 6067", "shop.yaml:6:9: web.port: changed"},
      {"concurrency: 2", "concurrency: 3", "shop.yaml:11:18: agents.orders.concurrency: changed"},
      {"    processing_guarantee: exactly_once\n", "", "shop.yaml:8:3: agents.orders.processing_guarantee: removed"},
      {"    concurrency: 2\n", "    concurrency: 2\n    topic: other\n", "shop.yaml:12:12: agents.orders.topic: added"},
      {"isolation: process", "isolation: in-process", "shop.yaml:10:16: agents.orders.isolation: changed"},
      {"level: high", "level: low", "shop.yaml:18:14: agents.audit.config.level: changed"},
      {"library: audit", "library: audit2", "shop.yaml:16:14: agents.audit.library: changed"},
      {"interval: 1", "interval: 2", "shop.yaml:22:15: timers.tick.interval: changed"},
      {"size: \"10\"", "size: \"20\"", "shop.yaml:27:13: services.cache.config.size: changed"},
      {"timers:\n  tick:\n    library: ticker\n    interval: 1\n", "", "shop.yaml:1:1: timers: removed"},
      {"  audit:\n", "  extra:\n    library: extra\n  audit:\n", "shop.yaml:15:3: agents.extra: added"},
      {"  audit:\n    library: audit\n    config:\n      level: high\n", "", "shop.yaml:7:1: agents.audit: removed"},
  };
  for (const Case& change : cases) {
    const auto refused = refusal(edited(change.from, change.to));
    ASSERT_TRUE(refused.has_value()) << change.expected;
    EXPECT_EQ(*refused, change.expected + std::string(kRefused));
  }
}

TEST(ReloadChanges, AnIsolatedAgentsConfigOnceItIsNoLongerIsolatedIsRefusedToo) {
  const auto refused = refusal(edited({{"isolation: process", "isolation: in-process"}, {"tag: v1", "tag: v2"}}));
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(*refused, "shop.yaml:10:16: agents.orders.isolation: changed" + std::string(kRefused))
      << "the first one in the file";
}

TEST(ReloadChanges, TheFirstChangeInTheFileIsNamedAndNoValueIsQuoted) {
  const auto refused = refusal(edited({{"interval: 1", "interval: 5"}, {"secret-one", "secret-two"}}));
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->rfind("shop.yaml:4:18: kafka.sasl.password: changed", 0), 0u) << *refused;
  EXPECT_EQ(refused->find("secret"), std::string::npos);
}

}  // namespace
}  // namespace faust
