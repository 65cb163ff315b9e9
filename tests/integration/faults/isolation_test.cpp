// isolation: process on the real broker: one faust-host worker leads (its on_leader timer sends
// greetings to `say`) and runs the test plugin `faulty` in child processes. Messages that
// segfault, abort or hang its handler are mixed with ordinary ones: the worker stays up and
// keeps its leadership and its group membership, the ordinary messages are handled once each,
// each marked one is tried max_crashes times and then dead-lettered with the crash as its error,
// and the crashes are counted on /metrics. A child that grows past memory_limit_mib is killed
// and restarted the same way; a plugin that crashes on every message stops the worker once its
// restarts pass max_restarts_per_minute. The tutorial runs with its on_leader timer and its agent
// isolated, and an isolated on_leader timer that segfaults on one tick has that tick's
// transaction aborted while the leader keeps its term and the following ticks arrive; an isolated
// leader-only agent's message that crashes after a send has each transaction aborted. A reload
// (SIGHUP) under load swaps an exactly-once agent's plugin for a new build at a message boundary,
// without a rebalance, and refuses a broken build and a manifest change while the running version
// goes on.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "../broker_env.h"
#include "../support/committed_reader.h"
#include "../support/http_get.h"
#include "../support/prometheus_text.h"
#include "../support/topic_seeder.h"
#include "../support/worker_cluster.h"

