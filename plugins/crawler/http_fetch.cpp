#include "http_fetch.hpp"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <mutex>

namespace crawler {
namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return text;
}

bool non_public_v4(std::uint32_t a) {  // host byte order
  const auto in = [a](std::uint32_t network, int bits) {
    const std::uint32_t mask = bits == 0 ? 0 : ~std::uint32_t{0} << (32 - bits);
    return (a & mask) == network;
  };
  return in(0x00000000, 8) ||   // "this network"
         in(0x0A000000, 8) ||   // 10/8
         in(0x64400000, 10) ||  // 100.64/10, carrier-grade NAT
         in(0x7F000000, 8) ||   // loopback
         in(0xA9FE0000, 16) ||  // link-local (cloud metadata services live here)
         in(0xAC100000, 12) ||  // 172.16/12
         in(0xC0000000, 24) ||  // IETF protocol assignments
         in(0xC0A80000, 16) ||  // 192.168/16
         in(0xC6120000, 15) ||  // 198.18/15, benchmarking
         in(0xE0000000, 4) ||   // multicast
         in(0xF0000000, 4);     // reserved and broadcast
}

bool non_public_v6(const std::array<unsigned char, 16>& a) {
  static constexpr std::array<unsigned char, 12> kMappedV4{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(kMappedV4.begin(), kMappedV4.end(), a.begin())) {
    return non_public_v4(static_cast<std::uint32_t>(a[12]) << 24 | static_cast<std::uint32_t>(a[13]) << 16 |
                         static_cast<std::uint32_t>(a[14]) << 8 | a[15]);
  }
  const bool zero_prefix = std::all_of(a.begin(), a.begin() + 15, [](unsigned char c) { return c == 0; });
  if (zero_prefix && (a[15] == 0 || a[15] == 1)) return true;  // :: and ::1
  return (a[0] & 0xfe) == 0xfc ||                  // fc00::/7 unique local
         (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) ||  // fe80::/10 link-local
         a[0] == 0xff;                               // multicast
}

// What one fetch's callbacks share.
struct Transfer {
  const FetchLimits* limits = nullptr;
  std::string body;
  bool body_too_large = false;
  std::string refused_address;  // the first non-public address a connection was refused to
  std::string reason;           // the last status line's reason phrase
  Validators validators;        // of the last response
};

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto& transfer = *static_cast<Transfer*>(user);
  const std::size_t bytes = size * count;
  // Counted after decoding, so a small compressed body that inflates past the cap stops here.
  if (transfer.body.size() + bytes > transfer.limits->max_body_bytes) {
    transfer.body_too_large = true;
    return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
  }
  transfer.body.append(data, bytes);
  return bytes;
}

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto& transfer = *static_cast<Transfer*>(user);
  const std::string_view line(data, size * count);
  if (line.substr(0, 5) == "HTTP/") {
    // A new response (a redirect's, or the final one): only the last one's headers count.
    transfer.validators = {};
    transfer.reason.clear();
    const std::size_t code = line.find(' ');
    const std::size_t reason = code == std::string_view::npos ? code : line.find(' ', code + 1);
    if (reason != std::string_view::npos) transfer.reason = std::string(trimmed(line.substr(reason + 1)));
    return line.size();
  }
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) return line.size();
  const std::string name = lower(trimmed(line.substr(0, colon)));
  const std::string_view value = trimmed(line.substr(colon + 1));
  if (name == "etag") transfer.validators.etag = std::string(value);
  if (name == "last-modified") transfer.validators.last_modified = std::string(value);
  return line.size();
}

// Every connection libcurl opens goes through here, after name resolution and for every
// redirect, so a public name that resolves to a private address is refused too.
curl_socket_t open_checked_socket(void* user, curlsocktype, curl_sockaddr* address) {
  auto& transfer = *static_cast<Transfer*>(user);
  std::array<char, INET6_ADDRSTRLEN> text{};
  bool non_public = true;
  if (address->family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&address->addr);
    ::inet_ntop(AF_INET, &v4->sin_addr, text.data(), text.size());
    non_public = non_public_v4(ntohl(v4->sin_addr.s_addr));
  } else if (address->family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&address->addr);
    ::inet_ntop(AF_INET6, &v6->sin6_addr, text.data(), text.size());
    std::array<unsigned char, 16> bytes{};
    std::memcpy(bytes.data(), &v6->sin6_addr, bytes.size());
    non_public = non_public_v6(bytes);
  }
  const FetchLimits& limits = *transfer.limits;
  const std::string name = text.data();
  if (non_public && !limits.allow_private_addresses &&
      std::find(limits.allowed_addresses.begin(), limits.allowed_addresses.end(), name) ==
          limits.allowed_addresses.end()) {
    if (transfer.refused_address.empty()) transfer.refused_address = name.empty() ? "(unknown family)" : name;
    return CURL_SOCKET_BAD;
  }
  return ::socket(address->family, address->socktype, address->protocol);
}

