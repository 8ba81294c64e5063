# livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#
# ctest livechat.consume.find_package (cmake -P): install the livechat build
# tree LIVECHAT_BINARY_DIR to a fresh prefix, then configure, build and run the
# consumer in CONSUMER_SOURCE_DIR against that prefix only.
#
# Inputs: LIVECHAT_BINARY_DIR CONSUMER_SOURCE_DIR CONSUMER_WORK_DIR
#         LIVECHAT_GENERATOR LIVECHAT_MAKE_PROGRAM LIVECHAT_CXX_COMPILER LIVECHAT_CONFIG
cmake_minimum_required(VERSION 3.21)

function(step what)
  message(STATUS "consume.find_package: ${what}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "consume.find_package: ${what} failed (${rc})")
  endif()
endfunction()

set(prefix "${CONSUMER_WORK_DIR}/prefix")
set(build "${CONSUMER_WORK_DIR}/build")
file(REMOVE_RECURSE "${CONSUMER_WORK_DIR}")

set(config_args "")
set(build_type_arg "")
if(LIVECHAT_CONFIG)
  set(config_args --config "${LIVECHAT_CONFIG}")
  set(build_type_arg "-DCMAKE_BUILD_TYPE=${LIVECHAT_CONFIG}")
endif()
set(make_arg "")
if(LIVECHAT_MAKE_PROGRAM)
  set(make_arg "-DCMAKE_MAKE_PROGRAM=${LIVECHAT_MAKE_PROGRAM}")
endif()

step("install to ${prefix}"
  "${CMAKE_COMMAND}" --install "${LIVECHAT_BINARY_DIR}" --prefix "${prefix}" ${config_args})
step("configure"
  "${CMAKE_COMMAND}" -S "${CONSUMER_SOURCE_DIR}" -B "${build}"
    -G "${LIVECHAT_GENERATOR}" ${make_arg} ${build_type_arg}
    "-DCMAKE_CXX_COMPILER=${LIVECHAT_CXX_COMPILER}"
    "-DCMAKE_PREFIX_PATH=${prefix}"
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
step("build" "${CMAKE_COMMAND}" --build "${build}" ${config_args})
step("run" "${build}/bin/livechat_consumer")
