#!/usr/bin/env bash
# livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#
# A cluster under load: the same scenarios through livechat-load with every
# connection on one node, then with each room's members spread over two
# nodes, on one local cluster (scripts/run-cluster.sh: PostgreSQL, Redis,
# two nodes). Prints the CPU per delivery summed over both nodes and Redis,
# the deliveries per second, and the send -> receive latency for receivers
# on the sender's node and on the other node.
#
#   bench/load/cluster.sh [BUILD_DIR]          (default: build)
#
# Environment (default):
#   CONNECTIONS (1000), ROOMS (50), TEXT_BYTES (100), INFLIGHT (32)
#   WARMUP_MS (1000), DURATION_MS (5000)
#   LATENCY_RATE (5000)  deliveries per second of the latency scenarios (1 room)
#   FIRST_PORT (a random one from 20000)  the nodes listen on it and the next
#   JSON_OUT             also keep the JSON lines in this file
#   METRICS_OUT          after the runs, each node's GET /metrics into METRICS_OUT.node0, .node1
#   LIVECHAT_SERVER, LIVECHAT_LOAD   the binaries (default: in BUILD_DIR)
#
# The cluster (nodes, Redis and PostgreSQL) runs on core 0 and the
# generator on core 1 (taskset, with at least two cores). PostgreSQL's CPU
# is not in the sum: both layouts write the same rows. The cluster is
# stopped through run-cluster.sh (SIGTERM to its pid), which stops what it
# started by pid and removes its scratch directory.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:-build}"
server="${LIVECHAT_SERVER:-$build/examples/livechat-server}"
load="${LIVECHAT_LOAD:-$build/bench/load/livechat-load}"
for bin in "$server" "$load"; do
  if [ ! -x "$bin" ]; then
    echo "cluster.sh: $bin not found; build livechat-server (with PostgreSQL and Redis) and" \
      "livechat-load (LIVECHAT_BUILD_BENCHMARKS=ON), or set LIVECHAT_SERVER/LOAD" >&2
    exit 2
  fi
done
server="$(cd "$(dirname "$server")" && pwd)/$(basename "$server")"

n="${CONNECTIONS:-1000}"
rooms="${ROOMS:-50}"
text="${TEXT_BYTES:-100}"
inflight="${INFLIGHT:-32}"
warmup="${WARMUP_MS:-1000}"
duration="${DURATION_MS:-5000}"
latency_rate="${LATENCY_RATE:-5000}"
first_port="${FIRST_PORT:-$((20000 + RANDOM % 20000))}"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/livechat-cluster-bench.XXXXXX")"
json="$tmp/runs.jsonl"
: >"$json"
cluster_pid=""
stop_cluster() {
  if [ -n "$cluster_pid" ]; then
    kill -TERM "$cluster_pid" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$cluster_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$cluster_pid" 2>/dev/null || true
    wait "$cluster_pid" 2>/dev/null || true
    cluster_pid=""
  fi
  rm -rf "$tmp"
}
trap stop_cluster EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

gen_pin=()
srv_pin=()
if command -v taskset >/dev/null 2>&1 && [ "$(nproc 2>/dev/null || echo 1)" -ge 2 ]; then
  gen_pin=(taskset -c 1)
  srv_pin=(taskset -c 0)
fi

# As compare.sh: the rate limits would refuse a closed loop's pace.
LIVECHAT_SERVER_BINARY="$server" "${srv_pin[@]}" "$root/scripts/run-cluster.sh" -n 2 -p "$first_port" -- \
  --max-connections-per-ip 0 --rate-burst 1000000 --rate-per-second 1000000 \
  >"$tmp/cluster.out" 2>&1 &
cluster_pid=$!
ready=0
for _ in $(seq 1 1200); do  # 120 s: initdb and two nodes
  if grep -q "livechat cluster ready" "$tmp/cluster.out" && grep -q "  broker: " "$tmp/cluster.out"; then
    ready=1
    break
  fi
  kill -0 "$cluster_pid" 2>/dev/null || break
  sleep 0.1
done
if [ "$ready" != 1 ]; then
  echo "cluster.sh: the cluster did not start:" >&2
  tail -n 30 "$tmp/cluster.out" >&2
  exit 1
fi
if grep -q "not passed to the nodes" "$tmp/cluster.out"; then
  echo "cluster.sh: this livechat-server has no --broker: nothing to measure across nodes" >&2
  exit 1
