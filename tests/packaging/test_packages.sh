#!/usr/bin/env bash
# Tests the .deb packages faust-host and faust-plugin-sdk-dev.
#
#   test_packages.sh <source-dir> <deb-build-dir> <project-version> <cmake> <generator>
#
# Builds the packages with scripts/package.sh into <deb-build-dir> (or takes the two .deb files in
# $FAUST_PACKAGES_DIR), then checks:
#   - control fields, conffiles, maintainer scripts, file modes and ownership, stripped ELF files
#     without RPATH, gzip -n compressed man page and changelog, lintian (no errors or warnings);
#   - the maintainer scripts' calls (adduser, deb-systemd-helper, systemctl), run against stubs;
#   - the systemd unit with systemd-analyze verify, where systemd-analyze exists;
#   - with both packages unpacked by `dpkg -x` into a throwaway root and nothing else of the
#     project: a plugin built with find_package(FaustPluginSDK), a C plugin built with pkg-config,
#     and `faust-host check` from that root loading them and the installed plugin `say`;
#   - the installed guide, and a project made from the template (its service switched on), built
#     and installed with the defaults (prefix /usr/local, under the root), then run by bare name
#     with `faust-host check` and on memory:// until its timer's greeting reached its agent.
set -euo pipefail

source_dir=$1 deb_build_dir=$2 version=$3 cmake=$4 generator=$5
readonly source_dir deb_build_dir version cmake generator

arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
readonly arch multiarch
readonly deb_version="${version}-1"
readonly plugin_dir="usr/lib/${multiarch}/faust-host/plugins"

umask 022
work=$(mktemp -d "${TMPDIR:-/tmp}/faust-packaging.XXXXXX")
trap 'rm -rf "${work}"' EXIT
readonly work root="${work}/root"

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
step() { echo "== $*"; }

# Fails unless the file has exactly this line.
expect_line() {
  local file=$1 line=$2
  grep -qxF -- "${line}" "${file}" || {
    echo "--- ${file}:" >&2
    cat "${file}" >&2
    fail "expected the line '${line}' in ${file}"
  }
}

# ------------------------------------------------------------------------------------------------
step "packages"
if [[ -n "${FAUST_PACKAGES_DIR:-}" ]]; then
  packages_dir=${FAUST_PACKAGES_DIR}
else
  bash "${source_dir}/scripts/package.sh" "${deb_build_dir}" | tee "${work}/package.out"
  packages_dir="${deb_build_dir}/packages"
fi
host_deb="${packages_dir}/faust-host_${deb_version}_${arch}.deb"
sdk_deb="${packages_dir}/faust-plugin-sdk-dev_${deb_version}_${arch}.deb"
for deb in "${host_deb}" "${sdk_deb}"; do
  [[ -f "${deb}" ]] || fail "${deb} was not built"
done
if [[ -z "${FAUST_PACKAGES_DIR:-}" ]]; then
  expect_line "${work}/package.out" "${host_deb}"
  expect_line "${work}/package.out" "${sdk_deb}"
fi

# ------------------------------------------------------------------------------------------------
step "control fields"
field() { dpkg-deb --field "$1" "$2"; }
for deb in "${host_deb}" "${sdk_deb}"; do
  [[ "$(field "${deb}" Version)" == "${deb_version}" ]] || fail "${deb}: Version is not ${deb_version}"
  [[ "$(field "${deb}" Architecture)" == "${arch}" ]] || fail "${deb}: Architecture is not ${arch}"
  [[ "$(field "${deb}" Priority)" == optional ]] || fail "${deb}: Priority is not optional"
  [[ "$(field "${deb}" Maintainer)" == "faust-host maintainers <maintainers@faust-host.invalid>" ]] ||
    fail "${deb}: unexpected Maintainer"
  # A synopsis line, then an extended description of several lines.
  (($(field "${deb}" Description | wc -l) >= 5)) || fail "${deb}: the Description has no long part"
