#include "web/web_server.h"

#include "web/plugin_pages.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace faust {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kDeadline = 5s;  // generous upper bound for anything the server should do at once

struct RawResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;

  std::string header(const std::string& name) const {
    const auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

// The status of a response, or 0 when there was none.
int status_of(const std::optional<RawResponse>& response) { return response ? response->status : 0; }

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<std::int64_t>(left.count(), 0));
}

// A plain blocking-free TCP client over POSIX sockets; every wait has a deadline.
class TestClient {
 public:
  explicit TestClient(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
  }
  ~TestClient() { close(); }
  TestClient(const TestClient&) = delete;
  TestClient& operator=(const TestClient&) = delete;

  bool connected() const { return connected_; }

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  bool send_all(std::string_view data, Clock::time_point deadline = Clock::now() + kDeadline) {
    while (!data.empty()) {
      pollfd entry{fd_, POLLOUT, 0};
      if (::poll(&entry, 1, remaining_ms(deadline)) <= 0) return false;
      const ssize_t sent = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (sent < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        return false;
      }
      data.remove_prefix(static_cast<std::size_t>(sent));
    }
    return true;
  }

  // One response: head, then Content-Length bytes of body (none for a HEAD request).
  std::optional<RawResponse> read_response(bool head_request = false,
                                          Clock::time_point deadline = Clock::now() + kDeadline) {
    std::size_t head_end;
    while ((head_end = received_.find("\r\n\r\n")) == std::string::npos) {
      if (!receive_more(deadline)) return std::nullopt;
    }
    RawResponse response;
    const std::string head = received_.substr(0, head_end);
    std::size_t line_end = head.find("\r\n");
    const std::string status_line = head.substr(0, line_end);
    if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12) return std::nullopt;
    response.status = std::stoi(status_line.substr(9, 3));
    while (line_end != std::string::npos) {
      const std::size_t start = line_end + 2;
      line_end = head.find("\r\n", start);
      const std::string line =
          head.substr(start, line_end == std::string::npos ? std::string::npos : line_end - start);
      const std::size_t colon = line.find(':');
      if (colon == std::string::npos) return std::nullopt;
      std::size_t value_start = colon + 1;
      while (value_start < line.size() && line[value_start] == ' ') ++value_start;
      response.headers[lower(line.substr(0, colon))] = line.substr(value_start);
    }
    received_.erase(0, head_end + 4);
    const std::size_t body_size = head_request ? 0 : std::stoul(response.header("content-length"));
    while (received_.size() < body_size) {
      if (!receive_more(deadline)) return std::nullopt;
    }
    response.body = received_.substr(0, body_size);
    received_.erase(0, body_size);
    return response;
  }

  // Sends a request and reads its response.
  std::optional<RawResponse> ask(std::string_view request) {
    if (!send_all(request)) return std::nullopt;
    return read_response();
  }

  // Waits until the server closes the connection; returns false if it is still open at the deadline.
  bool wait_closed(std::chrono::milliseconds within = kDeadline) {
    const auto deadline = Clock::now() + within;
    while (Clock::now() < deadline) {
      pollfd entry{fd_, POLLIN, 0};
      const int ready = ::poll(&entry, 1, remaining_ms(deadline));
      if (ready < 0 && errno != EINTR) return false;
      if (ready <= 0) continue;
      char chunk[4096];
      const ssize_t got = ::recv(fd_, chunk, sizeof(chunk), MSG_DONTWAIT);
      if (got == 0) return true;
      if (got < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        return true;  // reset counts as closed
      }
      received_.append(chunk, static_cast<std::size_t>(got));
    }
    return false;
  }

  // Whether the server has closed the connection, without waiting.
  bool closed_by_server() {
    while (!closed_by_server_) {
      char chunk[4096];
      const ssize_t got = ::recv(fd_, chunk, sizeof(chunk), MSG_DONTWAIT);
      if (got > 0) {
        received_.append(chunk, static_cast<std::size_t>(got));
        continue;
      }
      if (got < 0 && (errno == EAGAIN || errno == EINTR)) return false;
      closed_by_server_ = true;  // end of stream, or reset
    }
    return true;
  }

  // Bytes received but not consumed by read_response (wait_closed keeps what it read).
  const std::string& unread() const { return received_; }

 private:
  bool receive_more(Clock::time_point deadline) {
    pollfd entry{fd_, POLLIN, 0};
    if (::poll(&entry, 1, remaining_ms(deadline)) <= 0) return false;
    char chunk[4096];
    const ssize_t got = ::recv(fd_, chunk, sizeof(chunk), MSG_DONTWAIT);
    if (got < 0 && (errno == EAGAIN || errno == EINTR)) return true;
    if (got <= 0) return false;
    received_.append(chunk, static_cast<std::size_t>(got));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  bool closed_by_server_ = false;
  std::string received_;
};

