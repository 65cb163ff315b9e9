#!/usr/bin/env bash
# faust-host benchmarks, side by side with Python Faust and a bare librdkafka consumer.
#
#   bench/run.sh
#
# One command: builds the tree with the benchmark programs (Release) and the Kafka Streams peer
# (Maven), starts the project's own Kafka broker (stopped again on exit), sets up a Python
# environment with faust-streaming and matplotlib, runs every scenario BENCH_REPEATS times and
# writes bench/results/results.md, chart.png and raw.json. About 30 minutes with the defaults.
# Needs what scripts/setup.sh installs (compilers, librdkafka, a JDK, Maven, kcat) plus python3
# with venv.
#
# Environment (defaults in brackets):
#   BENCH_REPEATS          runs of every scenario [3]
#   BENCH_ONLY             comma-separated scenarios: throughput,latency,failover,footprint,tutorial,
#                          dispatch,forward,isolation [all]
#   BENCH_SYSTEMS          comma-separated systems whose rows the throughput, tutorial and forward
#                          scenarios run: faust-host,faust,bare,kafka-streams,faust-host-isolated
#                          (isolation: process for the no-op agent in throughput, the timer and the
#                          agent in tutorial) [all]; faust-host-sasl,
#                          named only, adds faust-host over SASL_SSL (SCRAM-SHA-512) to throughput
#                          and tutorial, on a secured broker (start-secured) beside the plain one
#   BENCH_MESSAGES         messages for faust-host and bare librdkafka [1000000]
#   BENCH_FAUST_MESSAGES   messages for Python Faust, which is far slower [200000]
#   BENCH_MESSAGE_SIZE     bytes per message [100]
#   BENCH_LATENCY_SECONDS  length of one latency run [30]
#   BENCH_LATENCY_INTERVAL seconds between the probe's sends [0.01]
#   BENCH_FAILOVER_INTERVAL  publish_greetings interval in the failover runs [0.1]
#   BENCH_IDLE_SECONDS     footprint measuring window [60]
#   BENCH_TUTORIAL_SECONDS   length of one tutorial-path run [30]
#   BENCH_TUTORIAL_INTERVAL  seconds between the leader timer's sends in the tutorial-path runs [0.2]
#   BENCH_DISPATCH_COUNT   messages the one dispatching tick sends [10000]
#   BENCH_FORWARD_MESSAGES messages each forwarding run of faust-host and bare librdkafka copies [200000]
#   BENCH_FAUST_FORWARD_MESSAGES  messages each forwarding run of Python Faust copies [50000]
#   BENCH_CRASH_MESSAGES   messages of one isolation run; its plugin crashes on every 100th [2000]
#   BENCH_BUILD_DIR        build folder [<repo>/build-bench]
#   BENCH_RESULTS          output folder [bench/results]
#   BENCH_VENV             Python environment [~/.cache/faust-host/bench-venv-faust-streaming-<version>]
#   BENCH_JOBS             parallel compile jobs [2]
#   FAUST_MAVEN_REPO       Maven local repository for the Kafka Streams peer [Maven's own]
#   KAFKA_VERSION          broker version [3.9.2: aiokafka, under Faust, still speaks the old
#                          protocol versions that Kafka 4 removed]
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(dirname "${BENCH_DIR}")"
# shellcheck source=scripts/lib.sh disable=SC2034
source "${REPO_ROOT}/scripts/lib.sh"
FAUST_LOG_TAG="bench"

readonly FAUST_STREAMING_VERSION="0.15.3"
readonly MATPLOTLIB_VERSION="3.11.2"
BUILD_DIR="${BENCH_BUILD_DIR:-${REPO_ROOT}/build-bench}"
RESULTS_DIR="${BENCH_RESULTS:-${BENCH_DIR}/results}"
VENV="${BENCH_VENV:-${XDG_CACHE_HOME:-${HOME}/.cache}/faust-host/bench-venv-faust-streaming-${FAUST_STREAMING_VERSION}}"
export KAFKA_VERSION="${KAFKA_VERSION:-3.9.2}"
# A broker of the benchmark's own, beside its build.
export FAUST_BROKER_STATE="${BUILD_DIR}/bench-kafka"
# The secured one, for the faust-host-sasl rows.
readonly SECURED_STATE="${BUILD_DIR}/bench-kafka-secured"
# Kafka's own start-script JVM settings (1 GiB heap, G1 with short pauses), not the test
# broker's quick-start ones (serial GC, C1 only), so the broker adds as little jitter as it can.
export KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms1g -Xmx1g}"
export KAFKA_JVM_OPTS="${KAFKA_JVM_OPTS:--XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -Djava.awt.headless=true}"

# -O2, as Debian builds the package. (GCC 12 at CMake's Release -O3 stops on a false
# -Wrestrict warning inside std::string, GCC bug 105651, under -Werror.)
readonly OPT_FLAGS="-O2 -DNDEBUG"

