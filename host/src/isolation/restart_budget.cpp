#include "isolation/restart_budget.h"

namespace faust::isolation {

bool RestartBudget::take(Clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (spent_) return false;
  while (!restarts_.empty() && now - restarts_.front() >= std::chrono::minutes(1)) restarts_.pop_front();
  if (static_cast<int>(restarts_.size()) >= per_minute_) {
    spent_ = true;
    return false;
  }
  restarts_.push_back(now);
  return true;
}

}  // namespace faust::isolation
