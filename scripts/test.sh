#!/usr/bin/env bash
# livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#
# Every test, as CI runs it:
#   1. build-ci    RelWithDebInfo, -Werror, tests + examples + benchmarks,
#                  then ctest (unit C++17/C++20, integration, consumers);
#   2. build-asan  Debug with ASan+UBSan (LIVECHAT_SANITIZE=ON), tests +
#                  examples, then ctest again. The C++20 twin of the unit
#                  tests, the header self-containment check and the consumer
#                  cases are left out here: they add compile time, not
#                  coverage (step 1 ran them).
#   3. build-fuzz  scripts/fuzz.sh: the libFuzzer harnesses (Clang), run side
#                  by side for LIVECHAT_FUZZ_SECONDS each (default 60; 0
#                  skips them).
# LIVECHAT_SKIP_SANITIZERS=1 skips steps 2 and 3. LIVECHAT_JOBS sets the
# parallelism (default 2).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

jobs="${LIVECHAT_JOBS:-2}"

"$root/scripts/install-deps.sh"

step() { printf '\n==> %s\n' "$*"; }

step "build-ci: configure"
# RelWithDebInfo without the debug info: optimized code (what users run,
# and what -Werror's flow-sensitive warnings need) at about two thirds of the
# compile time; the asan tree below keeps full debug info for its reports.
cmake -S . -B build-ci -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g0 -DNDEBUG" \
  -DLIVECHAT_WARNINGS_AS_ERRORS=ON \
  -DLIVECHAT_BUILD_TESTS=ON -DLIVECHAT_BUILD_EXAMPLES=ON -DLIVECHAT_BUILD_BENCHMARKS=ON \
  -DLIVECHAT_TEST_CXX20=ON -DLIVECHAT_SANITIZE=OFF
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
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug \
  -DLIVECHAT_WARNINGS_AS_ERRORS=OFF -DLIVECHAT_SANITIZE=ON \
  -DLIVECHAT_BUILD_TESTS=ON -DLIVECHAT_BUILD_EXAMPLES=ON -DLIVECHAT_BUILD_BENCHMARKS=OFF \
  -DLIVECHAT_TEST_CXX20=OFF -DLIVECHAT_HEADER_CHECK=OFF
step "build-asan: build"
cmake --build build-asan -j "$jobs"
step "build-asan: test"
(cd build-asan && ctest --output-on-failure -j "$jobs" -E '^livechat\.consume\.')

if command -v clang++-14 >/dev/null 2>&1 &&
   [ -f "$(clang++-14 -print-file-name="libclang_rt.fuzzer-$(uname -m).a")" ]; then
  step "build-fuzz: libFuzzer, ${LIVECHAT_FUZZ_SECONDS:-60} s per harness"
  "$root/scripts/fuzz.sh"
else
  step "build-fuzz: skipped (no clang++-14 or no libFuzzer runtime: libclang-rt-14-dev)"
fi

step "all tests passed in ${SECONDS} s"
