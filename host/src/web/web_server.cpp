#include "web/web_server.h"

#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <list>
#include <optional>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "web/plugin_pages.h"
#include "web/request_handling.h"

namespace faust {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// After an error response we read and discard what the client still sends (bounded), so closing
// does not reset the connection before the client has read the response.
constexpr std::size_t kMaxLingerBytes = 1024 * 1024;
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);

// "127.0.0.1:6066" or "[::1]:6066".
std::string endpoint_text(const asio::ip::address& address, std::uint16_t port) {
  const std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  return host + ":" + std::to_string(port);
}

std::string lowercase_first(std::string text) {
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

class Session;

}  // namespace

namespace web_detail {

struct ServerState : std::enable_shared_from_this<ServerState> {
  ServerState(asio::io_context& io_context, WebServerOptions server_options, Router server_router,
              PluginPages* plugin_pages)
      : io(io_context),
        acceptor(io_context),
        accept_retry_timer(io_context),
        options(std::move(server_options)),
        router(std::move(server_router)),
        pages(plugin_pages),
        busy_response(connection_limit_response()) {}

  void accept_next();
  void on_accept(beast::error_code ec, tcp::socket socket);
  bool reclaim_oldest_idle();
  void refuse(tcp::socket& socket) const;
  void close_all();

  asio::io_context& io;
  tcp::acceptor acceptor;
  asio::steady_timer accept_retry_timer;
  WebServerOptions options;
  Router router;
  PluginPages* pages;  // may be null: no plugin pages
  const std::string busy_response;
  std::unordered_set<Session*> sessions;  // open connections, so stop() can close them
  // Connections with no request in progress (waiting for a request's first byte, or only waiting
  // for their client to close after a final answer), the one idle the longest first.
  std::list<Session*> idle;
  std::uint16_t bound_port = 0;
  bool stopped = false;
};

}  // namespace web_detail

