#pragma once

#include <functional>
#include <string>

namespace faust {

// A GET of a plugin's page (/plugins/<plugin>/<path>), in host terms.
struct PageRequest {
  std::string path;   // as the plugin registered it
  std::string query;  // after '?', empty when none
};

// What a page handler answers; a handler that never answers leaves `answered` false.
struct PageAnswer {
  bool answered = false;
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// Runs the plugin's handler; may block (the web server calls it off its event loop).
using PageHandler = std::function<PageAnswer(const PageRequest&)>;

}  // namespace faust
