#include "feed_server.h"

#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <functional>
#include <istream>

namespace crawler::testing {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// One connection: reads the request head, waits the response's delay, answers, closes.
struct Exchange : std::enable_shared_from_this<Exchange> {
  Exchange(tcp::socket s, std::function<FeedServer::Response(const std::string&)> f)
      : socket(std::move(s)), timer(socket.get_executor()), lookup(std::move(f)) {}

  void start() {
    auto self = shared_from_this();
    asio::async_read_until(socket, request, "\r\n\r\n", [self](const boost::system::error_code& error, std::size_t) {
      if (error) return;
      std::istream head(&self->request);
      std::string method;
      std::string target;
      head >> method >> target;
      self->response = self->lookup(target);
      self->timer.expires_after(self->response.delay);
      self->timer.async_wait([self](const boost::system::error_code&) { self->answer(); });
    });
  }

  void answer() {
    std::string reason = response.status == 200 ? "OK" : response.status == 404 ? "Not Found" : "Other";
    text = "HTTP/1.1 " + std::to_string(response.status) + " " + reason + "\r\nContent-Type: " + response.content_type +
           "\r\nContent-Length: " + std::to_string(response.body.size()) + "\r\nConnection: close\r\n";
    if (!response.location.empty()) text += "Location: " + response.location + "\r\n";
    text += "\r\n" + response.body;
    auto self = shared_from_this();
    asio::async_write(socket, asio::buffer(text), [self](const boost::system::error_code&, std::size_t) {
      boost::system::error_code ignored;
      self->socket.shutdown(tcp::socket::shutdown_both, ignored);
    });
  }

  tcp::socket socket;
  asio::steady_timer timer;
  std::function<FeedServer::Response(const std::string&)> lookup;
  asio::streambuf request;
  FeedServer::Response response;
  std::string text;
};

}  // namespace

FeedServer::FeedServer() : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
  port_ = acceptor_.local_endpoint().port();
  accept();
  thread_ = std::thread([this] { io_.run(); });
}

FeedServer::~FeedServer() {
  io_.stop();
  thread_.join();
}

void FeedServer::set(const std::string& path, Response response) {
  std::lock_guard lock(mutex_);
  responses_[path] = std::move(response);
}

int FeedServer::requests(const std::string& path) const {
  std::lock_guard lock(mutex_);
  const auto found = requests_.find(path);
  return found == requests_.end() ? 0 : found->second;
}

FeedServer::Response FeedServer::lookup(const std::string& path) {
  std::lock_guard lock(mutex_);
  ++requests_[path];
  const auto found = responses_.find(path);
  if (found == responses_.end()) {
    Response missing;
    missing.status = 404;
    missing.body = "not found";
    missing.content_type = "text/plain";
    return missing;
  }
  return found->second;
}

void FeedServer::accept() {
  acceptor_.async_accept([this](const boost::system::error_code& error, tcp::socket socket) {
    if (error) return;
    std::make_shared<Exchange>(std::move(socket), [this](const std::string& path) { return lookup(path); })->start();
    accept();
  });
}

std::uint16_t closed_port() {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

}  // namespace crawler::testing