build() {
  faust_log "building faust-host and the benchmark programs in ${BUILD_DIR} (Release, ${OPT_FLAGS})"
  cmake -S "${REPO_ROOT}" -B "${BUILD_DIR}" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    "-DCMAKE_CXX_FLAGS_RELEASE=${OPT_FLAGS}" "-DCMAKE_C_FLAGS_RELEASE=${OPT_FLAGS}" \
    -DFAUST_BUILD_BENCH=ON -DFAUST_BUILD_TESTS=OFF >"${BUILD_DIR}.configure.log" 2>&1 ||
    { tail -n 30 "${BUILD_DIR}.configure.log" >&2; faust_die "configure failed"; }
  ninja -C "${BUILD_DIR}" -j "${BENCH_JOBS:-2}" faust-host say publish_greetings noop latency dispatch forward crashing \
    faust-bench-kafka faust-bench-bare-consumer faust-bench-ipc
}

# The Kafka Streams peer (bench/kafka_streams): built again only when its sources change; Maven
# keeps what it downloads in its local repository.
kafka_streams() {
  local out="${BUILD_DIR}/kafka-streams"
  local sources
  sources="$(cd "${BENCH_DIR}/kafka_streams" && find pom.xml src -type f -print0 | sort -z |
    xargs -0 sha256sum | sha256sum | cut -d ' ' -f 1)"
  if [[ -f "${out}/.complete-${sources}" ]]; then
    return 0
  fi
  faust_log "building the Kafka Streams peer in ${out} (Maven)"
  rm -rf "${out}"
  local -a maven_args=(-q -B -f "${BENCH_DIR}/kafka_streams/pom.xml" package "-Dbench.streams.out=${out}")
  if [[ -n "${FAUST_MAVEN_REPO:-}" ]]; then
    maven_args+=("-Dmaven.repo.local=${FAUST_MAVEN_REPO}")
  fi
  mvn "${maven_args[@]}" >"${out}.log" 2>&1 ||
    { tail -n 30 "${out}.log" >&2; faust_die "the Kafka Streams peer did not build (log ${out}.log)"; }
  touch "${out}/.complete-${sources}"
}

python_env() {
  local marker="${VENV}/.bench-complete"
  if [[ -f "${marker}" ]]; then
    return 0
  fi
  faust_log "creating the Python environment ${VENV} (faust-streaming ${FAUST_STREAMING_VERSION})"
  rm -rf "${VENV}"
  python3 -m venv "${VENV}"
  "${VENV}/bin/pip" install -q "faust-streaming==${FAUST_STREAMING_VERSION}" "matplotlib==${MATPLOTLIB_VERSION}"
  touch "${marker}"
}

# scripts/kafka-broker.sh for the secured broker: its state folder, and the script's own Kafka
# version for it (librdkafka 2.0.2 fails SCRAM against Kafka 4).
secured_broker() {
  FAUST_BROKER_STATE="${SECURED_STATE}" KAFKA_VERSION="" "${REPO_ROOT}/scripts/kafka-broker.sh" "$@"
}

stop_broker() {
  "${REPO_ROOT}/scripts/kafka-broker.sh" stop || true
  secured_broker stop >/dev/null 2>&1 || true
}

# The broker of the faust-host-sasl rows, and the ACLs the README documents, prefixed "bench-"
# (every app id and topic of the benchmark), for its user 'app' that the workers log in as.
start_secured_broker() {
  secured_broker start-secured >/dev/null
  local log="${SECURED_STATE}/acls.log"
  local -a acl=(acls --add --allow-principal User:app --resource-pattern-type prefixed)
  {
    secured_broker "${acl[@]}" --operation Describe --operation Create --operation Read --operation Write \
      --topic bench- &&
      secured_broker "${acl[@]}" --operation Read --group bench- &&
      secured_broker "${acl[@]}" --operation Write --operation Describe --transactional-id bench-
  } >"${log}" 2>&1 || { tail -n 20 "${log}" >&2; faust_die "granting the secured broker's ACLs failed (log ${log})"; }
}

main() {
  local started
  started="$(faust_now)"
  mkdir -p "$(dirname "${BUILD_DIR}")"
  build
  kafka_streams
  python_env

  trap stop_broker EXIT
  local broker_line
  broker_line="$("${REPO_ROOT}/scripts/kafka-broker.sh" start | grep '^FAUST_TEST_BROKER=')"
  local broker="${broker_line#FAUST_TEST_BROKER=}"
  local -a secured=()
  if [[ ",${BENCH_SYSTEMS:-}," == *,faust-host-sasl,* ]]; then
    start_secured_broker
    secured=(--secured-state "${SECURED_STATE}/broker.env")
  fi

  "${VENV}/bin/python" "${BENCH_DIR}/driver.py" --build-dir "${BUILD_DIR}" --broker "${broker}" \
    --results "${RESULTS_DIR}" --kafka-streams "${BUILD_DIR}/kafka-streams" \
    --build-flags "Release, ${OPT_FLAGS}, $(c++ --version | head -n 1)" "${secured[@]}"
  faust_log "done in $(faust_elapsed_since "${started}") s: ${RESULTS_DIR}/results.md, chart.png, raw.json"
}

main "$@"
