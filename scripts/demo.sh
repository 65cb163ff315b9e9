#!/usr/bin/env bash
# The Leader Election tutorial, live: a Kafka broker, three faust-host workers (web ports
# 6066-6068) printing the leader's greetings, then the leader is stopped (SIGINT) and another
# worker takes over; then that one is killed (SIGKILL) and the last one takes over after the
# session timeout. Installs what is missing and builds first; stops everything it started.
#
#   scripts/demo.sh
#
# Environment: FAUST_DEMO_SECONDS (seconds to watch each phase, default 8), FAUST_BUILD_DIR.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
FAUST_LOG_TAG="demo"
readonly SCRIPTS_DIR="${FAUST_REPO_ROOT}/scripts"
readonly BUILD_DIR="${FAUST_BUILD_DIR:-${FAUST_REPO_ROOT}/build}"
readonly WATCH_SECONDS="${FAUST_DEMO_SECONDS:-8}"
readonly PORTS=(6066 6067 6068)
# A state folder of its own, so the demo can run next to a test run.
export FAUST_BROKER_STATE="${FAUST_BROKER_STATE:-${BUILD_DIR}/kafka-demo}"
readonly LOG_DIR="${BUILD_DIR}/demo"

broker_started=0
declare -A worker_pid=()
tail_pid=""

cleanup() {
  local port
  for port in "${!worker_pid[@]}"; do
    kill -TERM "${worker_pid[${port}]}" 2>/dev/null || true
  done
  for port in "${!worker_pid[@]}"; do
    wait "${worker_pid[${port}]}" 2>/dev/null || true
  done
  [[ -z "${tail_pid}" ]] || kill "${tail_pid}" 2>/dev/null || true
  if ((broker_started)); then
    bash "${SCRIPTS_DIR}/kafka-broker.sh" stop >/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Which of the running workers says it leads, by asking each one's /leader.
show_leader() {
  local port answer
  for port in "${PORTS[@]}"; do
    [[ -n "${worker_pid[${port}]:-}" ]] || continue
    answer="$(curl -s --max-time 2 "http://127.0.0.1:${port}/leader" || echo '{}')"
    printf '   worker :%s  /leader -> %s\n' "${port}" "${answer}"
  done
}

faust_step "install what is missing and build"
bash "${SCRIPTS_DIR}/setup.sh"
cmake -S "${FAUST_REPO_ROOT}" -B "${BUILD_DIR}" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "${BUILD_DIR}" --target faust-host say publish_greetings >/dev/null
readonly FAUST_HOST="${BUILD_DIR}/bin/faust-host"

faust_step "start a Kafka broker (single node, KRaft)"
broker="$(bash "${SCRIPTS_DIR}/kafka-broker.sh" start | sed -n 's/^FAUST_TEST_BROKER=//p' | tail -n 1)"
broker_started=1
echo "   broker: ${broker}"

faust_step "start three workers: faust-host --manifest configs/leader.yaml --web-port 6066..6068"
rm -rf "${LOG_DIR}"
mkdir -p "${LOG_DIR}"
for port in "${PORTS[@]}"; do
  : >"${LOG_DIR}/${port}.log"
done
# Every worker's interesting lines, prefixed with its port.
(
  cd "${LOG_DIR}"
  exec tail -q -n +1 -F 6066.log 6067.log 6068.log 2>/dev/null
) | grep --line-buffered -E "leader|follower|\[say\]|PUBLISHING|stopping|stopped|signal" &
tail_pid=$!
for port in "${PORTS[@]}"; do
  "${FAUST_HOST}" --manifest "${FAUST_REPO_ROOT}/configs/leader.yaml" --broker "kafka://${broker}" \
    --web-port "${port}" -l info > >(sed -u "s/^/[:${port}] /" >"${LOG_DIR}/${port}.log") 2>&1 &
  worker_pid[${port}]=$!
  sleep 0.5 # start in order: the first worker to join leads, and keeps leading
done

leader="$(faust_wait_for_leader "${!worker_pid[@]}")"
faust_step "worker :${leader} leads; greetings are printed by whichever worker holds their partition"
show_leader
sleep "${WATCH_SECONDS}"

faust_step "stop the leader :${leader} with SIGINT (graceful: it leaves the group at once)"
kill -INT "${worker_pid[${leader}]}"
wait "${worker_pid[${leader}]}" 2>/dev/null || true
unset "worker_pid[${leader}]"
leader="$(faust_wait_for_leader "${!worker_pid[@]}")"
faust_step "worker :${leader} took over"
show_leader
sleep "${WATCH_SECONDS}"

faust_step "kill the leader :${leader} with SIGKILL (no goodbye: the group notices after the session timeout, 6 s)"
kill -KILL "${worker_pid[${leader}]}"
unset "worker_pid[${leader}]"
leader="$(faust_wait_for_leader "${!worker_pid[@]}")"
faust_step "worker :${leader} took over"
show_leader
sleep "${WATCH_SECONDS}"

faust_step "done: stopping the last worker and the broker"
