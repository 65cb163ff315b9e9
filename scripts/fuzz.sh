#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/) with clang and fuzzes each for a bounded time.
#
#   scripts/fuzz.sh                        all targets, FUZZ_SECONDS each
#   scripts/fuzz.sh fuzz_manifest ...      only the named targets
#
# Each target starts from a copy of its seed corpus (tests/fuzz/corpus/<target>/) and the inputs
# that once failed (tests/fuzz/regressions/<target>/); new inputs and crash artifacts go to the
# work folder, never into the repository. The script fails if any target crashes, hangs (-timeout),
# leaks or runs out of memory, and prints where the failing input is, ready to be copied into
# tests/fuzz/regressions/<target>/ once fixed. It ends with a summary: runs, speed, coverage.
#
# Environment:
#   FUZZ_SECONDS          fuzzing time per target (default 60)
#   FAUST_FUZZ_BUILD_DIR  build folder (default <repo>/build-fuzz)
#   FAUST_FUZZ_WORK_DIR   corpora, logs and artifacts (default <build folder>/fuzz-work, emptied first)
#   FAUST_JOBS            parallel compile jobs, and targets fuzzed at once (default: nproc)
#   FAUST_FUZZ_CC, FAUST_FUZZ_CXX  the clang compilers (default clang, clang++)
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
FAUST_LOG_TAG="fuzz"

readonly ALL_TARGETS=(fuzz_manifest fuzz_broker_url fuzz_cron fuzz_http_request fuzz_feed)
readonly FUZZ_DIR="${FAUST_REPO_ROOT}/tests/fuzz"
readonly BUILD_DIR="${FAUST_FUZZ_BUILD_DIR:-${FAUST_REPO_ROOT}/build-fuzz}"
readonly WORK_DIR="${FAUST_FUZZ_WORK_DIR:-${BUILD_DIR}/fuzz-work}"
readonly SECONDS_PER_TARGET="${FUZZ_SECONDS:-60}"
readonly JOBS="${FAUST_JOBS:-$(nproc)}"

# Longest input libFuzzer may make, per target: the web port's 8 KiB head limit and 1 KiB body
# limit are only reached by inputs longer than libFuzzer's default of 4 KiB.
max_len_of() {
  case "$1" in
    fuzz_http_request) echo 16384 ;;
    fuzz_broker_url) echo 512 ;;
    fuzz_cron) echo 256 ;;
    fuzz_feed) echo 16384 ;;
    *) echo 8192 ;;
  esac
}

# One of the "stat::NAME: VALUE" lines that -print_final_stats=1 adds to a log (logs may hold
# the binary inputs libFuzzer echoes, hence -a).
final_stat() {
  grep -a "^stat::$1:" "$2" | tail -1 | sed 's/^[^:]*::[^:]*: *//'  || true
}

targets=()
for argument in "$@"; do
  case "${argument}" in
    -h | --help)
      sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    fuzz_*)
      [[ -f "${FUZZ_DIR}/${argument}.cpp" ]] || faust_die "no fuzz target '${argument}' in tests/fuzz"
      targets+=("${argument}")
      ;;
    *) faust_die "unknown argument: ${argument} (try --help)" ;;
  esac
