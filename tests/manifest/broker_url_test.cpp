#include <gtest/gtest.h>

#include <string>

#include "manifest/manifest.h"

namespace faust {
namespace {

BrokerUrl parse_ok(std::string_view url) {
  auto result = parse_broker_url(url);
  EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().message);
  return result.ok() ? *result : BrokerUrl{};
}

std::string parse_error(std::string_view url) {
  auto result = parse_broker_url(url);
  EXPECT_FALSE(result.ok()) << url << " parsed";
  if (result.ok()) return {};
  EXPECT_EQ(result.error().code, ExitCode::kManifestInvalid);
  return result.error().message;
}

TEST(BrokerUrlTest, SingleServerWithPort) {
  const BrokerUrl url = parse_ok("kafka://localhost:9092");
  EXPECT_EQ(url.scheme, "kafka");
  ASSERT_EQ(url.servers.size(), 1u);
  EXPECT_EQ(url.servers[0].host, "localhost");
  EXPECT_EQ(url.servers[0].port, 9092);
  EXPECT_EQ(url.bootstrap_servers(), "localhost:9092");
}

TEST(BrokerUrlTest, PortDefaultsTo9092) {
  const BrokerUrl url = parse_ok("kafka://broker1");
  ASSERT_EQ(url.servers.size(), 1u);
  EXPECT_EQ(url.servers[0].port, 9092);
  EXPECT_EQ(url.bootstrap_servers(), "broker1:9092");
}

TEST(BrokerUrlTest, SemicolonAndCommaSeparateServers) {
  const BrokerUrl url = parse_ok("kafka://a:1;b:2,c");
  ASSERT_EQ(url.servers.size(), 3u);
  EXPECT_EQ(url.servers[0].host, "a");
  EXPECT_EQ(url.servers[0].port, 1);
  EXPECT_EQ(url.servers[1].host, "b");
  EXPECT_EQ(url.servers[1].port, 2);
  EXPECT_EQ(url.servers[2].host, "c");
  EXPECT_EQ(url.servers[2].port, 9092);
  EXPECT_EQ(url.bootstrap_servers(), "a:1,b:2,c:9092");
}

TEST(BrokerUrlTest, WhitespaceAroundServersIsTrimmed) {
  const BrokerUrl url = parse_ok("  kafka:// a:1 ;  b:2  ");
  EXPECT_EQ(url.bootstrap_servers(), "a:1,b:2");
}

TEST(BrokerUrlTest, SchemeIsCaseInsensitive) { EXPECT_EQ(parse_ok("KAFKA://h:1").scheme, "kafka"); }

TEST(BrokerUrlTest, Ipv6InBrackets) {
  const BrokerUrl url = parse_ok("kafka://[::1]:9093;[fe80::1]");
  ASSERT_EQ(url.servers.size(), 2u);
  EXPECT_EQ(url.servers[0].host, "::1");
  EXPECT_EQ(url.servers[0].port, 9093);
  EXPECT_EQ(url.servers[1].host, "fe80::1");
  EXPECT_EQ(url.servers[1].port, 9092);
  EXPECT_EQ(url.bootstrap_servers(), "[::1]:9093,[fe80::1]:9092");
}

TEST(BrokerUrlTest, MemoryHasNoServers) {
  const BrokerUrl url = parse_ok("memory://");
  EXPECT_EQ(url.scheme, "memory");
  EXPECT_TRUE(url.servers.empty());
  EXPECT_EQ(url.bootstrap_servers(), "");
}

TEST(BrokerUrlTest, Errors) {
  EXPECT_EQ(parse_error("kafka://"), "broker URL 'kafka://': no host");
  EXPECT_EQ(parse_error("kafka://   "), "broker URL 'kafka://   ': no host");
  EXPECT_EQ(parse_error("http://h:1"),
            "broker URL 'http://h:1': unsupported scheme 'http' (expected kafka:// or memory://)");
  EXPECT_EQ(parse_error("localhost:9092"),
            "broker URL 'localhost:9092': missing scheme (expected kafka:// or memory://)");
  EXPECT_EQ(parse_error(""), "broker URL '': empty (expected kafka://host:port or memory://)");
  EXPECT_EQ(parse_error("kafka://h:x"), "broker URL 'kafka://h:x': bad port 'x' (expected 1..65535)");
  EXPECT_EQ(parse_error("kafka://h:"), "broker URL 'kafka://h:': bad port '' (expected 1..65535)");
  EXPECT_EQ(parse_error("kafka://h:0"), "broker URL 'kafka://h:0': bad port '0' (expected 1..65535)");
  EXPECT_EQ(parse_error("kafka://h:65536"),
            "broker URL 'kafka://h:65536': bad port '65536' (expected 1..65535)");
  EXPECT_EQ(parse_error("kafka://h:9092/"),
            "broker URL 'kafka://h:9092/': bad port '9092/' (expected 1..65535)");
  EXPECT_EQ(parse_error("kafka://:9092"), "broker URL 'kafka://:9092': no host in ':9092'");
  EXPECT_EQ(parse_error("kafka://a;;b"), "broker URL 'kafka://a;;b': empty server entry");
  EXPECT_EQ(parse_error("kafka://a;"), "broker URL 'kafka://a;': empty server entry");
  EXPECT_EQ(parse_error("kafka://user@h"), "broker URL 'kafka://user@h': bad host 'user@h'");
  EXPECT_EQ(parse_error("kafka://::1"),
            "broker URL 'kafka://::1': IPv6 address '::1' must be in brackets, e.g. '[::1]:9092'");
  EXPECT_EQ(parse_error("kafka://[::1"), "broker URL 'kafka://[::1': missing ']' in '[::1'");
  EXPECT_EQ(parse_error("kafka://[::1]x"), "broker URL 'kafka://[::1]x': unexpected 'x' after ']'");
  EXPECT_EQ(parse_error("kafka://[]:1"), "broker URL 'kafka://[]:1': bad IPv6 address ''");
  EXPECT_EQ(parse_error("memory://x"), "broker URL 'memory://x': memory:// takes no servers");
}

}  // namespace
}  // namespace faust

namespace faust {
namespace {

// Found by fuzz_broker_url: control characters are escaped so the message stays one line.
TEST(BrokerUrlTest, ControlCharactersAreEscapedInErrors) {
  auto result = parse_broker_url("kafka://a\nb:1");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().message, "broker URL 'kafka://a\\nb:1': bad host 'a\\nb'");
}

}  // namespace
}  // namespace faust
