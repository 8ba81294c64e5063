#!/usr/bin/env bash
# livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#
# Every test, as CI runs it (under 10 minutes on 2 cores from a fresh clone):
#   1. build-ci    RelWithDebInfo (-O2, no debug info), -Werror, tests +
#                  examples + benchmarks + the header checks (each public
#                  header compiled on its own as C++17 and as C++20), then
#                  ctest (unit, integration, compile-fail, fuzz-corpus
#                  replay, consumers);
#   2. build-asan  Debug with ASan+UBSan (LIVECHAT_SANITIZE=ON), tests +
#                  examples, then ctest again. The header checks, the
#                  benchmarks and the consumer cases are left out here: they
#                  add compile time, not coverage (step 1 ran them). The
#                  integration tests run step 1's harness (test code, built
#                  once) against this tree's sanitized server and client
#                  (LIVECHAT_INTEGRATION_HARNESS, tests/CMakeLists.txt). -g1
#                  (line tables): what the sanitizers' reports print, at
#                  ~10% less compile time than full debug info.
#   3. build-fuzz  scripts/fuzz.sh: the libFuzzer harnesses (Clang), run side
#                  by side for LIVECHAT_FUZZ_SECONDS each (default 20 here;
#                  0 skips them), once nothing else runs.
# LIVECHAT_SKIP_SANITIZERS=1 skips steps 2 and 3. LIVECHAT_JOBS sets the
# parallelism of builds and ctest (default: the number of cores).
# ccache is used when installed (CMAKE_CXX_COMPILER_LAUNCHER, unless that is
# set already, even empty to turn it off). install-deps.sh does not install
# it: a fresh machine starts with an empty cache, so ccache only adds its
# hashing; it pays off where the cache is kept (a developer's machine, a CI
# runner with a persistent CCACHE_DIR).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

jobs="${LIVECHAT_JOBS:-$(nproc 2>/dev/null || echo 2)}"
export LIVECHAT_JOBS="$jobs"      # scripts/fuzz.sh
export LIVECHAT_FUZZ_SECONDS="${LIVECHAT_FUZZ_SECONDS:-20}"

if [ -z "${CMAKE_CXX_COMPILER_LAUNCHER+set}" ] && command -v ccache >/dev/null 2>&1; then
  # Read by CMake when it creates a build tree; the consumer cases and
  # scripts/fuzz.sh inherit it. The sloppiness lets ccache cache the TUs
  # that use a precompiled header (tests/CMakeLists.txt).
  export CMAKE_CXX_COMPILER_LAUNCHER=ccache
  export CCACHE_SLOPPINESS="${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}"
  export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$root}"
fi

"$root/scripts/install-deps.sh"

step() { printf '\n==> [%4d s] %s\n' "$SECONDS" "$*"; }

step "build-ci: configure"
# RelWithDebInfo without the debug info: optimized code (what users run,
# and what -Werror's flow-sensitive warnings need) at about two thirds of the
# compile time; the asan tree below keeps full debug info for its reports.
cmake -S . -B build-ci -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g0 -DNDEBUG" \
  -DLIVECHAT_WARNINGS_AS_ERRORS=ON \
  -DLIVECHAT_BUILD_TESTS=ON -DLIVECHAT_BUILD_EXAMPLES=ON -DLIVECHAT_BUILD_BENCHMARKS=ON \
  -DLIVECHAT_TEST_CXX20=ON -DLIVECHAT_HEADER_CHECK=ON -DLIVECHAT_SANITIZE=OFF
step "build-ci: build"
cmake --build build-ci -j "$jobs"
step "build-ci: test"
(cd build-ci && ctest --output-on-failure -j "$jobs")

if [ "${LIVECHAT_SKIP_SANITIZERS:-0}" = "1" ]; then
  step "build-asan: skipped (LIVECHAT_SKIP_SANITIZERS=1); all tests passed in ${SECONDS} s"
  exit 0
fi

# The same options the asan tree's ctest cases carry (LIVECHAT_SANITIZER_ENV
# in CMakeLists.txt); the suppressions file silences one known RapidJSON
# report and nothing else.
export ASAN_OPTIONS="detect_leaks=1"
export UBSAN_OPTIONS="suppressions=$root/tests/sanitizers/ubsan.supp:halt_on_error=1:print_stacktrace=1"
step "build-asan: configure"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-g1" \
  -DLIVECHAT_WARNINGS_AS_ERRORS=OFF -DLIVECHAT_SANITIZE=ON \
  -DLIVECHAT_BUILD_TESTS=ON -DLIVECHAT_BUILD_EXAMPLES=ON -DLIVECHAT_BUILD_BENCHMARKS=OFF \
  -DLIVECHAT_TEST_CXX20=OFF -DLIVECHAT_HEADER_CHECK=OFF \
  "-DLIVECHAT_INTEGRATION_HARNESS=$root/build-ci/tests/livechat_integration_tests"
step "build-asan: build"
cmake --build build-asan -j "$jobs"
step "build-asan: test"
(cd build-asan && ctest --output-on-failure -j "$jobs" -E '^livechat\.consume\.')

if command -v clang++-14 >/dev/null 2>&1 &&
   [ -f "$(clang++-14 -print-file-name="libclang_rt.fuzzer-$(uname -m).a")" ]; then
  step "build-fuzz: libFuzzer, ${LIVECHAT_FUZZ_SECONDS} s per harness"
  "$root/scripts/fuzz.sh"
else
  step "build-fuzz: skipped (no clang++-14 or no libFuzzer runtime: libclang-rt-14-dev)"
fi

step "all tests passed in ${SECONDS} s"
