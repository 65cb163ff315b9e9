#include "web/request_handling.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <cstdint>
#include <exception>
#include <nlohmann/json.hpp>
#include <utility>

namespace faust {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

constexpr std::string_view kServerName = "faust-host/" FAUST_HOST_VERSION;
constexpr std::string_view kJsonContentType = "application/json";
// Room beyond the head and body limits for the bytes of a pipelined next request.
constexpr std::size_t kReadBufferSlack = 4096;

// Boost 1.74 Beast takes boost::string_view.
beast::string_view to_beast(std::string_view text) { return {text.data(), text.size()}; }

std::string error_json(std::string_view message) {
  return nlohmann::json{{"error", std::string(message)}}.dump();
}

WireResponse make_response(unsigned status, std::string_view content_type, std::string body, unsigned version,
                           bool keep_alive, bool head_only) {
  WireResponse response;
  response.version(version);
  response.result(status);
  response.set(http::field::server, to_beast(kServerName));
  response.set(http::field::content_type, to_beast(content_type));
  response.keep_alive(keep_alive);
  // HEAD answers the same Content-Length as GET would, without the body.
  response.content_length(body.size());
  if (!head_only) response.body() = std::move(body);
  return response;
}

HttpResponse internal_error() {
  return HttpResponse{500, std::string(kJsonContentType), error_json("internal error")};
}

HttpResponse run_handler(const Router& router, std::string_view target) {
  const HttpHandler* handler = router.find(target);
  if (handler == nullptr) {
    nlohmann::json body{{"error", "not found"}, {"path", std::string(Router::normalize(target))}};
    // Targets are client bytes: replace invalid UTF-8 rather than throw.
    return HttpResponse{404, std::string(kJsonContentType),
                        body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)};
  }
  try {
    HttpResponse answer = (*handler)();
    if (answer.status < 100 || answer.status > 599) {
      spdlog::error("web: handler for {} returned invalid status {}", Router::normalize(target),
                    answer.status);
      return internal_error();
    }
    return answer;
  } catch (const std::exception& e) {
    // A failing status page must not take the worker down.
    spdlog::error("web: handler for {} failed: {}", Router::normalize(target), e.what());
    return internal_error();
  } catch (...) {
    spdlog::error("web: handler for {} failed", Router::normalize(target));
    return internal_error();
  }
}

// A SyncReadStream over bytes already received; once they are used up it reports that the
// client closed its sending side, as a socket would.
class ReceivedBytes {
 public:
  explicit ReceivedBytes(std::string_view bytes) : unread_(bytes) {}

  template <typename MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers, beast::error_code& error) {
    if (unread_.empty()) {
      error = asio::error::eof;
      return 0;
    }
    error = {};
    const std::size_t copied = asio::buffer_copy(buffers, asio::const_buffer(unread_.data(), unread_.size()));
    unread_.remove_prefix(copied);
    return copied;
  }

  template <typename MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers) {
    beast::error_code error;
    const std::size_t copied = read_some(buffers, error);
    if (error) throw beast::system_error(error);
    return copied;
  }

 private:
  std::string_view unread_;
};

}  // namespace

void limit_request_parser(RequestParser& parser, const WebLimits& limits) {
  parser.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(limits.max_header_bytes, UINT32_MAX)));
  parser.body_limit(static_cast<std::uint64_t>(limits.max_body_bytes));
}

std::size_t request_buffer_bytes(const WebLimits& limits) {
  return limits.max_header_bytes + limits.max_body_bytes + kReadBufferSlack;
}

WireResponse respond_to_request(const Router& router, const WireRequest& request) {
  const bool head_only = request.method() == http::verb::head;
  if (request.method() != http::verb::get && !head_only) {
    WireResponse response = make_response(405, kJsonContentType, error_json("method not allowed"),
                                          request.version(), request.keep_alive(), false);
    response.set(http::field::allow, "GET, HEAD");
    return response;
  }
  const std::string_view target(request.target().data(), request.target().size());
  return respond_with(request, run_handler(router, target));
}

WireResponse respond_with(const WireRequest& request, HttpResponse answer) {
  return make_response(static_cast<unsigned>(answer.status), answer.content_type, std::move(answer.body),
                       request.version(), request.keep_alive(), request.method() == http::verb::head);
}

std::optional<WireResponse> respond_to_read_error(const beast::error_code& error) {
  const auto error_response = [](unsigned status, std::string_view message) {
    return make_response(status, kJsonContentType, error_json(message), 11, false, false);
  };
  if (error == http::error::header_limit || error == http::error::buffer_overflow) {
    return error_response(431, "request header too large");
  }
  if (error == http::error::body_limit) return error_response(413, "request body too large");
  if (error == http::error::end_of_stream || error == http::error::partial_message ||
      error.category() != http::make_error_code(http::error::bad_method).category()) {
    // Client went away, timed out (the stream already closed the socket) or the server stops.
    return std::nullopt;
  }
  return error_response(400, "bad request");
}

std::string connection_limit_response() {
  const std::string body = error_json("too many connections");
  return "HTTP/1.1 503 Service Unavailable\r\nServer: " + std::string(kServerName) +
         "\r\nContent-Type: " + std::string(kJsonContentType) +
         "\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nRetry-After: 1\r\nConnection: close\r\n\r\n" + body;
}

std::vector<WireResponse> respond_to_connection_bytes(const Router& router, const WebLimits& limits,
                                                      std::string_view bytes) {
  std::vector<WireResponse> responses;
  ReceivedBytes stream(bytes);
  // One buffer for the whole connection, as on a socket: a pipelined request's first bytes may
  // already be in it when the previous request is answered.
  beast::flat_buffer buffer(request_buffer_bytes(limits));
  while (true) {
    RequestParser parser;
    limit_request_parser(parser, limits);
    beast::error_code error;
    http::read(stream, buffer, parser, error);
    if (error) {
      if (auto response = respond_to_read_error(error)) responses.push_back(std::move(*response));
      return responses;
    }
    responses.push_back(respond_to_request(router, parser.get()));
    if (!responses.back().keep_alive()) return responses;
  }
}

}  // namespace faust
