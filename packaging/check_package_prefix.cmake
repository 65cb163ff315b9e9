# Read by cpack before it builds packages (CPACK_PROJECT_CONFIG_FILE). Debian packages install
# into /usr; a tree configured for another prefix would put files where no package may.
if(NOT CPACK_PACKAGING_INSTALL_PREFIX STREQUAL "/usr")
  message(FATAL_ERROR "faust-host packages need a tree configured with -DCMAKE_INSTALL_PREFIX=/usr "
                      "(this one has ${CPACK_PACKAGING_INSTALL_PREFIX}); scripts/package.sh does that")
endif()