namespace {

using web_detail::ServerState;

// One HTTP connection: read a request, answer it, repeat while keep-alive holds.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<ServerState> state)
      : stream_(std::move(socket)),
        page_timer_(stream_.get_executor()),
        state_(std::move(state)),
        limits_(state_->options.limits),
        buffer_(request_buffer_bytes(limits_)) {
    state_->sessions.insert(this);
  }
  ~Session() {
    set_idle(false);
    state_->sessions.erase(this);
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // The first request must arrive whole within the read timeout, counted from the connect.
  void start() {
    stream_.expires_after(limits_.request_read_timeout);
    await_request();
  }

  void close() {
    page_timer_.cancel();
    stream_.close();
  }

  // Closes the connection to make room for a new one; it no longer counts against the cap.
  void reclaim() {
    set_idle(false);
    state_->sessions.erase(this);
    close();
  }

 private:
  void set_idle(bool idle) {
    if (idle == idle_entry_.has_value()) return;
    if (idle) {
      idle_entry_ = state_->idle.insert(state_->idle.end(), this);
    } else {
      state_->idle.erase(*idle_entry_);
      idle_entry_.reset();
    }
  }

  // Between keep-alive requests the client may stay silent up to the idle timeout; the read
  // timeout starts with the first byte of the next request.
  void wait_for_next_request() {
    answered_ = true;
    if (buffer_.size() > 0) {  // pipelined request already buffered
      stream_.expires_after(limits_.request_read_timeout);
      read_request();
      return;
    }
    stream_.expires_after(limits_.idle_timeout);
    await_request();
  }

  // Until a request's first byte arrives the connection is idle: it may be reclaimed.
  void await_request() {
    set_idle(true);
    stream_.async_read_some(buffer_.prepare(512),
                            beast::bind_front_handler(&Session::on_request_bytes, shared_from_this()));
  }

  void on_request_bytes(beast::error_code ec, std::size_t bytes) {
    set_idle(false);
    if (state_->stopped) return;
    // Reclaimed after its bytes had arrived: the client sees a closed keep-alive connection.
    if (ec || !stream_.socket().is_open()) {
      close();
      return;
    }
    buffer_.commit(bytes);
    if (answered_) stream_.expires_after(limits_.request_read_timeout);
    read_request();
  }

  // The caller has set the deadline for the whole request.
  void read_request() {
    parser_.emplace();
    limit_request_parser(*parser_, limits_);
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t /*bytes*/) {
    if (state_->stopped) return;
    if (!ec) {
      if (!start_page(parser_->get())) send(respond_to_request(state_->router, parser_->get()));
      return;
    }
    if (auto response = respond_to_read_error(ec)) {
      send(std::move(*response));
    } else {
      close();
    }
  }

  // A plugin page: its handler runs on the pages' threads, and whichever comes first on this
  // thread, its answer or the deadline, is sent; the other is dropped. Nothing reads from the
  // connection meanwhile, so the read and idle timers do not run; the deadline bounds the wait.
  bool start_page(const WireRequest& request) {
    const bool get_or_head = request.method() == http::verb::get || request.method() == http::verb::head;
    const std::string_view target(request.target().data(), request.target().size());
    if (state_->pages == nullptr || !get_or_head || !PluginPages::is_page_target(target)) return false;
    const std::uint64_t call = ++page_call_;
    // Weak: a page that never answers must not keep the connection alive.
    const bool found = state_->pages->serve(
        target, [session = weak_from_this(), call, &io = state_->io](HttpResponse answer) {
          asio::post(io, [session, call, answer = std::move(answer)]() mutable {
            if (auto self = session.lock()) self->on_page_answer(call, std::move(answer));
          });
        });
    if (!found) return false;  // the router answers 404
    page_pending_ = true;
    page_timer_.expires_after(limits_.page_timeout);
    page_timer_.async_wait(beast::bind_front_handler(&Session::on_page_deadline, shared_from_this(), call));
    return true;
  }

  void on_page_answer(std::uint64_t call, HttpResponse answer) {
    if (state_->stopped || !page_pending_ || call != page_call_) return;
    page_pending_ = false;
    page_timer_.cancel();
    send(respond_with(parser_->get(), std::move(answer)));
  }

  void on_page_deadline(std::uint64_t call, beast::error_code ec) {
    if (ec || state_->stopped || !page_pending_ || call != page_call_) return;
    page_pending_ = false;
    const WireRequest& request = parser_->get();
    spdlog::warn("web: {} did not answer within {} ms", std::string_view(request.target().data(), request.target().size()),
                 limits_.page_timeout.count());
    send(respond_with(request, HttpResponse{503, "application/json", R"({"error":"the page did not answer in time"})"}));
  }

  void send(WireResponse response) {
    response_ = std::move(response);
    const bool close_after = !response_.keep_alive();
    // A client that does not read its response is cut like one that does not send.
    stream_.expires_after(limits_.request_read_timeout);
    http::async_write(stream_, response_,
                      beast::bind_front_handler(&Session::on_write, shared_from_this(), close_after));
  }

  void on_write(bool close_after, beast::error_code ec, std::size_t /*bytes*/) {
    if (state_->stopped) return;
    if (ec) {
      close();
      return;
    }
    if (close_after) {
      linger_then_close();
      return;
    }
    wait_for_next_request();
  }

  void linger_then_close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) {
      close();
      return;
    }
    stream_.expires_after(limits_.request_read_timeout);
    set_idle(true);  // answered for good: it may make room as an idle one does
    read_and_discard();
  }

  void read_and_discard() {
    stream_.async_read_some(asio::buffer(discard_),
                            beast::bind_front_handler(&Session::on_discarded, shared_from_this()));
  }

  void on_discarded(beast::error_code ec, std::size_t bytes) {
    if (state_->stopped) return;
    lingered_bytes_ += bytes;
    if (ec || lingered_bytes_ > kMaxLingerBytes) {
      close();
      return;
    }
    read_and_discard();
  }

  beast::tcp_stream stream_;
  asio::steady_timer page_timer_;  // a plugin page's deadline
  std::uint64_t page_call_ = 0;    // which page request the pending answer or deadline is for
  bool page_pending_ = false;
  std::shared_ptr<ServerState> state_;
  const WebLimits limits_;
  beast::flat_buffer buffer_;
  std::optional<RequestParser> parser_;
  WireResponse response_;  // alive until its async_write completes
  std::array<char, 4096> discard_{};
  std::size_t lingered_bytes_ = 0;
  bool answered_ = false;  // a response was sent and the connection kept alive
  std::optional<std::list<Session*>::iterator> idle_entry_;  // this connection in state_->idle
};

}  // namespace

void web_detail::ServerState::accept_next() {
  acceptor.async_accept(io, [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
    self->on_accept(ec, std::move(socket));
  });
}

