#pragma once

#include <boost/asio/thread_pool.hpp>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/plugin_page.h"
#include "common/result.h"
#include "web/http_response.h"

namespace faust {

namespace web_detail {
struct PageTable;
}  // namespace web_detail

// The pages plugins register, served at GET/HEAD /plugins/<plugin>/<path>. Handlers may block, so
// they run on a small thread pool of their own, never on the web server's io_context; the web
// server bounds how long it waits for them (WebLimits::page_timeout). Thread-safe.
class PluginPages {
 public:
  // Two threads: a slow page occupies one while the other keeps serving; pages are status views,
  // not a workload, and a page past its deadline has already had its 503.
  static constexpr std::size_t kDefaultThreads = 2;

  explicit PluginPages(std::size_t threads = kDefaultThreads);
  // Waits for the handlers that are running.
  ~PluginPages();
  PluginPages(const PluginPages&) = delete;
  PluginPages& operator=(const PluginPages&) = delete;

  // Serves `handler` at /plugins/<plugin>/<path> until the returned registration is destroyed;
  // destroying it waits for a call in progress. Errors name page and plugin: a path breaking
  // abi::page_path_problem's rules, or one this plugin registered already.
  Result<std::shared_ptr<void>> add(const std::string& plugin, const std::string& path, PageHandler handler);

  // Whether a request target is under /plugins/ (query, fragment and trailing slashes aside).
  static bool is_page_target(std::string_view target);

  // Starts the page a target names on the pool and returns true; `done` then gets its answer on a
  // pool thread (a 500 when the handler throws or does not answer). False, and `done` is never
  // called, when no page has that path.
  bool serve(std::string_view target, std::function<void(HttpResponse)> done);

 private:
  std::shared_ptr<web_detail::PageTable> table_;
  boost::asio::thread_pool pool_;
};

}  // namespace faust