std::string get(std::string_view target) {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: localhost\r\n\r\n";
}

Router test_router() {
  Router router;
  router.add("/", [] { return HttpResponse{200, "application/json", R"({"status": "OK"})"}; });
  router.add("/assignment", [] { return HttpResponse{200, "application/json", R"({"actives": []})"}; });
  router.add("/readyz", [] { return HttpResponse{503, "text/plain", "not ready\n"}; });
  router.add("/livez", [] { return HttpResponse{200, "text/plain", "ok\n"}; });
  router.add("/broken", []() -> HttpResponse { throw std::runtime_error("snapshot missing"); });
  return router;
}

class WebServerTest : public testing::Test {
 protected:
  void start_server(WebLimits limits = {}, PluginPages* pages = nullptr) {
    WebServerOptions options;
    options.bind_address = "127.0.0.1";
    options.port = 0;
    options.limits = limits;
    server_ = std::make_unique<WebServer>(io_, options, test_router(), pages);
    const Status status = server_->start();
    ASSERT_TRUE(status.ok()) << status.error().message;
    ASSERT_NE(server_->port(), 0);
    io_done_ = std::async(std::launch::async, [this] { io_.run(); });
  }

  void TearDown() override {
    if (!server_) return;
    server_->stop();
    // With the server stopped nothing is left for the io_context, so run() must return by itself.
    if (io_done_.valid()) {
      const bool drained = io_done_.wait_for(kDeadline) == std::future_status::ready;
      if (!drained) io_.stop();
      io_done_.wait();
      EXPECT_TRUE(drained) << "io_context still had work after stop()";
    }
    server_.reset();
  }

  std::vector<std::unique_ptr<TestClient>> connect(std::size_t count) {
    std::vector<std::unique_ptr<TestClient>> clients;
    for (std::size_t i = 0; i < count; ++i) {
      clients.push_back(std::make_unique<TestClient>(server_->port()));
      EXPECT_TRUE(clients.back()->connected()) << "connection " << i;
    }
    return clients;
  }

  std::optional<RawResponse> fetch(const std::string& request, bool head_request = false) {
    TestClient client(server_->port());
    if (!client.connected() || !client.send_all(request)) return std::nullopt;
    return client.read_response(head_request);
  }

  boost::asio::io_context io_;
  std::unique_ptr<WebServer> server_;
  std::future<void> io_done_;
};

TEST_F(WebServerTest, GetReturnsHandlerBodyWithHeaders) {
  start_server();
  const auto response = fetch(get("/"));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, R"({"status": "OK"})");
  EXPECT_EQ(response->header("content-type"), "application/json");
  EXPECT_EQ(response->header("content-length"), std::to_string(response->body.size()));
  EXPECT_EQ(response->header("server"), "faust-host/" FAUST_HOST_VERSION);
}