void global_init() {
  // curl_global_init is not thread-safe in every libcurl build; one call before any handle.
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

bool is_non_public_address(std::string_view address) {
  const std::string text(address);
  in_addr v4{};
  if (::inet_pton(AF_INET, text.c_str(), &v4) == 1) return non_public_v4(ntohl(v4.s_addr));
  in6_addr v6{};
  if (::inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    std::array<unsigned char, 16> bytes{};
    std::memcpy(bytes.data(), &v6, bytes.size());
    return non_public_v6(bytes);
  }
  return true;
}

struct HttpClient::Handle {
  CURL* curl = nullptr;
  ~Handle() {
    if (curl != nullptr) curl_easy_cleanup(curl);
  }
};

HttpClient::HttpClient(FetchLimits limits) : limits_(std::move(limits)), handle_(std::make_unique<Handle>()) {
  global_init();
}

HttpClient::~HttpClient() = default;

FetchResult HttpClient::get(std::string_view url, const Validators& validators) {
  FetchResult result;
  result.final_url = std::string(url);
  if (handle_->curl == nullptr) handle_->curl = curl_easy_init();
  CURL* curl = handle_->curl;
  if (curl == nullptr) {
    result.error = "libcurl could not make a handle";
    return result;
  }
  curl_easy_reset(curl);  // keeps the connection and TLS session caches
  Transfer transfer;
  transfer.limits = &limits_;
  std::array<char, CURL_ERROR_SIZE> error_text{};
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Accept: application/rss+xml, application/atom+xml, application/xml, "
                                       "text/xml;q=0.9, */*;q=0.1");
  if (!validators.etag.empty()) headers = curl_slist_append(headers, ("If-None-Match: " + validators.etag).c_str());
  if (!validators.last_modified.empty()) {
    headers = curl_slist_append(headers, ("If-Modified-Since: " + validators.last_modified).c_str());
  }
  const std::string url_text(url);
  curl_easy_setopt(curl, CURLOPT_URL, url_text.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, limits_.user_agent.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM for DNS timeouts
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_text.data());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, static_cast<long>(limits_.max_redirects));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(limits_.timeout.count()));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(limits_.timeout.count()));
  curl_easy_setopt(curl, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
  curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");  // every encoding this libcurl decodes
  curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(limits_.max_body_bytes));
  if (!limits_.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, limits_.ca_file.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, open_checked_socket);
  curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, &transfer);

  const CURLcode code = curl_easy_perform(curl);
  curl_slist_free_all(headers);

  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result.status);
  if (char* effective = nullptr; curl_easy_getinfo(curl, CURLINFO_EFFECTIVE_URL, &effective) == CURLE_OK && effective) {
    result.final_url = effective;
  }
  if (curl_off_t retry = 0; curl_easy_getinfo(curl, CURLINFO_RETRY_AFTER, &retry) == CURLE_OK && retry > 0) {
    result.retry_after = std::chrono::seconds(retry);
  }
  result.validators = std::move(transfer.validators);

  if (code != CURLE_OK) {
    if (code == CURLE_OPERATION_TIMEDOUT) {
      result.error = "timed out after " + std::to_string(limits_.timeout.count()) + " ms";
    } else if (transfer.body_too_large || code == CURLE_FILESIZE_EXCEEDED) {
      result.error = "body larger than " + std::to_string(limits_.max_body_bytes) + " bytes";
    } else if (code == CURLE_TOO_MANY_REDIRECTS) {
      result.error = "more than " + std::to_string(limits_.max_redirects) + " redirects";
    } else if (!transfer.refused_address.empty()) {
      result.error = "refused to connect to the non-public address " + transfer.refused_address +
                     " (allow_private_addresses is off)";
    } else if (code == CURLE_UNSUPPORTED_PROTOCOL && result.final_url != url) {
      result.error = "redirect to a URL that is not http:// or https://: " + result.final_url;
    } else {
      result.error = error_text[0] != '\0' ? std::string(error_text.data()) : curl_easy_strerror(code);
    }
    return result;
  }
  if (result.status == 304) {
    result.not_modified = true;
    return result;
  }
  if (result.status != 200) {
    result.error = "HTTP " + std::to_string(result.status) + (transfer.reason.empty() ? "" : " " + transfer.reason);
    return result;
  }
  result.body = std::move(transfer.body);
  return result;
}

FetchResult http_get(std::string_view url, const FetchLimits& limits, const Validators& validators) {
  return HttpClient(limits).get(url, validators);
}

}  // namespace crawler
