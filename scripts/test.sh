#!/usr/bin/env bash
# livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#
# Every test, as CI runs it:
#   1. build-ci    RelWithDebInfo, -Werror, tests + examples + benchmarks,
#                  then ctest (unit C++17/C++20, integration, consumers);
#   2. build-asan  Debug with ASan+UBSan (LIVECHAT_SANITIZE=ON), tests +
#                  examples, then ctest again. The C++20 twin of the unit
#                  tests and the consumer cases are left out here: they add
#                  compile time, not coverage (step 1 ran them).
# LIVECHAT_SKIP_SANITIZERS=1 skips step 2. LIVECHAT_JOBS sets the parallelism
# (default 2).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

jobs="${LIVECHAT_JOBS:-2}"

"$root/scripts/install-deps.sh"

step() { printf '\n==> %s\n' "$*"; }

step "build-ci: configure"
cmake -S . -B build-ci -DCMAKE_BUILD_TYPE=RelWithDebInfo \
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

export ASAN_OPTIONS="detect_leaks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
step "build-asan: configure"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug \
  -DLIVECHAT_WARNINGS_AS_ERRORS=OFF -DLIVECHAT_SANITIZE=ON \
  -DLIVECHAT_BUILD_TESTS=ON -DLIVECHAT_BUILD_EXAMPLES=ON -DLIVECHAT_BUILD_BENCHMARKS=OFF \
  -DLIVECHAT_TEST_CXX20=OFF
step "build-asan: build"
cmake --build build-asan -j "$jobs"
step "build-asan: test"
(cd build-asan && ctest --output-on-failure -j "$jobs" -E '^livechat\.consume\.')

step "all tests passed in ${SECONDS} s"
