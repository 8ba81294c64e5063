#!/usr/bin/env bash
# livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#
# livechat-server against the raw websocketpp broadcast baseline, in one
# invocation: the same scenarios through livechat-load against both, then
# the ratio table (CPU per delivery in 1 room and in many small rooms, the
# same with the SQLite store, RSS per idle authenticated connection,
# connects per second, latency at a fixed rate), and, for information next
# to it, the bytes per delivery and the raw server again in the small rooms
# with frames as large as livechat's new_message frames.
#
#   bench/load/compare.sh [BUILD_DIR]          (default: build)
#
# Environment (default):
#   CONNECTIONS (1000)   connections in every scenario
#   ROOMS (50)           rooms of the small-room scenarios
#   TEXT_BYTES (100)     bytes of each message text
#   INFLIGHT (32)        saturate: messages on their way per room
#   WARMUP_MS (1000), DURATION_MS (5000)
#   LATENCY_RATE (5000)  deliveries per second of the latency scenario (1 room)
#   SQLITE (1)           0 skips the SQLite scenario
#   SIZED (1)            0 skips raw_rooms_sized: the raw server in ROOMS rooms
#                        with --text-bytes TEXT_BYTES + (bytes per delivery of
#                        the round's lc_rooms run - that of its raw_rooms run),
#                        rounded, so its frames are as large as livechat's
#                        (new_message carries ids, sender, times); the table
#                        shows it as "info" rows, the targets stay judged
#                        against the plain raw run
#   ROUNDS (1)           run every scenario this many times, interleaved (round
#                        1 of all, then round 2, ...); the table then shows
#                        medians, and each ratio is the median of the rounds'
#                        own ratios (a pair run a minute apart shares the
#                        machine's mood; a busy minute moves both)
#   JSON_OUT             also keep the JSON lines in this file
#   LIVECHAT_SERVER, LIVECHAT_LOAD, LIVECHAT_RAW   the binaries (default: in BUILD_DIR)
#
# Order: the second of two back-to-back runs tends to measure slower (up to
# ~10 % more CPU per delivery in an A/A test, the same server twice), so
# every livechat/raw pair alternates: odd rounds livechat first, even rounds
# raw first; alternating cancels that over an even number of rounds. The
# small-room runs go lc_rooms, raw_rooms, lc_rooms_sqlite in odd rounds and
# the reverse in even ones (the SQLite run next to raw_rooms, its pair);
# raw_rooms_sized comes after them in every round (it needs their figures).
#
# Each server is started by livechat-load itself (port 0, 127.0.0.1), which
# reads its CPU time and RSS in /proc and stops it by pid at the end of its
# scenario; this script starts no other process. With taskset and at least
# two cores the server runs on core 0 and the generator on core 1.
set -euo pipefail

build="${1:-build}"
server="${LIVECHAT_SERVER:-$build/examples/livechat-server}"
load="${LIVECHAT_LOAD:-$build/bench/load/livechat-load}"
raw="${LIVECHAT_RAW:-$build/bench/load/livechat-raw-broadcast}"
for bin in "$server" "$load" "$raw"; do
  if [ ! -x "$bin" ]; then
    echo "compare.sh: $bin not found; build the targets livechat-server livechat-load" \
      "livechat-raw-broadcast (LIVECHAT_BUILD_BENCHMARKS=ON) or set LIVECHAT_SERVER/LOAD/RAW" >&2
    exit 2
  fi
done

n="${CONNECTIONS:-1000}"
rooms="${ROOMS:-50}"
text="${TEXT_BYTES:-100}"
inflight="${INFLIGHT:-32}"
warmup="${WARMUP_MS:-1000}"
duration="${DURATION_MS:-5000}"
latency_rate="${LATENCY_RATE:-5000}"
with_sqlite="${SQLITE:-1}"
with_sized="${SIZED:-1}"
rounds="${ROUNDS:-1}"
case "$rounds" in
  '' | *[!0-9]* | 0) echo "compare.sh: ROUNDS must be a whole number from 1" >&2; exit 2 ;;
esac
if [ "$rounds" -gt 50 ]; then echo "compare.sh: ROUNDS is at most 50" >&2; exit 2; fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/livechat-compare.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
json="$tmp/runs.jsonl"
: >"$json"

