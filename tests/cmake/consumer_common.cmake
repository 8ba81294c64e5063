# livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#
# Shared by the consumer scripts (cmake -P): running a step, and the
# generator/compiler/config arguments of the livechat build under test.
#
# Inputs: LIVECHAT_GENERATOR LIVECHAT_MAKE_PROGRAM LIVECHAT_CXX_COMPILER LIVECHAT_CONFIG

# consumer_step(<what> <command...>): runs the command, fails the case on a
# non-zero exit.
function(consumer_step what)
  message(STATUS "${CONSUMER_CASE}: ${what}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${CONSUMER_CASE}: ${what} failed (${rc})")
  endif()
endfunction()

# consumer_step_fails(<what> <regex> <command...>): the command must fail
# and its output (stdout + stderr, runs of white space as one space) match
# <regex>.
function(consumer_step_fails what regex)
  message(STATUS "${CONSUMER_CASE}: ${what} (must fail)")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(rc EQUAL 0)
    message(FATAL_ERROR "${CONSUMER_CASE}: ${what} succeeded, expected a failure:\n${out}")
  endif()
  # CMake wraps the reason given by a package: match on one line.
  string(REGEX REPLACE "[ \t\r\n]+" " " flat "${out}")
  if(NOT flat MATCHES "${regex}")
    message(FATAL_ERROR "${CONSUMER_CASE}: ${what} failed without the message '${regex}':\n${out}")
  endif()
endfunction()

set(consumer_config_args "")
set(consumer_generator_args -G "${LIVECHAT_GENERATOR}" "-DCMAKE_CXX_COMPILER=${LIVECHAT_CXX_COMPILER}")
if(LIVECHAT_CONFIG)
  set(consumer_config_args --config "${LIVECHAT_CONFIG}")
  list(APPEND consumer_generator_args "-DCMAKE_BUILD_TYPE=${LIVECHAT_CONFIG}")
endif()
if(LIVECHAT_MAKE_PROGRAM)
  list(APPEND consumer_generator_args "-DCMAKE_MAKE_PROGRAM=${LIVECHAT_MAKE_PROGRAM}")
endif()

# The options that hide the optional libraries from find_package, as on a
# machine without libsqlite3-dev and libssl-dev.
set(consumer_hide_optional
  -DCMAKE_DISABLE_FIND_PACKAGE_SQLite3=ON -DCMAKE_DISABLE_FIND_PACKAGE_OpenSSL=ON)
