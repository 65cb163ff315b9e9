#!/usr/bin/env bash
# A single-node Apache Kafka broker (KRaft) for tests, benchmarks and the demo, or a 3-node
# cluster on this one machine for the tests that stop a broker of several.
#
#   scripts/kafka-broker.sh fetch    resolve the broker jars into the cache (Maven)
#   scripts/kafka-broker.sh fetch-secured  the same for the secured broker's version
#   scripts/kafka-broker.sh start    start a broker on 127.0.0.1 and a free port; prints
#                                    FAUST_TEST_BROKER=127.0.0.1:PORT
#   scripts/kafka-broker.sh stop     stop it (or every node of the cluster) and delete its data
#   scripts/kafka-broker.sh status   say whether it runs and answers (exit 0) or not (exit 3);
#                                    a cluster: every node
#   scripts/kafka-broker.sh restart  stop the single broker and start it again (same data, port)
#
#   scripts/kafka-broker.sh start-secured  a single broker that takes only authenticated clients:
#                                    a SASL_SSL listener (SCRAM-SHA-512 users 'admin' and 'app'),
#                                    an SSL listener that requires a client certificate (mTLS,
#                                    principal User:CN=app,O=faust-host; an expired one and one
#                                    of a CA the broker does not trust too), a
#                                    throwaway CA made at start-up, three listeners that present a
#                                    broker certificate no client may trust (expired: SASL_SSL and
#                                    SSL; not yet valid: SASL_SSL), and the StandardAuthorizer with
#                                    allow.everyone.if.no.acl.found=false (super users: the broker
#                                    and 'admin'); prints the connection facts (FAUST_SECURED_*) and
#                                    writes them to the state file; `stop` stops it. Runs Kafka
#                                    3.9.2 unless KAFKA_VERSION says otherwise (see below why)
#   scripts/kafka-broker.sh acls ARGS...  kafka-acls (AclCommand) against the secured broker as
#                                    'admin': e.g. acls --add --allow-principal User:app ...
#
#   scripts/kafka-broker.sh start-cluster  start 3 nodes (node.id 1-3, each controller and
#                                    broker) on 127.0.0.1 and free ports, one data dir each;
#                                    internal topics replicated 3 with min ISR 2, and so are
#                                    new topics by default (create yours with replication 3:
#                                    with min ISR 2 a topic of 1 replica takes no acks=all write);
#                                    prints FAUST_TEST_BROKER=HOST:PORT,HOST:PORT,HOST:PORT
#   scripts/kafka-broker.sh stop-node N    stop node N of the cluster (SIGTERM), keep its data
#   scripts/kafka-broker.sh start-node N   start node N again with its data and port; returns
#                                    once it answers and the cluster lists it as a broker again
#
# Environment:
#   KAFKA_VERSION            Kafka version to run (default below; 3.9.2 also works)
#   FAUST_BROKER_STATE       folder for broker.env and broker.log, a cluster's broker-N.log
#                            (default <repo>/build/kafka)
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
DEFAULT_KAFKA_VERSION="4.4.0"
# The secured broker runs 3.9: librdkafka before 2.6.1 (Debian 12 has 2.0.2) fails SCRAM
# authentication against Kafka 4.x ("invalid credentials" for the right password), while Kafka's
# own Java client succeeds with the same users.
readonly SECURED_KAFKA_VERSION="3.9.2"
case "${1:-}" in
  start-secured | acls | fetch-secured) DEFAULT_KAFKA_VERSION="${SECURED_KAFKA_VERSION}" ;;
esac
readonly DEFAULT_KAFKA_VERSION
KAFKA_VERSION="${KAFKA_VERSION:-${DEFAULT_KAFKA_VERSION}}"
readonly KAFKA_VERSION
readonly SCALA_VERSION="2.13"

readonly KAFKA_CACHE="${FAUST_KAFKA_CACHE:-${XDG_CACHE_HOME:-${HOME}/.cache}/faust-host/kafka-${KAFKA_VERSION}}"
readonly STATE_DIR="${FAUST_BROKER_STATE:-${FAUST_REPO_ROOT}/build/kafka}"
readonly STATE_FILE="${STATE_DIR}/broker.env"
readonly START_TIMEOUT="${FAUST_BROKER_START_TIMEOUT:-60}"
readonly STOP_TIMEOUT="${FAUST_BROKER_STOP_TIMEOUT:-30}"
# The nodes of `start-cluster`: three, so that one can stop while two keep a KRaft quorum and
# every replicated partition keeps its min ISR of 2.
readonly CLUSTER_NODES=3
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