TEST_F(WebServerTest, HandlerStatusAndContentTypePassThrough) {
  start_server();
  const auto response = fetch(get("/readyz"));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 503);
  EXPECT_EQ(response->header("content-type"), "text/plain");
  EXPECT_EQ(response->body, "not ready\n");
}

TEST_F(WebServerTest, HeadSendsContentLengthButNoBody) {
  start_server();
  TestClient client(server_->port());
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.send_all("HEAD / HTTP/1.1\r\nHost: localhost\r\n\r\n" + get("/assignment")));
  const auto head = client.read_response(/*head_request=*/true);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->header("content-length"), std::to_string(std::string(R"({"status": "OK"})").size()));
  EXPECT_EQ(head->header("content-type"), "application/json");
  // Had the server sent a body, the next response would not start with a status line.
  const auto next = client.read_response();
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200);
  EXPECT_EQ(next->body, R"({"actives": []})");
}

TEST_F(WebServerTest, OtherMethodsGet405WithAllow) {
  start_server();
  for (const std::string method : {"POST", "PUT", "DELETE", "OPTIONS"}) {
    const auto response = fetch(method + " / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}");
    ASSERT_TRUE(response) << method;
    EXPECT_EQ(response->status, 405) << method;
    EXPECT_EQ(response->header("allow"), "GET, HEAD");
    EXPECT_EQ(response->body, R"({"error":"method not allowed"})");
  }
}

TEST_F(WebServerTest, UnknownPathGets404Json) {
  start_server();
  const auto response = fetch(get("/nope/?x=1"));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 404);
  EXPECT_EQ(response->header("content-type"), "application/json");
  EXPECT_EQ(response->body, R"({"error":"not found","path":"/nope"})");
}

TEST_F(WebServerTest, TrailingSlashAndQueryStringReachTheRoute) {
  start_server();
  for (const std::string target :
       {"/assignment", "/assignment/", "/assignment?verbose=1", "/assignment/?a=b"}) {
    const auto response = fetch(get(target));
    ASSERT_TRUE(response) << target;
    EXPECT_EQ(response->status, 200) << target;
    EXPECT_EQ(response->body, R"({"actives": []})") << target;
  }
}

TEST_F(WebServerTest, ThrowingHandlerGives500AndServerKeepsServing) {
  start_server();
  const auto failed = fetch(get("/broken"));
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->status, 500);
  EXPECT_EQ(failed->body, R"({"error":"internal error"})");
  const auto next = fetch(get("/"));
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200);
}

TEST_F(WebServerTest, KeepAliveServesSequentialAndPipelinedRequests) {
  start_server();
  TestClient client(server_->port());
  ASSERT_TRUE(client.connected());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(client.send_all(get("/")));
    const auto response = client.read_response();
    ASSERT_TRUE(response) << "request " << i;
    EXPECT_EQ(response->status, 200);
  }
  ASSERT_TRUE(client.send_all(get("/") + get("/assignment") + get("/missing")));
  const auto first = client.read_response();
  const auto second = client.read_response();
  const auto third = client.read_response();
  ASSERT_TRUE(first && second && third);
  EXPECT_EQ(first->body, R"({"status": "OK"})");
  EXPECT_EQ(second->body, R"({"actives": []})");
  EXPECT_EQ(third->status, 404);
}

TEST_F(WebServerTest, Http10WithoutKeepAliveIsClosedAfterResponse) {
  start_server();
  TestClient client(server_->port());
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.send_all("GET / HTTP/1.0\r\n\r\n"));
  const auto response = client.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_TRUE(client.wait_closed());
}

TEST_F(WebServerTest, OversizedHeaderGets431AndServerStillServes) {
  start_server();
  TestClient client(server_->port());
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.send_all(
      "GET / HTTP/1.1\r\nHost: localhost\r\nX-Padding: " + std::string(64 * 1024, 'a') + "\r\n\r\n"));
  const auto response = client.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 431);
  EXPECT_EQ(response->header("connection"), "close");
  EXPECT_TRUE(client.wait_closed());

  const auto next = fetch(get("/"));
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200);
}

