# livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#
# Small, guarded shims over the gaps in Debian 12's dependency packages.
# Each shim creates the target name that newer upstream packages define
# themselves, so code written against it keeps working when they do:
#
#   livechat_find_rapidjson([REQUIRED])    -> RapidJSON::RapidJSON
#   livechat_find_asio([REQUIRED])         -> asio::asio (standalone, + Threads)
#   livechat_find_websocketpp([REQUIRED])  -> websocketpp::websocketpp
#
# This file is installed beside livechatConfig.cmake, which calls
# livechat_find_rapidjson() for every consumer, and the other two for those
# that ask for the websocketpp component (livechat::websocketpp links
# asio::asio and websocketpp::websocketpp by these names).

include_guard(GLOBAL)

# RapidJSON 1.1.0 (rapidjson-dev) ships a config file that sets
# RAPIDJSON_INCLUDE_DIRS only (and prints a STATUS line even with QUIET);
# upstream master defines RapidJSON::RapidJSON. Take the target if there is
# one, else the variable, else look for the header ourselves.
function(livechat_find_rapidjson)
  cmake_parse_arguments(PARSE_ARGV 0 arg "REQUIRED" "" "")
  if(NOT TARGET RapidJSON::RapidJSON)
    find_package(RapidJSON CONFIG QUIET)
  endif()
  if(NOT TARGET RapidJSON::RapidJSON)
    set(_dirs ${RapidJSON_INCLUDE_DIRS} ${RAPIDJSON_INCLUDE_DIRS})
    if(NOT _dirs)
      find_path(LIVECHAT_RAPIDJSON_INCLUDE_DIR rapidjson/document.h)
      if(LIVECHAT_RAPIDJSON_INCLUDE_DIR)
        set(_dirs "${LIVECHAT_RAPIDJSON_INCLUDE_DIR}")
      endif()
    endif()
    if(_dirs)
      add_library(RapidJSON::RapidJSON INTERFACE IMPORTED)
      set_target_properties(RapidJSON::RapidJSON PROPERTIES
        INTERFACE_INCLUDE_DIRECTORIES "${_dirs}")
    endif()
  endif()
  if(NOT TARGET RapidJSON::RapidJSON AND arg_REQUIRED)
    message(FATAL_ERROR
      "RapidJSON not found: apt-get install rapidjson-dev "
      "(or set CMAKE_PREFIX_PATH to a RapidJSON install)")
  endif()
endfunction()

# Asio 1.22 (libasio-dev) is headers only: no CMake config, no pkg-config.
# ASIO_STANDALONE is defined here, once, so that websocketpp never silently
# picks Boost.Asio when Boost happens to be installed. Never define
# ASIO_NO_DEPRECATED on top: websocketpp 0.8.2 still uses io_service.
function(livechat_find_asio)
  cmake_parse_arguments(PARSE_ARGV 0 arg "REQUIRED" "" "")
  if(NOT TARGET asio::asio)
    find_path(LIVECHAT_ASIO_INCLUDE_DIR asio.hpp)
    if(LIVECHAT_ASIO_INCLUDE_DIR)
      set(THREADS_PREFER_PTHREAD_FLAG ON)
      find_package(Threads REQUIRED)
      add_library(asio::asio INTERFACE IMPORTED)
      set_target_properties(asio::asio PROPERTIES
        INTERFACE_INCLUDE_DIRECTORIES "${LIVECHAT_ASIO_INCLUDE_DIR}"
        INTERFACE_COMPILE_DEFINITIONS "ASIO_STANDALONE"
        INTERFACE_LINK_LIBRARIES "Threads::Threads")
    endif()
  endif()
  if(NOT TARGET asio::asio AND arg_REQUIRED)
    message(FATAL_ERROR
      "Asio not found: apt-get install --no-install-recommends libasio-dev")
  endif()
endfunction()

# websocketpp 0.8.2 (libwebsocketpp-dev) creates websocketpp::websocketpp
# unguarded, so its config may be loaded once per scope only: looked for
# only while the target does not exist, and without a version (its version
# file refuses most requests). Older configs set WEBSOCKETPP_INCLUDE_DIR
# only; the target is then made from it.
function(livechat_find_websocketpp)
  cmake_parse_arguments(PARSE_ARGV 0 arg "REQUIRED" "" "")
  if(NOT TARGET websocketpp::websocketpp)
    find_package(websocketpp CONFIG QUIET)
    if(NOT TARGET websocketpp::websocketpp AND WEBSOCKETPP_INCLUDE_DIR)
      add_library(websocketpp::websocketpp INTERFACE IMPORTED)
      set_target_properties(websocketpp::websocketpp PROPERTIES
        INTERFACE_INCLUDE_DIRECTORIES "${WEBSOCKETPP_INCLUDE_DIR}")
    endif()
  endif()
  if(NOT TARGET websocketpp::websocketpp AND arg_REQUIRED)
    message(FATAL_ERROR "websocketpp not found: apt-get install libwebsocketpp-dev")
  endif()
endfunction()