done
[[ "$(field "${host_deb}" Package)" == faust-host ]] || fail "unexpected Package in ${host_deb}"
[[ "$(field "${sdk_deb}" Package)" == faust-plugin-sdk-dev ]] || fail "unexpected Package in ${sdk_deb}"
[[ "$(field "${host_deb}" Section)" == net ]] || fail "faust-host: Section is not net"
[[ "$(field "${sdk_deb}" Section)" == libdevel ]] || fail "faust-plugin-sdk-dev: Section is not libdevel"
# dpkg-shlibdeps ran: the libraries the binary and plugins link are dependencies (libcurl4: the
# crawler's fetches), next to adduser, tzdata (the time zones of cron timers) and ca-certificates.
depends=$(field "${host_deb}" Depends)
for package in adduser tzdata ca-certificates libcurl4 libc6 librdkafka++1 libyaml-cpp0.7 libboost-filesystem1.74.0 libdate-tz3 libstdc++6; do
  [[ ", ${depends}," == *", ${package}"[\ ,]* ]] || fail "faust-host does not depend on ${package}: ${depends}"
done
# Headers only; GoogleTest for the tests of a project made from the template.
[[ "$(field "${sdk_deb}" Depends)" == libgtest-dev ]] ||
  fail "faust-plugin-sdk-dev does not depend on libgtest-dev alone: $(field "${sdk_deb}" Depends)"

mkdir -p "${work}/control"
dpkg-deb --control "${host_deb}" "${work}/control"
[[ "$(cat "${work}/control/conffiles")" == "/etc/faust-host/leader.yaml" ]] || fail "conffiles is not the manifest"
for script in postinst prerm postrm; do
  [[ "$(stat -c %a "${work}/control/${script}")" == 755 ]] || fail "${script} is not mode 755"
  sh -n "${work}/control/${script}" || fail "${script} is not valid sh"
done
for file in control md5sums conffiles; do
  [[ "$(stat -c %a "${work}/control/${file}")" == 644 ]] || fail "control file ${file} is not mode 644"
done
md5_count=$(wc -l <"${work}/control/md5sums")
((md5_count == $(dpkg-deb --fsys-tarfile "${host_deb}" | tar -t | grep -vc '/$'))) ||
  fail "md5sums does not list every file"

# ------------------------------------------------------------------------------------------------
step "contents: paths, owners and modes"
# tar -tv lines: "<mode> <owner>/<group> <size> <date> <time> ./<path>"
contents() { dpkg-deb --fsys-tarfile "$1" | tar -tv --numeric-owner | awk '{ print $1, $2, $6 }'; }
contents "${host_deb}" >"${work}/host.contents"
contents "${sdk_deb}" >"${work}/sdk.contents"
for listing in "${work}/host.contents" "${work}/sdk.contents"; do
  awk '$2 != "0/0" { print "not owned by root: " $0; bad = 1 } END { exit bad }' "${listing}" ||
    fail "files not owned by root:root"
  awk '/^d/ && $1 != "drwxr-xr-x" { print; bad = 1 }
       /^-/ && $1 != "-rw-r--r--" && $3 != "./usr/bin/faust-host" { print; bad = 1 }
       END { exit bad }' "${listing}" || fail "unexpected file modes"
done
expect_line "${work}/host.contents" "-rwxr-xr-x 0/0 ./usr/bin/faust-host"
for path in etc/faust-host/leader.yaml "${plugin_dir}/say.so" "${plugin_dir}/publish_greetings.so" \
  "${plugin_dir}/hello_c.so" "${plugin_dir}/crawler.so" usr/share/doc/faust-host/examples/crawler.yaml \
  usr/lib/systemd/system/faust-host@.service \
  usr/share/man/man1/faust-host.1.gz usr/share/doc/faust-host/copyright \
  usr/share/doc/faust-host/changelog.Debian.gz usr/share/lintian/overrides/faust-host; do
  expect_line "${work}/host.contents" "-rw-r--r-- 0/0 ./${path}"