TEST_F(WebServerTest, HeaderJustUnderLimitIsServed) {
  start_server();
  const auto response =
      fetch("GET / HTTP/1.1\r\nHost: localhost\r\nX-Padding: " + std::string(7 * 1024, 'a') + "\r\n\r\n");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
}

TEST_F(WebServerTest, OversizedBodyGets413) {
  start_server();
  TestClient client(server_->port());
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.send_all("GET / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2048\r\n\r\n" +
                              std::string(2048, 'b')));
  const auto response = client.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 413);
  EXPECT_TRUE(client.wait_closed());
}

TEST_F(WebServerTest, GarbageGets400AndCloseThenServerStillServes) {
  start_server();
  TestClient client(server_->port());
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(
      client.send_all(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n", 22)));
  const auto response = client.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 400);
  EXPECT_EQ(response->body, R"({"error":"bad request"})");
  EXPECT_TRUE(client.wait_closed());

  const auto next = fetch(get("/"));
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200);
}

TEST_F(WebServerTest, SlowClientIsCutAtReadTimeout) {
  WebLimits limits;
  limits.request_read_timeout = 300ms;
  limits.idle_timeout = 10s;
  start_server(limits);
  TestClient client(server_->port());
  TestClient silent(server_->port());
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(silent.connected());
  const auto started = Clock::now();
  ASSERT_TRUE(client.send_all("GET / HTTP/1.1\r\nHost: loc"));
  ASSERT_TRUE(client.wait_closed(3s));
  EXPECT_GE(Clock::now() - started, 250ms);  // cut by the timeout, not at once
  EXPECT_EQ(client.unread(), "");            // nothing is answered to half a request
  // A new connection is idle until its first byte, but a client that connects and says nothing
  // is cut by the read timeout too, not by the keep-alive idle timeout.
  ASSERT_TRUE(silent.wait_closed(3s));
  EXPECT_EQ(silent.unread(), "");
}

TEST_F(WebServerTest, IdleKeepAliveConnectionIsClosed) {
  WebLimits limits;
  limits.idle_timeout = 300ms;
  start_server(limits);
  TestClient client(server_->port());
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.send_all(get("/")));
  const auto response = client.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  const auto answered = Clock::now();
  ASSERT_TRUE(client.wait_closed(3s));
  EXPECT_GE(Clock::now() - answered, 250ms);
}

TEST_F(WebServerTest, IdleTimeoutIsNotTheReadTimeout) {
  WebLimits limits;
  limits.request_read_timeout = 200ms;
  limits.idle_timeout = 10s;
  start_server(limits);
  TestClient client(server_->port());
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.send_all(get("/")));
  ASSERT_TRUE(client.read_response());
  // Idle for longer than the read timeout: a keep-alive connection must survive that.
  EXPECT_FALSE(client.wait_closed(600ms));
  ASSERT_TRUE(client.send_all(get("/")));
  const auto response = client.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
}

// Connections in the middle of a request are never closed to make room: with all of them busy a
// further connection gets 503, and the busy ones are still served.
TEST_F(WebServerTest, ConnectionsOverTheCapGet503WhenNoneIsIdle) {
  WebLimits limits;
  limits.max_connections = 2;
  start_server(limits);
  const auto busy = connect(2);
  for (const auto& client : busy) {
    ASSERT_TRUE(client->send_all("GET / HTTP/1.1\r\nHost: localhost\r\n"));  // the head is not complete
  }

  TestClient third(server_->port());
  ASSERT_TRUE(third.connected());
  const auto refused = third.read_response();
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_EQ(refused->header("connection"), "close");
  EXPECT_EQ(refused->header("retry-after"), "1");
  EXPECT_TRUE(third.wait_closed());

  for (const auto& client : busy) EXPECT_EQ(status_of(client->ask("\r\n")), 200);
}

