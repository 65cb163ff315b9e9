#!/usr/bin/env bash
# A single-node Apache Kafka broker (KRaft) for tests, benchmarks and the demo.
#
#   scripts/kafka-broker.sh fetch    resolve the broker jars into the cache (Maven)
#   scripts/kafka-broker.sh start    start a broker on 127.0.0.1 and a free port; prints
#                                    FAUST_TEST_BROKER=127.0.0.1:PORT
#   scripts/kafka-broker.sh stop     stop it and delete its data
#   scripts/kafka-broker.sh status   say whether it runs and answers (exit 0) or not (exit 3)
#
# Environment:
#   KAFKA_VERSION            Kafka version to run (default below; 3.9.2 also works)
#   FAUST_BROKER_STATE       folder for broker.env and broker.log (default <repo>/build/kafka)
#   FAUST_BROKER_START_TIMEOUT  seconds to wait for the broker to answer (default 60)
#   FAUST_BROKER_STOP_TIMEOUT   seconds to wait for a clean stop before SIGKILL (default 30)
#   FAUST_KAFKA_CACHE        jar folder (default ${XDG_CACHE_HOME:-$HOME/.cache}/faust-host/kafka-<version>)
#   FAUST_MAVEN_REPO         Maven local repository to resolve through (default: Maven's own)
#   KAFKA_HEAP_OPTS, KAFKA_JVM_OPTS  override the JVM heap and JVM flags
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
FAUST_LOG_TAG="kafka-broker"

# Checked with librdkafka 2.0.2 (Debian 12): produce, consumer groups with commits, the admin
# calls, transactions and fencing work on 4.4.0 and on 3.9.2 (KAFKA_VERSION=3.9.2), the last
# 3.x, which still accepts the old protocol versions that 4.x removed (KIP-896).
readonly DEFAULT_KAFKA_VERSION="4.4.0"
KAFKA_VERSION="${KAFKA_VERSION:-${DEFAULT_KAFKA_VERSION}}"
readonly KAFKA_VERSION
readonly SCALA_VERSION="2.13"

readonly KAFKA_CACHE="${FAUST_KAFKA_CACHE:-${XDG_CACHE_HOME:-${HOME}/.cache}/faust-host/kafka-${KAFKA_VERSION}}"
readonly STATE_DIR="${FAUST_BROKER_STATE:-${FAUST_REPO_ROOT}/build/kafka}"
readonly STATE_FILE="${STATE_DIR}/broker.env"
readonly START_TIMEOUT="${FAUST_BROKER_START_TIMEOUT:-60}"
readonly STOP_TIMEOUT="${FAUST_BROKER_STOP_TIMEOUT:-30}"
# Written last by fetch: its presence means every jar is in place.
readonly CACHE_MARKER="${KAFKA_CACHE}/.complete"

usage() {
  faust_print_usage "${BASH_SOURCE[0]}"
}

# Kafka 3.x logs through slf4j 1.7 + log4j 1 (reload4j); 4.x through slf4j 2 + log4j 2.
# The kafka_2.13 artifact brings no binding, and without one the broker logs nothing.
logging_dependencies() {
  case "${KAFKA_VERSION}" in
    3.*)
      printf '%s\n' "org.slf4j slf4j-reload4j 1.7.36"
      ;;
    *)
      # kafka_2.13 4.x still declares slf4j-api 1.7, which cannot see an slf4j 2 binding.
      printf '%s\n' "org.slf4j slf4j-api 2.0.16" \
        "org.apache.logging.log4j log4j-slf4j2-impl 2.24.3" \
        "org.apache.logging.log4j log4j-core 2.24.3"
      ;;
  esac
}

write_pom() {
  local pom="$1"
  {
    cat <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<project>
  <modelVersion>4.0.0</modelVersion>
  <groupId>io.faust-host</groupId>
  <artifactId>test-broker</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_${SCALA_VERSION}</artifactId>
      <version>${KAFKA_VERSION}</version>
    </dependency>
EOF
    local group artifact version
    while read -r group artifact version; do
      cat <<EOF
    <dependency>
      <groupId>${group}</groupId>
      <artifactId>${artifact}</artifactId>
      <version>${version}</version>
    </dependency>
EOF
    done < <(logging_dependencies)
    cat <<EOF
  </dependencies>
</project>
EOF
  } >"${pom}"
}

