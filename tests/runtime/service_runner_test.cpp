#include "runtime/services/service_runner.h"

#include <atomic>
#include <memory>
#include <mutex>

#include <gtest/gtest.h>

#include "../integration/support/worker_process.h"

namespace faust {
namespace {

using namespace std::chrono_literals;
using testing::eventually;

// What one fake service saw, shared with its callbacks (which may outlive a test when stuck).
struct Journal {
  std::mutex mutex;
  std::vector<std::string> calls;
  std::atomic<bool> fail_elected{false};
  std::atomic<bool> ignore_stop{false};  // lead never returns while set
  ServiceRunner* runner = nullptr;

  void add(std::string call) {
    std::lock_guard lock(mutex);
    calls.push_back(std::move(call));
  }
  std::vector<std::string> seen() {
    std::lock_guard lock(mutex);
    return calls;
  }
};

ServiceBinding fake_service(const std::shared_ptr<Journal>& journal, std::chrono::milliseconds stop_timeout = 2s) {
  ServiceBinding binding;
  binding.name = "svc";
  binding.stop_timeout = stop_timeout;
  binding.start = [journal] {
    journal->add("start");
    return ok_status();
  };
  binding.elected = [journal](std::int32_t generation, std::chrono::system_clock::time_point) -> Status {
    journal->add("elected " + std::to_string(generation));
    if (journal->fail_elected) return Error{ExitCode::kFailure, "elected failed"};
    return ok_status();
  };
  binding.lead = [journal] {
    journal->add("lead");
    while (!journal->runner->wait_for_stop("svc", 10ms) || journal->ignore_stop) {
    }
    journal->add("lead returned");
    return ok_status();
  };
  binding.revoked = [journal] {
    journal->add("revoked");
    return ok_status();
  };
  binding.stop = [journal] {
    journal->add("stop");
    return ok_status();
  };
  return binding;
}

// Runs leader units like a term that is established while `leading` is set.
struct FakeTerm {
  std::atomic<bool> leading{true};
  std::mutex mutex;
  std::vector<std::string> units;
  LeaderRunner runner() {
    return [this](const std::string& unit, const std::function<Status()>& work) -> std::optional<Status> {
      if (!leading) return std::nullopt;
      {
        std::lock_guard lock(mutex);
        units.push_back(unit);
      }
      return work();
    };
  }
};

TEST(ServiceRunnerTest, CallsFollowTheWorkersAndTheTermsLifecycleAndElectedAndRevokedAlternate) {
  auto journal = std::make_shared<Journal>();
  FakeTerm term;
  ServiceRunner runner({fake_service(journal)}, term.runner());
  journal->runner = &runner;
  runner.start();
  for (std::int32_t generation = 1; generation <= 3; ++generation) {
    runner.term_opening(generation);  // returns once elected returned
    EXPECT_EQ(journal->seen().back().rfind("elected", 0) == 0 || journal->seen().back() == "lead", true);
    EXPECT_TRUE(runner.in_term("svc"));
    runner.term_closed(generation);  // returns once lead returned and revoked ran
    EXPECT_EQ(journal->seen().back(), "revoked");
    EXPECT_FALSE(runner.in_term("svc"));
  }
  runner.stop();
  EXPECT_EQ(journal->seen(), (std::vector<std::string>{"start", "elected 1", "lead", "lead returned", "revoked",
                                                       "elected 2", "lead", "lead returned", "revoked", "elected 3",
                                                       "lead", "lead returned", "revoked", "stop"}));
  std::lock_guard lock(term.mutex);
  EXPECT_EQ(term.units, (std::vector<std::string>(3, "service 'svc' elected"))) << "elected runs as leader work";
  EXPECT_EQ(runner.snapshot().at(0).terms, 3u);
}

TEST(ServiceRunnerTest, AFailedElectedSkipsLeadButIsStillRevoked) {
  auto journal = std::make_shared<Journal>();
  journal->fail_elected = true;
  FakeTerm term;
  ServiceRunner runner({fake_service(journal)}, term.runner());
  journal->runner = &runner;
  runner.start();
  runner.term_opening(1);
  runner.term_closed(1);
  runner.stop();
  EXPECT_EQ(journal->seen(), (std::vector<std::string>{"start", "elected 1", "revoked", "stop"}));
  EXPECT_NE(runner.snapshot().at(0).last_error.find("elected failed"), std::string::npos);
}

TEST(ServiceRunnerTest, ATermThatEndedBeforeElectedCouldRunGetsNeitherElectedNorRevoked) {
  auto journal = std::make_shared<Journal>();
  FakeTerm term;
  term.leading = false;  // the term was lost before the unit could start
  ServiceRunner runner({fake_service(journal)}, term.runner());
  journal->runner = &runner;
  runner.start();
  runner.term_opening(1);
  runner.term_closed(1);
  runner.stop();
  EXPECT_EQ(journal->seen(), (std::vector<std::string>{"start", "stop"}));
}

TEST(ServiceRunnerTest, ALeadThatIgnoresTheStopIsLeftBehindAfterItsStopTimeout) {
  auto journal = std::make_shared<Journal>();
  journal->ignore_stop = true;
  FakeTerm term;
  auto runner = std::make_unique<ServiceRunner>(std::vector<ServiceBinding>{fake_service(journal, 200ms)},
                                                term.runner());
  journal->runner = runner.get();
  runner->start();
  runner->term_opening(1);
  const auto closing = std::chrono::steady_clock::now();
  runner->term_closed(1);
  const auto waited = std::chrono::steady_clock::now() - closing;
  EXPECT_GE(waited, 190ms);
  EXPECT_LT(waited, 2s) << "the term's end waits for a stuck service only up to its stop_timeout";
  EXPECT_EQ(runner->snapshot().at(0).state, "stuck");
  runner->stop();  // stop() queued behind the stuck lead: left behind too
  const auto seen = journal->seen();
  EXPECT_EQ(std::count(seen.begin(), seen.end(), "revoked"), 0) << "revoked never overlaps its lead";
  EXPECT_EQ(std::count(seen.begin(), seen.end(), "stop"), 0);
  // Its thread still runs: let it finish, against the runner it was left with.
  journal->ignore_stop = false;
  ASSERT_TRUE(eventually(5s, [&] {
    const auto now = journal->seen();
    return std::count(now.begin(), now.end(), "stop") == 1;
  }));
  EXPECT_EQ(journal->seen().back(), "stop");
}

}  // namespace
}  // namespace faust
