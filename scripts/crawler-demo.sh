#!/usr/bin/env bash
# The news crawler, live: a Kafka broker, a local feed server (scripts/feed-server.py), three
# faust-host workers running configs/crawler.yaml (web ports 6066-6068). It subscribes the feeds,
# shows the leader's dispatches and the crawled items on the results topic, then stops the leader
# (SIGINT) and kills the next one (SIGKILL): each time another worker takes over with every
# subscription and keeps dispatching on schedule. Installs what is missing and builds first;
# stops everything it started.
#
#   scripts/crawler-demo.sh
#
# Environment: FAUST_DEMO_SECONDS (seconds to watch each phase, default 10), FAUST_BUILD_DIR,
# FAUST_FEED_PORT (the feed server's port, default 8000), FAUST_DEMO_FEEDS (default 5),
# FAUST_DEMO_PERIOD (seconds between crawls of one feed, default 4).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
FAUST_LOG_TAG="crawler-demo"
readonly SCRIPTS_DIR="${FAUST_REPO_ROOT}/scripts"
readonly MANIFEST="${FAUST_REPO_ROOT}/configs/crawler.yaml"
readonly BUILD_DIR="${FAUST_BUILD_DIR:-${FAUST_REPO_ROOT}/build}"
readonly WATCH_SECONDS="${FAUST_DEMO_SECONDS:-10}"
readonly FEED_PORT="${FAUST_FEED_PORT:-8000}"
readonly FEEDS="${FAUST_DEMO_FEEDS:-5}"
readonly PERIOD="${FAUST_DEMO_PERIOD:-4}"
readonly PORTS=(6066 6067 6068)
readonly APP_ID="crawler-example"
# A state folder of its own, so the demo can run next to a test run.
export FAUST_BROKER_STATE="${FAUST_BROKER_STATE:-${BUILD_DIR}/kafka-crawler-demo}"
readonly LOG_DIR="${BUILD_DIR}/crawler-demo"

broker_started=0
broker=""
feed_pid=""
declare -A worker_pid=()
declare -a watcher_pids=()

cleanup() {
  local port pid
  for port in "${!worker_pid[@]}"; do
    kill -TERM "${worker_pid[${port}]}" 2>/dev/null || true
  done
  for port in "${!worker_pid[@]}"; do
    wait "${worker_pid[${port}]}" 2>/dev/null || true
  done
  for pid in "${watcher_pids[@]}" ${feed_pid}; do
    kill "${pid}" 2>/dev/null || true
  done
  if ((broker_started)); then
    bash "${SCRIPTS_DIR}/kafka-broker.sh" stop >/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The leader's subscriptions page, one line per source.
show_subscriptions() {
  local port="$1"
  curl -s --max-time 2 "http://127.0.0.1:${port}/plugins/crawler/subscriptions" |
    python3 -c 'import json, sys
page = json.load(sys.stdin)
print("   leader :%s keeps %d subscriptions (as of %s):" % (sys.argv[1], page.get("count", 0), page.get("as_of")))
for s in page.get("subscriptions", []):
    print("     %-40s every %4.1f s  dispatched %3d times, last %s, last crawl %s%s" % (s["url"], s["period"], s["dispatches"],
          s["last_dispatch"], s.get("last_outcome"), " (" + s["last_error"] + ")" if s.get("last_error") else ""))' "${port}"
}

faust_step "install what is missing and build"
bash "${SCRIPTS_DIR}/setup.sh"
cmake -S "${FAUST_REPO_ROOT}" -B "${BUILD_DIR}" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "${BUILD_DIR}" --target faust-host crawler >/dev/null
readonly FAUST_HOST="${BUILD_DIR}/bin/faust-host"

faust_step "start a Kafka broker (single node, KRaft)"
broker="$(bash "${SCRIPTS_DIR}/kafka-broker.sh" start | sed -n 's/^FAUST_TEST_BROKER=//p' | tail -n 1)"
broker_started=1
echo "   broker: ${broker}"

rm -rf "${LOG_DIR}"
mkdir -p "${LOG_DIR}"

faust_step "start the feed server: ${FEEDS} feeds on http://127.0.0.1:${FEED_PORT}/feeds/<n>.xml, a new item every 3 s each"
python3 "${SCRIPTS_DIR}/feed-server.py" "${FEED_PORT}" --feeds "${FEEDS}" --quiet >"${LOG_DIR}/feed-server.log" 2>&1 &
feed_pid=$!
for _ in $(seq 50); do
  grep -q '^serving' "${LOG_DIR}/feed-server.log" && break
  faust_pid_alive "${feed_pid}" || faust_die "feed server failed: $(cat "${LOG_DIR}/feed-server.log")"
  sleep 0.1
done

faust_step "start three workers: faust-host --manifest configs/crawler.yaml --web-port 6066..6068"
for port in "${PORTS[@]}"; do
  : >"${LOG_DIR}/${port}.log"
done
# Every worker's interesting lines, prefixed with its port.
(
  cd "${LOG_DIR}"
  exec tail -q -n +1 -F 6066.log 6067.log 6068.log 2>/dev/null
) | grep --line-buffered -E "elected|leader term|\[subscriptions\]|\[crawl\] fetch|stopping|signal" &
watcher_pids+=($!)
for port in "${PORTS[@]}"; do
  "${FAUST_HOST}" --manifest "${MANIFEST}" --broker "kafka://${broker}" --web-port "${port}" -l info \
    > >(sed -u "s/^/[:${port}] /" >"${LOG_DIR}/${port}.log") 2>&1 &
  worker_pid[${port}]=$!
  sleep 0.5 # start in order: the first worker to join leads, and keeps leading
done
leader="$(faust_wait_for_leader "${!worker_pid[@]}")"

faust_step "subscribe ${FEEDS} feeds, each crawled every ${PERIOD} s: faust-host send subscriptions '{\"add\": ...}'"
for n in $(seq "${FEEDS}"); do
  "${FAUST_HOST}" send subscriptions "{\"add\": \"http://127.0.0.1:${FEED_PORT}/feeds/${n}.xml\", \"period\": ${PERIOD}}" \
    --manifest "${MANIFEST}" --broker "kafka://${broker}" >/dev/null
done

faust_step "crawled items on ${APP_ID}-crawl-results (kcat), while worker :${leader} leads"
kcat -b "${broker}" -C -q -o end -t "${APP_ID}-crawl-results" -f '   result: %s\n' 2>/dev/null &
watcher_pids+=($!)
sleep "${WATCH_SECONDS}"
show_subscriptions "${leader}"

faust_step "stop the leader :${leader} with SIGINT (graceful: it leaves the group at once)"
kill -INT "${worker_pid[${leader}]}"
wait "${worker_pid[${leader}]}" 2>/dev/null || true
unset "worker_pid[${leader}]"
leader="$(faust_wait_for_leader "${!worker_pid[@]}")"
faust_step "worker :${leader} took over, with every subscription from the leader state"
sleep "${WATCH_SECONDS}"
show_subscriptions "${leader}"

faust_step "kill the leader :${leader} with SIGKILL (no goodbye: the group notices after the session timeout, 6 s)"
kill -KILL "${worker_pid[${leader}]}"
unset "worker_pid[${leader}]"
leader="$(faust_wait_for_leader "${!worker_pid[@]}")"
faust_step "worker :${leader} took over; sources missed during the failover are dispatched once, not once per missed period"
sleep "${WATCH_SECONDS}"
show_subscriptions "${leader}"

faust_step "done: stopping the last worker, the feed server and the broker"
