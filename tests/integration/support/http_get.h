#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace faust::testing {

struct HttpReply {
  int status = 0;
  std::string headers;
  std::string body;
};

// A plain HTTP/1.1 GET to 127.0.0.1:port; nullopt when nothing answers.
std::optional<HttpReply> http_get(std::uint16_t port, const std::string& path);

}  // namespace faust::testing
