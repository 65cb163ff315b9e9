#include "feed_server.h"

#include <zlib.h>

#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <istream>
#include <stdexcept>

namespace crawler::testing {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string reason_of(int status) {
  switch (status) {
    case 200: return "OK";
    case 304: return "Not Modified";
    case 404: return "Not Found";
    case 429: return "Too Many Requests";
    case 503: return "Service Unavailable";
    default: return "Other";
  }
}

// One connection: (TLS handshake,) reads the request head, waits the response's delay, answers,
// closes. Stream: tcp::socket or ssl::stream<tcp::socket>.
template <typename Stream>
struct Exchange : std::enable_shared_from_this<Exchange<Stream>> {
  Exchange(Stream s, std::function<FeedServer::Response(const FeedServer::Request&)> f)
      : stream(std::move(s)), timer(stream.get_executor()), lookup(std::move(f)) {}

  void start() {
    if constexpr (std::is_same_v<Stream, tcp::socket>) {
      read();
    } else {
      auto self = this->shared_from_this();
      stream.async_handshake(ssl::stream_base::server, [self](const boost::system::error_code& error) {
        if (!error) self->read();
      });
    }
  }

  void read() {
    auto self = this->shared_from_this();
    asio::async_read_until(stream, request, "\r\n\r\n", [self](const boost::system::error_code& error, std::size_t) {
      if (error) return;
      std::istream head(&self->request);
      FeedServer::Request parsed;
      std::string method;
      std::string line;
      head >> method >> parsed.path;
      std::getline(head, line);
      while (std::getline(head, line) && line != "\r") {
        const auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string value = line.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ')) value.erase(0, 1);
        while (!value.empty() && (value.back() == '\r' || value.back() == ' ')) value.pop_back();
        parsed.headers[lower(line.substr(0, colon))] = value;
      }
      self->response = self->lookup(parsed);
      self->timer.expires_after(self->response.delay);
      self->timer.async_wait([self](const boost::system::error_code&) { self->answer(); });
    });
  }

  void answer() {
    const std::string body = response.status == 304 ? std::string() : response.body;
    text = "HTTP/1.1 " + std::to_string(response.status) + " " + reason_of(response.status) +
           "\r\nContent-Type: " + response.content_type + "\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\nConnection: close\r\n";
    if (!response.content_encoding.empty()) text += "Content-Encoding: " + response.content_encoding + "\r\n";
    if (!response.location.empty()) text += "Location: " + response.location + "\r\n";
    if (!response.etag.empty()) text += "ETag: " + response.etag + "\r\n";
    if (!response.last_modified.empty()) text += "Last-Modified: " + response.last_modified + "\r\n";
    if (!response.retry_after.empty()) text += "Retry-After: " + response.retry_after + "\r\n";
    text += "\r\n" + body;
    auto self = this->shared_from_this();
    asio::async_write(stream, asio::buffer(text), [self](const boost::system::error_code&, std::size_t) {
      boost::system::error_code ignored;
      if constexpr (std::is_same_v<Stream, tcp::socket>) {
        self->stream.shutdown(tcp::socket::shutdown_both, ignored);
      } else {
        self->stream.lowest_layer().shutdown(tcp::socket::shutdown_both, ignored);
      }
    });
  }

  Stream stream;
  asio::steady_timer timer;
  std::function<FeedServer::Response(const FeedServer::Request&)> lookup;
  asio::streambuf request;
  FeedServer::Response response;
  std::string text;
};

void run(const std::string& command) {
  if (std::system((command + " >/dev/null 2>&1").c_str()) != 0) throw std::runtime_error("failed: " + command);
}

}  // namespace

TestCertificates make_test_certificates() {
  std::string pattern = (std::filesystem::temp_directory_path() / "crawler-test-ca-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  TestCertificates out{pattern, pattern + "/ca.pem", pattern + "/server.pem", pattern + "/server.key"};
  const std::string dir = pattern;
  // EC keys: fast to make. The CA signs one certificate for the loopback names tests use.
  run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=crawler-test-ca"
      " -keyout " + dir + "/ca.key -out " + out.ca_file);
  run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=127.0.0.1 -keyout " +
      out.key_file + " -out " + dir + "/server.csr");
  run("printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > " + dir + "/san.ext");
  run("openssl x509 -req -in " + dir + "/server.csr -CA " + out.ca_file + " -CAkey " + dir +
      "/ca.key -CAcreateserial -days 2 -extfile " + dir + "/san.ext -out " + out.cert_file);
  return out;
}

FeedServer::FeedServer(const std::optional<TestCertificates>& tls, const std::string& address)
    : acceptor_(io_, tcp::endpoint(asio::ip::make_address(address), 0)), address_(address) {
  if (tls) {
    tls_ = std::make_unique<ssl::context>(ssl::context::tls_server);
    tls_->use_certificate_chain_file(tls->cert_file);
    tls_->use_private_key_file(tls->key_file, ssl::context::pem);
  }
  port_ = acceptor_.local_endpoint().port();
  accept();
  thread_ = std::thread([this] { io_.run(); });
}

FeedServer::~FeedServer() {
  io_.stop();
  thread_.join();
}

void FeedServer::set(const std::string& path, Response response) {
  // Compressed once here, not per request: the server's one thread must stay quick.
  if (response.content_encoding == "gzip") response.body = gzip(response.body);
  std::lock_guard lock(mutex_);
  responses_[path] = std::move(response);
}

int FeedServer::requests(const std::string& path) const {
  std::lock_guard lock(mutex_);
  const auto found = requests_.find(path);
  return found == requests_.end() ? 0 : found->second;
}

std::map<std::string, std::string> FeedServer::last_headers(const std::string& path) const {
  std::lock_guard lock(mutex_);
  const auto found = last_headers_.find(path);
  return found == last_headers_.end() ? std::map<std::string, std::string>{} : found->second;
}

FeedServer::Response FeedServer::answer_for(const Request& request) {
  std::lock_guard lock(mutex_);
  ++requests_[request.path];
  last_headers_[request.path] = request.headers;
  const auto found = responses_.find(request.path);
  if (found == responses_.end()) {
    Response missing;
    missing.status = 404;
    missing.body = "not found";
    missing.content_type = "text/plain";
    return missing;
  }
  Response response = found->second;
  const auto header = [&](const char* name) {
    const auto value = request.headers.find(name);
    return value == request.headers.end() ? std::string() : value->second;
  };
  if (response.status == 200 && ((!response.etag.empty() && header("if-none-match") == response.etag) ||
                                 (!response.last_modified.empty() && header("if-modified-since") == response.last_modified))) {
    response.status = 304;
  }
  return response;
}

void FeedServer::accept() {
  acceptor_.async_accept([this](const boost::system::error_code& error, tcp::socket socket) {
    if (error) return;
    auto lookup = [this](const Request& request) { return answer_for(request); };
    if (tls_) {
      std::make_shared<Exchange<ssl::stream<tcp::socket>>>(ssl::stream<tcp::socket>(std::move(socket), *tls_), lookup)
          ->start();
    } else {
      std::make_shared<Exchange<tcp::socket>>(std::move(socket), lookup)->start();
    }
    accept();
  });
}

std::uint16_t closed_port() {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

std::string gzip(const std::string& text) {
  z_stream stream{};
  // windowBits 15 + 16: a gzip wrapper rather than zlib's.
  if (deflateInit2(&stream, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("deflateInit2 failed");
  }
  std::string out(deflateBound(&stream, text.size()), '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  stream.avail_in = static_cast<uInt>(text.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  deflate(&stream, Z_FINISH);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

}  // namespace crawler::testing
