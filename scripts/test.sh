#!/usr/bin/env bash
# livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#
# Every test, as CI runs it (from a fresh clone on 2 cores; the layout is
# described in docs/architecture.md, "Tests"):
#   1. build-ci    RelWithDebInfo (-O2, no debug info), -Werror: the
#                  programs (server, client, minimal example), the
#                  integration tests, the benchmarks (at -O0: built to
#                  keep them compiling, not to measure) and the header
#                  checks (each public header compiled on its own as
#                  C++17, and all of them as C++20), then ctest (integration, JS,
#                  browser, compile-fail; its consumer cases run beside
#                  step 2's tests, at nice 19). The unit tests are
#                  not built here (LIVECHAT_UNIT_TESTS=OFF): step 2 builds
#                  and runs them under the sanitizers, which find more in
#                  them than the optimizer does, and -Werror stays on there.
#   2. build-asan  Debug with ASan+UBSan (LIVECHAT_SANITIZE=ON), -Werror,
#                  with Clang when it is installed (see below):
#                  the unit, store and fuzz-corpus replay tests and the
#                  programs, then ctest. The header checks, the compile
#                  checks, the benchmarks and the consumer cases are left
#                  out here: they add compile time, not coverage (step 1
#                  ran them). The
#                  integration tests run step 1's harness (test code, built
#                  once) against this tree's sanitized server and client
#                  (LIVECHAT_INTEGRATION_HARNESS, tests/CMakeLists.txt). -g1
#                  (line tables): what the sanitizers' reports print, at
#                  ~10% less compile time than full debug info.
#   3. build-fuzz  scripts/fuzz.sh: the libFuzzer harnesses (Clang), run side
#                  by side for LIVECHAT_FUZZ_SECONDS each (default 10 here;
#                  0 skips them), once nothing else runs: the corpus in
#                  tests/fuzz/corpus is replayed by every ctest run, so
#                  this budget only looks for new inputs.
# Both trees compile their tests as unity translation units
# (LIVECHAT_TEST_UNITY, tests/CMakeLists.txt): the same hub, session and
# codec templates parsed and instantiated once per tree instead of once per
# test file.
# Step 2 compiles while step 1's tests run, and the harnesses of step 3
# while step 2's tests run, both at nice 19 (see below): the tests mostly
# wait, and the compiles take only the CPU time they leave.
# LIVECHAT_SKIP_SANITIZERS=1 skips steps 2 and 3. LIVECHAT_JOBS sets the
# parallelism of the builds (default: the number of cores),
# LIVECHAT_TEST_JOBS that of ctest (default: twice that). The tests mostly
# wait (timeouts, reconnects, child processes: one -O2 run used 63 CPU-seconds
# in 241 s of wall time at -j2), so two per core halve their wall time; the
# longest cases carry a COST so they start first.
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
test_jobs="${LIVECHAT_TEST_JOBS:-$((jobs * 2))}"
export LIVECHAT_FUZZ_SECONDS="${LIVECHAT_FUZZ_SECONDS:-10}"

if [ -z "${CMAKE_CXX_COMPILER_LAUNCHER+set}" ] && command -v ccache >/dev/null 2>&1; then
  # Read by CMake when it creates a build tree; the consumer cases and
  # scripts/fuzz.sh inherit it. The sloppiness lets ccache cache the TUs
  # that use a precompiled header (tests/CMakeLists.txt).
  export CMAKE_CXX_COMPILER_LAUNCHER=ccache
  export CCACHE_SLOPPINESS="${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}"
  export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$root}"
  # With debug info (the sanitizer tree's -g1) ccache hashes the build
  # directory, so a clone in a new path missed the cache on that whole tree
  # (730 s against 411 s for the same commit). The cost: a sanitizer
  # report's paths may start with the directory of the build that filled
  # the cache; its functions, files and lines are right.
  export CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-true}"
fi

"$root/scripts/install-deps.sh"
# install-deps.sh installed nginx: the test behind it must run, not skip.
export LIVECHAT_REQUIRE_NGINX=1

