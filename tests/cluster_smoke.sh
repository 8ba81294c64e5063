#!/usr/bin/env bash
# livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#
# ctest livechat.cluster_script: scripts/run-cluster.sh -n 2 with the built
# server starts, both nodes answer /healthz, and SIGTERM stops every
# process it started and removes its scratch directory. Bounded: about
# 40 s at most; a few seconds when it works (initdb is most of it).
#
#   tests/cluster_smoke.sh LIVECHAT_SERVER RUN_CLUSTER_SCRIPT
#
# A server without --broker (no Redis broker in this build) runs with
# LIVECHAT_CLUSTER_NO_BROKER=1, which leaves the flag out.
set -euo pipefail

server="$1"
script="$2"
fail() { echo "cluster_smoke: FAILED: $*" >&2; [ -f "${out:-}" ] && sed 's/^/  | /' "$out" >&2; exit 1; }

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
http_status() {
  local line
  { exec 4<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 0
  printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$2" >&4
  IFS= read -r -t 2 line <&4 || true
  exec 4<&- 4>&-
  line="${line#HTTP/1.1 }"
  echo "${line%% *}"
}

base=""
for try in $(seq 1 100); do
  # Below the ephemeral range, as run-cluster.sh's random_port explains.
  read -r low _ < /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || low=32768
  p=$((20000 + RANDOM % (low > 21000 ? low - 20000 - 1 : 1000)))
  if port_free "$p" && port_free $((p + 1)); then base="$p"; break; fi
done
[ -n "$base" ] || fail "no two free consecutive ports"

if "$server" --help 2>/dev/null | grep -q -- '--broker'; then
  export LIVECHAT_CLUSTER_NO_BROKER=0
else
  export LIVECHAT_CLUSTER_NO_BROKER=1
fi
out="$(mktemp /tmp/livechat-cluster-smoke-XXXXXX)"
pid=""
# However this script ends (a failed check included), the cluster it
# started is stopped: SIGTERM to run-cluster.sh, which stops its nodes,
# Redis and PostgreSQL by pid and removes its scratch directory.
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$out"
}
trap cleanup EXIT
LIVECHAT_SERVER_BINARY="$server" "$script" -n 2 -p "$base" >"$out" 2>&1 &
pid=$!

ready=0
for i in $(seq 1 400); do  # 40 s
  if grep -q "livechat cluster ready" "$out"; then ready=1; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if [ "$ready" != 1 ]; then
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  fail "the cluster did not report ready"
fi

for port in "$base" $((base + 1)); do
  status="$(http_status "$port" /healthz)"
  [ "$status" = 200 ] || { kill -TERM "$pid"; wait "$pid" || true; fail "node on $port answered /healthz with '$status'"; }
done
scratch="$(grep -o '/tmp/livechat-cluster-[A-Za-z0-9]*' "$out" | head -1)"
node_pids="$(grep '^  node [0-9]*:' "$out" | grep -o '(pid [0-9]*)' | tr -dc '0-9\n')"
[ -n "$scratch" ] && [ -d "$scratch" ] || fail "no scratch directory reported"
[ "$(echo "$node_pids" | wc -l)" = 2 ] || fail "expected 2 node pids, got: $node_pids"

kill -TERM "$pid"
stopped=0
for i in $(seq 1 200); do  # 20 s
  if ! kill -0 "$pid" 2>/dev/null; then stopped=1; break; fi
  sleep 0.1
done
if [ "$stopped" != 1 ]; then
  kill -KILL "$pid" 2>/dev/null || true
  fail "run-cluster.sh did not stop within 20 s of SIGTERM"
fi
set +e
wait "$pid"
code=$?
set -e
[ "$code" = 143 ] || fail "run-cluster.sh exited $code after SIGTERM, expected 143"
for p in $node_pids; do
  kill -0 "$p" 2>/dev/null && fail "node pid $p still runs"
done
[ ! -e "$scratch" ] || fail "scratch directory $scratch left behind"
port_free "$base" && port_free $((base + 1)) || fail "a node port still accepts"
grep -q "stopped; removed" "$out" || fail "no stop message"
echo "cluster_smoke: 2 nodes answered /healthz on $base and $((base + 1)); stopped and cleaned up"
