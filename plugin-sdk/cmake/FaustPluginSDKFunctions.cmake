# faust_add_plugin(<name> [OUTPUT_DIRECTORY <dir>] [COMPONENT <component>] [NO_INSTALL] <source>...)
#
# Builds a faust-host plugin `<name>.so` from C and/or C++ sources:
#   - a MODULE library without the "lib" prefix, so the manifest says `library: <name>`;
#   - hidden visibility and a version script: the entry symbol is the only symbol exported (not
#     even weak template instances from the C++ library leak out);
#   - linked with -z defs, so a symbol the plugin forgot to link fails the build, not the load;
#   - output in OUTPUT_DIRECTORY, else ${FAUST_PLUGIN_OUTPUT_DIR} when set;
#   - installed to ${FAUST_PLUGIN_INSTALL_DIR} (default <libdir>/faust-host/plugins) unless
#     NO_INSTALL is given.
# Needs CMake 3.18 or newer.
include_guard(GLOBAL)

function(faust_add_plugin name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "NO_INSTALL" "OUTPUT_DIRECTORY;COMPONENT" "")
  set(sources ${arg_UNPARSED_ARGUMENTS})
  if(NOT sources)
    message(FATAL_ERROR "faust_add_plugin(${name}): no source files given")
  endif()

  add_library(${name} MODULE ${sources})
  target_link_libraries(${name} PRIVATE FaustPluginSDK::sdk)
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)

  # Clang does not link the sanitizer runtimes into shared objects (GCC links libasan/libubsan
  # in), so under Clang with sanitizers the runtime symbols are undefined until the host loads
  # the plugin; -z defs would reject that.
  set(sanitized OFF)
  if(FAUST_SANITIZE OR FAUST_TSAN OR "${CMAKE_C_FLAGS} ${CMAKE_CXX_FLAGS}" MATCHES "-fsanitize=")
    set(sanitized ON)
  endif()
  if(NOT (sanitized AND (CMAKE_CXX_COMPILER_ID MATCHES "Clang" OR CMAKE_C_COMPILER_ID MATCHES "Clang")))
    target_link_options(${name} PRIVATE "LINKER:-z,defs")
  endif()

  set(exports_map "${CMAKE_BINARY_DIR}/faust-plugin-exports.map")
  # Written only when its content changes, so plugins do not relink at every configure.
  file(CONFIGURE OUTPUT "${exports_map}" CONTENT "{\n  global: faust_plugin_entry;\n  local: *;\n};\n")
  target_link_options(${name} PRIVATE "LINKER:--version-script=${exports_map}")
  set_property(TARGET ${name} APPEND PROPERTY LINK_DEPENDS "${exports_map}")

  if(arg_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${arg_OUTPUT_DIRECTORY}")
  elseif(DEFINED FAUST_PLUGIN_OUTPUT_DIR)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${FAUST_PLUGIN_OUTPUT_DIR}")
  endif()

  if(NOT arg_NO_INSTALL)
    if(DEFINED FAUST_PLUGIN_INSTALL_DIR)
      set(destination "${FAUST_PLUGIN_INSTALL_DIR}")
    else()
      include(GNUInstallDirs)
      set(destination "${CMAKE_INSTALL_LIBDIR}/faust-host/plugins")
    endif()
    set(component "${arg_COMPONENT}")
    if(NOT component)
      get_property(component GLOBAL PROPERTY FAUST_PLUGIN_DEFAULT_COMPONENT)
    endif()
    if(component)
      install(TARGETS ${name} LIBRARY DESTINATION "${destination}" COMPONENT "${component}")
    else()
      install(TARGETS ${name} LIBRARY DESTINATION "${destination}")
    endif()
  endif()
endfunction()
