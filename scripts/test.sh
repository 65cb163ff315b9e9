#!/usr/bin/env bash
# The project's test command: from a fresh clone to a full test run.
#
#   scripts/test.sh            packages, build, broker, all tests; then the same under ASan+UBSan
#   scripts/test.sh --quick    without the sanitizer build
#
# Stages: setup (scripts/setup.sh) -> build (Ninja, RelWithDebInfo, build/) -> broker
# (scripts/kafka-broker.sh start) -> tests (ctest: unit and integration) -> sanitizer build
# (build-asan/, -DFAUST_SANITIZE=ON) and its tests -> later stages. The broker is stopped and
# every test process ended when the script exits, whether it passed, failed or was interrupted.
#
#   scripts/test.sh --no-cluster  without the 3-node cluster tests
#
# The cluster tests (ctest label "cluster", tests/integration/cluster/) start a 3-node Kafka
# cluster of their own (scripts/kafka-broker.sh start-cluster) and stop one broker under running
# workers, about a minute in all. They run in the main test stage only: under the sanitizers the
# same worker code already runs through the single-broker fault tests. Their clusters keep their
# state (and, after a failure, the broker and worker logs) under <main build folder>/kafka-clusters/;
# any still running when the script exits is stopped.
#
# The secured tests (ctest label "secured", tests/integration/secured/) start one secured broker
# of their own (scripts/kafka-broker.sh start-secured: SASL_SSL, mTLS, ACLs, Kafka 3.9.2) under
# the same folder, and run in the main test stage only too.
#
# Environment:
#   FAUST_BUILD_DIR       main build folder (default <repo>/build)
#   FAUST_ASAN_BUILD_DIR  sanitizer build folder (default <main build folder>-asan)
#   FAUST_JOBS            parallel compile jobs (default: nproc)
#   FAUST_TEST_JOBS       tests run at once (default 2; tests that stop the shared broker or
#                         start brokers of their own run alone, RUN_SERIAL)
#   FAUST_CTEST_ARGS      extra ctest arguments, e.g. "-R manifest" or "-L integration"
#   KAFKA_VERSION         broker version (see scripts/kafka-broker.sh)
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
FAUST_LOG_TAG="test"
readonly SCRIPTS_DIR="${FAUST_REPO_ROOT}/scripts"

quick=0
cluster=1
for argument in "$@"; do
  case "${argument}" in
    --quick) quick=1 ;;
    --no-cluster) cluster=0 ;;
    -h | --help)
      faust_print_usage "${BASH_SOURCE[0]}"
      exit 0
      ;;
    *) faust_die "unknown option: ${argument} (try --help)" ;;
  esac
done

readonly BUILD_DIR="${FAUST_BUILD_DIR:-${FAUST_REPO_ROOT}/build}"
readonly ASAN_BUILD_DIR="${FAUST_ASAN_BUILD_DIR:-${BUILD_DIR}-asan}"
readonly TSAN_BUILD_DIR="${BUILD_DIR}-tsan"
readonly FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
readonly JOBS="${FAUST_JOBS:-$(nproc)}"
readonly TEST_JOBS="${FAUST_TEST_JOBS:-2}"
# The test builds keep line tables only (-DFAUST_LINE_TABLES_ONLY=ON, -g1): enough for file:line
# in sanitizer reports and backtraces, for less compile time (a quarter less at -O2).
read -r -a EXTRA_CTEST_ARGS <<<"${FAUST_CTEST_ARGS:-}"
# A state folder of its own, so a broker started by hand (build/kafka) can keep running.
export FAUST_BROKER_STATE="${FAUST_BROKER_STATE:-${BUILD_DIR}/kafka-test}"
# Where the cluster tests keep the state folders of their own clusters.
export FAUST_CLUSTER_STATE_ROOT="${BUILD_DIR}/kafka-clusters"

broker_started=0
ctest_group=""
stage_report=()
tests_passed=0
tests_failed=0
RUN_START="$(faust_now)"
readonly RUN_START

# Ends a process group and waits (with a deadline) until it is gone.
end_process_group() {
  local group="$1"
  kill -TERM -- "-${group}" 2>/dev/null || return 0
  local deadline=$((SECONDS + 10))
  while kill -0 -- "-${group}" 2>/dev/null && ((SECONDS < deadline)); do
    sleep 0.1
  done
  kill -KILL -- "-${group}" 2>/dev/null || true
}

