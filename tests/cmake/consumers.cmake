# livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#
# Consumers: the library as users get it (included by tests/CMakeLists.txt).
# One pattern, as fmt tests its own packaging: each case is
# `ctest --build-and-test` of a tiny project under tests/cmake/, configured
# with this build's generator, compiler, flags and configuration, and, for
# the find_package cases, against one shared install prefix made once by the
# fixture livechat.consume.install (tests/cmake/install.cmake):
#   <build>/tests/consume/prefix       this build tree, installed
#   <build>/tests/consume/prefix-core  livechat configured with SQLite3,
#                                      OpenSSL, libpq and websocketpp hidden,
#                                      installed (a machine without them;
#                                      header-only, nothing to build)
#
#   livechat.consume.find_package              the core, the optional libraries hidden: build, run
#   livechat.consume.find_package_components   COMPONENTS sqlite jwt: build, run
#   livechat.consume.find_package_components.postgresql  COMPONENTS postgresql: build, run
#   livechat.consume.find_package_components.redis       COMPONENTS redis: build, run
#   livechat.consume.find_package_errors.*     what a consumer sees when a component
#                                              cannot be had (configure only)
#   livechat.consume.fetch_content             FetchContent(livechat) from the source tree, C++20
#   livechat.consume.readme.fetch_content      README.md's blocks marked fetch_content: its
#                                              FetchContent snippet, the source tree standing
#                                              in for the repository (tests/cmake/readme.cmake)
#   livechat.consume.readme.find_package       README.md's blocks marked find_package, against
#                                              the install (build only: they need a server)
#
# livechat_add_consumer(<name> SOURCE <dir> [PREFIX <prefix>] [FAILS <text>]
#                       [RUN [ARGS <args>...]] [OPTIONS <-D...>...])
#   Configures and builds tests/cmake/<dir> (or <dir>, if absolute) in <build>/tests/consume/...
#   (with PREFIX: against that install only, in the fixture's directory,
#   which it empties first), then with RUN runs its bin/livechat_consumer.
#   FAILS: the case passes only when the output says <text> (a space
#   matches any white space: CMake wraps long messages), which a failing
#   configure prints.

set(_consume_dir "${CMAKE_CURRENT_BINARY_DIR}/consume")
set(_consume_installed "${_consume_dir}/installed")   # emptied by livechat.consume.install
set(_consume_prefix "${_consume_installed}/prefix")
set(_consume_prefix_core "${_consume_installed}/prefix-core")

