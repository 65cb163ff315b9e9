#include "http_fetch.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>

namespace crawler {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kScheme = "http://";

struct Answer {
  std::string error;  // empty: an HTTP answer came (status and the rest are set)
  unsigned status = 0;
  std::string reason;
  std::string location;
  std::string body;
};

std::string milliseconds_text(std::chrono::milliseconds value) { return std::to_string(value.count()) + " ms"; }

// One request and its answer, within `deadline`.
Answer fetch_once(const HttpUrl& url, Clock::time_point deadline, const FetchLimits& limits) {
  asio::io_context io;
  tcp::resolver resolver(io);
  beast::tcp_stream stream(io);
  beast::flat_buffer buffer;
  http::request<http::empty_body> request{http::verb::get, url.target, 11};
  const bool ipv6 = url.host.find(':') != std::string::npos;
  std::string host_header = ipv6 ? "[" + url.host + "]" : url.host;
  if (url.port != 80) host_header += ":" + std::to_string(url.port);
  request.set(http::field::host, host_header);
  request.set(http::field::user_agent, limits.user_agent);
  request.set(http::field::accept, "application/rss+xml, application/atom+xml, application/xml, text/xml, */*;q=0.1");
  request.set(http::field::connection, "close");
  http::response_parser<http::string_body> parser;
  parser.body_limit(limits.max_body_bytes);
  parser.header_limit(64 * 1024);

  Answer answer;
  bool finished = false;
  const auto fail = [&](const char* stage, const beast::error_code& error) {
    finished = true;
    if (error == beast::error::timeout) {
      answer.error = "timed out after " + milliseconds_text(limits.timeout) + " (" + stage + ")";
    } else if (error == http::error::body_limit) {
      answer.error = "body larger than " + std::to_string(limits.max_body_bytes) + " bytes";
    } else {
      answer.error = std::string(stage) + ": " + error.message();
    }
  };

  resolver.async_resolve(url.host, std::to_string(url.port), [&](const beast::error_code& resolved,
                                                                 const tcp::resolver::results_type& endpoints) {
    if (resolved) return fail("resolve", resolved);
    stream.expires_at(deadline);
    stream.async_connect(endpoints, [&](const beast::error_code& connected, const tcp::endpoint&) {
      if (connected) return fail("connect", connected);
      http::async_write(stream, request, [&](const beast::error_code& written, std::size_t) {
        if (written) return fail("send request", written);
        http::async_read_header(stream, buffer, parser, [&](const beast::error_code& head, std::size_t) {
          if (head) return fail("read response", head);
          // Boost 1.74's parser does not apply body_limit to a Content-Length it reads together
          // with the header (it does to chunked and read-to-end bodies): check it here.
          if (const auto length = parser.content_length(); length && *length > limits.max_body_bytes) {
            return fail("read response", http::error::body_limit);
          }
          http::async_read(stream, buffer, parser, [&](const beast::error_code& read, std::size_t) {
            if (read) return fail("read response", read);
            finished = true;
            auto& response = parser.get();
            answer.status = response.result_int();
            answer.reason = std::string(response.reason());
            if (const auto location = response.find(http::field::location); location != response.end()) {
              answer.location = std::string(location->value());
            }
            answer.body = std::move(response.body());
          });
        });
      });
    });
  });

  // tcp_stream's expiry bounds connect, write and read; this bounds name resolution too.
  io.run_until(deadline + std::chrono::milliseconds(50));
  if (!finished) {
    answer.error = "timed out after " + milliseconds_text(limits.timeout);
    resolver.cancel();
    beast::error_code ignored;
    stream.socket().close(ignored);
  }
  return answer;
}

// Where a Location header points, relative to the URL that answered.
std::optional<std::string> redirect_target(const HttpUrl& from, std::string_view location, std::string& problem) {
  if (location.substr(0, kScheme.size()) == kScheme) return std::string(location);
  if (location.find("://") != std::string_view::npos) {
    problem = "redirect to a URL that is not http://: " + std::string(location);
    return std::nullopt;
  }
  const std::string authority =
      (from.host.find(':') != std::string::npos ? "[" + from.host + "]" : from.host) + ":" + std::to_string(from.port);
  if (location.substr(0, 2) == "//") return "http:" + std::string(location);
  if (!location.empty() && location.front() == '/') return std::string(kScheme) + authority + std::string(location);
  std::string base = from.target.substr(0, from.target.find('?'));
  base = base.substr(0, base.rfind('/') + 1);
  return std::string(kScheme) + authority + base + std::string(location);
}

bool is_redirect(unsigned status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

}  // namespace

std::optional<HttpUrl> parse_http_url(std::string_view url, std::string& problem) {
  if (url.substr(0, kScheme.size()) != kScheme) {
    problem = "not an http:// URL: " + std::string(url);
    return std::nullopt;
  }
  std::string_view rest = url.substr(kScheme.size());
  rest = rest.substr(0, rest.find('#'));
  const std::size_t path_start = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, path_start);
  HttpUrl out;
  out.target = path_start == std::string_view::npos ? "/" : std::string(rest.substr(path_start));
  if (out.target.front() == '?') out.target.insert(0, "/");
  if (authority.find('@') != std::string_view::npos) {
    problem = "URLs with user information are not supported";
    return std::nullopt;
  }
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      problem = "unclosed IPv6 address in " + std::string(url);
      return std::nullopt;
    }
    out.host = std::string(authority.substr(1, close - 1));
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        problem = "bad authority in " + std::string(url);
        return std::nullopt;
      }
      port_text = after.substr(1);
    }
  } else {
    const std::size_t colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (out.host.empty()) {
    problem = "no host in " + std::string(url);
    return std::nullopt;
  }
  if (!port_text.empty()) {
    unsigned port = 0;
    const auto [end, error] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (error != std::errc() || end != port_text.data() + port_text.size() || port == 0 || port > 65535) {
      problem = "bad port in " + std::string(url);
      return std::nullopt;
    }
    out.port = static_cast<std::uint16_t>(port);
  }
  return out;
}

FetchResult http_get(std::string_view url, const FetchLimits& limits) {
  FetchResult result;
  result.final_url = std::string(url);
  const Clock::time_point deadline = Clock::now() + limits.timeout;
  for (int redirects = 0;; ++redirects) {
    std::optional<HttpUrl> parsed = parse_http_url(result.final_url, result.error);
    if (!parsed) return result;
    Answer answer = fetch_once(*parsed, deadline, limits);
    if (!answer.error.empty()) {
      result.error = std::move(answer.error);
      return result;
    }
    if (answer.status == 200) {
      result.body = std::move(answer.body);
      return result;
    }
    if (is_redirect(answer.status) && !answer.location.empty()) {
      if (redirects >= limits.max_redirects) {
        result.error = "more than " + std::to_string(limits.max_redirects) + " redirects";
        return result;
      }
      std::optional<std::string> next = redirect_target(*parsed, answer.location, result.error);
      if (!next) return result;
      result.final_url = std::move(*next);
      continue;
    }
    result.error = "HTTP " + std::to_string(answer.status) + (answer.reason.empty() ? "" : " " + answer.reason);
    return result;
  }
}

}  // namespace crawler