done
for path in usr/include/faust/plugin.h usr/include/faust/plugin.hpp \
  "usr/lib/${multiarch}/cmake/FaustPluginSDK/FaustPluginSDKConfig.cmake" \
  "usr/lib/${multiarch}/cmake/FaustPluginSDK/FaustPluginSDKConfigVersion.cmake" \
  "usr/lib/${multiarch}/cmake/FaustPluginSDK/FaustPluginSDKFunctions.cmake" \
  "usr/lib/${multiarch}/cmake/FaustPluginSDK/FaustPluginSDKTargets.cmake" \
  "usr/lib/${multiarch}/pkgconfig/faust-plugin-sdk.pc" usr/share/doc/faust-plugin-sdk-dev/copyright \
  usr/share/doc/faust-plugin-sdk-dev/changelog.Debian.gz usr/share/lintian/overrides/faust-plugin-sdk-dev \
  usr/share/doc/faust-plugin-sdk-dev/README.md usr/share/doc/faust-plugin-sdk-dev/C-ABI.md \
  usr/share/man/man7/faust-plugin.7.gz; do
  expect_line "${work}/sdk.contents" "-rw-r--r-- 0/0 ./${path}"
done
# The SDK package has no binaries; the host package no headers.
if grep -E '\.so$|/bin/' "${work}/sdk.contents"; then fail "faust-plugin-sdk-dev contains binaries"; fi
if grep -E '/include/' "${work}/host.contents"; then fail "faust-host contains headers"; fi

# ------------------------------------------------------------------------------------------------
step "unpack both packages into ${root}"
mkdir -p "${root}"
dpkg -x "${host_deb}" "${root}"
dpkg -x "${sdk_deb}" "${root}"

step "ELF files: stripped, no RPATH"
for elf in "${root}/usr/bin/faust-host" "${root}/${plugin_dir}"/*.so; do
  if readelf -S --wide "${elf}" | grep -qE '\.symtab|\.debug_'; then fail "${elf} is not stripped"; fi
  if readelf -d "${elf}" | grep -qE '\((RPATH|RUNPATH)\)'; then fail "${elf} has an RPATH"; fi
done

step "compressed docs: gzip -9n, valid man page"
for gz in usr/share/man/man1/faust-host.1.gz usr/share/man/man7/faust-plugin.7.gz \
  usr/share/doc/faust-host/changelog.Debian.gz usr/share/doc/faust-plugin-sdk-dev/changelog.Debian.gz; do
  gzip -t "${root}/${gz}" || fail "${gz} is not valid gzip"
  # Header bytes 3-7: flags (no file name stored) and mtime (zero): what -n leaves.
  [[ "$(od -An -tx1 -j3 -N5 "${root}/${gz}" | tr -d ' ')" == 0000000000 ]] || fail "${gz} was not compressed with -n"
done
for page in man1/faust-host.1.gz man7/faust-plugin.7.gz; do
  man_warnings=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 \
    man --warnings -E UTF-8 -l -Tutf8 -Z "${root}/usr/share/man/${page}" 2>&1 >/dev/null)
  [[ -z "${man_warnings}" ]] || fail "${page}: man page warnings: ${man_warnings}"
done
# Every exit code of host/src/common/exit_code.h is documented.
man_text=$(MANWIDTH=200 man -l "${root}/usr/share/man/man1/faust-host.1.gz" 2>/dev/null)
for code in $(sed -n 's/^ *k[A-Za-z]* = \([0-9]*\),.*/\1/p' "${source_dir}/host/src/common/exit_code.h"); do
  grep -qE "^ +${code} +[A-Z]" <<<"${man_text}" || fail "exit code ${code} is not in faust-host(1)"
done
changelog_version=$(zcat "${root}/usr/share/doc/faust-host/changelog.Debian.gz" | dpkg-parsechangelog -l - -SVersion)
[[ "${changelog_version}" == "${deb_version}" ]] || fail "changelog is at ${changelog_version}, not ${deb_version}"
head -n 1 "${root}/usr/share/doc/faust-host/copyright" | grep -q '^Format: .*copyright-format/1.0/$' ||
  fail "copyright is not machine-readable (DEP-5)"