# Ends any process still running a program from a build folder: a test that forgot a worker it
# spawned must not outlive the run. Such leftovers are a bug, so they are named.
end_leftover_processes() {
  local dir exe pid
  for dir in "${BUILD_DIR}" "${ASAN_BUILD_DIR}" "${TSAN_BUILD_DIR}"; do
    for exe in /proc/[0-9]*/exe; do
      pid="${exe#/proc/}"
      pid="${pid%/exe}"
      if [[ "$(readlink "${exe}" 2>/dev/null || true)" == "${dir}/"* ]]; then
        faust_log "ending leftover process ${pid}: $(tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null || true)"
        kill -KILL "${pid}" 2>/dev/null || true
      fi
    done
  done
}

# Stops the clusters of cluster tests that ended without stopping theirs (killed at their
# timeout): the broker JVMs run in sessions of their own, out of reach of end_process_group.
stop_leftover_clusters() {
  local state_file
  for state_file in "${FAUST_CLUSTER_STATE_ROOT}"/*/broker.env; do
    [[ -f "${state_file}" ]] || continue
    faust_log "stopping the leftover Kafka cluster of ${state_file%/broker.env}"
    FAUST_BROKER_STATE="${state_file%/broker.env}" bash "${SCRIPTS_DIR}/kafka-broker.sh" stop || true
  done
}

print_summary() {
  local line
  printf '\n%-28s %10s  %s\n' "stage" "seconds" "result" >&2
  for line in "${stage_report[@]}"; do
    printf '%s\n' "${line}" >&2
  done
  printf '%-28s %10s\n' "total" "$(faust_elapsed_since "${RUN_START}")" >&2
}

on_exit() {
  local status=$?
  trap - EXIT INT TERM
  if [[ -n "${ctest_group}" ]]; then
    end_process_group "${ctest_group}"
  fi
  end_leftover_processes
  stop_leftover_clusters
  if ((broker_started)); then
    bash "${SCRIPTS_DIR}/kafka-broker.sh" stop || status=1
  fi
  print_summary
  # One plain closing line that counts both test runs.
  printf 'tests: %d passed, %d failed\n' "${tests_passed}" "${tests_failed}"
  exit "${status}"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Runs one stage, records its time, and stops the run when it fails.
stage() {
  local name="$1"
  shift
  faust_log "== ${name}"
  local start status=0
  start="$(faust_now)"
  "$@" || status=$?
  local result="ok"
  ((status == 0)) || result="FAILED (exit ${status})"
  stage_report+=("$(printf '%-28s %10s  %s' "${name}" "$(faust_elapsed_since "${start}")" "${result}")")
  if ((status != 0)); then
    faust_log "stage '${name}' failed"
    exit "${status}"
  fi
}

configure_and_build() {
  local dir="$1"
  shift
  # Chained with &&: set -e does not apply inside a function that stage() runs under `||`.
  cmake -S "${FAUST_REPO_ROOT}" -B "${dir}" -G Ninja "$@" &&
    cmake --build "${dir}" -j "${JOBS}"
}

start_broker() {
  local output
  # The secured tests' broker runs another Kafka version (see kafka-broker.sh): its jars now, so
  # that no test waits for Maven.
  bash "${SCRIPTS_DIR}/kafka-broker.sh" fetch-secured || return 1
  output="$(bash "${SCRIPTS_DIR}/kafka-broker.sh" start)" || return 1
  broker_started=1
  FAUST_TEST_BROKER="$(printf '%s\n' "${output}" | sed -n 's/^FAUST_TEST_BROKER=//p' | tail -n 1)"
  [[ -n "${FAUST_TEST_BROKER}" ]] || return 1
  export FAUST_TEST_BROKER
  export FAUST_BROKER_STATE_FILE="${FAUST_BROKER_STATE}/broker.env"
  faust_log "FAUST_TEST_BROKER=${FAUST_TEST_BROKER}"
}

# Adds the counts of a ctest log's "N% tests passed, F tests failed out of T" line.
count_tests() {
  local log="$1" line failed total
  line="$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "${log}" | tail -n 1 || true)"
  [[ -n "${line}" ]] || return 0
  failed="$(sed -E 's/.* ([0-9]+) tests? failed out of.*/\1/' <<<"${line}")"
  total="$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"${line}")"
  tests_failed=$((tests_failed + failed))
  tests_passed=$((tests_passed + total - failed))
}

