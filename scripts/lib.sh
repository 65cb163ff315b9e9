# Shared helpers for the scripts in this folder. Source it; it defines functions and FAUST_REPO_ROOT.
# shellcheck shell=bash

# shellcheck disable=SC2034  # used by the scripts that source this file
FAUST_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The jar cache and Maven live under HOME; a bare CI environment may not set it.
if [[ -z "${HOME:-}" ]]; then
  HOME="$(getent passwd "$(id -u)" | cut -d: -f6)"
  export HOME
fi

faust_log() {
  printf '[%s] %s\n' "${FAUST_LOG_TAG:-faust}" "$*" >&2
}

faust_die() {
  printf '[%s] error: %s\n' "${FAUST_LOG_TAG:-faust}" "$*" >&2
  exit 1
}

# Runs a command as root: directly when we are root (CI), through sudo otherwise.
faust_as_root() {
  if [[ "$(id -u)" -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    faust_die "need root for: $* (run as root or install sudo)"
  fi
}

# Seconds since the epoch with millisecond precision, for stage timings.
faust_now() {
  date +%s.%N | cut -c1-14
}

# Prints the seconds elapsed since a faust_now value, e.g. "12.3".
faust_elapsed_since() {
  awk -v start="$1" -v end="$(faust_now)" 'BEGIN { printf "%.1f", end - start }'
}

# Whether a process id names a live process (not a zombie).
faust_pid_alive() {
  local pid="$1"
  [[ -n "${pid}" ]] || return 1
  kill -0 "${pid}" 2>/dev/null || return 1
  local state
  state="$(awk '/^State:/ { print $2 }' "/proc/${pid}/status" 2>/dev/null || true)"
  [[ "${state}" != "Z" && -n "${state}" ]]
}

# Prints the comment block at the top of a script (after the #! line) as its usage text.
faust_print_usage() {
  awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$1"
}

# A demo step's heading, in bold.
faust_step() {
  printf '\n\033[1m== %s\033[0m\n' "$*"
}

# Prints the first of the given web ports whose worker says (GET /leader) it leads; fails when none.
faust_leader_port() {
  local port
  for port in "$@"; do
    if curl -s --max-time 2 "http://127.0.0.1:${port}/leader" | grep -q '"is_leader":true'; then
      echo "${port}"
      return 0
    fi
  done
  return 1
}

# Waits up to 30 s for one of the given web ports' workers to lead and prints its port; dies otherwise.
faust_wait_for_leader() {
  local deadline=$((SECONDS + 30)) port
  while ((SECONDS < deadline)); do
    if port="$(faust_leader_port "$@")"; then
      echo "${port}"
      return 0
    fi
    sleep 0.2
  done
  faust_die "no leader within 30 s"
}