fi
# "  node 1: http://127.0.0.1:PORT/ ... (pid N)" and "  broker: redis://... (pid N)"
mapfile -t node_ports < <(sed -n 's|^  node [0-9]*: http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$tmp/cluster.out")
mapfile -t pids < <(sed -n 's/^  \(node [0-9]*\|broker\):.*(pid \([0-9]*\))$/\2/p' "$tmp/cluster.out")
if [ "${#node_ports[@]}" != 2 ] || [ "${#pids[@]}" != 3 ]; then
  echo "cluster.sh: could not read the nodes' ports and the pids from run-cluster.sh:" >&2
  cat "$tmp/cluster.out" >&2
  exit 1
fi
pid_flags=()
for p in "${pids[@]}"; do pid_flags+=(--server-pid "$p"); done
one_node=(--port "${node_ports[0]}")
two_nodes=(--port "${node_ports[0]}" --port "${node_ports[1]}")
common=(--connections "$n" --text-bytes "$text" --warmup-ms "$warmup" --duration-ms "$duration" "${pid_flags[@]}")

# run LABEL [livechat-load flags...]: each run in rooms of its own.
run() {
  local label="$1"
  shift
  echo "== $label" >&2
  if ! "${gen_pin[@]}" "$load" --label "$label" --room-prefix "$label-" "${common[@]}" "$@" >>"$json"; then
    echo "cluster.sh: $label failed (see the table above); its figures are left out" >&2
  fi
}

run one_1room "${one_node[@]}" --rooms 1 --mode saturate --inflight "$inflight"
run two_1room "${two_nodes[@]}" --rooms 1 --mode saturate --inflight "$inflight"
run one_rooms "${one_node[@]}" --rooms "$rooms" --mode saturate --inflight "$inflight"
run two_rooms "${two_nodes[@]}" --rooms "$rooms" --mode saturate --inflight "$inflight"
msg_rate="$(awk -v d="$latency_rate" -v n="$n" 'BEGIN { printf "%.6g", d / n }')"
run one_latency "${one_node[@]}" --rooms 1 --mode rate --rate "$msg_rate"
run two_latency "${two_nodes[@]}" --rooms 1 --mode rate --rate "$msg_rate"

if [ -n "${JSON_OUT:-}" ]; then cp "$json" "$JSON_OUT"; fi
if [ -n "${METRICS_OUT:-}" ]; then
  for i in "${!node_ports[@]}"; do
    curl -sSf --max-time 5 "http://127.0.0.1:${node_ports[$i]}/metrics" >"$METRICS_OUT.node$i" ||
      echo "cluster.sh: could not read node $i's /metrics" >&2
  done
fi

field() {
  { grep -F "\"label\":\"$1\"" "$json" | grep -F '"ok":true' | tail -n 1 |
      sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" | sed 's/^null$//'; } || true
}

awk -v n="$n" -v rooms="$rooms" -v lr="$latency_rate" \
  -v c1="$(field one_1room cpu_us_per_delivery)" -v c2="$(field two_1room cpu_us_per_delivery)" \
  -v d1="$(field one_1room deliveries_per_second)" -v d2="$(field two_1room deliveries_per_second)" \
  -v r1="$(field one_rooms cpu_us_per_delivery)" -v r2="$(field two_rooms cpu_us_per_delivery)" \
  -v e1="$(field one_rooms deliveries_per_second)" -v e2="$(field two_rooms deliveries_per_second)" \
  -v l50="$(field one_latency latency_p50_ms)" -v l99="$(field one_latency latency_p99_ms)" \
  -v s50="$(field two_latency latency_same_node_p50_ms)" -v s99="$(field two_latency latency_same_node_p99_ms)" \
  -v x50="$(field two_latency latency_cross_node_p50_ms)" -v x99="$(field two_latency latency_cross_node_p99_ms)" '
function has(x) { return x != "" }
function fmt(x, f, unit) { return has(x) ? sprintf(f, x) unit : "-" }
function ratio(a, b) { return has(a) && has(b) && b > 0 ? sprintf("%.2fx", a / b) : "-" }
function met(ok) { return ok ? "met" : "NOT met" }
function row(what, a, b, r, target, verdict) {
  printf "| %-44s | %16s | %16s | %6s | %-18s | %-7s |\n", what, a, b, r, target, verdict
}
BEGIN {
  small = int(n / rooms)
  printf "\n| %-44s | %16s | %16s | %6s | %-18s | %-7s |\n", "", "all on 1 node", "over 2 nodes", "ratio", "target", ""
  printf "|%s|%s|%s|%s|%s|%s|\n", "----------------------------------------------", "-----------------:", "-----------------:", "-------:", "--------------------", "---------"
  row(sprintf("CPU per delivery (nodes + Redis), 1 room of %d", n), fmt(c1, "%.3f", " us"), fmt(c2, "%.3f", " us"),
      ratio(c2, c1), "<= 1.5x", has(c1) && has(c2) ? met(c2 / c1 <= 1.5) : "-")
  row("  deliveries per second", fmt(d1, "%.0f", ""), fmt(d2, "%.0f", ""), ratio(d2, d1), "", "")
  row(sprintf("CPU per delivery (nodes + Redis), %d rooms of %d", rooms, small), fmt(r1, "%.3f", " us"), fmt(r2, "%.3f", " us"),
      ratio(r2, r1), "<= 1.5x", has(r1) && has(r2) ? met(r2 / r1 <= 1.5) : "-")
  row("  deliveries per second", fmt(e1, "%.0f", ""), fmt(e2, "%.0f", ""), ratio(e2, e1), "", "")
  row(sprintf("latency p50/p99 at %d deliveries/s, same node", lr),
      has(l50) ? sprintf("%.2f / %.2f ms", l50, l99) : "-", has(s50) ? sprintf("%.2f / %.2f ms", s50, s99) : "-", "", "", "")
  row("  the other node (2 nodes)", "", has(x50) ? sprintf("%.2f / %.2f ms", x50, x99) : "-", "",
      "p99 <= same + 1 ms", has(x99) && has(s99) ? met(x99 <= s99 + 1) : "-")
}'
