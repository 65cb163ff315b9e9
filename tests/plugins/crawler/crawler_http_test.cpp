// The crawler's HTTP client (libcurl) against local servers: plain HTTP and HTTPS with a CA made
// for the test run, compressed bodies, redirects, conditional requests, Retry-After, the address
// checks, and hostile servers (huge, slow, silent, bombs, loops). Only 127.0.0.0/8 is contacted.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "feed_server.h"
#include "http_fetch.hpp"

namespace crawler {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using testing::FeedServer;

// The tests' servers are on loopback, which the client refuses by default.
FetchLimits local_limits() {
  FetchLimits limits;
  limits.allow_private_addresses = true;
  limits.timeout = 2s;
  return limits;
}

class CrawlerHttp : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { certificates_ = new testing::TestCertificates(testing::make_test_certificates()); }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(certificates_->dir);
    delete certificates_;
  }
  static FetchLimits tls_limits() {
    FetchLimits limits = local_limits();
    limits.ca_file = certificates_->ca_file;
    return limits;
  }

  static testing::TestCertificates* certificates_;
  FeedServer server_;
};
testing::TestCertificates* CrawlerHttp::certificates_ = nullptr;

TEST_F(CrawlerHttp, GetsTheBodyAndNamesTheAppInTheUserAgent) {
  server_.set("/feed.xml", FeedServer::ok("<rss/>"));
  const FetchResult result = http_get(server_.url("/feed.xml"), local_limits());
  EXPECT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.status, 200);
  EXPECT_EQ(result.body, "<rss/>");
  EXPECT_THAT(server_.last_headers("/feed.xml")["user-agent"], HasSubstr("faust-host-crawler/"));
}

TEST_F(CrawlerHttp, AnHttpErrorStatusIsAnError) {
  const FetchResult result = http_get(server_.url("/missing.xml"), local_limits());
  EXPECT_EQ(result.error, "HTTP 404 Not Found");
  EXPECT_EQ(result.status, 404);
}

TEST_F(CrawlerHttp, GetsFeedsOverHttpsTrustingTheConfiguredCa) {
  FeedServer secure(*certificates_);
  secure.set("/feed.xml", FeedServer::ok("<rss/>"));
  const FetchResult result = http_get(secure.url("/feed.xml"), tls_limits());
  EXPECT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.body, "<rss/>");
  // The system's store does not hold the test CA.
  const FetchResult untrusted = http_get(secure.url("/feed.xml"), local_limits());
  EXPECT_THAT(untrusted.error, HasSubstr("certificate"));
}

TEST_F(CrawlerHttp, DecodesCompressedBodies) {
  const std::string feed = "<rss>" + std::string(10000, 'x') + "</rss>";
  FeedServer::Response response = FeedServer::ok(feed);
  response.content_encoding = "gzip";
  server_.set("/feed.xml", response);
  const FetchResult result = http_get(server_.url("/feed.xml"), local_limits());
  EXPECT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.body, feed);
  const std::string accepted = server_.last_headers("/feed.xml")["accept-encoding"];
  EXPECT_THAT(accepted, HasSubstr("gzip"));
  EXPECT_THAT(accepted, HasSubstr("deflate"));
  EXPECT_THAT(accepted, HasSubstr("br"));
}

TEST_F(CrawlerHttp, FollowsRedirectsFromHttpToHttps) {
  FeedServer secure(*certificates_);
  secure.set("/feed.xml", FeedServer::ok("<feed/>"));
  server_.set("/feed.xml", FeedServer::redirect(301, secure.url("/feed.xml")));
  const FetchResult result = http_get(server_.url("/feed.xml"), tls_limits());
  EXPECT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.body, "<feed/>");
  EXPECT_EQ(result.final_url, secure.url("/feed.xml"));
}

