# Debian packages, built by CPack from the install components (scripts/package.sh runs it all):
#
#   faust-host            component `host`: /usr/bin/faust-host, the example plugins, the example
#                         manifest /etc/faust-host/leader.yaml (and the crawler's under
#                         /usr/share/doc/faust-host/examples), the systemd template unit
#                         faust-host@.service, faust-host(1), the system user `faust-host`
#   faust-plugin-sdk-dev  component `sdk`: headers, test harness, the CMake package FaustPluginSDK,
#                         the plugin project template, the pkg-config file faust-plugin-sdk, the
#                         guide and C ABI reference (/usr/share/doc/faust-plugin-sdk-dev) and
#                         faust-plugin(7)
#
# Packages are built from a tree configured with -DCMAKE_INSTALL_PREFIX=/usr (cpack refuses any
# other, see check_package_prefix.cmake). Other trees still get the files below from
# `cmake --install`, under their own prefix.
include_guard(GLOBAL)
include(GNUInstallDirs)

set(faust_packaging_dir "${CMAKE_CURRENT_LIST_DIR}")
set(faust_packaging_out "${PROJECT_BINARY_DIR}/packaging")
set(faust_deb_host_package faust-host)
set(faust_deb_sdk_package faust-plugin-sdk-dev)

# The Debian version comes from the top entry of the changelog, as dpkg-buildpackage takes it; its
# upstream part must be the project's version.
file(STRINGS "${faust_packaging_dir}/debian/changelog" faust_changelog_top LIMIT_COUNT 1)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${faust_packaging_dir}/debian/changelog")
if(NOT faust_changelog_top MATCHES "^faust-host \\(([^)-]+)-([^)]+)\\) ")
  message(FATAL_ERROR "packaging/debian/changelog: first line is not 'faust-host (<version>-<revision>) ...'")
endif()
set(faust_deb_upstream_version "${CMAKE_MATCH_1}")
set(faust_deb_revision "${CMAKE_MATCH_2}")
if(NOT faust_deb_upstream_version STREQUAL PROJECT_VERSION)
  message(WARNING "packaging/debian/changelog is at ${faust_deb_upstream_version}, the project at "
                  "${PROJECT_VERSION}: add a changelog entry before building packages")
endif()

# --- Files that only the packages need -----------------------------------------------------------

# Compressed at build time with -n (no name, no time stamp), so the packages are reproducible.
function(faust_gzip_file source output)
  add_custom_command(OUTPUT "${output}"
    COMMAND gzip -9n -c "${source}" > "${output}"
    DEPENDS "${source}"
    COMMENT "Compressing ${output}"
    VERBATIM)
endfunction()
faust_gzip_file("${faust_packaging_dir}/faust-host.1" "${faust_packaging_out}/faust-host.1.gz")
faust_gzip_file("${PROJECT_SOURCE_DIR}/plugin-sdk/faust-plugin.7" "${faust_packaging_out}/faust-plugin.7.gz")
faust_gzip_file("${faust_packaging_dir}/debian/changelog" "${faust_packaging_out}/changelog.Debian.gz")
add_custom_target(faust_packaging_files ALL
  DEPENDS "${faust_packaging_out}/faust-host.1.gz" "${faust_packaging_out}/faust-plugin.7.gz"
          "${faust_packaging_out}/changelog.Debian.gz")

configure_file("${faust_packaging_dir}/faust-host@.service.in" "${faust_packaging_out}/faust-host@.service" @ONLY)
file(CONFIGURE OUTPUT "${faust_packaging_out}/conffiles"
  CONTENT "${CMAKE_INSTALL_FULL_SYSCONFDIR}/faust-host/leader.yaml\n")

# faust-host
install(FILES "${PROJECT_SOURCE_DIR}/configs/leader.yaml"
  DESTINATION "${CMAKE_INSTALL_FULL_SYSCONFDIR}/faust-host" COMPONENT host)
# The crawler example's manifest, for reading and copying: it needs a feed server to be useful.
install(FILES "${PROJECT_SOURCE_DIR}/configs/crawler.yaml"
  DESTINATION "${CMAKE_INSTALL_DATAROOTDIR}/doc/faust-host/examples" COMPONENT host)
install(FILES "${faust_packaging_out}/faust-host@.service"
  DESTINATION "lib/systemd/system" COMPONENT host)
install(FILES "${faust_packaging_out}/faust-host.1.gz"
  DESTINATION "${CMAKE_INSTALL_MANDIR}/man1" COMPONENT host)
install(FILES "${faust_packaging_out}/faust-plugin.7.gz"
  DESTINATION "${CMAKE_INSTALL_MANDIR}/man7" COMPONENT sdk)
# faust-host and faust-plugin-sdk-dev: each has its own copyright and changelog.
foreach(component_and_package "host;${faust_deb_host_package}" "sdk;${faust_deb_sdk_package}")
  list(GET component_and_package 0 component)
  list(GET component_and_package 1 package)
  install(FILES "${faust_packaging_dir}/debian/copyright" "${faust_packaging_out}/changelog.Debian.gz"
    DESTINATION "${CMAKE_INSTALL_DATAROOTDIR}/doc/${package}" COMPONENT ${component})
  install(FILES "${faust_packaging_dir}/debian/${package}.lintian-overrides"
    DESTINATION "${CMAKE_INSTALL_DATAROOTDIR}/lintian/overrides" RENAME "${package}" COMPONENT ${component})
endforeach()

# --- CPack ---------------------------------------------------------------------------------------