cmd_fetch() {
  if [[ -f "${CACHE_MARKER}" ]]; then
    return 0
  fi
  command -v mvn >/dev/null || faust_die "mvn not found: run scripts/setup.sh"
  mkdir -p "$(dirname "${KAFKA_CACHE}")"
  # Two fetches at once (parallel CI jobs, a test run and the demo) must not mix their files.
  exec {lock_fd}>"${KAFKA_CACHE}.lock"
  flock "${lock_fd}"
  if [[ -f "${CACHE_MARKER}" ]]; then
    exec {lock_fd}>&-
    return 0
  fi
  faust_log "resolving Kafka ${KAFKA_VERSION} jars into ${KAFKA_CACHE}"
  local work
  work="$(mktemp -d "${KAFKA_CACHE}.fetch.XXXXXX")"
  write_pom "${work}/pom.xml"
  local -a maven_args=(-B -q -f "${work}/pom.xml" dependency:copy-dependencies
    -DincludeScope=runtime "-DoutputDirectory=${work}/jars")
  if [[ -n "${FAUST_MAVEN_REPO:-}" ]]; then
    maven_args+=("-Dmaven.repo.local=${FAUST_MAVEN_REPO}")
  fi
  if ! mvn "${maven_args[@]}" >"${work}/maven.log" 2>&1; then
    tail -n 30 "${work}/maven.log" >&2
    rm -rf "${work}"
    faust_die "Maven could not resolve org.apache.kafka:kafka_${SCALA_VERSION}:${KAFKA_VERSION}"
  fi
  rm -rf "${KAFKA_CACHE}"
  mv "${work}/jars" "${KAFKA_CACHE}"
  rm -rf "${work}"
  touch "${CACHE_MARKER}"
  exec {lock_fd}>&-
  faust_log "cached $(find "${KAFKA_CACHE}" -name '*.jar' | wc -l) jars"
}

# Prints two distinct free TCP ports on 127.0.0.1. Both sockets stay open until both are chosen.
free_ports() {
  python3 - <<'EOF'
import socket
sockets = []
for _ in range(2):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    sockets.append(s)
print(" ".join(str(s.getsockname()[1]) for s in sockets))
EOF
}

# A KRaft cluster id: 16 random bytes, base64url without padding, not starting with '-'
# (the same rule Kafka's own random-uuid follows), made here to save one JVM start.
new_cluster_id() {
  python3 - <<'EOF'
import base64, uuid
while True:
    text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not text.startswith("-"):
        print(text)
        break
EOF
}

write_server_properties() {
  local file="$1" data_dir="$2" broker_port="$3" controller_port="$4"
  cat >"${file}" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${controller_port}
listeners=PLAINTEXT://127.0.0.1:${broker_port},CONTROLLER://127.0.0.1:${controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:${broker_port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=${data_dir}/logs
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
EOF
}

write_logging_config() {
  local dir="$1"
  cat >"${dir}/log4j.properties" <<'EOF'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
EOF
  cat >"${dir}/log4j2.properties" <<'EOF'
status = warn
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.stdout.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = warn
logger.state.name = state.change.logger
logger.state.level = warn
EOF
}

read_state() {
  [[ -f "${STATE_FILE}" ]] || return 1
  FAUST_TEST_BROKER="" FAUST_BROKER_PID="" FAUST_BROKER_DATA_DIR="" FAUST_BROKER_LOG=""
  local key value
  while IFS='=' read -r key value; do
    case "${key}" in
      FAUST_TEST_BROKER | FAUST_BROKER_PID | FAUST_BROKER_DATA_DIR | FAUST_BROKER_LOG | FAUST_BROKER_KAFKA_VERSION)
        printf -v "${key}" '%s' "${value}"
        ;;
    esac
  done <"${STATE_FILE}"
}

# Whether the process id is our broker JVM, not some process that reused the id.
is_broker_process() {
  local pid="$1"
  faust_pid_alive "${pid}" || return 1
  tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka '
}

broker_answers() {
  kcat -L -b "$1" -m 5 >/dev/null 2>&1
}

# Whether our broker has bound its port, by its own log line. Checked before asking kcat:
# kcat would otherwise spend its whole timeout retrying a port that is not open yet, or get its
# answer from another program that holds the port.
broker_bound() {
  local log_file="$1" port="$2"
  grep -qF "Awaiting socket connections on 127.0.0.1:${port}." "${log_file}"
}

kill_and_reap() {
  local pid="$1"
  kill -TERM "${pid}" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while faust_pid_alive "${pid}" && ((SECONDS < deadline)); do
    sleep 0.2
  done
  if faust_pid_alive "${pid}"; then
    faust_log "broker pid ${pid} did not stop within ${STOP_TIMEOUT}s; sending SIGKILL"
    kill -KILL "${pid}" 2>/dev/null || true
    while faust_pid_alive "${pid}"; do sleep 0.1; done
  fi
}