# Prints COUNT (default 2) distinct free TCP ports on 127.0.0.1. All sockets stay open until all
# are chosen.
free_ports() {
  python3 - "${1:-2}" <<'EOF'
import socket, sys
sockets = []
for _ in range(int(sys.argv[1])):
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

# A combined controller+broker node. Without the last four arguments (node id, the quorum's
# voters, replication factor, min ISR): the single broker, node 1, its own only voter, every
# replication factor and min ISR 1.
write_server_properties() {
  local file="$1" data_dir="$2" broker_port="$3" controller_port="$4"
  local node_id="${5:-1}" voters="${6:-1@127.0.0.1:${controller_port}}" replication="${7:-1}" min_isr="${8:-1}"
  cat >"${file}" <<EOF
process.roles=broker,controller
node.id=${node_id}
controller.quorum.voters=${voters}
listeners=PLAINTEXT://127.0.0.1:${broker_port},CONTROLLER://127.0.0.1:${controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:${broker_port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=${data_dir}/logs
num.partitions=1
default.replication.factor=${replication}
min.insync.replicas=${min_isr}
offsets.topic.replication.factor=${replication}
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=${replication}
transaction.state.log.min.isr=${min_isr}
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=${replication}
share.coordinator.state.topic.min.isr=${min_isr}
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

# What read_state finds. A single broker has FAUST_BROKER_PID; a cluster has FAUST_BROKER_NODES and
# per node FAUST_BROKER_NODE_<N>_ADDRESS and FAUST_BROKER_NODE_<N>_PID (empty while stopped), its
# data in FAUST_BROKER_DATA_DIR/node-<N> and its log in the state folder (broker-<N>.log).
FAUST_BROKER_NODES=""
NODE_PIDS=()
NODE_ADDRESSES=()

read_state() {
  [[ -f "${STATE_FILE}" ]] || return 1
  FAUST_TEST_BROKER="" FAUST_BROKER_PID="" FAUST_BROKER_DATA_DIR="" FAUST_BROKER_LOG="" FAUST_BROKER_NODES=""
  FAUST_SECURED_ADMIN_KCAT_CONFIG="" FAUST_SECURED_ADMIN_CONFIG=""
  NODE_PIDS=()
  NODE_ADDRESSES=()
  local key value
  while IFS='=' read -r key value; do
    case "${key}" in
      FAUST_TEST_BROKER | FAUST_BROKER_PID | FAUST_BROKER_DATA_DIR | FAUST_BROKER_LOG | FAUST_BROKER_KAFKA_VERSION | FAUST_BROKER_NODES)
        printf -v "${key}" '%s' "${value}"
        ;;
      FAUST_SECURED_ADMIN_KCAT_CONFIG | FAUST_SECURED_ADMIN_CONFIG) printf -v "${key}" '%s' "${value}" ;;
      # The node number is the one digit after "FAUST_BROKER_NODE_".
      FAUST_BROKER_NODE_[1-9]_PID) NODE_PIDS[${key:18:1}]="${value}" ;;
      FAUST_BROKER_NODE_[1-9]_ADDRESS) NODE_ADDRESSES[${key:18:1}]="${value}" ;;
    esac
  done <"${STATE_FILE}"
}

is_cluster_state() {
  [[ -n "${FAUST_BROKER_NODES}" ]]
}

node_dir() {
  printf '%s/node-%s\n' "${FAUST_BROKER_DATA_DIR}" "$1"
}

node_log() {
  printf '%s/broker-%s.log\n' "${STATE_DIR}" "$1"
}

# Writes the state of a cluster from FAUST_TEST_BROKER, FAUST_BROKER_DATA_DIR,
# FAUST_BROKER_KAFKA_VERSION, FAUST_BROKER_NODES, NODE_ADDRESSES and NODE_PIDS, in one rename
# (tests read it while the script runs).
write_cluster_state() {
  local n
  {
    printf '%s\n' "FAUST_TEST_BROKER=${FAUST_TEST_BROKER}" "FAUST_BROKER_DATA_DIR=${FAUST_BROKER_DATA_DIR}" \
      "FAUST_BROKER_KAFKA_VERSION=${FAUST_BROKER_KAFKA_VERSION}" "FAUST_BROKER_NODES=${FAUST_BROKER_NODES}"
    for ((n = 1; n <= FAUST_BROKER_NODES; n++)); do
      printf '%s\n' "FAUST_BROKER_NODE_${n}_ADDRESS=${NODE_ADDRESSES[n]}" "FAUST_BROKER_NODE_${n}_PID=${NODE_PIDS[n]:-}"
    done
  } >"${STATE_FILE}.new"
  mv "${STATE_FILE}.new" "${STATE_FILE}"
}

# Whether the process id is our broker JVM, not some process that reused the id.
is_broker_process() {
  local pid="$1"
  faust_pid_alive "${pid}" || return 1
  tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka '
}

# The broker processes of the state read last that still run: the single broker, or the nodes.
running_broker_pids() {
  local pid
  for pid in "${FAUST_BROKER_PID}" "${NODE_PIDS[@]}"; do
    if [[ -n "${pid}" ]] && is_broker_process "${pid}"; then
      printf '%s\n' "${pid}"
    fi
  done
}

# kcat's settings for the broker of the state: a secured broker is asked as its admin user.
FAUST_SECURED_ADMIN_KCAT_CONFIG=""
FAUST_SECURED_ADMIN_CONFIG=""
broker_answers() {
  local -a security=()
  if [[ -n "${FAUST_SECURED_ADMIN_KCAT_CONFIG}" ]]; then
    security=(-F "${FAUST_SECURED_ADMIN_KCAT_CONFIG}")
  fi
  kcat "${security[@]}" -L -b "$1" -m 5 >/dev/null 2>&1
}

# The node ids of the brokers the cluster behind an address lists (registered and not fenced),
# one a line; nothing without an answer.
listed_broker_ids() {
  kcat -L -b "$1" -m 5 2>/dev/null | sed -n 's/^  broker \([0-9]*\) at .*/\1/p'
}