gen_pin=()
srv_pin=()
if command -v taskset >/dev/null 2>&1 && [ "$(nproc 2>/dev/null || echo 1)" -ge 2 ]; then
  gen_pin=(taskset -c 1)
  srv_pin=(taskset -c 0)
fi

# The rate limits would refuse a closed loop's pace (the point is the cost
# per message, not the limit); everything else stays at its default, the
# log included (to a file, as a deployment would).
livechat_cmd=("${srv_pin[@]}" "$server" --host 127.0.0.1 --port 0 --max-connections-per-ip 0
  --rate-burst 1000000 --rate-per-second 1000000)
raw_cmd=("${srv_pin[@]}" "$raw" --host 127.0.0.1 --port 0)
common=(--connections "$n" --warmup-ms "$warmup" --duration-ms "$duration")

# run LABEL TEXT_BYTES [livechat-load flags...] -- SERVER COMMAND...
run() {
  local label="$1" bytes="$2"
  shift 2
  echo "== $label" >&2
  if ! "${gen_pin[@]}" "$load" --label "$label" "${common[@]}" --text-bytes "$bytes" \
    --server-log "$tmp/$label.log" "$@" >>"$json"; then
    echo "compare.sh: $label failed (see the table above); its figures are left out" >&2
  fi
}

