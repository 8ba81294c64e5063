# livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#
# ctest livechat.consume.install (cmake -P), the fixture of the find_package
# consumers (tests/cmake/consumers.cmake): empties CONSUMER_WORK_DIR, then
#   1. installs the livechat build tree LIVECHAT_BINARY_DIR to CONSUMER_PREFIX
#      (with the server: its console and clients/js's modules, checked);
#   2. configures the source tree LIVECHAT_SOURCE_DIR with SQLite3, OpenSSL
#      and websocketpp hidden (a machine without them) and installs it to
#      CONSUMER_PREFIX_CORE, which must have no component export file.
#
# Inputs: LIVECHAT_BINARY_DIR LIVECHAT_SOURCE_DIR LIVECHAT_CONFIG LIVECHAT_GENERATOR
#         LIVECHAT_MAKE_PROGRAM LIVECHAT_CXX_COMPILER
#         CONSUMER_WORK_DIR CONSUMER_PREFIX CONSUMER_PREFIX_CORE
cmake_minimum_required(VERSION 3.21)

function(step what)
  message(STATUS "consume.install: ${what}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "consume.install: ${what} failed (${rc})")
  endif()
endfunction()

set(config_args "")
set(generator_args -G "${LIVECHAT_GENERATOR}" "-DCMAKE_CXX_COMPILER=${LIVECHAT_CXX_COMPILER}")
if(LIVECHAT_CONFIG)
  set(config_args --config "${LIVECHAT_CONFIG}")
  list(APPEND generator_args "-DCMAKE_BUILD_TYPE=${LIVECHAT_CONFIG}")
endif()
if(LIVECHAT_MAKE_PROGRAM)
  list(APPEND generator_args "-DCMAKE_MAKE_PROGRAM=${LIVECHAT_MAKE_PROGRAM}")
endif()

file(REMOVE_RECURSE "${CONSUMER_WORK_DIR}")

step("install ${LIVECHAT_BINARY_DIR} to ${CONSUMER_PREFIX}"
  "${CMAKE_COMMAND}" --install "${LIVECHAT_BINARY_DIR}" --prefix "${CONSUMER_PREFIX}" ${config_args})

# An installed server finds the console and the JavaScript client it imports
# next to it (examples/server/web_roots.hpp): both must be installed, the
# client's modules as they are in clients/js.
file(GLOB installed_server "${CONSUMER_PREFIX}/*/livechat-server")
if(installed_server)
  file(GLOB source_modules RELATIVE "${LIVECHAT_SOURCE_DIR}/clients/js" "${LIVECHAT_SOURCE_DIR}/clients/js/*.js")
  if(NOT source_modules)
    message(FATAL_ERROR "consume.install: no module in ${LIVECHAT_SOURCE_DIR}/clients/js")
  endif()
  foreach(f IN LISTS source_modules)
    file(GLOB installed "${CONSUMER_PREFIX}/*/livechat/js/${f}")
    if(NOT installed)
      message(FATAL_ERROR "consume.install: clients/js/${f} is not installed under share/livechat/js")
    endif()
    file(READ "${installed}" got HEX)
    file(READ "${LIVECHAT_SOURCE_DIR}/clients/js/${f}" want HEX)
    if(NOT got STREQUAL want)
      message(FATAL_ERROR "consume.install: the installed ${f} differs from clients/js/${f}")
    endif()
  endforeach()
  file(GLOB installed_console "${CONSUMER_PREFIX}/*/livechat/web/index.html")
  if(NOT installed_console)
    message(FATAL_ERROR "consume.install: the console is not installed under share/livechat/web")
  endif()
endif()

set(core_build "${CONSUMER_WORK_DIR}/livechat-core")
step("configure livechat with SQLite3, OpenSSL, libpq and websocketpp hidden"
  "${CMAKE_COMMAND}" -S "${LIVECHAT_SOURCE_DIR}" -B "${core_build}" ${generator_args}
    -DLIVECHAT_BUILD_TESTS=OFF -DLIVECHAT_BUILD_EXAMPLES=OFF -DLIVECHAT_INSTALL=ON
    -DCMAKE_DISABLE_FIND_PACKAGE_SQLite3=ON -DCMAKE_DISABLE_FIND_PACKAGE_OpenSSL=ON
    -DCMAKE_DISABLE_FIND_PACKAGE_websocketpp=ON -DCMAKE_DISABLE_FIND_PACKAGE_PostgreSQL=ON
    -DCMAKE_DISABLE_FIND_PACKAGE_PkgConfig=ON)
step("install it to ${CONSUMER_PREFIX_CORE}"
  "${CMAKE_COMMAND}" --install "${core_build}" --prefix "${CONSUMER_PREFIX_CORE}" ${config_args})
file(GLOB_RECURSE component_files "${CONSUMER_PREFIX_CORE}/livechat_*Targets*.cmake")
if(component_files)
  message(FATAL_ERROR "consume.install: the core-only install has component files: ${component_files}")
endif()