# Whether our broker has bound its port, by its own log line. Checked before asking kcat:
# kcat would otherwise spend its whole timeout retrying a port that is not open yet, or get its
# answer from another program that holds the port.
broker_bound() {
  local log_file="$1" port="$2"
  grep -qF "Awaiting socket connections on 127.0.0.1:${port}." "${log_file}"
}

# Whether the broker that logs to log_file has bound `address` and answers there; only its log
# lines from byte log_offset on count (those of its current run). grep without -q: an early exit
# would fail the pipeline with tail's SIGPIPE under pipefail.
node_up() {
  local log_file="$1" log_offset="$2" address="$3"
  tail -c "+${log_offset}" "${log_file}" | grep -F "Awaiting socket connections on ${address}." >/dev/null &&
    broker_answers "${address}"
}

# Stops broker processes: SIGTERM to all at once (the nodes of a cluster shut down together),
# SIGKILL to any still running after STOP_TIMEOUT.
kill_and_reap() {
  local pid
  for pid in "$@"; do
    kill -TERM "${pid}" 2>/dev/null || true
  done
  local deadline=$((SECONDS + STOP_TIMEOUT))
  for pid in "$@"; do
    while faust_pid_alive "${pid}" && ((SECONDS < deadline)); do
      sleep 0.2
    done
  done
  for pid in "$@"; do
    if faust_pid_alive "${pid}"; then
      faust_log "broker pid ${pid} did not stop within ${STOP_TIMEOUT}s; sending SIGKILL"
      kill -KILL "${pid}" 2>/dev/null || true
      while faust_pid_alive "${pid}"; do sleep 0.1; done
    fi
  done
}

# Sets JAVA_CMD to the JVM command (up to the main class) for the configs in data_dir.
broker_java_command() {
  local data_dir="$1"
  local -a heap_opts jvm_opts
  read -r -a heap_opts <<<"${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
  # Serial GC and no JIT tiers beyond C1 start the JVM in about half the time; the broker of a
  # test run moves little data, so it does not miss the C2 compiler.
  read -r -a jvm_opts <<<"${KAFKA_JVM_OPTS:--XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto -Djava.awt.headless=true}"
  JAVA_CMD=(java "${heap_opts[@]}" "${jvm_opts[@]}"
    "-Dlog4j.configuration=file:${data_dir}/log4j.properties"
    "-Dlog4j2.configurationFile=${data_dir}/log4j2.properties"
    "-Dkafka.logs.dir=${data_dir}"
    -cp "${KAFKA_CACHE}/*")
}

# Formats the KRaft storage of data_dir/server.properties (output appended to log_file).
# Further arguments go to the tool (the secured broker's --add-scram users).
format_storage() {
  local data_dir="$1" cluster_id="$2" log_file="$3"
  shift 3
  broker_java_command "${data_dir}"
  "${JAVA_CMD[@]}" kafka.tools.StorageTool format -t "${cluster_id}" \
    -c "${data_dir}/server.properties" "$@" >>"${log_file}" 2>&1
}

# Starts the broker of data_dir/server.properties in the background, its output appended to
# log_file; sets SPAWNED_PID.
spawn_broker() {
  local data_dir="$1" log_file="$2"
  broker_java_command "${data_dir}"
  # setsid: the broker must not get the terminal's Ctrl-C meant for a test run; whoever
  # started it stops it through this script (scripts/test.sh does so in an EXIT trap).
  setsid "${JAVA_CMD[@]}" kafka.Kafka "${data_dir}/server.properties" >>"${log_file}" 2>&1 </dev/null &
  SPAWNED_PID=$!
}