done
((${#targets[@]} > 0)) || targets=("${ALL_TARGETS[@]}")
[[ "${SECONDS_PER_TARGET}" =~ ^[1-9][0-9]*$ ]] || faust_die "FUZZ_SECONDS must be a positive number of seconds"

command -v "${FAUST_FUZZ_CXX:-clang++}" >/dev/null 2>&1 || faust_die "${FAUST_FUZZ_CXX:-clang++} not found (apt-get install clang)"

build_start="$(faust_now)"
faust_log "configuring ${BUILD_DIR} (clang, FAUST_FUZZ=ON)"
cmake -S "${FAUST_REPO_ROOT}" -B "${BUILD_DIR}" -G Ninja \
  -DCMAKE_C_COMPILER="${FAUST_FUZZ_CC:-clang}" -DCMAKE_CXX_COMPILER="${FAUST_FUZZ_CXX:-clang++}" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFAUST_LINE_TABLES_ONLY=ON -DFAUST_FUZZ=ON >/dev/null
faust_log "building ${targets[*]}"
ninja -C "${BUILD_DIR}" -j "${JOBS}" "${targets[@]}"
build_seconds="$(faust_elapsed_since "${build_start}")"

rm -rf "${WORK_DIR}"
mkdir -p "${WORK_DIR}"

# Fuzzes one target; its summary line, ending in its result, goes to <work>/summary.
fuzz_target() {
  local target="$1"
  local work="${WORK_DIR}/${target}"
  mkdir -p "${work}/corpus" "${work}/artifacts"
  # The repository's inputs are copied: libFuzzer adds what it finds to its first corpus folder.
  local source
  for source in "${FUZZ_DIR}/corpus/${target}" "${FUZZ_DIR}/regressions/${target}"; do
    if [[ -d "${source}" ]]; then
      find "${source}" -maxdepth 1 -type f ! -name 'README*' -exec cp -t "${work}/corpus" {} +
    fi
  done
  local dictionary=()
  [[ -f "${FUZZ_DIR}/${target}.dict" ]] && dictionary=("-dict=${FUZZ_DIR}/${target}.dict")

  faust_log "${target}: fuzzing for ${SECONDS_PER_TARGET} s"
  local start status=0
  start="$(faust_now)"
  "${BUILD_DIR}/bin/${target}" "${work}/corpus" \
    -max_total_time="${SECONDS_PER_TARGET}" -timeout=5 -rss_limit_mb=2048 \
    -max_len="$(max_len_of "${target}")" "${dictionary[@]}" \
    -artifact_prefix="${work}/artifacts/" -print_final_stats=1 \
    >"${work}/fuzz.log" 2>&1 || status=$?
  local elapsed runs speed coverage corpus_size result="ok"
  elapsed="$(faust_elapsed_since "${start}")"
  runs="$(final_stat number_of_executed_units "${work}/fuzz.log")"
  speed="$(final_stat average_exec_per_sec "${work}/fuzz.log")"
  # The last status line libFuzzer printed: "#N <event> cov: C ft: F corp: U/S ...".
  coverage="$(grep -aE '^#[0-9]+' "${work}/fuzz.log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' || true)"
  corpus_size="$(find "${work}/corpus" -type f | wc -l)"
  if ((status != 0)); then
    result="FAILED (exit ${status})"
    faust_log "${target} failed; its log: ${work}/fuzz.log"
    grep -aE 'ERROR: |fuzz check failed|SUMMARY: |Test unit written to' "${work}/fuzz.log" | head -20 >&2 || true
    local artifact
    for artifact in "${work}/artifacts"/*; do
      [[ -f "${artifact}" ]] || continue
      faust_log "  input: ${artifact}"
      faust_log "  reproduce: ${BUILD_DIR}/bin/${target} ${artifact}"
      faust_log "  once fixed: cp ${artifact} ${FUZZ_DIR}/regressions/${target}/"
    done
  fi
  printf '%-20s %8s %11s %9s  %-30s %7s  %s\n' "${target}" "${elapsed}" "${runs:-?}" \
    "${speed:-?}" "${coverage:-?}" "${corpus_size}" "${result}" >"${work}/summary"
}

# The targets run side by side, one per core: each is single-threaded.
for target in "${targets[@]}"; do
  while (($(jobs -rp | wc -l) >= JOBS)); do wait -n || true; done
  fuzz_target "${target}" &
done
wait || true
summary=()
failed=()
for target in "${targets[@]}"; do
  line="$(cat "${WORK_DIR}/${target}/summary" 2>/dev/null || printf '%-20s ended without a summary' "${target}")"
  summary+=("${line}")
  [[ "${line}" == *" ok" ]] || failed+=("${target}")
done

printf '\nbuild: %s s\n%-20s %8s %11s %9s  %-30s %7s  %s\n' "${build_seconds}" "target" "seconds" \
  "runs" "runs/s" "coverage" "corpus" "result" >&2
printf '%s\n' "${summary[@]}" >&2
if ((${#failed[@]} > 0)); then
  faust_die "fuzzing found failures in: ${failed[*]} (work folder: ${WORK_DIR})"
fi
faust_log "no failures in ${#targets[@]} target(s)"
