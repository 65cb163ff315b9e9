#include <algorithm>
#include <charconv>
#include <string>
#include <string_view>

#include "manifest/manifest.h"
#include "manifest/printable.h"

namespace faust {
namespace {

constexpr std::string_view kSchemeSeparator = "://";
constexpr std::string_view kExpectedSchemes = "(expected kafka:// or memory://)";

std::string_view trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n";
  const auto first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(kSpace);
  return text.substr(first, last - first + 1);
}

bool is_hostname_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
         c == '_';
}

bool is_ipv6_char(char c) {
  return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || (c >= '0' && c <= '9') || c == ':' || c == '.';
}

// Builds the errors of one URL so they all start the same way.
class UrlErrors {
 public:
  explicit UrlErrors(std::string_view url) : url_(url) {}
  Error operator()(std::string_view problem) const {
    // The URL may come from a quoted YAML value or the command line: any bytes at all.
    return Error{ExitCode::kManifestInvalid,
                 printable("broker URL '" + std::string(url_) + "': " + std::string(problem))};
  }

 private:
  std::string_view url_;
};

Result<std::uint16_t> parse_port(std::string_view text, const UrlErrors& error) {
  unsigned value = 0;
  const auto [end, status] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || status != std::errc() || end != text.data() + text.size() || value < 1 ||
      value > 65535) {
    return error("bad port '" + std::string(text) + "' (expected 1..65535)");
  }
  return static_cast<std::uint16_t>(value);
}

// One "host", "host:port", "[v6]" or "[v6]:port" entry.
Result<BrokerAddress> parse_server(std::string_view server, const UrlErrors& error) {
  BrokerAddress address;
  std::string_view port_text;
  bool has_port = false;
  if (server.front() == '[') {
    const auto close = server.find(']');
    if (close == std::string_view::npos) return error("missing ']' in '" + std::string(server) + "'");
    const std::string_view host = server.substr(1, close - 1);
    if (host.empty() || !std::all_of(host.begin(), host.end(), is_ipv6_char)) {
      return error("bad IPv6 address '" + std::string(host) + "'");
    }
    address.host = host;
    const std::string_view rest = server.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return error("unexpected '" + std::string(rest) + "' after ']'");
      port_text = rest.substr(1);
      has_port = true;
    }
  } else {
    const auto colon = server.rfind(':');
    const std::string_view host = server.substr(0, colon);
    if (colon != std::string_view::npos) {
      port_text = server.substr(colon + 1);
      has_port = true;
    }
    if (host.empty()) return error("no host in '" + std::string(server) + "'");
    if (host.find(':') != std::string_view::npos) {
      return error("IPv6 address '" + std::string(server) + "' must be in brackets, e.g. '[::1]:9092'");
    }
    if (!std::all_of(host.begin(), host.end(), is_hostname_char)) {
      return error("bad host '" + std::string(host) + "'");
    }
    address.host = host;
  }
  if (has_port) {
    auto port = parse_port(port_text, error);
    if (!port) return port.error();
    address.port = *port;
  }
  return address;
}

}  // namespace

std::string BrokerUrl::bootstrap_servers() const {
  std::string out;
  for (const BrokerAddress& server : servers) {
    if (!out.empty()) out += ',';
    const bool ipv6 = server.host.find(':') != std::string::npos;
    out += ipv6 ? "[" + server.host + "]" : server.host;
    out += ':' + std::to_string(server.port);
  }
  return out;
}

Result<BrokerUrl> parse_broker_url(std::string_view url) {
  const UrlErrors error(url);
  const std::string_view text = trim(url);
  if (text.empty()) return error("empty (expected kafka://host:port or memory://)");

  const auto separator = text.find(kSchemeSeparator);
  if (separator == std::string_view::npos) return error("missing scheme " + std::string(kExpectedSchemes));
  BrokerUrl result;
  result.scheme = text.substr(0, separator);
  std::transform(result.scheme.begin(), result.scheme.end(), result.scheme.begin(), [](unsigned char c) {
    return static_cast<char>((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
  });
  const std::string_view rest = text.substr(separator + kSchemeSeparator.size());

  if (result.scheme == "memory") {
    if (!trim(rest).empty()) return error("memory:// takes no servers");
    return result;
  }
  if (result.scheme != "kafka") {
    return error("unsupported scheme '" + std::string(text.substr(0, separator)) + "' " +
                 std::string(kExpectedSchemes));
  }
  if (trim(rest).empty()) return error("no host");

  // Faust separates servers with ';'; ',' (librdkafka's form) is accepted too.
  std::size_t start = 0;
  while (start <= rest.size()) {
    const auto end = std::min(rest.find_first_of(";,", start), rest.size());
    const std::string_view server = trim(rest.substr(start, end - start));
    if (server.empty()) return error("empty server entry");
    auto address = parse_server(server, error);
    if (!address) return address.error();
    result.servers.push_back(std::move(*address));
    start = end + 1;
  }
  return result;
}

}  // namespace faust
