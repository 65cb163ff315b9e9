#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "web/http_response.h"

namespace faust {

// Handlers run on the io_context thread, so they must be quick: they read snapshots, never block.
using HttpHandler = std::function<HttpResponse()>;

// Exact-path routing. `/assignment/`, `/assignment` and `/assignment?x=1` all reach the handler
// registered for `/assignment`, because clients and Faust itself disagree on the trailing slash.
class Router {
 public:
  // Registers (or replaces) the handler for `path`; the path is normalized like a request target.
  void add(std::string_view path, HttpHandler handler);

  // The handler for a request target, or nullptr when no route matches.
  const HttpHandler* find(std::string_view target) const;

  // The request target without query string, fragment and trailing slashes ("/" stays "/").
  static std::string_view normalize(std::string_view target);

 private:
  std::map<std::string, HttpHandler, std::less<>> routes_;
};

}  // namespace faust