// At the cap a new connection takes the place of the one idle the longest.
TEST_F(WebServerTest, OldestIdleConnectionIsClosedToMakeRoom) {
  WebLimits limits;
  limits.max_connections = 3;
  start_server(limits);
  const auto clients = connect(3);
  // Each is idle from its answer on, the first the longest.
  for (const auto& client : clients) ASSERT_EQ(status_of(client->ask(get("/"))), 200);

  EXPECT_EQ(status_of(fetch(get("/livez"))), 200);
  EXPECT_TRUE(clients[0]->wait_closed());
  EXPECT_EQ(clients[0]->unread(), "");  // closed without a word, as an idle keep-alive connection is
  for (std::size_t i = 1; i < clients.size(); ++i) {
    EXPECT_EQ(status_of(clients[i]->ask(get("/assignment"))), 200) << "client " << i;
  }
}

// A client holding idle connections must not get a healthy worker's liveness probe failed (and
// the worker restarted by its supervisor).
TEST_F(WebServerTest, LivezIsAnsweredWithinAMomentWhile200IdleConnectionsAreOpen) {
  start_server();  // the default limits: 64 connections
  constexpr std::size_t kIdle = 200;
  const std::size_t cap = WebLimits{}.max_connections;
  const auto idle = connect(kIdle);
  // The server keeps `cap` of them open and closes the others; once it has, it has taken them all.
  const auto taken_by = Clock::now() + kDeadline;
  std::size_t closed = 0;
  while (Clock::now() < taken_by) {
    closed = static_cast<std::size_t>(std::count_if(
        idle.begin(), idle.end(), [](const auto& client) { return client->closed_by_server(); }));
    if (closed >= kIdle - cap) break;
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_EQ(closed, kIdle - cap);

  const auto deadline = Clock::now() + 100ms;
  TestClient probe(server_->port());
  ASSERT_TRUE(probe.connected());
  ASSERT_TRUE(probe.send_all(get("/livez"), deadline));
  const auto response = probe.read_response(false, deadline);
  ASSERT_TRUE(response) << "/livez not answered within 100 ms";
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "ok\n");
}

// A connection that already has its (error) answer and is only waiting for its client to close
// gives way like an idle one.
TEST_F(WebServerTest, ClosingConnectionGivesWayToANewOne) {
  WebLimits limits;
  limits.max_connections = 1;
  start_server(limits);
  TestClient answered(server_->port());
  ASSERT_TRUE(answered.connected());
  const auto bad = answered.ask("BAD\r\n\r\n");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);

  EXPECT_EQ(status_of(fetch(get("/"))), 200);
  EXPECT_TRUE(answered.wait_closed());
}

TEST_F(WebServerTest, BusyPortIsReportedWithExitCodeAndPort) {
  start_server();
  boost::asio::io_context other_io;
  WebServerOptions options;
  options.bind_address = "127.0.0.1";
  options.port = server_->port();
  WebServer second(other_io, options, test_router());
  const Status status = second.start();
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, ExitCode::kWebPortBusy);
  EXPECT_EQ(status.error().message, "web: cannot listen on 127.0.0.1:" + std::to_string(server_->port()) +
                                        ": address already in use");
}

TEST(WebServerStartTest, InvalidBindAddressIsAUsageError) {
  boost::asio::io_context io;
  WebServerOptions options;
  options.bind_address = "not-an-address";
  options.port = 0;
  WebServer server(io, options, Router{});
  const Status status = server.start();
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, ExitCode::kUsage);
  EXPECT_EQ(status.error().message,
            "web: invalid bind address 'not-an-address': expected an IPv4 or IPv6 address");
}