# ctest runs in a process group of its own so that everything the tests start can be ended
# together, also when the run is interrupted.
# Set to 1 for the sanitizer stages, which leave the cluster tests to the main stage.
without_cluster=0

run_tests() {
  local dir="$1" log="$1/ctest-output.log"
  local exclude="packaging"
  ((cluster && !without_cluster)) || exclude="packaging|cluster"
  # The secured broker's tests (label "secured") run in the main stage only, as the cluster's.
  ((!without_cluster)) || exclude="${exclude}|secured"
  setsid ctest --test-dir "${dir}" -LE "${exclude}" -j "${TEST_JOBS}" --output-on-failure --no-tests=error --timeout 600 \
    --output-log "${log}" "${EXTRA_CTEST_ARGS[@]}" "${@:2}" </dev/null &
  ctest_group=$!
  local status=0
  wait "${ctest_group}" || status=$?
  end_process_group "${ctest_group}"
  ctest_group=""
  end_leftover_processes
  stop_leftover_clusters
  count_tests "${log}"
  return "${status}"
}

# Four long fault tests are left to the main stage, each a minute or more of waiting out real
# timeouts on paths that shorter tests here also run: the at-least-once run of the exactly-once
# copy (its exactly-once run, with the same faults, stays), the crawler's three-worker failover
# (the crawler's own code runs here through its unit tests), the thirty rounds of leader kills and
# pauses (the leader-election and fenced-leadership tests stay) and the long broker outage (the
# broker restart and the agents' send-retry outage stay).
run_sanitized_tests() {
  without_cluster=1
  ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:strict_string_checks=1" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    run_tests "${ASAN_BUILD_DIR}" -E "^(ExactlyOnceCopy\.AtLeastOnce|Crawler\.|Chaos\.|BrokerOutage\.)"
}

# The concurrency tests (runtime, transports, and the worker's side of process isolation: its
# channel, crashes and restarts, isolated timers and services, reloads) under ThreadSanitizer: only
# what they need is built.
run_tsan_tests() {
  cmake -S "${FAUST_REPO_ROOT}" -B "${TSAN_BUILD_DIR}" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DFAUST_LINE_TABLES_ONLY=ON \
    -DFAUST_TSAN=ON &&
    cmake --build "${TSAN_BUILD_DIR}" -j "${JOBS}" --target runtime_test transport_test isolation_test &&
    TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1" \
      run_tests "${TSAN_BUILD_DIR}" -R "AgentRunner|PipelinedSends|TimerService|LeaderElector|LeaderTerm|LeaderState|LeaderAgentRunner|ServiceRunner|MemoryTransport|IsolatedAgent|IsolatedTimerService|AgentReload|Channel|RestartBudget"
}

# The .deb packages: built by scripts/package.sh inside the test, unpacked into a throwaway root,
# checked with lintian and systemd-analyze, used to build and load plugins.
run_packaging_test() {
  local log="${BUILD_DIR}/ctest-packaging.log" status=0
  ctest --test-dir "${BUILD_DIR}" -L packaging --output-on-failure --no-tests=error --timeout 900 \
    --output-log "${log}" </dev/null || status=$?
  count_tests "${log}"
  return "${status}"
}

# They run after both test runs, and each is one `stage "<name>" <cmd>`.
run_later_stages() {
  stage "packaging (.deb)" run_packaging_test
  if ((!quick)); then
    stage "tests under TSan (concurrency)" run_tsan_tests
    stage "fuzz (${FUZZ_SECONDS} s per target)" env FUZZ_SECONDS="${FUZZ_SECONDS}" bash "${SCRIPTS_DIR}/fuzz.sh"
  fi
}

main() {
  stage "setup" bash "${SCRIPTS_DIR}/setup.sh"
  stage "build (${BUILD_DIR##*/})" configure_and_build "${BUILD_DIR}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DFAUST_LINE_TABLES_ONLY=ON
  stage "broker" start_broker
  stage "tests (${BUILD_DIR##*/})" run_tests "${BUILD_DIR}"
  if ((!quick)); then
    # Debug keeps assert() on, which is what a checking build is for.
    stage "build (${ASAN_BUILD_DIR##*/})" configure_and_build "${ASAN_BUILD_DIR}" \
      -DCMAKE_BUILD_TYPE=Debug -DFAUST_LINE_TABLES_ONLY=ON -DFAUST_SANITIZE=ON
    stage "tests (${ASAN_BUILD_DIR##*/})" run_sanitized_tests
  fi
  run_later_stages
}

main