step() { printf '\n==> [%4d s] %s\n' "$SECONDS" "$*"; }

# Ninja (install-deps.sh installs ninja-build) starts each compile as soon
# as its inputs exist, where Make waits for whole targets; a tree made
# earlier keeps the generator it was made with.
configure() {
  local dir="$1"; shift
  if [ ! -f "$dir/CMakeCache.txt" ] && command -v ninja >/dev/null 2>&1; then
    set -- -G Ninja "$@"
  fi
  cmake -S . -B "$dir" "$@"
}

step "build-ci: configure"
# RelWithDebInfo without the debug info: optimized code (what users run,
# and what -Werror's flow-sensitive warnings need) at about two thirds of the
# compile time; the asan tree below keeps full debug info for its reports.
configure build-ci -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g0 -DNDEBUG" \
  -DLIVECHAT_WARNINGS_AS_ERRORS=ON \
  -DLIVECHAT_BUILD_TESTS=ON -DLIVECHAT_BUILD_EXAMPLES=ON -DLIVECHAT_BUILD_BENCHMARKS=ON \
  -DLIVECHAT_TEST_CXX20=ON -DLIVECHAT_HEADER_CHECK=ON -DLIVECHAT_SANITIZE=OFF \
  -DLIVECHAT_UNIT_TESTS=OFF -DLIVECHAT_TEST_UNITY=ON -DLIVECHAT_BENCH_COMPILE_OPTIONS=-O0
step "build-ci: build"
cmake --build build-ci -j "$jobs"
# The sanitizer tree compiles while the optimized tree's tests run: those
# tests mostly wait (timeouts, closes, child processes) and left ~40 % of
# the two cores idle. The compile runs at the lowest CPU priority (nice 19:
# a weight of 15 against the tests' 1024), so it takes idle time only and
# the tests' timing stays what it was; it runs in its own process group so
# a failure stops it whole. The libFuzzer harnesses build likewise during
# the sanitizer tree's tests.
background_pid=""
consumers_pid=""
stop_background() {
  local pid
  for pid in "$background_pid" "$consumers_pid"; do
    if [ -n "$pid" ]; then
      kill -- "-$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  background_pid=""
  consumers_pid=""
}
trap stop_background EXIT
# in_background LOG CMD...: starts CMD at nice 19 in its own process group.
in_background() {
  local log="$1"; shift
  setsid nice -n 19 "$@" >"$log" 2>&1 &
  background_pid=$!
}
# finish_background WHAT LOG: waits for it; on failure prints the log's end.
finish_background() {
  local rc=0
  wait "$background_pid" || rc=$?
  background_pid=""
  if [ "$rc" != 0 ]; then
    tail -n 200 "$2"
    echo "$1 failed (exit $rc); the whole log: $2" >&2
    exit "$rc"
  fi
}

sanitizers=1
[ "${LIVECHAT_SKIP_SANITIZERS:-0}" = "1" ] && sanitizers=0
# clang_runtime NAME: true when clang++-14 and its libclang_rt.NAME runtime
# (libclang-rt-14-dev) are installed.
clang_runtime() {
  command -v clang++-14 >/dev/null 2>&1 &&
    [ -f "$(clang++-14 -print-file-name="libclang_rt.$1-$(uname -m).a")" ]
}
fuzz=0
if clang_runtime fuzzer; then
  fuzz=1
fi

# The sanitizer tree builds with Clang when it is there with its ASan
# runtime (install-deps.sh installs both, for the fuzzers): on this code it
# compiles the tree in about a third of GCC's CPU time (GCC 12 / Clang 14,
# -O0 -g1 with ASan+UBSan: the server 107 / 45 s, the unit tests' unity
# unit 157 / 51 s, the whole tree ~600 / 222 s). GCC still builds and
# checks everything else with -Werror at -O2.
asan_compiler=()
if clang_runtime asan; then
  asan_compiler=(-DCMAKE_CXX_COMPILER=clang++-14)
fi