TEST_F(CrawlerHttp, FollowsRedirectsUpToTheLimitAndOnlyToHttpOrHttps) {
  server_.set("/old", FeedServer::redirect(301, "/new"));
  server_.set("/new", FeedServer::redirect(302, server_.url("/feed.xml")));
  server_.set("/feed.xml", FeedServer::ok("<feed/>"));
  FetchResult result = http_get(server_.url("/old"), local_limits());
  EXPECT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.body, "<feed/>");
  EXPECT_EQ(result.final_url, server_.url("/feed.xml"));

  FetchLimits one = local_limits();
  one.max_redirects = 1;
  EXPECT_EQ(http_get(server_.url("/old"), one).error, "more than 1 redirects");
  server_.set("/loop", FeedServer::redirect(302, "/loop"));
  EXPECT_EQ(http_get(server_.url("/loop"), local_limits()).error, "more than 3 redirects");
  server_.set("/file", FeedServer::redirect(302, "file:///etc/passwd"));
  EXPECT_EQ(http_get(server_.url("/file"), local_limits()).error,
            "redirect to a URL that is not http:// or https://: file:///etc/passwd");
  server_.set("/ftp", FeedServer::redirect(302, "ftp://127.0.0.1/feed"));
  EXPECT_EQ(http_get(server_.url("/ftp"), local_limits()).error,
            "redirect to a URL that is not http:// or https://: ftp://127.0.0.1/feed");
}

TEST_F(CrawlerHttp, ConditionalRequestsGetA304WithNothingNew) {
  FeedServer::Response response = FeedServer::ok("<rss/>");
  response.etag = "\"v1\"";
  response.last_modified = "Mon, 02 Jan 2006 15:04:05 GMT";
  server_.set("/feed.xml", response);
  HttpClient client(local_limits());
  const FetchResult first = client.get(server_.url("/feed.xml"));
  ASSERT_TRUE(first.ok()) << first.error;
  EXPECT_FALSE(first.not_modified);
  EXPECT_EQ(first.validators.etag, "\"v1\"");
  EXPECT_EQ(first.validators.last_modified, "Mon, 02 Jan 2006 15:04:05 GMT");

  const FetchResult second = client.get(server_.url("/feed.xml"), first.validators);
  EXPECT_TRUE(second.ok()) << second.error;
  EXPECT_TRUE(second.not_modified);
  EXPECT_EQ(second.status, 304);
  EXPECT_EQ(second.body, "");
  EXPECT_EQ(server_.last_headers("/feed.xml")["if-none-match"], "\"v1\"");
  EXPECT_EQ(server_.last_headers("/feed.xml")["if-modified-since"], "Mon, 02 Jan 2006 15:04:05 GMT");
}

TEST_F(CrawlerHttp, ReadsRetryAfterInSecondsAndAsADate) {
  FeedServer::Response busy;
  busy.status = 503;
  busy.retry_after = "120";
  server_.set("/busy.xml", busy);
  FetchResult result = http_get(server_.url("/busy.xml"), local_limits());
  EXPECT_EQ(result.error, "HTTP 503 Service Unavailable");
  ASSERT_TRUE(result.retry_after);
  EXPECT_EQ(*result.retry_after, 120s);

  busy.status = 429;
  busy.retry_after = "Fri, 31 Dec 2099 23:59:59 GMT";
  server_.set("/busy.xml", busy);
  result = http_get(server_.url("/busy.xml"), local_limits());
  EXPECT_EQ(result.error, "HTTP 429 Too Many Requests");
  ASSERT_TRUE(result.retry_after);
  EXPECT_GT(*result.retry_after, 24h * 365 * 50);
}

TEST_F(CrawlerHttp, RefusesNonPublicAddressesByDefault) {
  server_.set("/feed.xml", FeedServer::ok("<rss/>"));
  FetchLimits limits;
  EXPECT_EQ(http_get(server_.url("/feed.xml"), limits).error,
            "refused to connect to the non-public address 127.0.0.1 (allow_private_addresses is off)");
  EXPECT_EQ(server_.requests("/feed.xml"), 0);
  // A name is checked after it resolves.
  EXPECT_THAT(http_get("http://localhost:" + std::to_string(server_.port()) + "/feed.xml", limits).error,
              HasSubstr("refused to connect to the non-public address"));
  EXPECT_EQ(server_.requests("/feed.xml"), 0);
  limits.allowed_addresses = {"127.0.0.1"};
  EXPECT_TRUE(http_get(server_.url("/feed.xml"), limits).ok());
}

