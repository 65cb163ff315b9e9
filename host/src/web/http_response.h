#pragma once

#include <string>

namespace faust {

// What a route handler answers. The server adds Server, Content-Length and Connection headers.
struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

}  // namespace faust