if [ "$sanitizers" = 1 ]; then
  step "build-asan: configure"
  configure build-asan "${asan_compiler[@]}" -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-g1" \
    -DLIVECHAT_WARNINGS_AS_ERRORS=ON -DLIVECHAT_SANITIZE=ON \
    -DLIVECHAT_BUILD_TESTS=ON -DLIVECHAT_BUILD_EXAMPLES=ON -DLIVECHAT_BUILD_BENCHMARKS=OFF \
    -DLIVECHAT_TEST_CXX20=OFF -DLIVECHAT_HEADER_CHECK=OFF -DLIVECHAT_COMPILE_CHECKS=OFF \
    -DLIVECHAT_TEST_UNITY=ON \
    "-DLIVECHAT_INTEGRATION_HARNESS=$root/build-ci/tests/livechat_integration_tests"
  step "build-ci: test (build-asan compiles meanwhile at nice 19: build-asan/build.log)"
  in_background build-asan/build.log cmake --build build-asan -j "$jobs"
else
  step "build-ci: test"
fi
# The consumer cases (livechat.consume.*: CMake projects built against an
# install and with FetchContent) are compiles, not waits: run beside these
# tests they took the CPU the sanitizer tree's build needed (a cold run:
# 226 s of that build left after the tests, against ~60 s without them).
# They run later, beside the sanitizer tree's tests, at nice 19.
consumers='^livechat\.consume\.'
(cd build-ci && ctest --output-on-failure -j "$test_jobs" -E "$consumers")

if [ "$sanitizers" = 0 ]; then
  step "build-ci: consumer cases"
  (cd build-ci && ctest --output-on-failure -j "$jobs" -R "$consumers")
  step "build-asan: skipped (LIVECHAT_SKIP_SANITIZERS=1); all tests passed in ${SECONDS} s"
  exit 0
fi

step "build-asan: build (the rest of it)"
finish_background "build-asan: build" build-asan/build.log
# build-ci's consumer cases, in their own process group at nice 19.
(cd build-ci && exec setsid nice -n 19 ctest --output-on-failure -j "$jobs" -R "$consumers") \
  >build-ci/consumers.log 2>&1 &
consumers_pid=$!
# The same options the asan tree's ctest cases carry (LIVECHAT_SANITIZER_ENV
# in CMakeLists.txt); the suppressions file silences one known RapidJSON
# report and nothing else.
export ASAN_OPTIONS="detect_leaks=1"
export UBSAN_OPTIONS="suppressions=$root/tests/sanitizers/ubsan.supp:halt_on_error=1:print_stacktrace=1"
if [ "$fuzz" = 1 ] && [ "$LIVECHAT_FUZZ_SECONDS" != 0 ]; then
  step "build-asan: test (build-ci's consumer cases and the libFuzzer harnesses build meanwhile at nice 19: build-ci/consumers.log, build-asan/build-fuzz.log)"
  in_background build-asan/build-fuzz.log env LIVECHAT_FUZZ_BUILD_ONLY=1 "$root/scripts/fuzz.sh"
else
  step "build-asan: test (build-ci's consumer cases build meanwhile at nice 19: build-ci/consumers.log)"
fi
(cd build-asan && ctest --output-on-failure -j "$test_jobs" -E "$consumers")

step "build-ci: consumer cases (the rest of them)"
consumers_rc=0
wait "$consumers_pid" || consumers_rc=$?
consumers_pid=""
cat build-ci/consumers.log
if [ "$consumers_rc" != 0 ]; then
  echo "build-ci: consumer cases failed (exit $consumers_rc)" >&2
  exit "$consumers_rc"
fi

if [ "$fuzz" = 1 ]; then
  if [ -n "$background_pid" ]; then
    finish_background "build-fuzz: build" build-asan/build-fuzz.log
  fi
  step "build-fuzz: libFuzzer, ${LIVECHAT_FUZZ_SECONDS} s per harness"
  "$root/scripts/fuzz.sh"
else
  step "build-fuzz: skipped (no clang++-14 or no libFuzzer runtime: libclang-rt-14-dev)"
fi

step "all tests passed in ${SECONDS} s"