# ------------------------------------------------------------------------------------------------
step "lintian"
for deb in "${host_deb}" "${sdk_deb}"; do
  lintian --fail-on error,warning --tag-display-limit 0 "${deb}" 2>&1 | tee "${work}/lintian.out" ||
    fail "lintian: errors or warnings in ${deb##*/}"
  if grep -E '^[EW]: ' "${work}/lintian.out"; then fail "lintian reported the lines above"; fi
done

# ------------------------------------------------------------------------------------------------
step "systemd unit"
unit="${root}/usr/lib/systemd/system/faust-host@.service"
for line in 'ExecStart=/usr/bin/faust-host --manifest /etc/faust-host/%i.yaml' 'Restart=on-failure' \
  'User=faust-host' 'Group=faust-host' 'KillSignal=SIGTERM' 'NoNewPrivileges=yes' 'ProtectSystem=strict' \
  'ProtectHome=yes' 'PrivateTmp=yes' 'PrivateDevices=yes' 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' \
  'ExecReload=/bin/kill -HUP $MAINPID' 'WantedBy=multi-user.target'; do
  expect_line "${unit}" "${line}"
done
if command -v systemd-analyze >/dev/null 2>&1; then
  # verify insists that ExecStart's program exists on this machine, and faust-host is not installed
  # here: a copy whose ExecStart names the unpacked binary is verified instead (the only change),
  # as the instance faust-host@leader. MANPATH lets it find the packaged man page it links to.
  mkdir -p "${work}/units"
  sed "s|^ExecStart=/usr/bin/faust-host |ExecStart=${root}/usr/bin/faust-host |" "${unit}" \
    >"${work}/units/faust-host@leader.service"
  verify_output=$(MANPATH="${root}/usr/share/man" systemd-analyze verify \
    "${work}/units/faust-host@leader.service" 2>&1) || fail "systemd-analyze verify: ${verify_output}"
  [[ -z "${verify_output}" ]] || fail "systemd-analyze verify: ${verify_output}"
  echo "systemd-analyze verify: clean"
else
  echo "systemd-analyze not installed: the unit was not verified"
fi

# ------------------------------------------------------------------------------------------------
step "maintainer scripts against stubs"
# Each stub records its command line; getent and deb-systemd-helper answer as STUB_* say.
stubs="${work}/stubs"
mkdir -p "${stubs}" "${work}/run-systemd"
for command in adduser deluser systemctl deb-systemd-invoke getent deb-systemd-helper; do
  cat >"${stubs}/${command}" <<'STUB'
#!/bin/sh
echo "$(basename "$0") $*" >>"$STUB_LOG"
case "$(basename "$0") $*" in
  "getent passwd faust-host") [ "$STUB_USER_EXISTS" = yes ] && exit 0 || exit 2 ;;
  "deb-systemd-helper debian-installed "*) [ "$STUB_DSH_INSTALLED" = yes ] && exit 0 || exit 1 ;;
  "deb-systemd-helper --quiet was-enabled "*) [ "$STUB_DSH_WAS_ENABLED" = yes ] && exit 0 || exit 1 ;;
esac
exit 0
STUB
  chmod 755 "${stubs}/${command}"
done
# The scripts act on systemd only when it runs (/run/systemd/system); point that at a folder of
# the test so the run does not depend on this machine.
for script in postinst prerm postrm; do
  sed "s|/run/systemd/system|${work}/run-systemd|g" "${work}/control/${script}" >"${stubs}/${script}.under-test"
done