cmd_start() {
  command -v java >/dev/null || faust_die "java not found: run scripts/setup.sh"
  command -v kcat >/dev/null || faust_die "kcat not found: run scripts/setup.sh"
  if read_state; then
    if is_broker_process "${FAUST_BROKER_PID}"; then
      faust_die "a broker already runs (pid ${FAUST_BROKER_PID}, ${FAUST_TEST_BROKER}); stop it first: $0 stop"
    fi
    faust_log "removing stale state of a broker that no longer runs"
    cleanup_state
  fi
  cmd_fetch
  mkdir -p "${STATE_DIR}"
  # The free ports are chosen before the JVM binds them, so another program may take one in
  # between; that start is retried on new ports.
  local attempt status
  for attempt in 1 2 3; do
    # A subshell with its own set -e: under `||` a function would run without it.
    set +e
    (
      set -e
      launch_broker
    )
    status=$?
    set -e
    ((status == 2)) || return "${status}"
    faust_log "a chosen port was taken meanwhile (attempt ${attempt}); retrying on new ports"
  done
  faust_die "could not start Kafka ${KAFKA_VERSION}: ports kept being taken"
}

# Starts the broker once. Returns 0 when it answers and 2 when a port was taken (worth a
# retry); exits non-zero on any other failure.
launch_broker() {
  local data_dir broker_port controller_port
  data_dir="$(mktemp -d "${TMPDIR:-/tmp}/faust-kafka.XXXXXX")"
  read -r broker_port controller_port < <(free_ports)
  local address="127.0.0.1:${broker_port}"
  local log_file="${STATE_DIR}/broker.log"
  write_server_properties "${data_dir}/server.properties" "${data_dir}" "${broker_port}" "${controller_port}"
  write_logging_config "${data_dir}"

  local -a heap_opts jvm_opts
  read -r -a heap_opts <<<"${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
  # Serial GC and no JIT tiers beyond C1 start the JVM in about half the time; the broker of a
  # test run moves little data, so it does not miss the C2 compiler.
  read -r -a jvm_opts <<<"${KAFKA_JVM_OPTS:--XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto -Djava.awt.headless=true}"
  local -a java_cmd=(java "${heap_opts[@]}" "${jvm_opts[@]}"
    "-Dlog4j.configuration=file:${data_dir}/log4j.properties"
    "-Dlog4j2.configurationFile=${data_dir}/log4j2.properties"
    "-Dkafka.logs.dir=${data_dir}"
    -cp "${KAFKA_CACHE}/*")

  : >"${log_file}"
  if ! "${java_cmd[@]}" kafka.tools.StorageTool format -t "$(new_cluster_id)" \
    -c "${data_dir}/server.properties" >>"${log_file}" 2>&1; then
    tail -n 30 "${log_file}" >&2
    rm -rf "${data_dir}"
    faust_die "formatting the KRaft storage failed (log: ${log_file})"
  fi

  # setsid: the broker must not get the terminal's Ctrl-C meant for a test run; whoever
  # started it stops it through this script (scripts/test.sh does so in an EXIT trap).
  setsid "${java_cmd[@]}" kafka.Kafka "${data_dir}/server.properties" \
    >>"${log_file}" 2>&1 </dev/null &
  local pid=$!

  cat >"${STATE_FILE}" <<EOF
FAUST_TEST_BROKER=${address}
FAUST_BROKER_PID=${pid}
FAUST_BROKER_DATA_DIR=${data_dir}
FAUST_BROKER_LOG=${log_file}
FAUST_BROKER_KAFKA_VERSION=${KAFKA_VERSION}
EOF

  local deadline=$((SECONDS + START_TIMEOUT))
  until broker_bound "${log_file}" "${broker_port}" && broker_answers "${address}"; do
    local reason=""
    if ! faust_pid_alive "${pid}"; then
      reason="the broker exited"
    elif ((SECONDS >= deadline)); then
      reason="the broker did not answer a metadata request within ${START_TIMEOUT}s"
    fi
    if [[ -n "${reason}" ]]; then
      kill_and_reap "${pid}"
      wait "${pid}" 2>/dev/null || true
      FAUST_BROKER_DATA_DIR="${data_dir}"
      cleanup_state
      if grep -q 'Address already in use' "${log_file}"; then
        return 2
      fi
      printf '%s\n' "----- last 30 lines of ${log_file} -----" >&2
      tail -n 30 "${log_file}" >&2
      printf '%s\n' "-----" >&2
      faust_die "Kafka ${KAFKA_VERSION} on ${address}: ${reason}"
    fi
    sleep 0.1
  done
  faust_log "Kafka ${KAFKA_VERSION} runs on ${address} (pid ${pid}, log ${log_file})"
  echo "FAUST_TEST_BROKER=${address}"
}

# Removes the data dir and the state file (keeps the log for a look after the run).
cleanup_state() {
  if [[ -n "${FAUST_BROKER_DATA_DIR:-}" && -d "${FAUST_BROKER_DATA_DIR}" ]]; then
    rm -rf "${FAUST_BROKER_DATA_DIR}"
  fi
  rm -f "${STATE_FILE}"
}

