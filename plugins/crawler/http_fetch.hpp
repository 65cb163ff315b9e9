// A small HTTP/1.1 GET client for feeds (Boost.Beast): plain http only, a deadline for the whole
// fetch (resolve, connect, request, response, redirects), a cap on the body, a few redirects.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace crawler {

struct HttpUrl {
  std::string host;  // without brackets for IPv6 literals
  std::uint16_t port = 80;
  std::string target;  // path and query, at least "/"
};

// nullopt with `problem` set unless `url` is http://host[:port][/path][?query] (the fragment is
// dropped).
std::optional<HttpUrl> parse_http_url(std::string_view url, std::string& problem);

struct FetchLimits {
  std::chrono::milliseconds timeout{10000};
  std::size_t max_body_bytes = 4u << 20;
  int max_redirects = 3;
  std::string user_agent = "faust-host-crawler/1.0";
};

struct FetchResult {
  // Empty on success; otherwise what went wrong, for the log ("timed out after 10000 ms",
  // "HTTP 404 Not Found", "body larger than 4194304 bytes", "resolve: Host not found ...").
  std::string error;
  std::string body;
  std::string final_url;  // after redirects
  bool ok() const { return error.empty(); }
};

// GETs `url`, following 301/302/303/307/308 to http:// locations at most max_redirects times.
// Success is a 200 answer within the limits. Never throws for network or HTTP errors.
FetchResult http_get(std::string_view url, const FetchLimits& limits);

}  // namespace crawler
