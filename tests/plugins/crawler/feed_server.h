#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

namespace crawler::testing {

// A CA made for one test run (openssl, in a temporary folder) and a server certificate it signed
// for 127.0.0.1 and localhost.
struct TestCertificates {
  std::string dir;
  std::string ca_file;    // PEM: what a client trusts
  std::string cert_file;  // PEM: the server's certificate
  std::string key_file;   // PEM: its key
};
// Makes them under a new folder in the system's temporary directory; throws when openssl fails.
TestCertificates make_test_certificates();

// A tiny HTTP/1.1 server on 127.0.0.1 (or another loopback address) and a free port, on a thread
// of its own, for the crawler's tests: it answers each GET with the response set for its path
// (404 otherwise), after an optional delay, and closes the connection. With certificates it
// speaks HTTPS.
class FeedServer {
 public:
  struct Response {
    int status = 200;
    std::string body;
    std::string content_type = "application/xml";
    std::string content_encoding;  // "gzip": set() compresses the body, which is sent so
    std::string location;          // for redirects
    std::string etag;              // sent as ETag; a request with a matching If-None-Match gets a 304
    std::string last_modified;     // sent as Last-Modified; a matching If-Modified-Since gets a 304
    std::string retry_after;       // sent as Retry-After
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

  explicit FeedServer(const std::optional<TestCertificates>& tls = std::nullopt, const std::string& address = "127.0.0.1");
  ~FeedServer();
  FeedServer(const FeedServer&) = delete;
  FeedServer& operator=(const FeedServer&) = delete;

  void set(const std::string& path, Response response);
  std::uint16_t port() const { return port_; }
  std::string url(const std::string& path) const {
    return std::string(tls_ ? "https" : "http") + "://" + address_ + ":" + std::to_string(port_) + path;
  }
  int requests(const std::string& path) const;
  // The headers of the last request for `path`, names in lower case ("user-agent").
  std::map<std::string, std::string> last_headers(const std::string& path) const;

  // What the server does with one request; public for its connections.
  struct Request {
    std::string path;
    std::map<std::string, std::string> headers;
  };
  Response answer_for(const Request& request);

 private:
  void accept();

  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::string address_;
  std::unique_ptr<boost::asio::ssl::context> tls_;
  std::uint16_t port_ = 0;
  mutable std::mutex mutex_;
  std::map<std::string, Response> responses_;
  std::map<std::string, int> requests_;
  std::map<std::string, std::map<std::string, std::string>> last_headers_;
  std::thread thread_;
};

// A port on 127.0.0.1 that nothing listens on (bound, then released).
std::uint16_t closed_port();

// `text` gzip-compressed, as a server sends it with Content-Encoding: gzip.
std::string gzip(const std::string& text);

}  // namespace crawler::testing