TEST_F(CrawlerHttp, RefusesARedirectToANonPublicAddress) {
  // The first server's address is allowed; a redirect to another loopback address is not.
  FeedServer internal(std::nullopt, "127.0.0.2");
  internal.set("/secret", FeedServer::ok("secret"));
  server_.set("/feed.xml", FeedServer::redirect(302, internal.url("/secret")));
  FetchLimits limits;
  limits.allowed_addresses = {"127.0.0.1"};
  EXPECT_EQ(http_get(server_.url("/feed.xml"), limits).error,
            "refused to connect to the non-public address 127.0.0.2 (allow_private_addresses is off)");
  EXPECT_EQ(internal.requests("/secret"), 0);
}

TEST(CrawlerAddresses, KnowsWhichAddressesAreNotPublic) {
  for (const char* address : {"127.0.0.1", "127.255.0.9", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
                              "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "::",
                              "fe80::1", "fd00::7", "fc00::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
                              "not an address"}) {
    EXPECT_TRUE(is_non_public_address(address)) << address;
  }
  for (const char* address : {"8.8.8.8", "1.1.1.1", "172.32.0.1", "192.169.0.1", "100.128.0.1", "2001:db9::1",
                              "2a00:1450:4001::1", "::ffff:8.8.8.8"}) {
    EXPECT_FALSE(is_non_public_address(address)) << address;
  }
}

// ---- hostile servers ----

TEST_F(CrawlerHttp, ABodyOverTheCapIsAnError) {
  server_.set("/big.xml", FeedServer::ok(std::string(5000, 'x')));
  FetchLimits limits = local_limits();
  limits.max_body_bytes = 4096;
  EXPECT_EQ(http_get(server_.url("/big.xml"), limits).error, "body larger than 4096 bytes");
}

TEST_F(CrawlerHttp, ACompressionBombStopsAtTheCap) {
  // 64 MiB of zeros, about 64 KiB compressed: the cap applies to the decoded body.
  FeedServer::Response bomb = FeedServer::ok(std::string(64u << 20, '\0'));
  bomb.content_encoding = "gzip";
  server_.set("/bomb.xml", bomb);
  FetchLimits limits = local_limits();
  limits.max_body_bytes = 1u << 20;
  EXPECT_EQ(http_get(server_.url("/bomb.xml"), limits).error, "body larger than 1048576 bytes");
}

// The fetch gives up at its deadline, whatever the server does meanwhile.
void expect_timeout_at_300_ms(const std::string& url, FetchLimits limits) {
  limits.timeout = 300ms;
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(http_get(url, limits).error, "timed out after 300 ms");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
}

TEST_F(CrawlerHttp, ASlowServerTimesOut) {
  server_.set("/slow.xml", FeedServer::ok("<feed/>", 3s));
  expect_timeout_at_300_ms(server_.url("/slow.xml"), local_limits());
}

TEST_F(CrawlerHttp, AServerThatNeverAnswersTimesOutOverHttpsToo) {
  FeedServer secure(*certificates_);
  secure.set("/silent.xml", FeedServer::ok("<feed/>", 1h));
  expect_timeout_at_300_ms(secure.url("/silent.xml"), tls_limits());
}

TEST(CrawlerHttpUnreachable, ARefusedConnectionIsAnError) {
  const std::string port = std::to_string(testing::closed_port());
  EXPECT_THAT(http_get("http://127.0.0.1:" + port + "/feed.xml", local_limits()).error,
              HasSubstr("Failed to connect to 127.0.0.1 port " + port));
}

}  // namespace
}  // namespace crawler