TEST(WebServerStartTest, UnassignableAddressIsAListenFailure) {
  boost::asio::io_context io;
  WebServerOptions options;
  options.bind_address = "192.0.2.1";  // TEST-NET-1: never configured on this host; nothing is sent
  options.port = 0;
  WebServer server(io, options, Router{});
  const Status status = server.start();
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, ExitCode::kFailure);
  EXPECT_EQ(status.error().message, "web: cannot listen on 192.0.2.1:0: cannot assign requested address");
}

TEST(WebServerStartTest, LocalhostBindsAndSecondStartIsRefused) {
  boost::asio::io_context io;
  WebServerOptions options;
  options.bind_address = "localhost";
  options.port = 0;
  WebServer server(io, options, Router{});
  const Status status = server.start();
  ASSERT_TRUE(status.ok()) << status.error().message;
  EXPECT_NE(server.port(), 0);
  const Status again = server.start();
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().message, "web: server already started");
}

TEST_F(WebServerTest, StopClosesListenerAndOpenConnections) {
  start_server();
  const std::uint16_t port = server_->port();
  TestClient idle(port);
  ASSERT_TRUE(idle.connected());
  ASSERT_TRUE(idle.send_all(get("/")));
  ASSERT_TRUE(idle.read_response());
  TestClient half(port);
  ASSERT_TRUE(half.connected());
  ASSERT_TRUE(half.send_all("GET / HTTP/1.1\r\n"));

  server_->stop();  // from this thread, while the io_context runs on another
  EXPECT_TRUE(idle.wait_closed());
  EXPECT_TRUE(half.wait_closed());
  ASSERT_EQ(io_done_.wait_for(kDeadline), std::future_status::ready) << "io_context still busy after stop()";
  TestClient late(port);
  EXPECT_FALSE(late.connected());
}

// ---- plugin pages ----

// A gate a page handler waits at until the test opens it.
class Gate {
 public:
  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }
  void pass() {
    std::unique_lock lock(mutex_);
    entered_ = true;
    changed_.notify_all();
    changed_.wait(lock, [&] { return open_; });
  }
  bool wait_entered(std::chrono::milliseconds within = kDeadline) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, within, [&] { return entered_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool open_ = false;
  bool entered_ = false;
};

PageAnswer text_page(std::string body) { return PageAnswer{true, 200, "text/plain; charset=utf-8", std::move(body)}; }

class WebServerPagesTest : public WebServerTest {
 protected:
  void TearDown() override {
    gate_.open();  // no handler keeps a pool thread
    WebServerTest::TearDown();
  }

  std::shared_ptr<void> add(const std::string& plugin, const std::string& path, PageHandler handler) {
    auto registration = pages_.add(plugin, path, std::move(handler));
    EXPECT_TRUE(registration) << registration.error().message;
    return registration ? *registration : nullptr;
  }

  Gate gate_;
  PluginPages pages_;  // destroyed before the io_context it posts to
};

TEST_F(WebServerPagesTest, APageAnswersOnAKeptAliveConnection) {
  auto stats = add("plug", "stats/now", [](const PageRequest& request) { return text_page(request.path + "|" + request.query); });
  start_server({}, &pages_);
  TestClient client(server_->port());
  ASSERT_TRUE(client.connected());
  auto response = client.ask(get("/plugins/plug/stats/now?x=1&y"));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->header("content-type"), "text/plain; charset=utf-8");
  EXPECT_EQ(response->body, "stats/now|x=1&y");
  ASSERT_TRUE(client.send_all("HEAD /plugins/plug/stats/now/ HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  response = client.read_response(true);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->header("content-length"), "10");  // "stats/now|"
  response = client.ask(get("/livez"));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "ok\n");
}