# What every consumer is configured with: this build's compiler, launcher
# (ccache) and flags (at -O0, below).
set(_consume_options
  "-DCMAKE_CXX_COMPILER=${CMAKE_CXX_COMPILER}" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
set(_consume_ctest_config "")
if(CMAKE_CONFIGURATION_TYPES)
  set(_consume_ctest_config -C $<CONFIG>)
elseif(CMAKE_BUILD_TYPE)
  set(_consume_ctest_config -C ${CMAKE_BUILD_TYPE})
  string(TOUPPER "${CMAKE_BUILD_TYPE}" _consume_config_upper)
  # The tree's flags with -O0 last: a consumer case proves that the project
  # configures, compiles, links and runs, which does not depend on the
  # optimizer; the README's websocketpp programs cost ~25 s each at -O2.
  list(APPEND _consume_options "-DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE}"
    "-DCMAKE_CXX_FLAGS_${_consume_config_upper}=${CMAKE_CXX_FLAGS_${_consume_config_upper}} -O0")
endif()
set(_consume_make_program "")
if(CMAKE_MAKE_PROGRAM)
  set(_consume_make_program --build-makeprogram "${CMAKE_MAKE_PROGRAM}")
endif()
if(CMAKE_CXX_COMPILER_LAUNCHER)
  list(APPEND _consume_options "-DCMAKE_CXX_COMPILER_LAUNCHER=${CMAKE_CXX_COMPILER_LAUNCHER}")
endif()
# The options that hide the optional libraries from find_package, as on a
# machine without libsqlite3-dev, libssl-dev, libpq-dev and libwebsocketpp-dev.
set(_consume_hide_optional
  -DCMAKE_DISABLE_FIND_PACKAGE_SQLite3=ON -DCMAKE_DISABLE_FIND_PACKAGE_OpenSSL=ON
  -DCMAKE_DISABLE_FIND_PACKAGE_websocketpp=ON -DCMAKE_DISABLE_FIND_PACKAGE_PostgreSQL=ON
  -DCMAKE_DISABLE_FIND_PACKAGE_PkgConfig=ON)

function(livechat_add_consumer name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "RUN" "SOURCE;PREFIX;FAILS" "ARGS;OPTIONS")
  set(_bin "${_consume_dir}/${name}")
  set(_source "${arg_SOURCE}")
  if(NOT IS_ABSOLUTE "${_source}")
    set(_source "${CMAKE_CURRENT_SOURCE_DIR}/cmake/${_source}")
  endif()
  set(_options ${_consume_options} ${arg_OPTIONS})
  if(arg_PREFIX)
    set(_bin "${_consume_installed}/${name}")
    list(APPEND _options "-DCMAKE_PREFIX_PATH=${arg_PREFIX}")
  endif()
  set(_test_command "")
  if(arg_RUN)
    set(_test_command --test-command "${_bin}/bin/livechat_consumer" ${arg_ARGS})
  endif()
  add_test(NAME livechat.consume.${name}
    COMMAND "${CMAKE_CTEST_COMMAND}" ${_consume_ctest_config}
      --build-and-test "${_source}" "${_bin}"
      --build-generator "${CMAKE_GENERATOR}" ${_consume_make_program}
      --build-noclean
      --build-options ${_options}
      ${_test_command})
  # COST: compiles start before the cases that mostly wait (tests/CMakeLists.txt).
  set_tests_properties(livechat.consume.${name} PROPERTIES TIMEOUT 300 COST 30)
  if(arg_PREFIX)
    set_tests_properties(livechat.consume.${name} PROPERTIES FIXTURES_REQUIRED livechat_consume_prefixes)
  endif()
  if(arg_FAILS)
    string(REGEX REPLACE "[ ]+" "[ \t\r\n]+" _regex "${arg_FAILS}")
    set_tests_properties(livechat.consume.${name} PROPERTIES PASS_REGULAR_EXPRESSION "${_regex}")
  endif()
endfunction()

if(LIVECHAT_INSTALL AND PROJECT_IS_TOP_LEVEL)
  add_test(NAME livechat.consume.install
    COMMAND "${CMAKE_COMMAND}"
      "-DLIVECHAT_BINARY_DIR=${PROJECT_BINARY_DIR}"
      "-DLIVECHAT_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
      "-DLIVECHAT_CONFIG=$<CONFIG>"
      "-DLIVECHAT_GENERATOR=${CMAKE_GENERATOR}"
      "-DLIVECHAT_MAKE_PROGRAM=${CMAKE_MAKE_PROGRAM}"
      "-DLIVECHAT_CXX_COMPILER=${CMAKE_CXX_COMPILER}"
      "-DCONSUMER_WORK_DIR=${_consume_installed}"
      "-DCONSUMER_PREFIX=${_consume_prefix}"
      "-DCONSUMER_PREFIX_CORE=${_consume_prefix_core}"
      -P "${CMAKE_CURRENT_SOURCE_DIR}/cmake/install.cmake")
  set_tests_properties(livechat.consume.install PROPERTIES
    TIMEOUT 300 FIXTURES_SETUP livechat_consume_prefixes)

  # The core must not need the optional libraries, whatever this build was
  # made with.
  livechat_add_consumer(find_package SOURCE find_package PREFIX "${_consume_prefix}"
    OPTIONS ${_consume_hide_optional} RUN)

  # The component cases need a build that has both components.
  if(TARGET livechat::sqlite AND TARGET livechat::jwt)
    livechat_add_consumer(find_package_components SOURCE find_package PREFIX "${_consume_prefix}"
      OPTIONS -DCONSUMER_COMPONENTS=sqlite,jwt
      RUN ARGS "${_consume_installed}/find_package_components")  # a scratch directory for its SQLite file

    # The install of this build (which has both components).
    livechat_add_consumer(find_package_errors.sqlite_hidden SOURCE find_package
      PREFIX "${_consume_prefix}"
      OPTIONS -DCONSUMER_COMPONENTS=sqlite -DCONSUMER_CONFIGURE_ONLY=ON
        -DCMAKE_DISABLE_FIND_PACKAGE_SQLite3=ON
      FAILS "component sqlite needs SQLite3, which was not found")
    livechat_add_consumer(find_package_errors.jwt_hidden SOURCE find_package
      PREFIX "${_consume_prefix}"
      OPTIONS -DCONSUMER_COMPONENTS=jwt -DCONSUMER_CONFIGURE_ONLY=ON
        -DCMAKE_DISABLE_FIND_PACKAGE_OpenSSL=ON
      FAILS "component jwt needs OpenSSL's libcrypto")
    livechat_add_consumer(find_package_errors.unknown SOURCE find_package
      PREFIX "${_consume_prefix}"
      OPTIONS -DCONSUMER_COMPONENTS=sqlite,kafka -DCONSUMER_CONFIGURE_ONLY=ON
      FAILS "unknown component kafka \\(known: sqlite, postgresql, jwt, websocketpp, redis\\)")
    livechat_add_consumer(find_package_errors.optional_hidden SOURCE find_package
      PREFIX "${_consume_prefix}"
      OPTIONS -DCONSUMER_OPTIONAL_COMPONENTS=sqlite,jwt -DCONSUMER_CONFIGURE_ONLY=ON
        ${_consume_hide_optional})

    if(TARGET livechat::postgresql)
      # Links libpq and runs: open fails with libpq's reason (no server here).
      livechat_add_consumer(find_package_components.postgresql SOURCE find_package
        PREFIX "${_consume_prefix}" OPTIONS -DCONSUMER_COMPONENTS=postgresql RUN)
      livechat_add_consumer(find_package_errors.postgresql_hidden SOURCE find_package
        PREFIX "${_consume_prefix}"
        OPTIONS -DCONSUMER_COMPONENTS=postgresql -DCONSUMER_CONFIGURE_ONLY=ON
          -DCMAKE_DISABLE_FIND_PACKAGE_PostgreSQL=ON
        FAILS "component postgresql needs libpq, which was not found")
    endif()

    if(TARGET livechat::redis)
      # Links hiredis and runs: the broker connects to nothing and stays down.
      livechat_add_consumer(find_package_components.redis SOURCE find_package
        PREFIX "${_consume_prefix}" OPTIONS -DCONSUMER_COMPONENTS=redis RUN)
      livechat_add_consumer(find_package_errors.redis_hidden SOURCE find_package
        PREFIX "${_consume_prefix}"
        OPTIONS -DCONSUMER_COMPONENTS=redis -DCONSUMER_CONFIGURE_ONLY=ON
          -DCMAKE_DISABLE_FIND_PACKAGE_PkgConfig=ON
        FAILS "component redis needs hiredis >= 0.14")
    endif()

    # The install of a livechat configured without the optional libraries.
    livechat_add_consumer(find_package_errors.core_only SOURCE find_package
      PREFIX "${_consume_prefix_core}" RUN)
    livechat_add_consumer(find_package_errors.not_built SOURCE find_package
      PREFIX "${_consume_prefix_core}"
      OPTIONS -DCONSUMER_COMPONENTS=sqlite -DCONSUMER_CONFIGURE_ONLY=ON
      FAILS "component sqlite was not built: its dependency was missing when livechat was configured")
  endif()
endif()

livechat_add_consumer(fetch_content SOURCE fetch_content
  OPTIONS "-DLIVECHAT_SOURCE_DIR=${PROJECT_SOURCE_DIR}" -DFETCHCONTENT_QUIET=ON RUN)

# README.md's code blocks, each compiled once: the blocks marked
# fetch_content make one project, those marked find_package another.
include(cmake/readme.cmake)
livechat_readme_projects("${PROJECT_SOURCE_DIR}/README.md" "${_consume_dir}/readme-src" _readme_cases)
if(TARGET livechat::websocketpp AND TARGET livechat::sqlite AND TARGET livechat::jwt)
  if("fetch_content" IN_LIST _readme_cases)
    livechat_add_consumer(readme.fetch_content SOURCE "${_consume_dir}/readme-src/fetch_content"
      OPTIONS "-DFETCHCONTENT_SOURCE_DIR_LIVECHAT=${PROJECT_SOURCE_DIR}" -DFETCHCONTENT_QUIET=ON)
  endif()
  if("find_package" IN_LIST _readme_cases AND LIVECHAT_INSTALL AND PROJECT_IS_TOP_LEVEL)
    livechat_add_consumer(readme.find_package SOURCE "${_consume_dir}/readme-src/find_package"
      PREFIX "${_consume_prefix}")
  endif()
endif()
