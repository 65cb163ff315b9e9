#include "web/router.h"

#include <utility>

namespace faust {

std::string_view Router::normalize(std::string_view target) {
  const auto query = target.find_first_of("?#");
  if (query != std::string_view::npos) target = target.substr(0, query);
  while (target.size() > 1 && target.back() == '/') target.remove_suffix(1);
  return target;
}

void Router::add(std::string_view path, HttpHandler handler) {
  routes_.insert_or_assign(std::string(normalize(path)), std::move(handler));
}

const HttpHandler* Router::find(std::string_view target) const {
  const auto it = routes_.find(normalize(target));
  return it == routes_.end() ? nullptr : &it->second;
}

}  // namespace faust