TEST_F(WebServerPagesTest, AnUnknownPageGets404AndOtherMethods405) {
  auto stats = add("plug", "stats", [](const PageRequest&) { return text_page("x"); });
  start_server({}, &pages_);
  EXPECT_EQ(status_of(fetch(get("/plugins/plug/nothing"))), 404);
  EXPECT_EQ(status_of(fetch(get("/plugins/other/stats"))), 404);
  EXPECT_EQ(status_of(fetch(get("/plugins/"))), 404);
  const auto posted = fetch("POST /plugins/plug/stats HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(status_of(posted), 405);
}

TEST_F(WebServerPagesTest, AFailingPageGets500WithItsMessage) {
  auto broken = add("plug", "broken", [](const PageRequest&) -> PageAnswer { throw std::runtime_error("no data"); });
  auto silent = add("plug", "silent", [](const PageRequest&) { return PageAnswer{}; });
  start_server({}, &pages_);
  const auto failed = fetch(get("/plugins/plug/broken"));
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->status, 500);
  EXPECT_EQ(failed->body, "page failed: no data\n");
  EXPECT_EQ(status_of(fetch(get("/plugins/plug/silent"))), 500);
}

TEST_F(WebServerPagesTest, ASlowPageGets503WhileLivezAnswersAtOnce) {
  auto slow = add("plug", "slow", [this](const PageRequest&) {
    gate_.pass();
    return text_page("too late");
  });
  WebLimits limits;
  limits.page_timeout = 300ms;
  start_server(limits, &pages_);
  TestClient client(server_->port());
  ASSERT_TRUE(client.connected());
  const auto asked = Clock::now();
  ASSERT_TRUE(client.send_all(get("/plugins/plug/slow")));
  ASSERT_TRUE(gate_.wait_entered());
  for (int i = 0; i < 3; ++i) {
    const auto started = Clock::now();
    const auto live = fetch(get("/livez"));
    const auto took = Clock::now() - started;
    EXPECT_EQ(status_of(live), 200);
    EXPECT_LT(took, 100ms);
  }
  const auto response = client.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 503);
  EXPECT_GE(Clock::now() - asked, 300ms);
  EXPECT_EQ(response->body, R"({"error":"the page did not answer in time"})");
  // The connection stays usable, and the late answer is dropped.
  gate_.open();
  const auto next = client.ask(get("/livez"));
  ASSERT_TRUE(next);
  EXPECT_EQ(next->body, "ok\n");
}

TEST_F(WebServerPagesTest, UnregisteringWaitsForACallInProgress) {
  auto page = add("plug", "held", [this](const PageRequest&) {
    gate_.pass();
    return text_page("held answer");
  });
  start_server({}, &pages_);
  TestClient client(server_->port());
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.send_all(get("/plugins/plug/held")));
  ASSERT_TRUE(gate_.wait_entered());
  auto unregistered = std::async(std::launch::async, [&page] { page.reset(); });
  EXPECT_EQ(unregistered.wait_for(200ms), std::future_status::timeout);
  gate_.open();
  EXPECT_EQ(unregistered.wait_for(kDeadline), std::future_status::ready);
  const auto response = client.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "held answer");
  EXPECT_EQ(status_of(fetch(get("/plugins/plug/held"))), 404);
}

TEST(PluginPagesTest, RefusesBadAndDuplicatePaths) {
  PluginPages pages;
  const auto handler = [](const PageRequest&) { return text_page(""); };
  auto first = pages.add("p", "a/b", handler);
  ASSERT_TRUE(first);
  auto again = pages.add("p", "a/b", handler);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().message, "page 'a/b' of plugin 'p': already registered (each lane of an agent with "
                                   "concurrency above 1 is an instance of its own; register a page once, from the "
                                   "plugin-wide part: faust::sdk::Shared, ABI 1.4)");
  EXPECT_TRUE(pages.add("q", "a/b", handler));  // another plugin's
  auto bad = pages.add("p", "/a", handler);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message,
            "page '/a' of plugin 'p': invalid path (use segments of [A-Za-z0-9._~-] separated by '/', without a "
            "leading '/' or an empty, '.' or '..' segment)");
  first->reset();
  EXPECT_TRUE(pages.add("p", "a/b", handler));  // free again once unregistered
}

}  // namespace
}  // namespace faust