# run_script <expected calls, one per line> <script> <args...>; STUB_* from the environment.
run_script() {
  local expected=$1 script=$2
  shift 2
  : >"${work}/calls"
  env -u DPKG_ROOT PATH="${stubs}:${PATH}" STUB_LOG="${work}/calls" sh "${stubs}/${script}.under-test" "$@" ||
    fail "${script} $* failed"
  diff -u <(printf '%s' "${expected}${expected:+$'\n'}") "${work}/calls" || fail "${script} $*: unexpected calls (diff above)"
}
export STUB_USER_EXISTS=no STUB_DSH_INSTALLED=no STUB_DSH_WAS_ENABLED=no
run_script "getent passwd faust-host
adduser --quiet --system --group --no-create-home --home /nonexistent --gecos faust-host worker faust-host
deb-systemd-helper debian-installed faust-host@.service
deb-systemd-helper update-state faust-host@.service
systemctl --system daemon-reload" postinst configure ""
export STUB_USER_EXISTS=yes STUB_DSH_INSTALLED=yes
run_script "getent passwd faust-host
deb-systemd-helper debian-installed faust-host@.service
deb-systemd-helper unmask faust-host@.service
deb-systemd-helper --quiet was-enabled faust-host@.service
deb-systemd-helper update-state faust-host@.service
systemctl --system daemon-reload
deb-systemd-invoke try-restart faust-host@*.service" postinst configure 0.0.9-1
STUB_DSH_WAS_ENABLED=yes run_script "getent passwd faust-host
deb-systemd-helper debian-installed faust-host@.service
deb-systemd-helper unmask faust-host@.service
deb-systemd-helper --quiet was-enabled faust-host@.service
deb-systemd-helper enable faust-host@.service
deb-systemd-helper update-state faust-host@.service
systemctl --system daemon-reload
deb-systemd-invoke try-restart faust-host@*.service" postinst configure 0.0.9-1
run_script "deb-systemd-invoke stop faust-host@*.service" prerm remove
run_script "" prerm upgrade "${deb_version}"
run_script "systemctl --system daemon-reload
deb-systemd-helper mask faust-host@.service" postrm remove
# Purge keeps the user (no deluser): files it owns may outlive the package.
run_script "deb-systemd-helper purge faust-host@.service
deb-systemd-helper unmask faust-host@.service
systemctl --system daemon-reload" postrm purge

# ------------------------------------------------------------------------------------------------
# From here on only the unpacked root is used: no build tree, no FAUST_HOST_PLUGIN_PATH.
unset FAUST_HOST_PLUGIN_PATH
faust_host="${root}/usr/bin/faust-host"
# The ABI every plugin built here reports: the packaged SDK header's.
abi_number() { sed -n "s/^#define FAUST_PLUGIN_ABI_$1 \([0-9]*\)$/\1/p" "${root}/usr/include/faust/plugin.h"; }
abi="$(abi_number MAJOR).$(abi_number MINOR)"
[[ "${abi}" =~ ^[0-9]+\.[0-9]+$ ]] || fail "no ABI version in the packaged faust/plugin.h"

step "faust-host from the root"
[[ "$("${faust_host}" --version)" == "faust-host ${version}" ]] || fail "faust-host --version is not ${version}"
"${faust_host}" check --manifest "${root}/etc/faust-host/leader.yaml" >"${work}/leader.out" ||
  fail "faust-host check of the packaged leader.yaml failed"
expect_line "${work}/leader.out" "plugin say 1.0.0 (ABI ${abi}) from ${root}/${plugin_dir}/say.so"
expect_line "${work}/leader.out" \
  "plugin publish_greetings 1.0.0 (ABI ${abi}) from ${root}/${plugin_dir}/publish_greetings.so"

step "a plugin built with find_package(FaustPluginSDK) from the root"
"${cmake}" -S "${source_dir}/tests/plugins/out_of_tree/example" -B "${work}/echo" -G "${generator}" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="${root}/usr" -DCMAKE_INSTALL_PREFIX=/usr \
  -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF >"${work}/echo.configure" ||
  { cat "${work}/echo.configure" >&2; fail "configuring the example plugin failed"; }
grep -qxF "FaustPluginSDK_DIR:PATH=${root}/usr/lib/${multiarch}/cmake/FaustPluginSDK" "${work}/echo/CMakeCache.txt" ||
  fail "find_package(FaustPluginSDK) did not find the unpacked package: $(grep FaustPluginSDK_DIR "${work}/echo/CMakeCache.txt")"
"${cmake}" --build "${work}/echo" --parallel 2 >"${work}/echo.build" ||
  { cat "${work}/echo.build" >&2; fail "building the example plugin failed"; }
