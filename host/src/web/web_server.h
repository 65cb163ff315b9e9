#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/result.h"
#include "web/router.h"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace faust {

class PluginPages;

namespace web_detail {
struct ServerState;
}  // namespace web_detail

// Bounds on what one client may cost the worker; the web port must never stall the worker.
struct WebLimits {
  std::size_t max_header_bytes = 8 * 1024;  // larger request heads get 431
  std::size_t max_body_bytes = 1024;        // GET/HEAD carry no body; larger bodies get 413
  std::chrono::milliseconds request_read_timeout{std::chrono::seconds(5)};  // whole request
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(15)};         // keep-alive between requests
  // At the cap a new connection closes the oldest idle one (no request in progress); when none is
  // idle it gets 503 and is closed.
  std::size_t max_connections = 64;
  // How long a plugin page may take before its client gets 503 (the manifest's web.page_timeout).
  std::chrono::milliseconds page_timeout{std::chrono::seconds(5)};
};

struct WebServerOptions {
  std::string bind_address = "127.0.0.1";  // an IPv4/IPv6 address or "localhost"
  std::uint16_t port = 6066;               // 0 picks a free port; see WebServer::port()
  WebLimits limits;
};

// A read-only HTTP/1.1 server (GET and HEAD) on the worker's io_context, with no threads of its
// own. The io_context must be run by a single thread; call start() before running it or on its
// thread. Unknown paths get 404, other methods 405, malformed requests 400; all errors are JSON.
//
// GET/HEAD /plugins/<plugin>/<path> are answered by `pages` (when given) without blocking the
// io_context: the handler runs on the pages' threads and its client gets 503 when it has not
// answered within limits.page_timeout. `pages` must outlive the server and be destroyed before
// the io_context (its threads post answers to it).
class WebServer {
 public:
  WebServer(boost::asio::io_context& io, WebServerOptions options, Router router, PluginPages* pages = nullptr);
  ~WebServer();  // stops the server
  WebServer(const WebServer&) = delete;
  WebServer& operator=(const WebServer&) = delete;

  // Binds and listens. Errors: ExitCode::kWebPortBusy when the port is taken ("web: cannot listen
  // on 127.0.0.1:6066: address already in use"), kUsage for a malformed bind address, kFailure
  // for any other listen failure.
  Status start();

  // The port actually listened on (the ephemeral one when options.port was 0); 0 before start().
  std::uint16_t port() const;

  // Closes the listening socket and every open connection. Safe from any thread: runs at once
  // when called on the io_context thread, otherwise as soon as that thread gets to it.
  void stop();

 private:
  // Shared with the connections so it outlives this object until their handlers have run.
  std::shared_ptr<web_detail::ServerState> state_;
};

}  // namespace faust
