#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace crawler::testing {

// A tiny HTTP/1.1 server on 127.0.0.1 and a free port, on a thread of its own, for the crawler's
// tests: it answers each GET with the response set for its path (404 otherwise), after an
// optional delay, and closes the connection.
class FeedServer {
 public:
  struct Response {
    int status = 200;
    std::string body;
    std::string content_type = "application/xml";
    std::string location;  // for redirects
    std::chrono::milliseconds delay{0};
  };
  static Response ok(std::string body, std::chrono::milliseconds delay = {}) {
    Response response;
    response.body = std::move(body);
    response.delay = delay;
    return response;
  }
  static Response redirect(int status, std::string location) {
    Response response;
    response.status = status;
    response.content_type = "text/plain";
    response.location = std::move(location);
    return response;
  }

  FeedServer();
  ~FeedServer();
  FeedServer(const FeedServer&) = delete;
  FeedServer& operator=(const FeedServer&) = delete;

  void set(const std::string& path, Response response);
  std::uint16_t port() const { return port_; }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  int requests(const std::string& path) const;

 private:
  void accept();
  Response lookup(const std::string& path);

  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  mutable std::mutex mutex_;
  std::map<std::string, Response> responses_;
  std::map<std::string, int> requests_;
  std::thread thread_;
};

// A port on 127.0.0.1 that nothing listens on (bound, then released).
std::uint16_t closed_port();

}  // namespace crawler::testing