namespace faust::testing {
namespace {

using namespace std::chrono_literals;

// Under the sanitizers a segfault ends the runner through AddressSanitizer's report (exit 1).
#ifdef FAUST_SANITIZED_BUILD
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

const std::vector<std::string> kValues = {"ok-00", "segv-01", "ok-02", "abort-03", "ok-04",
                                          "hang-05", "ok-06", "ok-07"};

std::string header(const CommittedReader::Record& record, const std::string& name) {
  for (const auto& [key, value] : record.headers) {
    if (key == name) return value;
  }
  return "<missing " + name + ">";
}

double metric(std::uint16_t port, const std::string& series) {
  const auto reply = http_get(port, "/metrics");
  if (!reply || reply->status != 200) return -1;
  return prometheus_sample(reply->body, series).value_or(0);
}

ClusterManifest isolated_manifest() {
  ClusterManifest manifest;
  manifest.app_lines = "  topic_partitions: 1\n";
  manifest.sections = std::string("agents:\n") +
                      "  faulty:\n    library: " + FAUST_FAULTY_PLUGIN + "\n" +
                      "    isolation: process\n    max_crashes: 2\n    handler_timeout: 1\n" +
                      "    on_error: dead_letter\n    max_retries: 1\n" +
                      "  say:\n    library: say\n" +
                      "timers:\n  publish_greetings:\n    library: publish_greetings\n    interval: 0.2\n"
                      "    on_leader: true\n";
  return manifest;
}

TEST(ProcessIsolation, CrashesAndHangsOfAPluginTakeNeitherTheWorkerNorItsLeadershipAndPoisonIsDeadLettered) {
  WorkerCluster cluster("isolation", {}, isolated_manifest());
  auto& worker = cluster.worker(cluster.start_worker());
  const WorkerProcess& process = *worker.process;
  ASSERT_EQ(await_single_leader(cluster, 30s), 0u);
  ASSERT_TRUE(eventually(20s, [&] { return !cluster.sent_greetings(0).empty(); })) << process.log();
  const double rebalances = metric(worker.web_port, "faust_rebalances_total");
  const std::string topic = cluster.app_id() + "-faulty";
  const std::string dead_letter_topic = topic + "-dead-letter";

  TopicSeeder seeder(broker_address());
  ASSERT_EQ(seeder.produce_spaced(topic, 0, kValues, 0ms), static_cast<std::int64_t>(kValues.size()));
  const auto greetings_before = cluster.sent_greetings(0).size();
  ASSERT_TRUE(eventually(30s, [&] {
    return count_lines(process, "(on_error: dead_letter)") == 3 && count_lines(process, "[faulty] handled ok-07") == 1;
  })) << process.log();

  // Every ordinary message handled once; every marked one tried max_crashes times, never again.
  for (const std::string& value : kValues) {
    const bool marked = !value.starts_with("ok-");
    EXPECT_EQ(count_lines(process, "[faulty] received " + value), marked ? 2u : 1u) << value << "\n" << process.log();
    EXPECT_EQ(count_lines(process, "[faulty] handled " + value), marked ? 0u : 1u) << value;
  }
  // One line per crash, with the message in hand.
  const std::string segv_end = kSanitized ? "exited with status 1" : "killed by signal 11 (SIGSEGV)";
  EXPECT_EQ(count_lines(process, segv_end + " while handling " + topic + "[0]@1 (crash 1 of max_crashes 2); "
                                            "restarting it and handling the message again"), 1u) << process.log();
  EXPECT_EQ(count_lines(process, "killed by signal 6 (SIGABRT) while handling " + topic + "[0]@3 (crash 2 of max_crashes 2); "
                                 "restarting it, on_error dead_letter applies to the message"), 1u) << process.log();
  EXPECT_EQ(count_lines(process, "did not answer within handler_timeout 1 s and was killed while handling " + topic + "[0]@5"),
            2u) << process.log();

  // The marked messages are in the dead-letter topic, each once, with the crash as the error.
  const std::map<std::string, std::string> errors = {
      {"segv-01", segv_end}, {"abort-03", "killed by signal 6 (SIGABRT)"},
      {"hang-05", "did not answer within handler_timeout 1 s and was killed"}};
  CommittedReader reader(broker_address(), dead_letter_topic, 0);
  std::map<std::string, CommittedReader::Record> dead_letters;
  while (dead_letters.size() < errors.size()) {
    const auto record = reader.next(10s);
    if (!record) break;
    EXPECT_EQ(dead_letters.count(record->value), 0u) << record->value << " dead-lettered twice";
    dead_letters[record->value] = *record;
  }
  ASSERT_EQ(dead_letters.size(), errors.size());
  for (const auto& [value, how] : errors) {
    ASSERT_EQ(dead_letters.count(value), 1u) << value;
    EXPECT_EQ(header(dead_letters.at(value), "faust.dead-letter.error"),
              "faulty agent 'faulty' failed: its process " + how + " handling this message (crash 2 of max_crashes 2)");
    EXPECT_EQ(header(dead_letters.at(value), "faust.dead-letter.attempts"), "2") << "max_retries 1: failed at once";
  }

  // Counted by reason.
  EXPECT_EQ(metric(worker.web_port, "faust_plugin_crashes_total{plugin=\"faulty\",reason=\"signal\"}"),
            kSanitized ? 2 : 4);
  EXPECT_EQ(metric(worker.web_port, "faust_plugin_crashes_total{plugin=\"faulty\",reason=\"timeout\"}"), 2);
  EXPECT_EQ(metric(worker.web_port, "faust_plugin_crashes_total{plugin=\"faulty\",reason=\"exit\"}"),
            kSanitized ? 2 : 0);
  EXPECT_EQ(metric(worker.web_port, "faust_agent_dead_lettered_total{agent=\"faulty\"}"), 3);

  // The worker never left its group nor its leadership, and its timer kept ticking meanwhile.
  EXPECT_EQ(metric(worker.web_port, "faust_rebalances_total"), rebalances);
  EXPECT_EQ(cluster.is_leader(0), std::optional<bool>(true));
  EXPECT_GT(cluster.sent_greetings(0).size(), greetings_before + 5) << process.log();
  expect_acknowledged_greetings_printed(cluster, 20s);
  expect_workers_running_without_critical(cluster);
}

ClusterManifest faulty_manifest(const std::string& agent_lines) {
  ClusterManifest manifest;
  manifest.app_lines = "  topic_partitions: 1\n";
  manifest.sections = std::string("agents:\n  faulty:\n    library: ") + FAUST_FAULTY_PLUGIN + "\n" +
                      "    isolation: process\n" + agent_lines;
  return manifest;
}

TEST(ProcessIsolation, AChildPastItsMemoryLimitIsKilledCountedAndRestartedAndItsMessageDeadLettered) {
  // handler_timeout is long: the hog never returns, and only the memory limit ends it soon. A
  // runner alone takes about 130 MiB of resident memory under the sanitizers.
  WorkerCluster cluster("isolation-memory", {},
                        faulty_manifest("    memory_limit_mib: 512\n    max_crashes: 2\n    handler_timeout: 20\n"
                                        "    on_error: dead_letter\n    max_retries: 1\n"));
  auto& worker = cluster.worker(cluster.start_worker());
  const WorkerProcess& process = *worker.process;
  const std::string topic = cluster.app_id() + "-faulty";
  const std::vector<std::string> values = {"ok-00", "hog-01", "ok-02", "ok-03"};
  TopicSeeder seeder(broker_address());
  ASSERT_EQ(seeder.produce_spaced(topic, 0, values, 0ms), static_cast<std::int64_t>(values.size()));
  ASSERT_TRUE(eventually(15s, [&] {
    return count_lines(process, "(on_error: dead_letter)") == 1 && count_lines(process, "[faulty] handled ok-03") == 1;
  })) << process.log();

  // Killed twice at its limit, each time one line naming the plugin, the limit and the message.
  const auto lines = process.log_lines();
  std::vector<std::string> kills;
  for (const std::string& line : lines) {
    if (line.find("(plugin faulty): process ") != std::string::npos &&
        line.find("MiB of resident memory, past memory_limit_mib 512, and was killed") != std::string::npos) {
      kills.push_back(line);
    }
  }
  ASSERT_EQ(kills.size(), 2u) << process.log();
  EXPECT_NE(kills[0].find("while handling " + topic + "[0]@1 (crash 1 of max_crashes 2); restarting it and handling "
                          "the message again"), std::string::npos) << kills[0];
  EXPECT_NE(kills[1].find("while handling " + topic + "[0]@1 (crash 2 of max_crashes 2); restarting it, on_error "
                          "dead_letter applies to the message"), std::string::npos) << kills[1];
  for (const std::string& value : values) {
    const bool hog = value.starts_with("hog");
    EXPECT_EQ(count_lines(process, "[faulty] received " + value), hog ? 2u : 1u) << value;
    EXPECT_EQ(count_lines(process, "[faulty] handled " + value), hog ? 0u : 1u) << value;
  }

  CommittedReader reader(broker_address(), topic + "-dead-letter", 0);
  const auto dead_letter = reader.next(10s);
  ASSERT_TRUE(dead_letter.has_value());
  EXPECT_EQ(dead_letter->value, "hog-01");
  EXPECT_NE(header(*dead_letter, "faust.dead-letter.error").find("past memory_limit_mib 512, and was killed handling "
                                                                 "this message (crash 2 of max_crashes 2)"),
            std::string::npos) << header(*dead_letter, "faust.dead-letter.error");
  EXPECT_EQ(metric(worker.web_port, "faust_plugin_crashes_total{plugin=\"faulty\",reason=\"memory\"}"), 2);
  EXPECT_EQ(metric(worker.web_port, "faust_plugin_crashes_total{plugin=\"faulty\",reason=\"timeout\"}"), 0);
  expect_workers_running_without_critical(cluster);
}

TEST(ProcessIsolation, APluginThatCrashesOnEveryMessageStopsTheWorkerPastMaxRestartsPerMinute) {
  WorkerCluster cluster("isolation-restarts", {},
                        faulty_manifest("    max_restarts_per_minute: 3\n    max_crashes: 1\n    on_error: skip\n"));
  auto& worker = cluster.worker(cluster.start_worker());
  WorkerProcess& process = *worker.process;
  const std::string topic = cluster.app_id() + "-faulty";
  std::vector<std::string> values;
  for (int i = 0; i < 10; ++i) values.push_back("segv-" + std::to_string(i));
  TopicSeeder seeder(broker_address());
  ASSERT_EQ(seeder.produce_spaced(topic, 0, values, 0ms), static_cast<std::int64_t>(values.size()));

  // Crashes, restarts 1 to 3 with their backoff (0.1, 0.2 s), then the fourth is refused.
  const auto code = process.wait_exit(20s);
  ASSERT_TRUE(code.has_value()) << "still running:\n" << process.log();
  EXPECT_EQ(*code, 26) << process.log();
  EXPECT_EQ(count_lines(process, "[critical] agent 'faulty' (plugin faulty) crashed again after 3 restarts of its "
                                 "processes within a minute (max_restarts_per_minute 3); stopping the worker"),
            1u) << process.log();
  // The message that found no process to go to is not skipped: it waits for the next worker.
  EXPECT_EQ(count_lines(process, "stopping the worker at " + topic + "[0]@4; left uncommitted (the worker is stopping)"),
            1u) << process.log();
  EXPECT_EQ(count_lines(process, "[faulty] received segv-"), 4u) << "the first process and three restarts";
  EXPECT_EQ(count_lines(process, "[faulty] received segv-4"), 0u) << process.log();
}

// The leader term's generation, terms established and transactions aborted, from /leader.
struct TermView {
  std::int64_t generation = -1;
  std::int64_t terms = -1;
  std::int64_t aborted = -1;
};
std::optional<TermView> leader_term(std::uint16_t port) {
  const auto reply = http_get(port, "/leader");
  if (!reply || reply->status != 200) return std::nullopt;
  const auto body = nlohmann::json::parse(reply->body, nullptr, false);
  if (body.is_discarded() || !body.contains("term")) return std::nullopt;
  const auto& term = body["term"];
  return TermView{term.value("generation", std::int64_t{-1}), term.value("terms_established", std::int64_t{-1}),
                  term.value("transactions_aborted", std::int64_t{-1})};
}

TEST(ProcessIsolation, TheTutorialRunsIsolatedAndATimerThatCrashesOnATickKeepsTheLeadersTerm) {
  const std::filesystem::path marker =
      std::filesystem::temp_directory_path() / ("faust-isolation-tick-" + std::to_string(::getpid()));
  std::filesystem::remove(marker);
  ClusterManifest manifest;
  manifest.app_lines = "  topic_partitions: 1\n";
  manifest.sections = std::string("agents:\n  say:\n    library: say\n    isolation: process\n") +
                      "timers:\n  publish_greetings:\n    library: publish_greetings\n    interval: 0.2\n"
                      "    on_leader: true\n    isolation: process\n" +
                      "  faulty_tick:\n    library: " + FAUST_FAULTY_PLUGIN + "\n    interval: 0.2\n" +
                      "    on_leader: true\n    isolation: process\n" +
                      "    config: {send_to: say, prefix: faulty, crash_on_tick: 5, crash_once: " + marker.string() +
                      "}\n";
  WorkerCluster cluster("isolation-tutorial", {}, manifest);
  auto& worker = cluster.worker(cluster.start_worker());
  const WorkerProcess& process = *worker.process;
  ASSERT_EQ(await_single_leader(cluster, 30s), 0u);

  // The crash: logged once with how the child ended, its tick's transaction aborted.
  const std::string segv_end = kSanitized ? "exited with status 1" : "killed by signal 11 (SIGSEGV)";
  const std::string crash_line = segv_end + " during a tick (its leader transaction is aborted); restarting it for "
                                            "the next tick";
  ASSERT_TRUE(eventually(20s, [&] { return count_lines(process, crash_line) == 1; })) << process.log();
  // The line comes first, then the abort.
  std::optional<TermView> at_crash;
  EXPECT_TRUE(eventually(10s, [&] {
    at_crash = leader_term(worker.web_port);
    return at_crash && at_crash->aborted >= 1;
  })) << process.log();
  ASSERT_TRUE(at_crash.has_value());

  // The ticks after it run in the new child and arrive; the crashed tick's send never does.
  std::set<std::string> pids;
  ASSERT_TRUE(eventually(20s, [&] {
    pids.clear();
    bool later = false;
    for (const auto& [value, count] : cluster.printed_greetings()) {
      if (!value.starts_with("faulty-") || value == "faulty-crashed") continue;
      const std::string pid = value.substr(7, value.rfind('-') - 7);
      pids.insert(pid);
      later = later || (pids.size() == 2 && value.ends_with("-3"));
    }
    return later;
  })) << process.log();
  EXPECT_EQ(pids.size(), 2u) << "the first child and the one that replaced it";
  EXPECT_EQ(cluster.printed_greetings().count("faulty-crashed"), 0u) << "fenced: the aborted tick's send is dropped";
  EXPECT_EQ(count_lines(process, "[faulty_tick] tick 5"), 1u) << process.log();

  // The leader kept its term throughout; the tutorial's greetings kept flowing, each printed.
  const auto after = leader_term(worker.web_port);
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->generation, at_crash->generation);
  EXPECT_EQ(after->terms, at_crash->terms) << "the crash ended the term\n" << process.log();
  EXPECT_EQ(count_lines(process, "leader producer replaced"), 0u) << process.log();
  EXPECT_EQ(cluster.is_leader(0), std::optional<bool>(true));
  const std::size_t greetings = cluster.sent_greetings(0).size();
  EXPECT_TRUE(eventually(10s, [&] { return cluster.sent_greetings(0).size() >= greetings + 3; })) << process.log();
  expect_acknowledged_greetings_printed(cluster, 20s);
  EXPECT_EQ(metric(worker.web_port, "faust_plugin_crashes_total{plugin=\"faulty\",reason=\"" +
                                        std::string(kSanitized ? "exit" : "signal") + "\"}"),
            1);
  expect_workers_running_without_critical(cluster);
  std::filesystem::remove(marker);
}

TEST(ProcessIsolation, AnIsolatedLeaderOnlyAgentsCrashAbortsItsTransactionAndOnErrorApplies) {
  ClusterManifest manifest;
  manifest.app_lines = "  topic_partitions: 1\n";
  manifest.sections = std::string("agents:\n  faulty:\n    library: ") + FAUST_FAULTY_PLUGIN + "\n" +
                      "    on_leader: true\n    isolation: process\n    max_crashes: 2\n    on_error: retry\n" +
                      "    max_retries: 3\n    config: {forward_to: say}\n" +
                      "  say:\n    library: say\n    isolation: process\n";
  WorkerCluster cluster("isolation-leader-agent", {}, manifest);
  auto& worker = cluster.worker(cluster.start_worker());
  const WorkerProcess& process = *worker.process;
  ASSERT_EQ(await_single_leader(cluster, 30s), 0u);
  for (const char* value : {"ok-1", "forward-segv-2", "ok-3"}) ASSERT_EQ(cluster.send("faulty", value).exit_code, 0);

  ASSERT_TRUE(eventually(20s, [&] { return count_lines(process, "[faulty] handled ok-3") == 1; })) << process.log();
  // Two crashes (each aborting the transaction with the forwarded send in it), then on_error's
  // last retries fail without the plugin, and the message is skipped.
  EXPECT_EQ(count_lines(process, "[faulty] received forward-segv-2"), 2u) << process.log();
  EXPECT_EQ(count_lines(process, "its leader transaction is aborted and on_error retry applies to the message"), 1u)
      << process.log();
  EXPECT_EQ(count_lines(process, "skipped (on_error: retry)"), 1u) << process.log();
  EXPECT_EQ(count_lines(process, "[faulty] handled ok-1"), 1u);
  // say reads its one partition read_committed, in order: once a later message is printed, any
  // committed record of the aborted transactions would have been printed before it.
  ASSERT_EQ(cluster.send("say", "after-the-crashes").exit_code, 0);
  ASSERT_TRUE(eventually(20s, [&] { return count_lines(process, "[say] after-the-crashes") == 1; })) << process.log();
  EXPECT_EQ(count_lines(process, "[say] forward-segv-2"), 0u) << process.log();
  const auto term = leader_term(worker.web_port);
  ASSERT_TRUE(term.has_value());
  EXPECT_GE(term->aborted, 2);
  EXPECT_EQ(count_lines(process, "leader producer replaced"), 0u) << process.log();
  expect_workers_running_without_critical(cluster);
}

// The numbers of `partition` (of 2) from `first` on, `count` of them: partition 0 gets the even
// ones, 1 the odd ones, so a copy tells which lane handled it.
std::vector<std::string> numbers_of(int partition, int first, int count) {
  std::vector<std::string> values;
  for (int n = first; n < first + count; ++n) values.push_back(numbered_value(2 * n + partition));
  return values;
}

// Produces the numbers `first`..`first + count` of both partitions of `topic`, `interval` apart,
// beside the test.
std::vector<std::thread> produce(const std::string& topic, int first, int count, std::chrono::milliseconds interval) {
  std::vector<std::thread> producers;
  for (int partition = 0; partition < 2; ++partition) {
    producers.emplace_back([=] {
      const TopicSeeder seeder(broker_address());
      EXPECT_EQ(seeder.produce_spaced(topic, partition, numbers_of(partition, first, count), interval),
                count);
    });
  }
  return producers;
}

TEST(ProcessIsolation, AReloadUnderLoadSwapsAnExactlyOnceAgentsPluginAtAMessageBoundaryAndRefusesABrokenBuild) {
  const std::string output_topic = unique_name("it-reload-output");
  ClusterManifest manifest;
  manifest.app_lines = "  topic_partitions: 2\n";
  const auto sections = [&](int concurrency) {
    return std::string("agents:\n  copy:\n    library: ./copy.so\n    isolation: process\n") +
           "    processing_guarantee: exactly_once\n    concurrency: " + std::to_string(concurrency) + "\n" +
           "    config:\n      to: " + output_topic + "\n";
  };
  manifest.sections = sections(2);
  WorkerCluster cluster("isolation-reload", {}, manifest);
  const std::filesystem::path dir = cluster.manifest_path().parent_path();
  const std::filesystem::path library = dir / "copy.so";
  // A deployment: the new file written beside, then renamed over the one the manifest names.
  const auto deploy = [&](const char* build) {
    std::filesystem::copy_file(build, dir / "staged.so", std::filesystem::copy_options::overwrite_existing);
    std::filesystem::rename(dir / "staged.so", library);
  };
  deploy(FAUST_COPY_V1_PLUGIN);
  TopicSeeder seeder(broker_address());
  ASSERT_EQ(seeder.create_topics({{output_topic, 1}}), "");
  auto& worker = cluster.worker(cluster.start_worker());
  WorkerProcess& process = *worker.process;
  const double rebalances = metric(worker.web_port, "faust_rebalances_total");
  const std::string topic = cluster.app_id() + "-copy";

  // Every copy in the output, read read_committed, in order: its tag by number.
  CommittedReader reader(broker_address(), output_topic, 0);
  std::map<std::int64_t, std::vector<std::string>> tags;  // number → the tags of its copies
  std::vector<std::pair<std::int64_t, std::string>> order;  // (number, tag) as read
  const auto read_until = [&](std::size_t copies, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (order.size() < copies && std::chrono::steady_clock::now() < deadline) {
      const auto record = reader.next(200ms);
      if (!record) continue;
      const auto colon = record->value.find(':');
      const std::string tag = colon == std::string::npos ? "untagged" : record->value.substr(0, colon);
      const std::int64_t number = std::stoll(record->value.substr(colon + 1));
      tags[number].push_back(tag);
      order.emplace_back(number, tag);
    }
    return order.size() >= copies;
  };

  // A: v1 runs.
  for (auto& producer : produce(topic, 0, 200, 0ms)) producer.join();
  ASSERT_TRUE(read_until(400, 20s)) << order.size() << "\n" << process.log();

  // A manifest that changed more than a reload may change is refused as a whole.
  cluster.write_manifest("leader.yaml", ClusterManifest{{}, "raw", manifest.app_lines, sections(3)});
  process.signal(SIGHUP);
  ASSERT_TRUE(process.wait_for_log("leader.yaml:13:18: agents.copy.concurrency: changed; a reload may change only the "
                                   "library and config of agents with isolation: process", 10s)) << process.log();
  cluster.write_manifest("leader.yaml", manifest);
  // A broken build is refused and v1 keeps handling.
  deploy(FAUST_COPY_BROKEN_PLUGIN);
  process.signal(SIGHUP);
  ASSERT_TRUE(process.wait_for_log("reload: agent 'copy' (plugin copy): " + library.string() +
                                   " refused, the running version stays: ", 10s)) << process.log();
  EXPECT_EQ(count_lines(process, "this build of copy is broken"), 1u) << process.log();

  // B: still v1.
  for (auto& producer : produce(topic, 200, 200, 0ms)) producer.join();
  ASSERT_TRUE(read_until(800, 20s)) << order.size() << "\n" << process.log();

  // C: v2 is deployed while the input flows.
  auto flowing = produce(topic, 400, 600, 3ms);
  ASSERT_TRUE(read_until(900, 20s)) << order.size() << "\n" << process.log();
  deploy(FAUST_COPY_V2_PLUGIN);
  process.signal(SIGHUP);
  ASSERT_TRUE(process.wait_for_log("reload: agent 'copy' (plugin copy): " + library.string() +
                                   " checked; each lane swaps to it before its next message", 10s)) << process.log();
  for (auto& producer : flowing) producer.join();
  ASSERT_TRUE(eventually(10s, [&] { return count_lines(process, "took over the lane from process") == 2; }))
      << process.log();

  // D: v2 only.
  for (auto& producer : produce(topic, 1000, 200, 0ms)) producer.join();
  constexpr std::int64_t kNumbers = 2 * 1200;
  ASSERT_TRUE(read_until(kNumbers, 30s)) << order.size() << "\n" << process.log();
  EXPECT_FALSE(read_until(kNumbers + 1, 1s)) << "a copy too many";

  // Every number exactly once, by one version: v1 before the swap, v2 after it, per lane.
  ASSERT_EQ(tags.size(), static_cast<std::size_t>(kNumbers));
  for (const auto& [number, copies] : tags) {
    ASSERT_EQ(copies.size(), 1u) << number;
    const std::int64_t n = number / 2;  // its place in its partition's numbers
    if (n < 400) {
      EXPECT_EQ(copies[0], "v1") << number << ": before the reload";
    } else if (n >= 1000) {
      EXPECT_EQ(copies[0], "v2") << number << ": after the swap";
    }
    EXPECT_TRUE(copies[0] == "v1" || copies[0] == "v2") << number << " " << copies[0];
  }
  for (const int lane : {0, 1}) {
    bool swapped = false;
    std::int64_t v1 = 0;
    for (const auto& [number, tag] : order) {
      if (number % 2 != lane) continue;
      if (tag == "v2") swapped = true;
      if (tag == "v1") ++v1;
      EXPECT_FALSE(swapped && tag == "v1") << "lane " << lane << ": " << number << " by v1 after v2 took over";
    }
    std::cout << "[ report ] lane " << lane << ": " << v1 << " copies by v1, then " << 1200 - v1 << " by v2\n";
  }
  // The old children exited and were reaped.
  for (const std::string& line : process.log_lines()) {
    const auto at = line.find("took over the lane from process ");
    if (at == std::string::npos) continue;
    const int old = std::stoi(line.substr(at + std::string("took over the lane from process ").size()));
    EXPECT_TRUE(::kill(old, 0) != 0 && errno == ESRCH) << line;
  }

  // No rebalance: the consumer was never touched.
  EXPECT_EQ(metric(worker.web_port, "faust_rebalances_total"), rebalances);
  EXPECT_EQ(metric(worker.web_port, "faust_plugin_reloads_total{outcome=\"swapped\",plugin=\"copy\"}"), 1);
  EXPECT_EQ(metric(worker.web_port, "faust_plugin_reloads_total{outcome=\"refused\",plugin=\"copy\"}"), 1);
  EXPECT_EQ(metric(worker.web_port, "faust_manifest_reloads_total{outcome=\"applied\"}"), 2);
  EXPECT_EQ(metric(worker.web_port, "faust_manifest_reloads_total{outcome=\"refused\"}"), 1);
  expect_workers_running_without_critical(cluster);
}

}  // namespace
}  // namespace faust::testing
