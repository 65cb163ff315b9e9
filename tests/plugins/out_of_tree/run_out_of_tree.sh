#!/usr/bin/env bash
# Proves a plugin can be built outside the tree against the installed SDK and then loaded.
#
#   run_out_of_tree.sh load  <build-dir> <source-dir> <cmake> <generator> <cc> <cxx> <plugin_load_check>
#   run_out_of_tree.sh check <build-dir> <source-dir> <cmake> <generator> <cc> <cxx> <faust-host>
#
# Installs the `sdk` component of <build-dir> into a temporary prefix, builds the example in
# tests/plugins/out_of_tree/example with find_package(FaustPluginSDK), then loads echo.so with the
# given program. `load` also builds the C plugin hello_c with nothing but pkg-config and cc.
set -euo pipefail

mode=$1 build_dir=$2 source_dir=$3 cmake=$4 generator=$5 cc=$6 cxx=$7 runner=$8
example="$source_dir/tests/plugins/out_of_tree/example"

# The loader refuses group- or world-writable plugins: build them the way an installer would.
umask 022
work=$(mktemp -d "${TMPDIR:-/tmp}/faust-out-of-tree.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"

fail() { echo "FAIL: $*" >&2; exit 1; }

echo "== install the SDK into $prefix"
"$cmake" --install "$build_dir" --prefix "$prefix" --component sdk
for file in include/faust/plugin.h include/faust/plugin.hpp; do
  [[ -f "$prefix/$file" ]] || fail "$file was not installed"
done
config=$(find "$prefix" -name FaustPluginSDKConfig.cmake)
[[ -n "$config" ]] || fail "FaustPluginSDKConfig.cmake was not installed"
for file in FaustPluginSDKConfigVersion.cmake FaustPluginSDKFunctions.cmake FaustPluginSDKTargets.cmake; do
  [[ -f "$(dirname "$config")/$file" ]] || fail "$file was not installed next to FaustPluginSDKConfig.cmake"
done
# Only the SDK: no host binary, no plugins.
if find "$prefix" -name '*.so' -o -name faust-host | grep -q .; then fail "the sdk component installed binaries"; fi

echo "== build the example against it"
"$cmake" -S "$example" -B "$work/build" -G "$generator" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER="$cxx"
"$cmake" --build "$work/build" --parallel 2
plugin="$work/build/echo.so"
[[ -f "$plugin" ]] || fail "the example did not produce echo.so"

case "$mode" in
  load)
    echo "== load it"
    "$runner" "$plugin" echo "ping" | tee "$work/out"
    grep -qx 'loaded echo 0.1.0 (ABI 1.4) agents=echo timers=' "$work/out" || fail "unexpected plugin info"
    grep -qx '\[echo\] echo: echo: ping' "$work/out" || fail "the agent did not log its message"

    echo "== build a C plugin with pkg-config and load it"
    pc=$(find "$prefix" -name faust-plugin-sdk.pc)
    [[ -n "$pc" ]] || fail "faust-plugin-sdk.pc was not installed"
    cflags=$(PKG_CONFIG_PATH="$(dirname "$pc")" pkg-config --cflags faust-plugin-sdk)
    # shellcheck disable=SC2086  # cflags is a list of flags
    "$cc" -std=c11 -Wall -Wextra -Werror -fPIC -shared -fvisibility=hidden -Wl,-z,defs $cflags \
      "$source_dir/plugins/hello_c/hello_c.c" -o "$work/hello_c.so"
    "$runner" "$work/hello_c.so" hello_c "from pkg-config" | tee "$work/out_c"
    grep -qx '\[hello_c\] hello_c: hello from C: from pkg-config' "$work/out_c" || fail "hello_c did not log"
    ;;
  check)
    echo "== faust-host check"
    cat > "$work/manifest.yaml" <<YAML
app:
  id: out-of-tree
  broker: memory://
agents:
  echo:
    library: $plugin
YAML
    "$runner" check --manifest "$work/manifest.yaml" | tee "$work/out"
    grep -q echo "$work/out" || fail "faust-host check did not report the echo plugin"
    ;;
  *)
    fail "unknown mode $mode"
    ;;
esac
echo "PASS"
