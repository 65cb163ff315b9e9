// The restarts an isolated agent may have within a minute.
#include "isolation/restart_budget.h"

#include <gtest/gtest.h>

namespace faust::isolation {
namespace {

using namespace std::chrono_literals;

TEST(RestartBudgetTest, CountsTheRestartsOfTheLastMinuteAndStaysSpentOnceRefused) {
  RestartBudget budget(2);
  const auto start = RestartBudget::Clock::now();
  EXPECT_TRUE(budget.take(start));
  EXPECT_TRUE(budget.take(start + 30s));
  EXPECT_TRUE(budget.take(start + 60s)) << "the first one is a minute old";
  EXPECT_FALSE(budget.take(start + 61s)) << "two within the minute before";
  EXPECT_FALSE(budget.take(start + 1h)) << "refused once: the worker stops";
}

}  // namespace
}  // namespace faust::isolation
