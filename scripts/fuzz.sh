#!/usr/bin/env bash
# livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#
# Builds the libFuzzer harnesses of tests/fuzz (codec, jwt, webhook) with
# Clang in build-fuzz (LIVECHAT_BUILD_FUZZERS=ON: -fsanitize=fuzzer,address,
# undefined) and runs them side by side, each for LIVECHAT_FUZZ_SECONDS
# (default 60), starting from the committed corpus tests/fuzz/corpus/<harness>.
# New inputs go to a scratch directory, so the repository is not modified.
# Fails when any harness finds a crash, a leak, undefined behaviour, a broken
# invariant or an input slower than 10 s; the input is kept in
# build-fuzz/fuzz-artifacts/ (add it to the corpus once the bug is fixed).
#
#   LIVECHAT_FUZZ_SECONDS     seconds per harness (default 60; 0 skips fuzzing)
#   LIVECHAT_FUZZ_HARNESSES   which harnesses (default "codec jwt webhook")
#   LIVECHAT_FUZZ_CXX         the compiler (default clang++-14)
#   LIVECHAT_JOBS             build parallelism (default 2)
#   LIVECHAT_FUZZ_BUILD_ONLY  1: build the harnesses, run nothing
#
# Extra arguments go to every fuzzer (e.g. -dict=FILE, -seed=N).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${LIVECHAT_FUZZ_SECONDS:-60}"
read -r -a harnesses <<< "${LIVECHAT_FUZZ_HARNESSES:-codec jwt webhook}"
cxx="${LIVECHAT_FUZZ_CXX:-clang++-14}"
jobs="${LIVECHAT_JOBS:-2}"
build="$root/build-fuzz"

if [ "$seconds" = "0" ]; then
  echo "fuzz: skipped (LIVECHAT_FUZZ_SECONDS=0)"
  exit 0
fi
case "$seconds" in
  ''|*[!0-9]*) echo "fuzz: LIVECHAT_FUZZ_SECONDS must be a whole number of seconds" >&2; exit 2 ;;
esac
if ! command -v "$cxx" >/dev/null 2>&1; then
  echo "fuzz: $cxx not found (Debian: apt-get install clang-14 libclang-rt-14-dev)" >&2
  exit 1
fi

# Frames are at most 64 KiB and tokens 8 KiB; a little beyond each limit
# reaches the code that enforces it. Webhook bodies may be 1 MiB, but the
# parser's paths are all reachable with much less.
max_len() {
  case "$1" in
    jwt) echo 9000 ;;
    *) echo 70000 ;;
  esac
}

echo "fuzz: building ${harnesses[*]} with $cxx in build-fuzz"
cmake -S "$root" -B "$build" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=Debug \
  -DLIVECHAT_BUILD_FUZZERS=ON -DLIVECHAT_BUILD_TESTS=ON -DLIVECHAT_BUILD_EXAMPLES=OFF \
  -DLIVECHAT_BUILD_BENCHMARKS=OFF -DLIVECHAT_TEST_CXX20=OFF -DLIVECHAT_INSTALL=OFF \
  -DLIVECHAT_SANITIZE=OFF >/dev/null
# Only the fuzz targets (all of them: one aggregate target builds in parallel).
cmake --build "$build" -j "$jobs" --target livechat_fuzzers
if [ "${LIVECHAT_FUZZ_BUILD_ONLY:-0}" = "1" ]; then
  exit 0  # scripts/test.sh builds the harnesses ahead, while other tests run
fi

for h in "${harnesses[@]}"; do
  if [ ! -x "$build/tests/fuzz/livechat_fuzz_$h" ]; then
    echo "fuzz: no harness '$h' in build-fuzz (jwt needs OpenSSL: libssl-dev)" >&2
    exit 1
  fi
done

scratch="$(mktemp -d "${TMPDIR:-/tmp}/livechat-fuzz.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
artifacts="$build/fuzz-artifacts"   # this run's findings only
rm -rf "$artifacts"
mkdir -p "$artifacts"

export ASAN_OPTIONS="detect_leaks=1"
export UBSAN_OPTIONS="suppressions=$root/tests/sanitizers/ubsan.supp:halt_on_error=1:print_stacktrace=1"

# One process per harness, all at once: on 2 cores three harnesses of
# N seconds take about N seconds of wall time, not 3N.
declare -A pids
for h in "${harnesses[@]}"; do
  mkdir -p "$scratch/$h"
  # The first corpus directory receives new inputs; the committed one is
  # only read.
  timeout -k 10 $((seconds * 2 + 120)) \
    "$build/tests/fuzz/livechat_fuzz_$h" \
      -max_total_time="$seconds" -max_len="$(max_len "$h")" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$artifacts/$h-" "$@" \
      "$scratch/$h" "$root/tests/fuzz/corpus/$h" \
    >"$scratch/$h.log" 2>&1 &
  pids[$h]=$!
done

failed=()
for h in "${harnesses[@]}"; do
  status=0
  wait "${pids[$h]}" || status=$?
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$scratch/$h.log" | tail -n 1)"
  added="$(sed -n 's/^stat::new_units_added: *//p' "$scratch/$h.log" | tail -n 1)"
  rss="$(sed -n 's/^stat::peak_rss_mb: *//p' "$scratch/$h.log" | tail -n 1)"
  cov="$(grep -o 'cov: [0-9]*' "$scratch/$h.log" | tail -n 1 || true)"
  if [ "$status" -eq 0 ]; then
    echo "fuzz: $h: ${runs:-?} executions in ${seconds} s, ${cov:-cov: ?}, ${added:-0} new inputs, peak RSS ${rss:-?} MB: OK"
  else
    failed+=("$h")
    echo "fuzz: $h: FAILED (exit $status) after ${runs:-?} executions; log:" >&2
    tail -n 60 "$scratch/$h.log" >&2
    ls -1 "$artifacts" | sed -n "s|^$h-|  kept: build-fuzz/fuzz-artifacts/$h-|p" >&2
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
