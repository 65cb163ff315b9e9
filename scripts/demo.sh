#!/usr/bin/env bash
# A short demonstration on a real broker: start Kafka, create a topic, send one message and
# read it back with kcat, stop Kafka.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
FAUST_LOG_TAG="demo"
readonly SCRIPTS_DIR="${FAUST_REPO_ROOT}/scripts"
# A state folder of its own, so the demo can run next to a test run.
export FAUST_BROKER_STATE="${FAUST_BROKER_STATE:-${FAUST_REPO_ROOT}/build/kafka-demo}"

broker_started=0
stop_broker() {
  if ((broker_started)); then
    bash "${SCRIPTS_DIR}/kafka-broker.sh" stop
  fi
}
trap stop_broker EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step() {
  printf '\n== %s\n' "$*"
}

step "start a Kafka broker"
broker_output="$(bash "${SCRIPTS_DIR}/kafka-broker.sh" start)"
broker_started=1
broker="$(sed -n 's/^FAUST_TEST_BROKER=//p' <<<"${broker_output}" | tail -n 1)"
echo "broker: ${broker}"

topic="demo-greetings"
message="hello from faust-host $(date +%H:%M:%S)"

# The broker creates a topic on first use (auto.create.topics.enable stays at its default).
step "create topic ${topic} by producing one message: key=greeting value='${message}'"
printf 'greeting\t%s\n' "${message}" | kcat -P -b "${broker}" -t "${topic}" -K $'\t'

step "the topic as the broker sees it"
kcat -L -b "${broker}" -t "${topic}"

step "consume it back"
received="$(kcat -C -b "${broker}" -t "${topic}" -o beginning -c 1 -e -q -f '%s')"
kcat -C -b "${broker}" -t "${topic}" -o beginning -c 1 -e -q \
  -f 'key=%k value=%s partition=%p offset=%o\n'

step "round trip"
if [[ "${received}" != "${message}" ]]; then
  faust_die "sent '${message}' but received '${received}'"
fi
echo "ok: the message came back unchanged"
