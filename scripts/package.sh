#!/usr/bin/env bash
# Builds the Debian packages faust-host and faust-plugin-sdk-dev and prints their paths.
#
#   scripts/package.sh [build-dir]     (default build dir: <repo>/build-deb)
#
# Configures a Release build for /usr with Debian's build flags (dpkg-buildflags, hardening on),
# without tests, builds it, runs `cpack -G DEB` and leaves the .deb files in <build-dir>/packages/.
# Check them with: lintian --fail-on error,warning <build-dir>/packages/*.deb
#
# Environment:
#   FAUST_JOBS   parallel compile jobs (default: nproc)
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
FAUST_LOG_TAG="package"

case "${1:-}" in
  -h | --help)
    sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
esac
(($# <= 1)) || faust_die "usage: scripts/package.sh [build-dir]"

build_dir="${1:-${FAUST_REPO_ROOT}/build-deb}"
mkdir -p "${build_dir}"
build_dir="$(cd "${build_dir}" && pwd)"
readonly build_dir
readonly packages_dir="${build_dir}/packages"
readonly jobs="${FAUST_JOBS:-$(nproc)}"

for tool in cmake ninja cpack dpkg-buildflags dpkg-shlibdeps dpkg-parsechangelog gzip; do
  command -v "${tool}" >/dev/null 2>&1 || faust_die "${tool} is missing (scripts/setup.sh installs it)"
done

# Files get 0644 and directories 0755 in the packages whatever the caller's umask.
umask 022
# dpkg-buildflags maps the current directory away (-ffile-prefix-map=<cwd>=.), so run from the repo.
cd "${FAUST_REPO_ROOT}"

# Debian's flags with every hardening feature; without -g since the packages ship stripped
# binaries. Optimisation is dpkg-buildflags' -O2: CMAKE_<LANG>_FLAGS_RELEASE is reduced to
# -DNDEBUG, so Release adds no -O3 on top.
export DEB_BUILD_MAINT_OPTIONS="hardening=+all"
export DEB_CFLAGS_MAINT_STRIP="-g" DEB_CXXFLAGS_MAINT_STRIP="-g"
cflags="$(dpkg-buildflags --get CFLAGS) $(dpkg-buildflags --get CPPFLAGS)"
cxxflags="$(dpkg-buildflags --get CXXFLAGS) $(dpkg-buildflags --get CPPFLAGS)"
ldflags="$(dpkg-buildflags --get LDFLAGS)"

# Time stamps in the packages come from the changelog, so a rebuild gives the same files.
SOURCE_DATE_EPOCH="$(dpkg-parsechangelog -l packaging/debian/changelog -STimestamp)"
export SOURCE_DATE_EPOCH

faust_log "configuring ${build_dir}"
cmake -S "${FAUST_REPO_ROOT}" -B "${build_dir}" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_INSTALL_PREFIX=/usr \
  -DFAUST_BUILD_TESTS=OFF \
  -DCMAKE_SKIP_INSTALL_RPATH=ON \
  "-DCMAKE_C_FLAGS=${cflags}" \
  "-DCMAKE_CXX_FLAGS=${cxxflags}" \
  -DCMAKE_C_FLAGS_RELEASE=-DNDEBUG \
  -DCMAKE_CXX_FLAGS_RELEASE=-DNDEBUG \
  "-DCMAKE_EXE_LINKER_FLAGS=${ldflags}" \
  "-DCMAKE_SHARED_LINKER_FLAGS=${ldflags}" \
  "-DCMAKE_MODULE_LINKER_FLAGS=${ldflags}" \
  >"${build_dir}/configure.log" || {
  cat "${build_dir}/configure.log" >&2
  faust_die "configure failed"
}

faust_log "building (-j ${jobs})"
cmake --build "${build_dir}" -j "${jobs}"

faust_log "packaging"
rm -rf "${packages_dir}"
(cd "${build_dir}" && cpack -G DEB --config "${build_dir}/CPackConfig.cmake" -B "${packages_dir}") \
  >"${build_dir}/cpack.log" 2>&1 || {
  cat "${build_dir}/cpack.log" >&2
  faust_die "cpack failed"
}
# cpack leaves its staging trees next to the packages; only the .deb files belong there.
rm -rf "${packages_dir}/_CPack_Packages"

shopt -s nullglob
debs=("${packages_dir}"/*.deb)
((${#debs[@]} == 2)) || faust_die "expected 2 packages in ${packages_dir}, found ${#debs[@]}"
printf '%s\n' "${debs[@]}"