[[ -f "${work}/echo/echo.so" ]] || fail "the example did not produce echo.so"
# Its headers came from the root: the compile command names the unpacked include folder.
grep -qF -- "-isystem ${root}/usr/include " "${work}/echo/compile_commands.json" ||
  fail "the example was not compiled against ${root}/usr/include"

step "a C plugin built with pkg-config from the root"
export PKG_CONFIG_SYSROOT_DIR="${root}" PKG_CONFIG_LIBDIR="${root}/usr/lib/${multiarch}/pkgconfig"
unset PKG_CONFIG_PATH
cflags=$(pkg-config --cflags faust-plugin-sdk) || fail "pkg-config does not know faust-plugin-sdk"
[[ "${cflags}" == *"-I${root}/usr"* ]] || fail "pkg-config --cflags does not point into the root: ${cflags}"
[[ "$(pkg-config --modversion faust-plugin-sdk)" == 1.* ]] || fail "faust-plugin-sdk is not version 1.x"
mkdir -p "${work}/hello"
# shellcheck disable=SC2086  # cflags is a list of flags
cc -std=c11 -Wall -Wextra -Werror -fPIC -shared -fvisibility=hidden -Wl,-z,defs ${cflags} \
  "${source_dir}/plugins/hello_c/hello_c.c" -o "${work}/hello/hello_c.so" || fail "building hello_c.so failed"
unset PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_LIBDIR

step "faust-host check: new plugins by path, the installed say by name"
cat >"${work}/manifest.yaml" <<YAML
app:
  id: packaging-test
  broker: memory://
agents:
  echo:
    library: ${work}/echo/echo.so
  say:
    library: say
  hello_c:
    library: ${work}/hello/hello_c.so
YAML
status=0
(cd "${work}" && "${faust_host}" check --manifest "${work}/manifest.yaml") >"${work}/check.out" 2>&1 || status=$?
cat "${work}/check.out"
((status == 0)) || fail "faust-host check exited with ${status}"
expect_line "${work}/check.out" "manifest ${work}/manifest.yaml: OK"
expect_line "${work}/check.out" "plugin echo 0.1.0 (ABI ${abi}) from ${work}/echo/echo.so"
expect_line "${work}/check.out" "plugin say 1.0.0 (ABI ${abi}) from ${root}/${plugin_dir}/say.so"
expect_line "${work}/check.out" "plugin hello_c 1.0.0 (ABI ${abi}) from ${work}/hello/hello_c.so"
expect_line "${work}/check.out" "agent echo: topic packaging-test-echo, concurrency 1, on_error skip"
expect_line "${work}/check.out" "agent say: topic packaging-test-say, concurrency 1, on_error skip"
expect_line "${work}/check.out" "agent hello_c: topic packaging-test-hello_c, concurrency 1, on_error skip"

step "faust_add_plugin() installs where faust-host looks"
DESTDIR="${root}" "${cmake}" --install "${work}/echo" >/dev/null
[[ -f "${root}/${plugin_dir}/echo.so" ]] || fail "echo.so was not installed into /${plugin_dir}"
sed "s|library: ${work}/echo/echo.so|library: echo|" "${work}/manifest.yaml" >"${work}/by-name.yaml"
"${faust_host}" check --manifest "${work}/by-name.yaml" >"${work}/by-name.out" ||
  fail "faust-host check with echo by name failed"
expect_line "${work}/by-name.out" "plugin echo 0.1.0 (ABI ${abi}) from ${root}/${plugin_dir}/echo.so"

step "the guide is installed where the template's README says"
guide=usr/share/doc/faust-plugin-sdk-dev/README.md
[[ -f "${root}/${guide}" && -f "${root}/usr/share/doc/faust-plugin-sdk-dev/C-ABI.md" ]] ||
  fail "the guide or the C ABI reference is missing"
grep -q '^# Writing a plugin$' "${root}/${guide}" || fail "${guide} is not the guide"
grep -qF "/${guide}" "${root}/usr/share/faust-plugin-sdk/template/README.md" ||
  fail "the template's README does not point at /${guide}"

