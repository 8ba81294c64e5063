# livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#
# ctest livechat.consume.find_package_errors (cmake -P): what a consumer of
# an installed livechat sees when a component cannot be had. Configure-only
# (fast); the consumer in CONSUMER_SOURCE_DIR checks which targets exist.
#
#   1. The install of this build (which has both components):
#      - COMPONENTS sqlite with SQLite3 hidden: fails, naming SQLite3;
#      - COMPONENTS jwt with OpenSSL hidden: fails, naming OpenSSL;
#      - COMPONENTS redis: fails, unknown component;
#      - OPTIONAL_COMPONENTS sqlite jwt, both hidden: succeeds, no targets.
#   2. An install configured with both libraries hidden (a machine without
#      them; nothing to build, the targets are header-only):
#      - the core alone configures, builds and runs;
#      - COMPONENTS sqlite: fails, the component was not built.
#
# Inputs: LIVECHAT_BINARY_DIR LIVECHAT_SOURCE_DIR CONSUMER_SOURCE_DIR CONSUMER_WORK_DIR
#         LIVECHAT_GENERATOR LIVECHAT_MAKE_PROGRAM LIVECHAT_CXX_COMPILER LIVECHAT_CONFIG
cmake_minimum_required(VERSION 3.21)
set(CONSUMER_CASE consume.find_package_errors)
include("${CMAKE_CURRENT_LIST_DIR}/../consumer_common.cmake")

file(REMOVE_RECURSE "${CONSUMER_WORK_DIR}")
set(prefix "${CONSUMER_WORK_DIR}/prefix")
consumer_step("install to ${prefix}"
  "${CMAKE_COMMAND}" --install "${LIVECHAT_BINARY_DIR}" --prefix "${prefix}" ${consumer_config_args})

# configure_consumer(<name> <prefix> <args...>): the command line of one try.
function(consumer_configure_command out name prefix)
  set(${out}
    "${CMAKE_COMMAND}" -S "${CONSUMER_SOURCE_DIR}" -B "${CONSUMER_WORK_DIR}/${name}"
      ${consumer_generator_args} "-DCMAKE_PREFIX_PATH=${prefix}"
      -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF ${ARGN}
    PARENT_SCOPE)
endfunction()

consumer_configure_command(cmd sqlite_hidden "${prefix}"
  -DCONSUMER_COMPONENTS=sqlite -DCONSUMER_CONFIGURE_ONLY=ON -DCMAKE_DISABLE_FIND_PACKAGE_SQLite3=ON)
consumer_step_fails("COMPONENTS sqlite, SQLite3 hidden"
  "component sqlite needs SQLite3, which was not found" ${cmd})

consumer_configure_command(cmd jwt_hidden "${prefix}"
  -DCONSUMER_COMPONENTS=jwt -DCONSUMER_CONFIGURE_ONLY=ON -DCMAKE_DISABLE_FIND_PACKAGE_OpenSSL=ON)
consumer_step_fails("COMPONENTS jwt, OpenSSL hidden"
  "component jwt needs OpenSSL's libcrypto" ${cmd})

consumer_configure_command(cmd unknown "${prefix}"
  -DCONSUMER_COMPONENTS=sqlite,redis -DCONSUMER_CONFIGURE_ONLY=ON)
consumer_step_fails("COMPONENTS sqlite redis"
  "unknown component redis \\(known: sqlite, jwt\\)" ${cmd})

consumer_configure_command(cmd optional_hidden "${prefix}"
  -DCONSUMER_OPTIONAL_COMPONENTS=sqlite,jwt -DCONSUMER_CONFIGURE_ONLY=ON ${consumer_hide_optional})
consumer_step("OPTIONAL_COMPONENTS sqlite jwt, both hidden" ${cmd})

# 2. A livechat configured without the optional libraries.
set(core_build "${CONSUMER_WORK_DIR}/livechat-core")
set(core_prefix "${CONSUMER_WORK_DIR}/prefix-core")
consumer_step("configure livechat with SQLite3 and OpenSSL hidden"
  "${CMAKE_COMMAND}" -S "${LIVECHAT_SOURCE_DIR}" -B "${core_build}" ${consumer_generator_args}
    -DLIVECHAT_BUILD_TESTS=OFF -DLIVECHAT_BUILD_EXAMPLES=OFF -DLIVECHAT_INSTALL=ON
    ${consumer_hide_optional})
consumer_step("install it to ${core_prefix}"
  "${CMAKE_COMMAND}" --install "${core_build}" --prefix "${core_prefix}" ${consumer_config_args})
file(GLOB_RECURSE component_files "${core_prefix}/livechat_*Targets*.cmake")
if(component_files)
  message(FATAL_ERROR "${CONSUMER_CASE}: the core-only install has component files: ${component_files}")
endif()

consumer_configure_command(cmd core_only "${core_prefix}")
consumer_step("core-only install: configure the core" ${cmd})
consumer_step("core-only install: build" "${CMAKE_COMMAND}" --build "${CONSUMER_WORK_DIR}/core_only" ${consumer_config_args})
consumer_step("core-only install: run" "${CONSUMER_WORK_DIR}/core_only/bin/livechat_consumer")

consumer_configure_command(cmd not_built "${core_prefix}"
  -DCONSUMER_COMPONENTS=sqlite -DCONSUMER_CONFIGURE_ONLY=ON)
consumer_step_fails("core-only install: COMPONENTS sqlite"
  "component sqlite was not built: its dependency was missing when livechat was configured" ${cmd})