cmd_stop() {
  if ! read_state; then
    faust_log "no broker state at ${STATE_FILE}; nothing to stop"
    return 0
  fi
  if is_broker_process "${FAUST_BROKER_PID}"; then
    kill_and_reap "${FAUST_BROKER_PID}"
    faust_log "stopped the broker on ${FAUST_TEST_BROKER} (pid ${FAUST_BROKER_PID})"
  else
    faust_log "broker pid ${FAUST_BROKER_PID} was not running"
  fi
  cleanup_state
}

cmd_status() {
  if ! read_state; then
    echo "not running (no ${STATE_FILE})"
    return 3
  fi
  if ! is_broker_process "${FAUST_BROKER_PID}"; then
    echo "not running (stale state: pid ${FAUST_BROKER_PID} is gone)"
    return 3
  fi
  if ! broker_answers "${FAUST_TEST_BROKER}"; then
    echo "running but not answering: pid ${FAUST_BROKER_PID}, ${FAUST_TEST_BROKER}, log ${FAUST_BROKER_LOG}"
    return 3
  fi
  echo "running: Kafka ${FAUST_BROKER_KAFKA_VERSION:-?} pid ${FAUST_BROKER_PID}, log ${FAUST_BROKER_LOG}"
  echo "FAUST_TEST_BROKER=${FAUST_TEST_BROKER}"
}

# restart: stops the broker (SIGTERM, then waits) and starts it again with the same config, data
# and port, as clients see a broker restart; waits until it answers and records the new pid.
cmd_restart() {
  read_state || faust_die "no broker state at ${STATE_FILE}; start one first: $0 start"
  if [[ -n "${FAUST_BROKER_KAFKA_VERSION:-}" && "${FAUST_BROKER_KAFKA_VERSION}" != "${KAFKA_VERSION}" ]]; then
    faust_die "the broker runs Kafka ${FAUST_BROKER_KAFKA_VERSION}: restart it with KAFKA_VERSION=${FAUST_BROKER_KAFKA_VERSION}"
  fi
  local data_dir="${FAUST_BROKER_DATA_DIR}" address="${FAUST_TEST_BROKER}" log_file="${FAUST_BROKER_LOG}"
  [[ -f "${data_dir}/server.properties" ]] || faust_die "no ${data_dir}/server.properties to restart from"
  local -a heap_opts jvm_opts
  read -r -a heap_opts <<<"${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
  read -r -a jvm_opts <<<"${KAFKA_JVM_OPTS:--XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto -Djava.awt.headless=true}"

  local began=${SECONDS}
  if is_broker_process "${FAUST_BROKER_PID}"; then
    kill_and_reap "${FAUST_BROKER_PID}"
    faust_log "stopped the broker on ${address} (pid ${FAUST_BROKER_PID}); starting it again"
  else
    faust_log "broker pid ${FAUST_BROKER_PID} was not running; starting it again on ${address}"
  fi
  # Only log lines of the new run count as its answer (grep without -q: an early exit would
  # fail the pipeline with tail's SIGPIPE under pipefail).
  local log_offset
  log_offset=$(($(stat -c %s "${log_file}" 2>/dev/null || echo 0) + 1))
  setsid java "${heap_opts[@]}" "${jvm_opts[@]}" \
    "-Dlog4j.configuration=file:${data_dir}/log4j.properties" \
    "-Dlog4j2.configurationFile=${data_dir}/log4j2.properties" \
    "-Dkafka.logs.dir=${data_dir}" -cp "${KAFKA_CACHE}/*" \
    kafka.Kafka "${data_dir}/server.properties" >>"${log_file}" 2>&1 </dev/null &
  local pid=$!
  sed -i "s/^FAUST_BROKER_PID=.*/FAUST_BROKER_PID=${pid}/" "${STATE_FILE}"

  local deadline=$((SECONDS + START_TIMEOUT))
  until tail -c "+${log_offset}" "${log_file}" | grep -F "Awaiting socket connections on ${address}." >/dev/null &&
    broker_answers "${address}"; do
    if ! faust_pid_alive "${pid}" || ((SECONDS >= deadline)); then
      tail -n 30 "${log_file}" >&2
      kill_and_reap "${pid}"
      faust_die "Kafka on ${address} did not answer within ${START_TIMEOUT}s of its restart (log: ${log_file})"
    fi
    sleep 0.1
  done
  faust_log "Kafka ${KAFKA_VERSION} runs again on ${address} (pid ${pid}), $((SECONDS - began)) s after the restart began"
  echo "FAUST_TEST_BROKER=${address}"
}

main() {
  case "${1:-}" in
    fetch) cmd_fetch ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    restart) cmd_restart ;;
    -h | --help | help) usage ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"
