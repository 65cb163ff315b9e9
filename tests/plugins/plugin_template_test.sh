#!/usr/bin/env bash
# The plugin template from a newcomer's seat:
#
#   plugin_template_test.sh <build-dir> <cmake> <generator> <cxx> <faust-host>
#
# Installs the `sdk` component of <build-dir> into a temporary prefix, generates a project with
# FaustNewPlugin.cmake, builds it against the installed SDK, runs its own tests, has
# `faust-host check` load the plugin through the project's manifest, and runs that manifest on
# memory:// until the timer's greeting reached the agent. Also checks that the generator refuses
# a bad name and a folder that is not empty.
set -euo pipefail

build_dir=$1 cmake=$2 generator=$3 cxx=$4 faust_host=$5

# The loader refuses group- or world-writable plugins: build them the way an installer would.
umask 022
work=$(mktemp -d "${TMPDIR:-/tmp}/faust-plugin-template.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"

fail() { echo "FAIL: $*" >&2; exit 1; }

echo "== install the SDK into $prefix"
"$cmake" --install "$build_dir" --prefix "$prefix" --component sdk
new_plugin=$(find "$prefix" -name FaustNewPlugin.cmake)
[[ -n "$new_plugin" ]] || fail "FaustNewPlugin.cmake was not installed"
[[ -f "$prefix/include/faust/testing/plugin_harness.hpp" ]] || fail "the plugin harness was not installed"

echo "== the generator refuses what it cannot use"
if "$cmake" -DNAME=Bad-Name -DDEST="$work/bad" -P "$new_plugin" >"$work/bad_name.out" 2>&1; then
  fail "accepted the name Bad-Name"
fi
grep -q "FaustNewPlugin: invalid name 'Bad-Name' (lowercase letters, digits and '_', starting with a letter)" \
  "$work/bad_name.out" || { cat "$work/bad_name.out"; fail "unexpected message for a bad name"; }
mkdir "$work/taken" && touch "$work/taken/keep"
if "$cmake" -DNAME=greeter -DDEST="$work/taken" -P "$new_plugin" >"$work/taken.out" 2>&1; then
  fail "generated into a folder that is not empty"
fi
grep -q "FaustNewPlugin: $work/taken is not empty" "$work/taken.out" || { cat "$work/taken.out"; fail "unexpected message"; }

echo "== generate the project 'good_greeter'"
# Relative DEST, as a user types it: relative to the current folder.
(cd "$work" && "$cmake" -DNAME=good_greeter -DDEST=good_greeter -P "$new_plugin")
project="$work/good_greeter"
for file in CMakeLists.txt README.md good_greeter.yaml src/good_greeter.cpp tests/good_greeter_test.cpp; do
  [[ -f "$project/$file" ]] || fail "the project lacks $file"
done
if grep -rq "@PLUGIN_" "$project"; then fail "placeholders left in the project"; fi
grep -q "struct GoodGreeterAgent" "$project/src/good_greeter.cpp" || fail "the class prefix is not GoodGreeter"

echo "== build it against the installed SDK"
"$cmake" -S "$project" -B "$project/build" -G "$generator" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_COMPILE_WARNING_AS_ERROR=ON
"$cmake" --build "$project/build" --parallel 2
[[ -f "$project/build/good_greeter.so" ]] || fail "no good_greeter.so"

echo "== run its tests"
ctest_bin="$(dirname "$cmake")/ctest"
[[ -x "$ctest_bin" ]] || ctest_bin=ctest
"$ctest_bin" --test-dir "$project/build" --output-on-failure | tee "$work/ctest.out"
grep -q "100% tests passed, 0 tests failed out of 4" "$work/ctest.out" || fail "the project's 4 tests did not all pass"

echo "== faust-host check on the project's manifest"
"$faust_host" check --manifest "$project/good_greeter.yaml" | tee "$work/check.out"
project_real=$(cd "$project" && pwd -P)  # faust-host names plugins by their canonical path
grep -qx "plugin good_greeter 0.1.0 (ABI [0-9]*\.[0-9]*) from $project_real/build/good_greeter.so" "$work/check.out" ||
  fail "faust-host check did not load good_greeter.so"
grep -qx "agent good_greeter: topic good_greeter-app-good_greeter, concurrency 1, on_error skip" "$work/check.out" ||
  fail "faust-host check did not list the agent"
grep -qx "timer good_greeter_timer: every 2 s, on leader only" "$work/check.out" ||
  fail "faust-host check did not list the timer"
echo "== run it on memory:// until the agent received a greeting from the timer"
"$faust_host" --manifest "$project/good_greeter.yaml" --without-web >"$work/run.out" 2>&1 &
worker=$!
deadline=$((SECONDS + 30))
until grep -q '\[good_greeter\] received hello 1$' "$work/run.out"; do
  if ((SECONDS >= deadline)) || ! kill -0 "$worker" 2>/dev/null; then
    kill -9 "$worker" 2>/dev/null || true
    cat "$work/run.out"
    fail "no greeting received within 30 s"
  fi
  sleep 0.1
done
kill -INT "$worker"
status=0
wait "$worker" || status=$?
grep -q '\[good_greeter_timer\] sent hello 1$' "$work/run.out" || fail "the timer did not log its send"
((status == 0)) || { cat "$work/run.out"; fail "faust-host exited with $status after SIGINT"; }
echo "PASS"