void web_detail::ServerState::on_accept(beast::error_code ec, tcp::socket socket) {
  if (stopped || ec == asio::error::operation_aborted) return;
  if (ec) {
    // E.g. out of file descriptors: retry later instead of spinning on the error.
    spdlog::warn("web: accept failed: {}", ec.message());
    accept_retry_timer.expires_after(kAcceptRetryDelay);
    accept_retry_timer.async_wait([self = shared_from_this()](beast::error_code timer_ec) {
      if (!timer_ec && !self->stopped) self->accept_next();
    });
    return;
  }
  if (sessions.size() >= options.limits.max_connections && !reclaim_oldest_idle()) {
    refuse(socket);
  } else {
    std::make_shared<Session>(std::move(socket), shared_from_this())->start();
  }
  accept_next();
}

// At the cap a new connection takes the place of the one idle the longest, as nginx reuses its
// keep-alive connections: otherwise a client holding idle connections (a pool, a leak) crowds out
// /livez and gets a healthy worker restarted by its supervisor. This needs no guess at which
// client is a probe (nothing tells before its request is read, which already needs a connection)
// and costs the closed client only a reconnect: HTTP clients retry on a closed keep-alive
// connection. Connections in the middle of a request are never closed for it; with every one
// busy the newcomer gets 503, and a busy connection is cut by the read timeout at the latest.
bool web_detail::ServerState::reclaim_oldest_idle() {
  if (idle.empty()) return false;
  idle.front()->reclaim();
  spdlog::debug("web: {} connections open; closed the one idle the longest", options.limits.max_connections);
  return true;
}

void web_detail::ServerState::refuse(tcp::socket& socket) const {
  beast::error_code ec;
  // A fresh connection's send buffer always holds this short response, so the write never blocks.
  socket.non_blocking(true, ec);
  if (!ec) socket.write_some(asio::buffer(busy_response), ec);
  socket.shutdown(tcp::socket::shutdown_send, ec);
  socket.close(ec);
}

void web_detail::ServerState::close_all() {
  if (stopped) return;
  stopped = true;
  beast::error_code ec;
  acceptor.close(ec);
  accept_retry_timer.cancel();
  // Closing only cancels pending operations; sessions leave the set later, from their handlers.
  const std::vector<Session*> open_sessions(sessions.begin(), sessions.end());
  for (Session* session : open_sessions) session->close();
}

WebServer::WebServer(asio::io_context& io, WebServerOptions options, Router router, PluginPages* pages)
    : state_(std::make_shared<ServerState>(io, std::move(options), std::move(router), pages)) {}

WebServer::~WebServer() { stop(); }

Status WebServer::start() {
  ServerState& state = *state_;
  if (state.stopped) return Error{ExitCode::kFailure, "web: server was stopped"};
  if (state.acceptor.is_open()) return Error{ExitCode::kFailure, "web: server already started"};

  const std::string& bind = state.options.bind_address;
  beast::error_code ec;
  const asio::ip::address address = bind == "localhost" ? asio::ip::address(asio::ip::address_v4::loopback())
                                                        : asio::ip::make_address(bind, ec);
  if (ec) {
    return Error{ExitCode::kUsage,
                 "web: invalid bind address '" + bind + "': expected an IPv4 or IPv6 address"};
  }
  const tcp::endpoint endpoint(address, state.options.port);
  const auto listen_error = [&](const beast::error_code& cause) {
    beast::error_code ignored;
    state.acceptor.close(ignored);
    const std::string where = "web: cannot listen on " + endpoint_text(address, state.options.port) + ": ";
    if (cause == asio::error::address_in_use)
      return Error{ExitCode::kWebPortBusy, where + "address already in use"};
    return Error{ExitCode::kFailure, where + lowercase_first(cause.message())};
  };

  if (state.acceptor.open(endpoint.protocol(), ec); ec) return listen_error(ec);
  // Lets a restarted worker rebind while old connections sit in TIME_WAIT; on Linux it does not
  // let two listeners share a port, so a busy port is still reported.
  if (state.acceptor.set_option(asio::socket_base::reuse_address(true), ec); ec) return listen_error(ec);
  if (state.acceptor.bind(endpoint, ec); ec) return listen_error(ec);
  if (state.acceptor.listen(asio::socket_base::max_listen_connections, ec); ec) return listen_error(ec);
  state.bound_port = state.acceptor.local_endpoint(ec).port();
  spdlog::debug("web: listening on {}", endpoint_text(address, state.bound_port));
  state.accept_next();
  return ok_status();
}

std::uint16_t WebServer::port() const { return state_->bound_port; }

void WebServer::stop() {
  asio::dispatch(state_->io, [state = state_] { state->close_all(); });
}

}  // namespace faust
