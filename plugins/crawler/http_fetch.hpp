// Fetching feeds over HTTP and HTTPS with libcurl: the system's CA store (or a CA file), HTTP/2
// where the server offers it, compressed bodies, redirects to http/https only and at most
// max_redirects, a deadline for the whole fetch, a cap on the (decoded) body, conditional
// requests, HTTPS_PROXY/NO_PROXY from the environment, and by default no connection to a
// loopback, link-local or private address (checked on every connection libcurl opens, so after
// DNS resolution and after every redirect).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace crawler {

struct FetchLimits {
  std::chrono::milliseconds timeout{10000};
  std::size_t max_body_bytes = 4u << 20;
  int max_redirects = 3;
  std::string user_agent = "faust-host-crawler/2.0";
  // PEM file of CAs to trust instead of the system store; empty: the system store.
  std::string ca_file;
  // Whether loopback, link-local, private and other non-public addresses may be connected to.
  bool allow_private_addresses = false;
  // Non-public addresses allowed even when allow_private_addresses is off ("10.1.2.3", "::1").
  std::vector<std::string> allowed_addresses;
};

// What a conditional request sends: the validators of the previous 200 answer.
struct Validators {
  std::string etag;           // sent as If-None-Match
  std::string last_modified;  // sent as If-Modified-Since
};

struct FetchResult {
  // Empty on success (a 200 or a 304); otherwise what went wrong, for the log ("timed out after
  // 10000 ms", "HTTP 404 Not Found", "body larger than 4194304 bytes", ...).
  std::string error;
  long status = 0;            // the last HTTP status, 0 when none came
  bool not_modified = false;  // a 304: the feed has not changed since the validators
  std::string body;
  std::string final_url;  // after redirects
  Validators validators;  // of this answer (empty when it sent none)
  // The server's Retry-After, when it sent one (seconds or an HTTP date).
  std::optional<std::chrono::seconds> retry_after;
  bool ok() const { return error.empty(); }
};

// Whether `address` (an IPv4 or IPv6 literal) is loopback, link-local, private (RFC 1918, unique
// local), carrier-grade NAT, multicast, unspecified or reserved; unparsable text counts as
// non-public.
bool is_non_public_address(std::string_view address);

// One libcurl handle: reusing it keeps connections (and TLS sessions) to a host alive between
// fetches. Not thread-safe: one per crawl agent instance.
class HttpClient {
 public:
  explicit HttpClient(FetchLimits limits);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // GETs `url` (http:// or https://). Never throws for network or HTTP errors.
  FetchResult get(std::string_view url, const Validators& validators = {});

 private:
  struct Handle;
  FetchLimits limits_;
  std::unique_ptr<Handle> handle_;
};

// A fetch with a client of its own.
FetchResult http_get(std::string_view url, const FetchLimits& limits, const Validators& validators = {});

}  // namespace crawler
