#!/usr/bin/env bash
# Installs every Debian 12 package that building, testing, benchmarking, packaging and the test
# broker need. Safe to run again: it says nothing and changes nothing when all are installed.
# Runs apt-get as root directly, or through sudo when not root.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
FAUST_LOG_TAG="setup"

readonly PACKAGES=(
  # build
  build-essential cmake ninja-build pkg-config git
  # libraries
  librdkafka-dev libboost-dev libboost-filesystem-dev libyaml-cpp-dev libspdlog-dev
  libcli11-dev nlohmann-json3-dev prometheus-cpp-dev libhowardhinnant-date-dev tzdata
  libpugixml-dev libcurl4-openssl-dev
  # the crawler tests: a TLS feed server, gzip bodies, a test CA made with openssl
  libssl-dev zlib1g-dev openssl
  # tests, sanitizers, fuzzing, benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev clang libclang-rt-14-dev python3 python3-venv curl
  # the leader-election tests run a worker whose clock is skewed
  faketime
  # the Kafka test broker (jars come from Maven) and its command-line client; the JDK's javac
  # builds the benchmarks' Kafka Streams peer
  openjdk-17-jdk-headless maven kcat
  # .deb packaging and its checks
  dpkg-dev fakeroot file lintian systemd
)

# Prints the packages of PACKAGES that are not fully installed (one dpkg-query for all of them).
missing_packages() {
  local -A installed=()
  local package status
  while read -r package status; do
    [[ "${status}" == "installed" ]] && installed["${package%%:*}"]=1
  done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${PACKAGES[@]}" 2>/dev/null || true)
  for package in "${PACKAGES[@]}"; do
    [[ -n "${installed[${package}]:-}" ]] || printf '%s\n' "${package}"
  done
}

main() {
  local -a missing
  mapfile -t missing < <(missing_packages)
  if ((${#missing[@]} == 0)); then
    return 0
  fi
  faust_log "installing ${#missing[@]} missing packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  faust_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  faust_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  mapfile -t missing < <(missing_packages)
  if ((${#missing[@]} > 0)); then
    faust_die "still missing after apt-get install: ${missing[*]}"
  fi
  faust_log "all packages installed"
}

main "$@"