# Values reach cpack exactly as written here (regular expressions, multi-line descriptions).
set(CPACK_VERBATIM_VARIABLES ON)
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME faust-host)
set(CPACK_PACKAGE_VENDOR "The faust-host authors")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
# Each component's description starts with its own synopsis line; an empty summary keeps CPack
# from putting the project's DESCRIPTION in front of it.
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "")
set(CPACK_PACKAGE_CONTACT "faust-host maintainers <maintainers@faust-host.invalid>")
set(CPACK_RESOURCE_FILE_LICENSE "${PROJECT_SOURCE_DIR}/LICENSE")
set(CPACK_PACKAGING_INSTALL_PREFIX "${CMAKE_INSTALL_PREFIX}")
set(CPACK_PACKAGE_DIRECTORY "${PROJECT_BINARY_DIR}/packages")
set(CPACK_STRIP_FILES ON)
set(CPACK_PROJECT_CONFIG_FILE "${faust_packaging_dir}/check_package_prefix.cmake")
# Installs through DESTDIR, so the absolute /etc destination lands in the package, not on the host.
set(CPACK_SET_DESTDIR ON)

set(CPACK_COMPONENTS_ALL host sdk)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # <package>_<version>-<revision>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_RELEASE "${faust_deb_revision}")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${CPACK_PACKAGE_CONTACT}")
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SOURCE faust-host)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
# Maintainer scripts 0755, other control files 0644, whatever the source tree's modes.
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(CPACK_DEBIAN_HOST_PACKAGE_NAME "${faust_deb_host_package}")
set(CPACK_DEBIAN_HOST_PACKAGE_SECTION net)
set(CPACK_DEBIAN_HOST_PACKAGE_SHLIBDEPS ON)
# adduser for postinst; tzdata for cron timers' time zones, which are read from
# /usr/share/zoneinfo at run time (no library links it); ca-certificates for the system CA store
# the crawler plugin's HTTPS fetches trust (read at run time too). The libraries, libdate-tz3 and
# the crawler plugin's libpugixml1v5 and libcurl4 among them, come from dpkg-shlibdeps.
set(CPACK_DEBIAN_HOST_PACKAGE_DEPENDS "adduser, tzdata, ca-certificates")
set(CPACK_DEBIAN_HOST_PACKAGE_SUGGESTS "${faust_deb_sdk_package}")
set(CPACK_DEBIAN_HOST_PACKAGE_CONTROL_EXTRA
  "${faust_packaging_out}/conffiles"
  "${faust_packaging_dir}/debian/postinst"
  "${faust_packaging_dir}/debian/prerm"
  "${faust_packaging_dir}/debian/postrm")
set(CPACK_COMPONENT_HOST_DESCRIPTION
  "native worker host for Kafka stream agents
faust-host runs the workers of a Kafka stream application in the style of
Python Faust. One generic binary owns the Kafka connection, the consumer
group, leader election, timers and a web port with health, status and
Prometheus metrics; the application's agents and timers are shared-library
plugins named in a YAML manifest.

This package contains the faust-host program, the example plugins of the
Faust leader election tutorial (say, publish_greetings), a plugin written
in C (hello_c), the news crawler of the tutorial's motivation (crawler, with
its manifest in /usr/share/doc/faust-host/examples), the example manifest
/etc/faust-host/leader.yaml and the
systemd template unit faust-host@.service, which runs one worker per
manifest as the system user faust-host.")

# Architecture-dependent although it holds no binaries: the CMake package and the pkg-config file
# live in the multiarch libdir (/usr/lib/<triplet>) and record the multiarch plugin directory of
# faust-host, so each architecture needs its own. (It could be Multi-Arch: same, but CPack 3.25
# cannot write that field.)
set(CPACK_DEBIAN_SDK_PACKAGE_NAME "${faust_deb_sdk_package}")
set(CPACK_DEBIAN_SDK_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_SDK_PACKAGE_SHLIBDEPS OFF)
# The template's tests, built by default, need GoogleTest (headers and sources: libgtest-dev).
set(CPACK_DEBIAN_SDK_PACKAGE_DEPENDS "libgtest-dev")
set(CPACK_DEBIAN_SDK_PACKAGE_SUGGESTS "${faust_deb_host_package}, cmake, pkgconf")
set(CPACK_COMPONENT_SDK_DESCRIPTION
  "plugin SDK for faust-host
faust-host runs the workers of a Kafka stream application in the style of
Python Faust; the application's agents and timers are shared-library plugins.

This package contains what a plugin author needs: the C ABI header
faust/plugin.h, the header-only C++ layer faust/plugin.hpp, a test harness
that loads a plugin the way faust-host does (faust/testing/plugin_harness.hpp),
the CMake package FaustPluginSDK with faust_add_plugin(), which builds and
installs a plugin where faust-host looks for it, a plugin project template
(FaustNewPlugin.cmake), the pkg-config file faust-plugin-sdk, the guide
\"Writing a plugin\" and the C ABI reference in
/usr/share/doc/faust-plugin-sdk-dev, and the manual page faust-plugin(7).")

# `ninja package_source`: the source tree without build folders, .git or local state.
set(CPACK_SOURCE_GENERATOR TXZ)
string(REGEX REPLACE "([][+.*()^$?|\\])" "\\\\\\1" faust_source_dir_regex "${PROJECT_SOURCE_DIR}")
set(CPACK_SOURCE_IGNORE_FILES "^${faust_source_dir_regex}/build" "/\\.git/" "/bench/\\.venv/"
    "/bench/results/.*\\.tmp$" "/__pycache__/")

include(CPack)
