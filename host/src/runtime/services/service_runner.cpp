#include "runtime/services/service_runner.h"

#include <utility>

#include <spdlog/spdlog.h>

namespace faust {

using Clock = std::chrono::steady_clock;

struct ServiceRunner::Runner {
  explicit Runner(ServiceBinding service) : binding(std::move(service)) { snap.name = binding.name; }

  ServiceBinding binding;
  mutable std::mutex mutex;  // guards everything below
  std::condition_variable changed;
  std::deque<std::function<void()>> tasks;
  std::uint64_t posted = 0;  // tasks queued so far
  std::uint64_t done = 0;    // tasks finished so far
  bool quit = false;
  bool worker_stopping = false;
  // Terms are numbered per service: term s is over once closed >= s.
  std::uint64_t opened = 0;
  std::uint64_t closed = 0;
  std::uint64_t elected_through = 0;  // the last term whose elected returned (or was skipped)
  std::uint64_t running_term = 0;     // the term whose elected or lead runs now; 0: none
  bool elected_open = false;          // an elected ran and its revoked did not yet
  ServiceSnapshot snap{.name = {}, .state = "idle", .terms = 0, .last_error = {}};
  std::thread thread;
};

ServiceRunner::ServiceRunner(std::vector<ServiceBinding> services, LeaderRunner run_as_leader)
    : run_as_leader_(std::move(run_as_leader)) {
  for (auto& service : services) runners_.push_back(std::make_unique<Runner>(std::move(service)));
}

ServiceRunner::~ServiceRunner() {
  stop();
  // A service left behind still runs on its thread, in its runner and its plugin instance
  // (binding.keep_alive): they stay alive until the process exits.
  if (!left_behind_) return;
  // Reachable from a static, so no leak checker mistakes them for lost; never freed.
  static std::mutex kept_mutex;
  static auto* kept = new std::vector<std::vector<std::unique_ptr<Runner>>>();
  std::lock_guard lock(kept_mutex);
  kept->push_back(std::move(runners_));
}

void ServiceRunner::start() {
  if (std::exchange(started_, true)) return;
  for (auto& runner : runners_) {
    Runner& r = *runner;
    r.thread = std::thread([this, &r] { run(r); });
    post(r, [&r] {
      if (Status started = r.binding.start(); !started) {
        spdlog::error("{}", started.error().message);
        std::lock_guard lock(r.mutex);
        r.snap.last_error = started.error().message;
      }
    });
  }
}

void ServiceRunner::run(Runner& runner) {
  std::unique_lock lock(runner.mutex);
  while (true) {
    runner.changed.wait(lock, [&] { return runner.quit || !runner.tasks.empty(); });
    if (runner.tasks.empty()) return;
    std::function<void()> task = std::move(runner.tasks.front());
    runner.tasks.pop_front();
    lock.unlock();
    task();
    lock.lock();
    ++runner.done;
    runner.changed.notify_all();
  }
}

void ServiceRunner::post(Runner& runner, std::function<void()> task) {
  std::lock_guard lock(runner.mutex);
  runner.tasks.push_back(std::move(task));
  ++runner.posted;
  runner.changed.notify_all();
}

bool ServiceRunner::wait_idle(Runner& runner, const char* what) {
  std::unique_lock lock(runner.mutex);
  const std::uint64_t target = runner.posted;
  if (runner.changed.wait_for(lock, runner.binding.stop_timeout, [&] { return runner.done >= target; })) return true;
  runner.snap.state = "stuck";
  spdlog::warn("service '{}' did not finish {} within its stop_timeout of {} ms; going on without it",
               runner.binding.name, what, runner.binding.stop_timeout.count());
  return false;
}

void ServiceRunner::term_opening(std::int32_t generation) {
  if (!started_ || stopped_) return;
  const auto established_at = std::chrono::system_clock::now();
  std::vector<std::pair<Runner*, std::uint64_t>> opened;
  for (auto& runner : runners_) {
    Runner& r = *runner;
    std::uint64_t term = 0;
    {
      std::lock_guard lock(r.mutex);
      term = ++r.opened;
    }
    opened.emplace_back(&r, term);
    post(r, [this, &r, term, generation, established_at] {
      const auto finish_elected = [&r, term] {
        std::lock_guard lock(r.mutex);
        r.elected_through = term;
        r.changed.notify_all();
      };
      bool over = false;  // the term ended (or the worker stops) before elected's turn came
      {
        std::lock_guard lock(r.mutex);
        over = r.closed >= term || r.worker_stopping;
        if (!over) r.running_term = term;
      }
      if (over) return finish_elected();
      const std::optional<Status> ran = run_as_leader_(
          "service '" + r.binding.name + "' elected", [&] { return r.binding.elected(generation, established_at); });
      {
        std::lock_guard lock(r.mutex);
        if (ran) {
          r.elected_open = true;  // revoked follows, even after a failed elected
          ++r.snap.terms;
          r.snap.state = "leading";
          r.snap.last_error = *ran ? std::string() : ran->error().message;
        }
      }
      if (ran && !*ran) spdlog::error("{}", ran->error().message);
      finish_elected();
      if (ran && *ran && r.binding.lead) {
        if (Status led = r.binding.lead(); !led) {
          spdlog::error("{}", led.error().message);
          std::lock_guard lock(r.mutex);
          r.snap.last_error = led.error().message;
        }
      }
      std::lock_guard lock(r.mutex);
      r.running_term = 0;
    });
  }
  for (auto& [runner, term] : opened) {
    std::unique_lock lock(runner->mutex);
    if (!runner->changed.wait_for(lock, runner->binding.stop_timeout,
                                  [&, t = term] { return runner->elected_through >= t; })) {
      spdlog::warn("service '{}': elected did not return within {} ms; the term goes on", runner->binding.name,
                   runner->binding.stop_timeout.count());
    }
  }
}

void ServiceRunner::term_closed(std::int32_t /*generation*/) {
  if (!started_ || stopped_) return;
  for (auto& runner : runners_) {
    Runner& r = *runner;
    {
      std::lock_guard lock(r.mutex);
      r.closed = r.opened;
      r.changed.notify_all();  // wakes wait_for_stop in lead
    }
    post(r, [&r] {
      {
        std::lock_guard lock(r.mutex);
        if (!std::exchange(r.elected_open, false)) return;
      }
      Status revoked = r.binding.revoked();
      std::lock_guard lock(r.mutex);
      r.snap.state = "idle";
      if (!revoked) {
        spdlog::error("{}", revoked.error().message);
        r.snap.last_error = revoked.error().message;
      }
    });
  }
  for (auto& runner : runners_) wait_idle(*runner, "lead and revoked after its term ended");
}

void ServiceRunner::stop() {
  if (!started_ || std::exchange(stopped_, true)) return;
  for (auto& runner : runners_) {
    Runner& r = *runner;
    {
      std::lock_guard lock(r.mutex);
      r.worker_stopping = true;
      r.changed.notify_all();
    }
    post(r, [&r] {
      Status stopped = r.binding.stop();
      std::lock_guard lock(r.mutex);
      r.snap.state = "stopped";
      if (!stopped) {
        spdlog::error("{}", stopped.error().message);
        r.snap.last_error = stopped.error().message;
      }
    });
  }
  for (auto& runner : runners_) {
    Runner& r = *runner;
    if (wait_idle(r, "stop")) {
      {
        std::lock_guard lock(r.mutex);
        r.quit = true;
        r.changed.notify_all();
      }
      r.thread.join();
    } else {
      // Its thread is still in plugin code: leave it running (see ~ServiceRunner).
      r.thread.detach();
      left_behind_ = true;
    }
  }
}

bool ServiceRunner::wait_for_stop(const std::string& service, std::chrono::milliseconds timeout) {
  Runner* runner = find(service);
  if (runner == nullptr) return true;
  std::unique_lock lock(runner->mutex);
  return runner->changed.wait_for(lock, timeout, [&] {
    return runner->worker_stopping || (runner->running_term != 0 && runner->closed >= runner->running_term);
  });
}

bool ServiceRunner::in_term(const std::string& service) const {
  const Runner* runner = find(service);
  if (runner == nullptr) return false;
  std::lock_guard lock(runner->mutex);
  return runner->running_term != 0;
}

std::vector<ServiceSnapshot> ServiceRunner::snapshot() const {
  std::vector<ServiceSnapshot> snapshots;
  for (const auto& runner : runners_) {
    std::lock_guard lock(runner->mutex);
    snapshots.push_back(runner->snap);
  }
  return snapshots;
}

ServiceRunner::Runner* ServiceRunner::find(const std::string& name) const {
  for (const auto& runner : runners_) {
    if (runner->binding.name == name) return runner.get();
  }
  return nullptr;
}

}  // namespace faust
