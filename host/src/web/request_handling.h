#pragma once

// The web port's request path without sockets: the parser limits, the answer to a request and to
// a request that could not be read. WebServer runs these on its connections; tests and the fuzz
// targets run them on bytes.

#include <boost/beast/core/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "web/router.h"
#include "web/web_server.h"

namespace faust {

// The HTTP messages as the server reads and writes them.
using WireRequest = boost::beast::http::request<boost::beast::http::string_body>;
using WireResponse = boost::beast::http::response<boost::beast::http::string_body>;
using RequestParser = boost::beast::http::request_parser<boost::beast::http::string_body>;

// Sets the server's bounds on a fresh parser: request heads over limits.max_header_bytes and
// bodies over limits.max_body_bytes fail the read.
void limit_request_parser(RequestParser& parser, const WebLimits& limits);

// The read buffer size of a connection: room for a full request head plus body, so the parser's
// own limits trip before the buffer overflows.
std::size_t request_buffer_bytes(const WebLimits& limits);

// The answer to a request read whole: 405 (with Allow: GET, HEAD) for other methods, 404 for
// unknown paths, else the route's answer (500 if the handler throws or returns a status outside
// 100..599). HEAD gets GET's headers and Content-Length without the body.
WireResponse respond_to_request(const Router& router, const WireRequest& request);

// The answer a route gave, as the response to `request` (HEAD: the headers without the body).
WireResponse respond_with(const WireRequest& request, HttpResponse answer);

// The answer to a failed read: 431 for a head over the limit, 413 for a body over the limit, 400
// for a malformed request; nullopt when there is nobody to answer (the client closed or timed
// out, or the server stops) and the connection is just closed. Error answers close the connection.
std::optional<WireResponse> respond_to_read_error(const boost::beast::error_code& error);

// The whole response (head and body) written to a connection refused because the server already
// has max_connections open: 503 with Retry-After, then the connection is closed.
std::string connection_limit_response();

// What the server answers on one connection whose client sent `bytes` and then closed its
// sending side: requests are read with the server's limits and answered in turn until an answer
// closes the connection or the bytes run out.
std::vector<WireResponse> respond_to_connection_bytes(const Router& router, const WebLimits& limits,
                                                      std::string_view bytes);

}  // namespace faust