# Checks what a start needs, refuses while a broker of the state folder runs, and fetches the jars.
prepare_start() {
  command -v java >/dev/null || faust_die "java not found: run scripts/setup.sh"
  command -v kcat >/dev/null || faust_die "kcat not found: run scripts/setup.sh"
  if read_state; then
    local -a running
    mapfile -t running < <(running_broker_pids)
    if ((${#running[@]} > 0)); then
      faust_die "a broker already runs (pid ${running[*]}, ${FAUST_TEST_BROKER}); stop it first: $0 stop"
    fi
    faust_log "removing stale state of a broker that no longer runs"
    cleanup_state
  fi
  cmd_fetch
  mkdir -p "${STATE_DIR}"
}

# Runs a launcher (launch_broker, launch_cluster) until it did not fail for a taken port.
# The free ports are chosen before the JVM binds them, so another program may take one in
# between; that start is retried on new ports.
launch_with_port_retries() {
  local launcher="$1" attempt status
  for attempt in 1 2 3; do
    # A subshell with its own set -e: under `||` a function would run without it.
    set +e
    (
      set -e
      "${launcher}"
    )
    status=$?
    set -e
    ((status == 2)) || return "${status}"
    faust_log "a chosen port was taken meanwhile (attempt ${attempt}); retrying on new ports"
  done
  faust_die "could not start Kafka ${KAFKA_VERSION}: ports kept being taken"
}

# 1 while `start-secured` launches its broker.
SECURED=0

# A random password of 24 letters and digits (no shell or properties quoting needed).
random_password() {
  python3 -c 'import secrets, string; print("".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(24)))'
}

# The client certificate's subject (openssl's form) and the principal name the broker derives
# from it by Kafka's default rule (the subject as RFC 2253 writes it: most specific first).
readonly CLIENT_SUBJECT="/O=faust-host/CN=app"
readonly CLIENT_PRINCIPAL_NAME="CN=app,O=faust-host"

# An EC key and a certificate named $2 for the subject $3 signed by the CA in dir (ca.pem, or
# $5.pem), with the extensions in $4.
issue_certificate() {
  local dir="$1" name="$2" subject="$3" extensions="$4" ca="${5:-ca}"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "${dir}/${name}.key" \
    -subj "${subject}" -out "${dir}/${name}.csr" 2>/dev/null
  openssl x509 -req -in "${dir}/${name}.csr" -CA "${dir}/${ca}.pem" -CAkey "${dir}/${ca}.key" -CAcreateserial \
    -days 2 -out "${dir}/${name}.pem" -extfile <(printf '%s\n' "${extensions}") 2>/dev/null
  rm -f "${dir}/${name}.csr"
}

# A certificate named $2 for the subject $3 with the extensions in $4 (one a line), signed by the
# CA in dir, valid only from $5 to $6 (dates as `date -d` reads them): openssl 3.0's x509 cannot
# backdate nor postdate, its `ca` takes explicit dates (and orders the subject as its policy lists
# the names: as in CLIENT_SUBJECT).
issue_dated_certificate() {
  local dir="$1" name="$2" subject="$3" extensions="$4" start="$5" end="$6"
  local ca_dir="${dir}/dating-ca"
  mkdir -p "${ca_dir}"
  : >"${ca_dir}/index.txt"
  printf '%s\n' 1000 >"${ca_dir}/serial"
  cat >"${ca_dir}/ca.cnf" <<EOF
[ca]
default_ca = dating
[dating]
database = ${ca_dir}/index.txt
new_certs_dir = ${ca_dir}
serial = ${ca_dir}/serial
default_md = sha256
policy = any
unique_subject = no
[any]
organizationName = optional
commonName = supplied
[extensions]
${extensions}
EOF
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "${dir}/${name}.key" \
    -subj "${subject}" -out "${dir}/${name}.csr" 2>/dev/null
  openssl ca -batch -config "${ca_dir}/ca.cnf" -cert "${dir}/ca.pem" -keyfile "${dir}/ca.key" \
    -startdate "$(date -u -d "${start}" +%Y%m%d%H%M%SZ)" -enddate "$(date -u -d "${end}" +%Y%m%d%H%M%SZ)" \
    -extensions extensions -notext -in "${dir}/${name}.csr" -out "${dir}/${name}.pem" 2>/dev/null
  rm -rf "${dir}/${name}.csr" "${ca_dir}"
}

# The secured broker's TLS material and users in data_dir/secured, and its listeners appended to
# data_dir/server.properties (later keys win). Certificates map to principals by Kafka's default
# rule: the broker's own is User:CN=broker (on the SSL listener it talks to itself and its
# controller through), the client's User:CN=app,O=faust-host. Three more listeners, which no
# client learns from metadata, present a broker certificate a client must refuse: one that
# expired a year ago (SASL_SSL, and SSL with client certificates) and one valid only from a year on
# (SASL_SSL); the broker itself never connects to them.
secure_broker() {
  local data_dir="$1" sasl_port="$2" ssl_port="$3" controller_port="$4"
  local expired_sasl_port="$5" expired_ssl_port="$6" not_yet_valid_sasl_port="$7"
  local dir="${data_dir}/secured"
  mkdir -p "${dir}"
  chmod 700 "${dir}"
  local store_password
  store_password="$(random_password)"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "${dir}/ca.key" \
    -out "${dir}/ca.pem" -days 2 -subj "/CN=faust-test-ca" 2>/dev/null
  issue_certificate "${dir}" broker "/CN=broker" \
    $'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth'
  issue_certificate "${dir}" app "${CLIENT_SUBJECT}" 'extendedKeyUsage=clientAuth'
  issue_dated_certificate "${dir}" app-expired "${CLIENT_SUBJECT}" 'extendedKeyUsage=clientAuth' \
    '-366 days' '-365 days'
  local broker_extensions=$'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth'
  issue_dated_certificate "${dir}" broker-expired "/CN=broker" "${broker_extensions}" '-366 days' '-365 days'
  issue_dated_certificate "${dir}" broker-not-yet-valid "/CN=broker" "${broker_extensions}" '+365 days' '+366 days'
  local keystore
  for keystore in broker broker-expired broker-not-yet-valid; do
    openssl pkcs12 -export -in "${dir}/${keystore}.pem" -inkey "${dir}/${keystore}.key" -certfile "${dir}/ca.pem" \
      -name broker -out "${dir}/${keystore}.p12" -passout "pass:${store_password}"
  done
  # A CA the broker does not know, for clients that must fail to trust it.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "${dir}/untrusted-ca.key" \
    -out "${dir}/untrusted-ca.pem" -days 2 -subj "/CN=faust-untrusted-ca" 2>/dev/null
  # A client certificate of that CA: the broker refuses it (after the handshake, on TLS 1.3).
  issue_certificate "${dir}" app-untrusted "${CLIENT_SUBJECT}" 'extendedKeyUsage=clientAuth' untrusted-ca
  random_password >"${dir}/admin.password"
  random_password >"${dir}/app.password"

  cat >>"${data_dir}/server.properties" <<EOF
listeners=SASL_SSL://127.0.0.1:${sasl_port},SSL://127.0.0.1:${ssl_port},CONTROLLER://127.0.0.1:${controller_port},EXPIRED_SASL_SSL://127.0.0.1:${expired_sasl_port},EXPIRED_SSL://127.0.0.1:${expired_ssl_port},NOT_YET_VALID_SASL_SSL://127.0.0.1:${not_yet_valid_sasl_port}
advertised.listeners=SASL_SSL://127.0.0.1:${sasl_port},SSL://127.0.0.1:${ssl_port}
inter.broker.listener.name=SSL
listener.security.protocol.map=SASL_SSL:SASL_SSL,SSL:SSL,CONTROLLER:SSL,EXPIRED_SASL_SSL:SASL_SSL,EXPIRED_SSL:SSL,NOT_YET_VALID_SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.expired_sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.not_yet_valid_sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.expired_sasl_ssl.ssl.keystore.location=${dir}/broker-expired.p12
listener.name.expired_ssl.ssl.keystore.location=${dir}/broker-expired.p12
listener.name.expired_ssl.ssl.client.auth=required
listener.name.not_yet_valid_sasl_ssl.ssl.keystore.location=${dir}/broker-not-yet-valid.p12
ssl.keystore.type=PKCS12
ssl.keystore.location=${dir}/broker.p12
ssl.keystore.password=${store_password}
ssl.key.password=${store_password}
ssl.truststore.type=PEM
ssl.truststore.location=${dir}/ca.pem
listener.name.ssl.ssl.client.auth=required
listener.name.controller.ssl.client.auth=required
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:CN=broker;User:admin
EOF
  cat >"${dir}/admin.kcat.conf" <<EOF
security.protocol=SASL_SSL
sasl.mechanisms=SCRAM-SHA-512
sasl.username=admin
sasl.password=$(cat "${dir}/admin.password")
ssl.ca.location=${dir}/ca.pem
EOF
  # For Kafka's Java admin tools (kafka-acls, kafka-topics): their --command-config.
  cat >"${dir}/admin.properties" <<EOF
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(cat "${dir}/admin.password")";
ssl.truststore.type=PEM
ssl.truststore.location=${dir}/ca.pem
EOF
  chmod 600 "${dir}"/*
}

# The secured broker's connection facts, as KEY=VALUE lines for the state file and stdout.
secured_facts() {
  local dir="$1" sasl_address="$2" ssl_port="$3" expired_sasl_port="$4" expired_ssl_port="$5"
  local not_yet_valid_sasl_port="$6"
  printf '%s\n' "FAUST_SECURED_SASL_SSL=${sasl_address}" "FAUST_SECURED_SSL=127.0.0.1:${ssl_port}" \
    "FAUST_SECURED_EXPIRED_BROKER_SASL_SSL=127.0.0.1:${expired_sasl_port}" \
    "FAUST_SECURED_EXPIRED_BROKER_SSL=127.0.0.1:${expired_ssl_port}" \
    "FAUST_SECURED_NOT_YET_VALID_BROKER_SASL_SSL=127.0.0.1:${not_yet_valid_sasl_port}" \
    "FAUST_SECURED_CA=${dir}/ca.pem" "FAUST_SECURED_UNTRUSTED_CA=${dir}/untrusted-ca.pem" \
    "FAUST_SECURED_APP_USER=app" "FAUST_SECURED_APP_PASSWORD_FILE=${dir}/app.password" \
    "FAUST_SECURED_ADMIN_USER=admin" "FAUST_SECURED_ADMIN_PASSWORD_FILE=${dir}/admin.password" \
    "FAUST_SECURED_CLIENT_CERT=${dir}/app.pem" "FAUST_SECURED_CLIENT_KEY=${dir}/app.key" \
    "FAUST_SECURED_EXPIRED_CLIENT_CERT=${dir}/app-expired.pem" "FAUST_SECURED_EXPIRED_CLIENT_KEY=${dir}/app-expired.key" \
    "FAUST_SECURED_UNTRUSTED_CLIENT_CERT=${dir}/app-untrusted.pem" \
    "FAUST_SECURED_UNTRUSTED_CLIENT_KEY=${dir}/app-untrusted.key" \
    "FAUST_SECURED_CLIENT_PRINCIPAL=User:${CLIENT_PRINCIPAL_NAME}" \
    "FAUST_SECURED_ADMIN_CONFIG=${dir}/admin.properties" "FAUST_SECURED_ADMIN_KCAT_CONFIG=${dir}/admin.kcat.conf"
}

# kafka-acls against the secured broker of the state, as its admin user.
cmd_acls() {
  read_state || faust_die "no broker state at ${STATE_FILE}: start one with $0 start-secured"
  [[ -n "${FAUST_SECURED_ADMIN_CONFIG}" ]] || faust_die "the broker on ${FAUST_TEST_BROKER} is not secured"
  local class="org.apache.kafka.tools.AclCommand"
  if [[ "${KAFKA_VERSION}" == 3.* ]]; then
    class="kafka.admin.AclCommand"
  fi
  broker_java_command "${FAUST_BROKER_DATA_DIR}"
  "${JAVA_CMD[@]}" "${class}" --bootstrap-server "${FAUST_TEST_BROKER}" \
    --command-config "${FAUST_SECURED_ADMIN_CONFIG}" "$@"
}

cmd_start() {
  prepare_start
  launch_with_port_retries launch_broker
}

cmd_start_secured() {
  command -v openssl >/dev/null || faust_die "openssl not found: run scripts/setup.sh"
  prepare_start
  SECURED=1
  launch_with_port_retries launch_broker
}

cmd_start_cluster() {
  prepare_start
  launch_with_port_retries launch_cluster
}

# Starts the broker once. Returns 0 when it answers and 2 when a port was taken (worth a
# retry); exits non-zero on any other failure.
launch_broker() {
  local data_dir broker_port controller_port
  data_dir="$(mktemp -d "${TMPDIR:-/tmp}/faust-kafka.XXXXXX")"
  # The secured broker's other listeners: SSL, and the three of secure_broker's bad certificates.
  local -a secured_ports
  read -r broker_port controller_port secured_ports[0] secured_ports[1] secured_ports[2] secured_ports[3] \
    < <(free_ports 6)
  local address="127.0.0.1:${broker_port}"
  local log_file="${STATE_DIR}/broker.log"
  write_server_properties "${data_dir}/server.properties" "${data_dir}" "${broker_port}" "${controller_port}"
  write_logging_config "${data_dir}"
  # The secured broker: TLS material, SCRAM users made at format time, its connection facts.
  local -a format_args=()
  local secured_facts=""
  if ((SECURED)); then
    secure_broker "${data_dir}" "${broker_port}" "${secured_ports[0]}" "${controller_port}" "${secured_ports[@]:1}"
    format_args=(--add-scram "SCRAM-SHA-512=[name=admin,password=$(cat "${data_dir}/secured/admin.password")]"
      --add-scram "SCRAM-SHA-512=[name=app,password=$(cat "${data_dir}/secured/app.password")]")
    secured_facts="$(secured_facts "${data_dir}/secured" "${address}" "${secured_ports[@]}")"
    FAUST_SECURED_ADMIN_KCAT_CONFIG="${data_dir}/secured/admin.kcat.conf"
  fi

  : >"${log_file}"
  if ! format_storage "${data_dir}" "$(new_cluster_id)" "${log_file}" "${format_args[@]}"; then
    tail -n 30 "${log_file}" >&2
    rm -rf "${data_dir}"
    faust_die "formatting the KRaft storage failed (log: ${log_file})"
  fi

  spawn_broker "${data_dir}" "${log_file}"
  local pid="${SPAWNED_PID}"

  cat >"${STATE_FILE}" <<EOF
FAUST_TEST_BROKER=${address}
FAUST_BROKER_PID=${pid}
FAUST_BROKER_DATA_DIR=${data_dir}
FAUST_BROKER_LOG=${log_file}
FAUST_BROKER_KAFKA_VERSION=${KAFKA_VERSION}
EOF
  if ((SECURED)); then
    printf '%s\n' "${secured_facts}" >>"${STATE_FILE}"
  fi

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
  if ((SECURED)); then
    printf '%s\n' "${secured_facts}"
  fi
}

# Whether every node of the cluster being launched answers and the cluster lists them all.
cluster_up() {
  local n
  for ((n = 1; n <= FAUST_BROKER_NODES; n++)); do
    node_up "$(node_log "${n}")" 1 "${NODE_ADDRESSES[n]}" || return 1
  done
  [[ "$(listed_broker_ids "${NODE_ADDRESSES[1]}" | wc -l)" -eq "${FAUST_BROKER_NODES}" ]]
}

# Starts the cluster once (every node formatted, started and listed by the cluster). Returns 0
# when it answers and 2 when a port was taken (worth a retry); exits non-zero on any other failure.
launch_cluster() {
  FAUST_BROKER_DATA_DIR="$(mktemp -d "${TMPDIR:-/tmp}/faust-kafka-cluster.XXXXXX")"
  FAUST_BROKER_NODES="${CLUSTER_NODES}"
  FAUST_BROKER_KAFKA_VERSION="${KAFKA_VERSION}"
  # Node n listens for clients on ports[2n-2] and for its controller peers on ports[2n-1].
  local -a ports
  read -r -a ports < <(free_ports $((2 * CLUSTER_NODES)))
  local n voters=""
  FAUST_TEST_BROKER=""
  for ((n = 1; n <= CLUSTER_NODES; n++)); do
    voters+="${voters:+,}${n}@127.0.0.1:${ports[2 * n - 1]}"
    NODE_ADDRESSES[n]="127.0.0.1:${ports[2 * n - 2]}"
    FAUST_TEST_BROKER+="${FAUST_TEST_BROKER:+,}${NODE_ADDRESSES[n]}"
  done

  local cluster_id dir
  local -a formats=()
  cluster_id="$(new_cluster_id)"
  for ((n = 1; n <= CLUSTER_NODES; n++)); do
    dir="$(node_dir "${n}")"
    mkdir -p "${dir}"
    write_server_properties "${dir}/server.properties" "${dir}" "${ports[2 * n - 2]}" "${ports[2 * n - 1]}" \
      "${n}" "${voters}" 3 2
    # Heartbeats to the quorum every 0.5 s instead of 2 s: a node that starts again is
    # acknowledged as caught up, and unfenced, a few seconds sooner.
    echo "broker.heartbeat.interval.ms=500" >>"${dir}/server.properties"
    write_logging_config "${dir}"
    : >"$(node_log "${n}")"
    # Each format is a JVM start of its own: they run at once.
    format_storage "${dir}" "${cluster_id}" "$(node_log "${n}")" &
    formats[n]=$!
  done
  local failed=""
  for ((n = 1; n <= CLUSTER_NODES; n++)); do
    wait "${formats[n]}" || failed+="${failed:+ }${n}"
  done
  if [[ -n "${failed}" ]]; then
    for n in ${failed}; do
      tail -n 30 "$(node_log "${n}")" >&2
    done
    rm -rf "${FAUST_BROKER_DATA_DIR}"
    faust_die "formatting the KRaft storage of node(s) ${failed} failed (logs: ${STATE_DIR}/broker-N.log)"
  fi

  for ((n = 1; n <= CLUSTER_NODES; n++)); do
    spawn_broker "$(node_dir "${n}")" "$(node_log "${n}")"
    NODE_PIDS[n]="${SPAWNED_PID}"
  done
  write_cluster_state

  local deadline=$((SECONDS + START_TIMEOUT)) reason=""
  until cluster_up; do
    for ((n = 1; n <= CLUSTER_NODES; n++)); do
      faust_pid_alive "${NODE_PIDS[n]}" || reason="node ${n} exited"
    done
    if [[ -z "${reason}" ]] && ((SECONDS >= deadline)); then
      reason="the nodes did not all answer and register within ${START_TIMEOUT}s"
    fi
    if [[ -n "${reason}" ]]; then
      kill_and_reap "${NODE_PIDS[@]}"
      cleanup_state
      local logs=()
      for ((n = 1; n <= CLUSTER_NODES; n++)); do
        logs+=("$(node_log "${n}")")
      done
      if grep -q 'Address already in use' "${logs[@]}"; then
        return 2
      fi
      for ((n = 1; n <= CLUSTER_NODES; n++)); do
        printf '%s\n' "----- last 15 lines of ${logs[n - 1]} -----" >&2
        tail -n 15 "${logs[n - 1]}" >&2
      done
      printf '%s\n' "-----" >&2
      faust_die "a Kafka ${KAFKA_VERSION} cluster on ${FAUST_TEST_BROKER}: ${reason}"
    fi
    sleep 0.2
  done
  faust_log "Kafka ${KAFKA_VERSION} cluster runs on ${FAUST_TEST_BROKER} (node pids ${NODE_PIDS[*]}," \
    "logs ${STATE_DIR}/broker-N.log)"
  echo "FAUST_TEST_BROKER=${FAUST_TEST_BROKER}"
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
  local -a running
  mapfile -t running < <(running_broker_pids)
  if ((${#running[@]} > 0)); then
    kill_and_reap "${running[@]}"
    if is_cluster_state; then
      faust_log "stopped the cluster on ${FAUST_TEST_BROKER} (node pids ${running[*]})"
    else
      faust_log "stopped the broker on ${FAUST_TEST_BROKER} (pid ${running[*]})"
    fi
  elif is_cluster_state; then
    faust_log "no node of the cluster on ${FAUST_TEST_BROKER} was running"
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
  if is_cluster_state; then
    cluster_status
    return
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

# A line a node; exit 0 when every node runs and answers, 3 otherwise.
cluster_status() {
  local n pid state status=0
  echo "cluster of ${FAUST_BROKER_NODES} nodes, Kafka ${FAUST_BROKER_KAFKA_VERSION:-?}, data ${FAUST_BROKER_DATA_DIR}"
  for ((n = 1; n <= FAUST_BROKER_NODES; n++)); do
    pid="${NODE_PIDS[n]:-}"
    if [[ -z "${pid}" ]] || ! is_broker_process "${pid}"; then
      state="not running"
      status=3
    elif ! broker_answers "${NODE_ADDRESSES[n]}"; then
      state="running but not answering: pid ${pid}"
      status=3
    else
      state="running: pid ${pid}"
    fi
    echo "node ${n} on ${NODE_ADDRESSES[n]}: ${state}, log $(node_log "${n}")"
  done
  echo "FAUST_TEST_BROKER=${FAUST_TEST_BROKER}"
  return "${status}"
}

# Refuses to start a broker of the state with another Kafka version than it was made with.
require_recorded_version() {
  local what="$1"
  if [[ -n "${FAUST_BROKER_KAFKA_VERSION:-}" && "${FAUST_BROKER_KAFKA_VERSION}" != "${KAFKA_VERSION}" ]]; then
    faust_die "the broker runs Kafka ${FAUST_BROKER_KAFKA_VERSION}: ${what} with KAFKA_VERSION=${FAUST_BROKER_KAFKA_VERSION}"
  fi
}

# Waits until the broker `pid`, just started on its data, answers at `address` (by its log from
# byte log_offset on) and, given a node id, the cluster lists that node as a broker again.
# Otherwise prints the end of its log, stops it and returns 1.
await_restarted_broker() {
  local pid="$1" log_file="$2" log_offset="$3" address="$4" node_id="${5:-}"
  local deadline=$((SECONDS + START_TIMEOUT))
  until node_up "${log_file}" "${log_offset}" "${address}" &&
    { [[ -z "${node_id}" ]] || listed_broker_ids "${address}" | grep -x "${node_id}" >/dev/null; }; do
    if ! faust_pid_alive "${pid}" || ((SECONDS >= deadline)); then
      tail -n 30 "${log_file}" >&2
      kill_and_reap "${pid}"
      return 1
    fi
    sleep 0.1
  done
}

# The byte offset from which a log holds the lines of a run that starts now.
next_log_offset() {
  echo $(($(stat -c %s "$1" 2>/dev/null || echo 0) + 1))
}

# restart: stops the broker (SIGTERM, then waits) and starts it again with the same config, data
# and port, as clients see a broker restart; waits until it answers and records the new pid.
cmd_restart() {
  read_state || faust_die "no broker state at ${STATE_FILE}; start one first: $0 start"
  if is_cluster_state; then
    faust_die "${STATE_FILE} describes a cluster: restart a node with $0 stop-node N, then $0 start-node N"
  fi
  require_recorded_version "restart it"
  local data_dir="${FAUST_BROKER_DATA_DIR}" address="${FAUST_TEST_BROKER}" log_file="${FAUST_BROKER_LOG}"
  [[ -f "${data_dir}/server.properties" ]] || faust_die "no ${data_dir}/server.properties to restart from"

  local began=${SECONDS}
  if is_broker_process "${FAUST_BROKER_PID}"; then
    kill_and_reap "${FAUST_BROKER_PID}"
    faust_log "stopped the broker on ${address} (pid ${FAUST_BROKER_PID}); starting it again"
  else
    faust_log "broker pid ${FAUST_BROKER_PID} was not running; starting it again on ${address}"
  fi
  local log_offset
  log_offset="$(next_log_offset "${log_file}")"
  spawn_broker "${data_dir}" "${log_file}"
  local pid="${SPAWNED_PID}"
  sed -i "s/^FAUST_BROKER_PID=.*/FAUST_BROKER_PID=${pid}/" "${STATE_FILE}"

  if ! await_restarted_broker "${pid}" "${log_file}" "${log_offset}" "${address}"; then
    faust_die "Kafka on ${address} did not answer within ${START_TIMEOUT}s of its restart (log: ${log_file})"
  fi
  faust_log "Kafka ${KAFKA_VERSION} runs again on ${address} (pid ${pid}), $((SECONDS - began)) s after the restart began"
  echo "FAUST_TEST_BROKER=${address}"
}

# Reads the state of a cluster and checks that $1 names one of its nodes.
read_cluster_node() {
  local node="$1"
  read_state || faust_die "no broker state at ${STATE_FILE}; start a cluster first: $0 start-cluster"
  is_cluster_state || faust_die "${STATE_FILE} describes a single broker, not a cluster ($0 start-cluster)"
  if ! [[ "${node}" =~ ^[1-9]$ ]] || ((node > FAUST_BROKER_NODES)); then
    faust_die "no node '${node}': the cluster has nodes 1 to ${FAUST_BROKER_NODES}"
  fi
}

# stop-node N: SIGTERM to node N (a controlled shutdown: its partitions' leadership and the
# coordinators it hosts move to the other nodes), waits until it is gone; its data stays.
cmd_stop_node() {
  local node="${1:-}"
  read_cluster_node "${node}"
  local pid="${NODE_PIDS[node]:-}"
  if [[ -n "${pid}" ]] && is_broker_process "${pid}"; then
    local began=${SECONDS}
    kill_and_reap "${pid}"
    faust_log "stopped node ${node} on ${NODE_ADDRESSES[node]} (pid ${pid}) in $((SECONDS - began)) s; its data stays"
  else
    faust_log "node ${node} on ${NODE_ADDRESSES[node]} was not running"
  fi
  NODE_PIDS[node]=""
  write_cluster_state
}

# start-node N: starts node N again with its config, data and port; waits until it answers and
# the cluster lists it as a broker again.
cmd_start_node() {
  local node="${1:-}"
  read_cluster_node "${node}"
  require_recorded_version "start its nodes"
  local pid="${NODE_PIDS[node]:-}" address="${NODE_ADDRESSES[node]}" dir log_file
  if [[ -n "${pid}" ]] && is_broker_process "${pid}"; then
    faust_die "node ${node} already runs (pid ${pid}, ${address}); stop it first: $0 stop-node ${node}"
  fi
  dir="$(node_dir "${node}")"
  log_file="$(node_log "${node}")"
  [[ -f "${dir}/server.properties" ]] || faust_die "no ${dir}/server.properties to start node ${node} from"

  local began=${SECONDS} log_offset
  log_offset="$(next_log_offset "${log_file}")"
  spawn_broker "${dir}" "${log_file}"
  NODE_PIDS[node]="${SPAWNED_PID}"
  write_cluster_state
  if ! await_restarted_broker "${SPAWNED_PID}" "${log_file}" "${log_offset}" "${address}" "${node}"; then
    NODE_PIDS[node]=""
    write_cluster_state
    faust_die "node ${node} on ${address} did not answer and register within ${START_TIMEOUT}s (log: ${log_file})"
  fi
  faust_log "node ${node} runs again on ${address} (pid ${SPAWNED_PID}), $((SECONDS - began)) s after its start"
  echo "FAUST_TEST_BROKER=${FAUST_TEST_BROKER}"
}

main() {
  case "${1:-}" in
    fetch | fetch-secured) cmd_fetch ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    restart) cmd_restart ;;
    start-cluster) cmd_start_cluster ;;
    start-secured) cmd_start_secured ;;
    acls)
      shift
      cmd_acls "$@"
      ;;
    stop-node) cmd_stop_node "${2:-}" ;;
    start-node) cmd_start_node "${2:-}" ;;
    -h | --help | help) usage ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"
