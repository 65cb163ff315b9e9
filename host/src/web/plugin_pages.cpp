#include "web/plugin_pages.h"

#include <boost/asio/post.hpp>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <utility>

#include "faust/detail/abi_checks.hpp"
#include "web/router.h"

namespace faust {

namespace {

constexpr std::string_view kPagesPrefix = "/plugins/";

// One registered page, shared by the table and by the calls running it.
struct Page {
  PageHandler handler;
  std::mutex mutex;
  std::condition_variable idle;
  int calls = 0;         // in progress
  bool removed = false;  // unregistered: no new call starts

  bool enter() {
    std::lock_guard lock(mutex);
    if (removed) return false;
    ++calls;
    return true;
  }
  void leave() {
    std::lock_guard lock(mutex);
    if (--calls == 0) idle.notify_all();
  }
  void remove_and_wait() {
    std::unique_lock lock(mutex);
    removed = true;
    idle.wait(lock, [&] { return calls == 0; });
  }
};

HttpResponse text_answer(int status, std::string body) {
  return HttpResponse{status, "text/plain; charset=utf-8", std::move(body)};
}

HttpResponse run_page(Page& page, const PageRequest& request) {
  try {
    PageAnswer answer = page.handler(request);
    if (!answer.answered) return text_answer(500, "page handler gave no answer\n");
    if (answer.status < 100 || answer.status > 599) return text_answer(500, "page answered an invalid status\n");
    return HttpResponse{answer.status, std::move(answer.content_type), std::move(answer.body)};
  } catch (const std::exception& e) {
    return text_answer(500, std::string("page failed: ") + e.what() + "\n");
  } catch (...) {
    return text_answer(500, "page failed\n");
  }
}

}  // namespace

namespace web_detail {

// "<plugin>/<path>" → page.
struct PageTable {
  std::mutex mutex;
  std::map<std::string, std::shared_ptr<Page>, std::less<>> pages;

  std::shared_ptr<Page> find(std::string_view key) {
    std::lock_guard lock(mutex);
    const auto it = pages.find(key);
    return it == pages.end() ? nullptr : it->second;
  }
};

}  // namespace web_detail

namespace {

// Unregisters its page when destroyed, after a call in progress returned.
class Registration {
 public:
  Registration(std::shared_ptr<web_detail::PageTable> table, std::string key, std::shared_ptr<Page> page)
      : table_(std::move(table)), key_(std::move(key)), page_(std::move(page)) {}
  ~Registration() {
    {
      std::lock_guard lock(table_->mutex);
      table_->pages.erase(key_);
    }
    page_->remove_and_wait();
  }
  Registration(const Registration&) = delete;
  Registration& operator=(const Registration&) = delete;

 private:
  std::shared_ptr<web_detail::PageTable> table_;
  std::string key_;
  std::shared_ptr<Page> page_;
};

}  // namespace

PluginPages::PluginPages(std::size_t threads)
    : table_(std::make_shared<web_detail::PageTable>()), pool_(threads == 0 ? 1 : threads) {}

PluginPages::~PluginPages() { pool_.join(); }

Result<std::shared_ptr<void>> PluginPages::add(const std::string& plugin, const std::string& path,
                                               PageHandler handler) {
  if (std::optional<std::string> problem = abi::page_path_problem(plugin, path.c_str())) {
    return Error{ExitCode::kFailure, *problem};
  }
  std::string key = plugin + "/" + path;
  auto page = std::make_shared<Page>();
  page->handler = std::move(handler);
  {
    std::lock_guard lock(table_->mutex);
    if (!table_->pages.emplace(key, page).second) {
      return Error{ExitCode::kFailure, abi::page_duplicate_message(plugin, path)};
    }
  }
  return std::shared_ptr<void>(std::make_shared<Registration>(table_, std::move(key), std::move(page)));
}

bool PluginPages::is_page_target(std::string_view target) {
  return Router::normalize(target).substr(0, kPagesPrefix.size()) == kPagesPrefix;
}

bool PluginPages::serve(std::string_view target, std::function<void(HttpResponse)> done) {
  const std::string_view route = Router::normalize(target);
  if (route.substr(0, kPagesPrefix.size()) != kPagesPrefix) return false;
  const std::string_view key = route.substr(kPagesPrefix.size());
  std::shared_ptr<Page> page = table_->find(key);
  if (!page) return false;

  PageRequest request;
  request.path = std::string(key.substr(key.find('/') + 1));
  if (const auto mark = target.find('?'); mark != std::string_view::npos) {
    const std::string_view query = target.substr(mark + 1);
    request.query = std::string(query.substr(0, query.find('#')));
  }
  boost::asio::post(pool_, [page = std::move(page), request = std::move(request), done = std::move(done)] {
    // Unregistered since it was found: as if it had never been there.
    if (!page->enter()) {
      done(HttpResponse{404, "application/json", R"({"error":"not found"})"});
      return;
    }
    HttpResponse answer = run_page(*page, request);
    page->leave();
    done(std::move(answer));
  });
  return true;
}

}  // namespace faust
