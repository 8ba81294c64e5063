# livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#
# ctest livechat.consume.find_package[_components] (cmake -P): install the
# livechat build tree LIVECHAT_BINARY_DIR to a fresh prefix, then configure,
# build and run the consumer in CONSUMER_SOURCE_DIR against that prefix only.
#
# Inputs: LIVECHAT_BINARY_DIR CONSUMER_SOURCE_DIR CONSUMER_WORK_DIR CONSUMER_CASE
#         CONSUMER_COMPONENTS (comma list; empty: the core only, with the
#         optional libraries hidden from find_package)
#         LIVECHAT_GENERATOR LIVECHAT_MAKE_PROGRAM LIVECHAT_CXX_COMPILER LIVECHAT_CONFIG
cmake_minimum_required(VERSION 3.21)
include("${CMAKE_CURRENT_LIST_DIR}/../consumer_common.cmake")

set(prefix "${CONSUMER_WORK_DIR}/prefix")
set(build "${CONSUMER_WORK_DIR}/build")
file(REMOVE_RECURSE "${CONSUMER_WORK_DIR}")
file(MAKE_DIRECTORY "${CONSUMER_WORK_DIR}/scratch")

set(hide "")
if(NOT CONSUMER_COMPONENTS)
  # The core must not need them, whatever this build was made with.
  set(hide ${consumer_hide_optional})
endif()

consumer_step("install to ${prefix}"
  "${CMAKE_COMMAND}" --install "${LIVECHAT_BINARY_DIR}" --prefix "${prefix}" ${consumer_config_args})
consumer_step("configure (components: '${CONSUMER_COMPONENTS}')"
  "${CMAKE_COMMAND}" -S "${CONSUMER_SOURCE_DIR}" -B "${build}" ${consumer_generator_args}
    "-DCMAKE_PREFIX_PATH=${prefix}" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
    "-DCONSUMER_COMPONENTS=${CONSUMER_COMPONENTS}" ${hide})
consumer_step("build" "${CMAKE_COMMAND}" --build "${build}" ${consumer_config_args})
consumer_step("run" "${build}/bin/livechat_consumer" "${CONSUMER_WORK_DIR}/scratch")