step "a plugin from the template, with its service on: built, installed with defaults, run by name"
"${cmake}" -DNAME=greeter -DDEST="${work}/greeter" \
  -P "${root}/usr/lib/${multiarch}/cmake/FaustPluginSDK/FaustNewPlugin.cmake" >/dev/null ||
  fail "FaustNewPlugin.cmake did not create the project"
# Switched on as its comments say: the class, its entry in FAUST_PLUGIN, the manifest's services:
# section. The manifest names the plugin by its bare name.
greeter_cpp="${work}/greeter/src/greeter.cpp"
sed -i -e '/^\/\/ struct GreeterService/,/^\/\/ };/ s|^// \{0,1\}||' \
  -e 's|/\*, \(faust::sdk::service<GreeterService>()\) \*/|, \1|' "${greeter_cpp}"
sed -i -e 's|^# services:|services:|' -e 's|^#   greeter_service:|  greeter_service:|' -e 's|^#     |    |' \
  -e 's|library: build/greeter.so.*|library: greeter|' "${work}/greeter/greeter.yaml"
# No CMAKE_BUILD_TYPE and no CMAKE_INSTALL_PREFIX: the template's defaults. Its tests are built and
# run by the plugins_template test; here the plugin alone.
"${cmake}" -S "${work}/greeter" -B "${work}/greeter/build" -G "${generator}" -DBUILD_TESTING=OFF \
  -DCMAKE_PREFIX_PATH="${root}/usr" >"${work}/greeter.configure" ||
  { cat "${work}/greeter.configure" >&2; fail "configuring the template's project failed"; }
grep -qx 'CMAKE_BUILD_TYPE:STRING=RelWithDebInfo' "${work}/greeter/build/CMakeCache.txt" ||
  fail "the template's project has no default build type"
"${cmake}" --build "${work}/greeter/build" >"${work}/greeter.build" ||
  { cat "${work}/greeter.build" "${greeter_cpp}" >&2; fail "building the template's project with its service failed"; }
DESTDIR="${root}" "${cmake}" --install "${work}/greeter/build" >/dev/null
local_plugin="${root}/usr/local/lib/${multiarch}/faust-host/plugins/greeter.so"
[[ -f "${local_plugin}" ]] || fail "cmake --install with the default prefix did not put greeter.so in ${local_plugin#"${root}"}"
"${faust_host}" check --manifest "${work}/greeter/greeter.yaml" >"${work}/greeter.check" 2>&1 ||
  { cat "${work}/greeter.check" >&2; fail "faust-host check of the template's manifest failed"; }
expect_line "${work}/greeter.check" "plugin greeter 0.1.0 (ABI ${abi}) from ${local_plugin}"
expect_line "${work}/greeter.check" "agent greeter: topic greeter-app-greeter, concurrency 1, on_error skip"
expect_line "${work}/greeter.check" "timer greeter_timer: every 2 s, on leader only"
expect_line "${work}/greeter.check" "service greeter_service: stop_timeout 5 s"

"${faust_host}" --manifest "${work}/greeter/greeter.yaml" --without-web >"${work}/greeter.run" 2>&1 &
worker=$!
deadline=$((SECONDS + 30))
until grep -q '\[greeter\] received hello 1$' "${work}/greeter.run"; do
  if ((SECONDS >= deadline)) || ! kill -0 "${worker}" 2>/dev/null; then
    kill -9 "${worker}" 2>/dev/null || true
    cat "${work}/greeter.run" >&2
    fail "the template's plugin did not deliver a greeting on memory:// within 30 s"
  fi
  sleep 0.1
done
kill -INT "${worker}"
status=0
wait "${worker}" || status=$?
((status == 0)) || { cat "${work}/greeter.run" >&2; fail "faust-host exited with ${status} after SIGINT"; }
grep -q '\[greeter_service\] leading, term [0-9]*$' "${work}/greeter.run" ||
  { cat "${work}/greeter.run" >&2; fail "the template's service was not elected"; }

echo "PASS"
