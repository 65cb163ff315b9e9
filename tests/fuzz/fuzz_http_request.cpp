// The web port reads whatever a client sends. Any bytes on a connection must get answers with
// the statuses the server documents (or a silent close), never a crash, hang or leak. This runs
// the server's own request path (web/request_handling.h) without sockets.

#include <spdlog/spdlog.h>

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "web/request_handling.h"
#include "web/router.h"
#include "web/web_server.h"

namespace {

namespace http = boost::beast::http;
using faust::fuzz::require;

// Routes like the worker's status pages, plus handlers that fail the ways a handler can.
faust::Router make_router() {
  faust::Router router;
  router.add("/", [] { return faust::HttpResponse{200, "application/json", R"({"status":"OK"})"}; });
  router.add("/livez", [] { return faust::HttpResponse{200, "application/json", R"({"status":"alive"})"}; });
  router.add("/readyz", [] { return faust::HttpResponse{503, "application/json", R"({"ready":false})"}; });
  router.add("/metrics", [] { return faust::HttpResponse{200, "text/plain; version=0.0.4", "up 1\n"}; });
  router.add("/throws", []() -> faust::HttpResponse { throw std::runtime_error("handler failed"); });
  router.add("/bad-status", [] { return faust::HttpResponse{42, "application/json", "{}"}; });
  return router;
}

bool is_documented_status(unsigned status) {
  switch (status) {
    case 200:
    case 400:
    case 404:
    case 405:
    case 413:
    case 431:
    case 500:
    case 503:
      return true;
    default:
      return false;
  }
}

// The bytes the server writes for a response, read back by a client's parser.
void check_wire_form(const faust::WireResponse& response) {
  std::ostringstream wire;
  wire << response;
  require(static_cast<bool>(wire), "the response serializes");
  const std::string text = wire.str();

  http::response_parser<http::string_body> client;
  client.eager(true);
  // A HEAD answer carries GET's Content-Length but no body.
  client.skip(response.body().empty() && response.has_content_length());
  boost::beast::error_code error;
  const std::size_t used = client.put(boost::asio::buffer(text), error);
  require(!error && client.is_done() && used == text.size(), "a client parses the response whole", text);
  require(client.get().result_int() == response.result_int(), "the client reads the same status", text);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  // The failing handlers log each call; that output would drown libFuzzer's own.
  spdlog::set_level(spdlog::level::off);

  // The refusal written to connections over the cap must itself be a valid 503.
  const std::string refusal = faust::connection_limit_response();
  http::response_parser<http::string_body> client;
  client.eager(true);
  boost::beast::error_code error;
  client.put(boost::asio::buffer(refusal), error);
  require(!error && client.is_done() && client.get().result_int() == 503 && !client.get().keep_alive(),
          "the connection-limit response is a complete 503 that closes", refusal);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const faust::Router router = make_router();
  const faust::WebLimits limits;  // the server's defaults
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);

  const std::vector<faust::WireResponse> responses =
      faust::respond_to_connection_bytes(router, limits, bytes);
  // Every complete request takes at least "GET / HTTP/1.1\r\n\r\n"-like bytes (a method, a
  // target, a version); there can never be more answers than that allows.
  require(responses.size() <= size / 16 + 1, "no more answers than requests");
  for (std::size_t i = 0; i < responses.size(); ++i) {
    const faust::WireResponse& response = responses[i];
    const unsigned status = response.result_int();
    require(is_documented_status(status), "the status is one the server documents", std::to_string(status));
    require(i + 1 == responses.size() || response.keep_alive(), "only the last answer closes the connection");
    require(response.has_content_length(), "every answer has a Content-Length");
    if (status == 405) {
      require(response[http::field::allow] == "GET, HEAD", "405 says Allow: GET, HEAD");
    }
    if (status == 400 || status == 413 || status == 431) {
      require(!response.keep_alive() && i + 1 == responses.size(), "read errors close the connection");
    }
    check_wire_form(response);
  }
  return 0;
}