# values LABEL NAME: "ROUND VALUE" for every ok run of LABEL that measured NAME.
values() {
  { grep -F "\"label\":\"$1.r" "$json" | grep -F '"ok":true' |
      sed -n "s/.*\"label\":\"$1\.r\([0-9]*\)\".*\"$2\":\([^,}]*\).*/\1 \2/p" |
      grep -v ' null$'; } || true
}
# median: of the numbers on stdin, one a line ("" if none).
median() {
  sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print ""; else if (NR % 2) print a[(NR + 1) / 2];
                                      else printf "%.6g\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
# field LABEL NAME: the median over the rounds.
field() { values "$1" "$2" | awk '{ print $2 }' | median; }
# paired A B NAME OP: the median over the rounds where both ran of A / B
# (OP "ratio") or A - B (OP "diff").
paired() {
  join <(values "$1" "$3" | sort -k1,1) <(values "$2" "$3" | sort -k1,1) |
    awk -v op="$4" '{ if (op == "diff") print $2 - $3; else if ($3 > 0) print $2 / $3 }' | median
}

msg_rate="$(awk -v d="$latency_rate" -v n="$n" 'BEGIN { printf "%.6g", d / n }')"

# The scenarios of round $r, one function each.
lc_1room() { run "lc_1room.r$r" "$text" --rooms 1 --mode saturate --inflight "$inflight" -- "${livechat_cmd[@]}" --store memory; }
raw_1room() { run "raw_1room.r$r" "$text" --rooms 1 --mode saturate --inflight "$inflight" -- "${raw_cmd[@]}"; }
lc_rooms() {
  run "lc_rooms.r$r" "$text" --rooms "$rooms" --mode saturate --inflight "$inflight" -- "${livechat_cmd[@]}" --store memory
}
raw_rooms() { run "raw_rooms.r$r" "$text" --rooms "$rooms" --mode saturate --inflight "$inflight" -- "${raw_cmd[@]}"; }
lc_rooms_sqlite() {
  rm -f "$tmp"/load.db "$tmp"/load.db-wal "$tmp"/load.db-shm
  run "lc_rooms_sqlite.r$r" "$text" --rooms "$rooms" --mode saturate --inflight "$inflight" \
    -- "${livechat_cmd[@]}" --store "sqlite:$tmp/load.db"
}
lc_latency() { run "lc_latency.r$r" "$text" --rooms 1 --mode rate --rate "$msg_rate" -- "${livechat_cmd[@]}" --store memory; }
raw_latency() { run "raw_latency.r$r" "$text" --rooms 1 --mode rate --rate "$msg_rate" -- "${raw_cmd[@]}"; }
# The raw server with texts longer by what livechat's new_message frame
# carries beyond the raw echo in this round's 50-room runs, so its frames
# are as large as livechat's.
raw_rooms_sized() {
  local lcb rawb sized
  lcb="$(values lc_rooms bytes_per_delivery | awk -v r="$r" '$1 == r { print $2 }')"
  rawb="$(values raw_rooms bytes_per_delivery | awk -v r="$r" '$1 == r { print $2 }')"
  if [ -z "$lcb" ] || [ -z "$rawb" ]; then
    echo "compare.sh: raw_rooms_sized.r$r skipped: no bytes_per_delivery from lc_rooms.r$r or raw_rooms.r$r" >&2
    return 0
  fi
  sized="$(awk -v t="$text" -v a="$lcb" -v b="$rawb" 'BEGIN { x = t + a - b; printf "%d", x < 0 ? x - 0.5 : x + 0.5 }')"
  if [ "$sized" -lt 16 ] || [ "$sized" -gt 5000 ]; then
    echo "compare.sh: raw_rooms_sized.r$r skipped: --text-bytes $sized is outside 16-5000" >&2
    return 0
  fi
  echo "compare.sh: raw_rooms_sized.r$r: --text-bytes $sized ($text + $lcb - $rawb bytes per delivery)" >&2
  run "raw_rooms_sized.r$r" "$sized" --rooms "$rooms" --mode saturate --inflight "$inflight" -- "${raw_cmd[@]}"
}
# in_order STEP...: the steps in this order in odd rounds, in the reverse
# order in even rounds (see the header).
in_order() {
  local steps=("$@") k
  if ((r % 2 == 1)); then
    for ((k = 0; k < ${#steps[@]}; k++)); do "${steps[k]}"; done
  else
    for ((k = ${#steps[@]} - 1; k >= 0; k--)); do "${steps[k]}"; done
  fi
}

rooms_steps=(lc_rooms raw_rooms)
if [ "$with_sqlite" != 0 ]; then rooms_steps+=(lc_rooms_sqlite); fi
for ((r = 1; r <= rounds; r++)); do
  in_order lc_1room raw_1room
  in_order "${rooms_steps[@]}"
  if [ "$with_sized" != 0 ]; then raw_rooms_sized; fi
  in_order lc_latency raw_latency
done

if [ -n "${JSON_OUT:-}" ]; then cp "$json" "$JSON_OUT"; fi

# The table. awk does the arithmetic; "-" where a run failed or a figure
# could not be measured.
awk -v n="$n" -v rooms="$rooms" -v lr="$latency_rate" -v rounds="$rounds" \
  -v lc1="$(field lc_1room cpu_us_per_delivery)" -v raw1="$(field raw_1room cpu_us_per_delivery)" \
  -v lcr="$(field lc_rooms cpu_us_per_delivery)" -v rawr="$(field raw_rooms cpu_us_per_delivery)" \
  -v lcs="$(field lc_rooms_sqlite cpu_us_per_delivery)" \
  -v lckib="$(field lc_rooms kib_per_connection)" -v rawkib="$(field raw_rooms kib_per_connection)" \
  -v lccps="$(field lc_rooms connects_per_second)" -v rawcps="$(field raw_rooms connects_per_second)" \
  -v lc50="$(field lc_latency latency_p50_ms)" -v lc99="$(field lc_latency latency_p99_ms)" \
  -v raw50="$(field raw_latency latency_p50_ms)" -v raw99="$(field raw_latency latency_p99_ms)" \
  -v r1="$(paired lc_1room raw_1room cpu_us_per_delivery ratio)" \
  -v rr="$(paired lc_rooms raw_rooms cpu_us_per_delivery ratio)" \
  -v rs="$(paired lc_rooms_sqlite raw_rooms cpu_us_per_delivery ratio)" \
  -v rkib="$(paired lc_rooms raw_rooms kib_per_connection ratio)" \
  -v rc="$(paired lc_rooms raw_rooms connects_per_second ratio)" \
  -v d99="$(paired lc_latency raw_latency latency_p99_ms diff)" \
  -v lcb="$(field lc_rooms bytes_per_delivery)" -v rawb="$(field raw_rooms bytes_per_delivery)" \
  -v rb="$(paired lc_rooms raw_rooms bytes_per_delivery ratio)" \
  -v rawz="$(field raw_rooms_sized cpu_us_per_delivery)" -v rawzb="$(field raw_rooms_sized bytes_per_delivery)" \
  -v rawzt="$(field raw_rooms_sized text_bytes)" \
  -v rz="$(paired lc_rooms raw_rooms_sized cpu_us_per_delivery ratio)" \
  -v rsz="$(paired lc_rooms_sqlite raw_rooms_sized cpu_us_per_delivery ratio)" '
function has(x) { return x != "" }
function fmt(x, f, unit) { return has(x) ? sprintf(f, x) unit : "-" }
function ratio(r) { return has(r) ? sprintf("%.2fx", r) : "-" }
function met(ok) { return ok ? "met" : "NOT met" }
function row(what, a, b, r, target, verdict) {
  printf "| %-44s | %16s | %16s | %6s | %-16s | %-7s |\n", what, a, b, r, target, verdict
}
BEGIN {
  small = int(n / rooms)
  if (rounds > 1)
    printf "\nMedians of %d interleaved rounds; each ratio is the median of the per-round ratios.\n", rounds
  printf "\n| %-44s | %16s | %16s | %6s | %-16s | %-7s |\n", "", "livechat-server", "raw websocketpp", "ratio", "target", ""
  printf "|%s|%s|%s|%s|%s|%s|\n", "----------------------------------------------", "-----------------:", "-----------------:", "-------:", "------------------", "---------"
  row(sprintf("server CPU per delivery, 1 room of %d", n), fmt(lc1, "%.3f", " us"), fmt(raw1, "%.3f", " us"),
      ratio(r1), "<= 1.1x", has(r1) ? met(r1 <= 1.1) : "-")
  row(sprintf("server CPU per delivery, %d rooms of %d", rooms, small), fmt(lcr, "%.3f", " us"), fmt(rawr, "%.3f", " us"),
      ratio(rr), "<= 1.3x", has(rr) ? met(rr <= 1.3) : "-")
  row(sprintf("same, SQLite store, %d rooms", rooms), fmt(lcs, "%.3f", " us"), fmt(rawr, "%.3f", " us"),
      ratio(rs), "<= 1.4x", has(rs) ? met(rs <= 1.4) : "-")
  row("RSS per idle authenticated connection", fmt(lckib, "%.1f", " KiB"), fmt(rawkib, "%.1f", " KiB"),
      ratio(rkib), "<= 9 KiB", has(lckib) ? met(lckib <= 9) : "-")
  row("connect + auth + join per second", fmt(lccps, "%.0f", ""), fmt(rawcps, "%.0f", ""),
      ratio(rc), ">= 0.5x", has(rc) ? met(rc >= 0.5) : "-")
  row(sprintf("latency p50/p99 at %d deliveries/s, 1 room", lr),
      has(lc50) ? sprintf("%.2f / %.2f ms", lc50, lc99) : "-", has(raw50) ? sprintf("%.2f / %.2f ms", raw50, raw99) : "-",
      "", "p99 <= raw + 1 ms", has(d99) ? met(d99 <= 1) : "-")
  # Information, no target: the frames livechat sends are larger than the
  # raw echo; the raw server again with frames as large as livechat sends.
  # (\047 is a quote: this program is in single quotes.)
  row(sprintf("bytes per delivery (payload), %d rooms", rooms), fmt(lcb, "%.1f", " B"), fmt(rawb, "%.1f", " B"),
      ratio(rb), "", "info")
  row(sprintf("raw at livechat\047s frame size, %d rooms", rooms), fmt(lcr, "%.3f", " us"),
      fmt(rawz, "%.3f", " us"), ratio(rz), "", "info")
  row("same at livechat\047s frame size, SQLite store", fmt(lcs, "%.3f", " us"), fmt(rawz, "%.3f", " us"),
      ratio(rsz), "", "info")
  if (has(rawzb))
    printf "\nRaw at livechat\047s frame size: --text-bytes %s (median), %.1f B per delivery.\n", rawzt, rawzb
}'

echo
echo "Per run (server CPU % of one core in the window; generator near 100 % means it set the pace):"
printf '  %-20s %6s %12s %10s %10s\n' run ok deliveries/s server% generator%
for ((r = 1; r <= rounds; r++)); do
  for label in "lc_1room.r$r" "raw_1room.r$r" "lc_rooms.r$r" "raw_rooms.r$r" "lc_rooms_sqlite.r$r" \
    "raw_rooms_sized.r$r" "lc_latency.r$r" "raw_latency.r$r"; do
    line="$(grep -F "\"label\":\"$label\"" "$json" | tail -n 1 || true)"
    [ -n "$line" ] || continue
    get() { sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p" <<<"$line"; }
    printf '  %-20s %6s %12s %10s %10s\n' "$label" "$(get ok)" "$(get deliveries_per_second)" \
      "$(get server_cpu_percent)" "$(get generator_cpu_percent)"
  done
done
