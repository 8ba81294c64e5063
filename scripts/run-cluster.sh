#!/usr/bin/env bash
# livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#
# A local cluster for trying livechat on several nodes (docs/cluster.md):
# installs what is missing (scripts/install-deps.sh), builds the server as
# scripts/run-server.sh does, then starts, in a scratch directory, a
# throwaway PostgreSQL and redis-server on free loopback ports and N
# livechat-server nodes on consecutive ports sharing them. Prints the URLs
# and runs until Ctrl-C (or SIGTERM), then stops every process it started,
# by pid, and removes the scratch directory (the data goes with it).
#
#   scripts/run-cluster.sh [-n NODES] [-p FIRST_PORT] [-- SERVER_ARGS...]
#
#   -n NODES       nodes to start (default 2, at most 16)
#   -p FIRST_PORT  port of the first node; the others follow (default 8080)
#   SERVER_ARGS    passed to every node, e.g. -- --log-level debug
#
# Environment:
#   LIVECHAT_SERVER_BINARY=PATH   run this livechat-server; nothing is
#                                 installed or built
#   LIVECHAT_BUILD_DIR=DIR        build there (default build/, as
#                                 scripts/run-server.sh)
#   LIVECHAT_CLUSTER_NO_BROKER=1  start the nodes without --broker (a build
#                                 without the Redis broker: the nodes then
#                                 share the store only, no live events
#                                 between them)
#
# Node output is shown prefixed with [nodeN]; PostgreSQL's and Redis's logs
# stay in the scratch directory while it runs. PostgreSQL runs without
# fsync: this is a playground, removed at exit. As root (initdb refuses to
# run as root) PostgreSQL runs as the `postgres` user, which Debian's
# postgresql package creates.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

nodes=2
first_port=8080
usage() {
  sed -n '12,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
while [ $# -gt 0 ]; do
  case "$1" in
    -n) [ $# -ge 2 ] || usage; nodes="$2"; shift 2 ;;
    -p) [ $# -ge 2 ] || usage; first_port="$2"; shift 2 ;;
    -h|--help) usage ;;
    --) shift; break ;;
    *) echo "run-cluster: unknown argument '$1' (server flags go after --)" >&2; usage ;;
  esac
done
server_args=("$@")
if ! [[ "$nodes" =~ ^[0-9]+$ ]] || [ "$nodes" -lt 1 ] || [ "$nodes" -gt 16 ]; then
  echo "run-cluster: -n must be a number from 1 to 16, got '$nodes'" >&2
  exit 2
fi
if ! [[ "$first_port" =~ ^[0-9]+$ ]] || [ "$first_port" -lt 1024 ] ||
   [ $((first_port + nodes - 1)) -gt 65535 ]; then
  echo "run-cluster: -p must be a port from 1024 up, with room for $nodes nodes, got '$first_port'" >&2
  exit 2
fi

log() { echo "run-cluster: $*" >&2; }

# --- the server binary --------------------------------------------------------
if [ -n "${LIVECHAT_SERVER_BINARY:-}" ]; then
  server="$LIVECHAT_SERVER_BINARY"
else
  "$root/scripts/install-deps.sh"
  jobs="${LIVECHAT_JOBS:-$(nproc 2>/dev/null || echo 2)}"
  build_dir="${LIVECHAT_BUILD_DIR:-build}"
  (cd "$root" && cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release \
    -DLIVECHAT_BUILD_TESTS=OFF -DLIVECHAT_BUILD_EXAMPLES=ON -DLIVECHAT_BUILD_BENCHMARKS=OFF >&2 &&
    cmake --build "$build_dir" --target livechat-server -j "$jobs" >&2)
  # Written at configure time: wherever examples/ puts the binary.
  server="$(cd "$root" && cat "$build_dir/livechat-server-path.txt")"
fi
[ -x "$server" ] || { log "no livechat-server at '$server'"; exit 1; }

use_broker=1
[ "${LIVECHAT_CLUSTER_NO_BROKER:-0}" = 1 ] && use_broker=0

# --- tools --------------------------------------------------------------------
pg_bindir() {
  local d
  d="$(pg_config --bindir 2>/dev/null || true)"
  if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return; fi
  # Debian keeps the server binaries off the PATH: the newest version.
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -n -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return; fi
  done
}
pgbin="$(pg_bindir)"
[ -n "$pgbin" ] || { log "initdb/pg_ctl not found: apt-get install postgresql (scripts/install-deps.sh)"; exit 1; }
redis_bin="$(command -v redis-server || true)"
if [ -z "$redis_bin" ] && [ "$use_broker" = 1 ]; then
  log "redis-server not found: apt-get install redis-server (scripts/install-deps.sh)"
  exit 1
fi

# True when nothing accepts on 127.0.0.1:$1.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# A random port from 20000 up to the kernel's ephemeral range
# (ip_local_port_range, 32768 by default): one picked inside that range
# can be taken, between the check and the bind, by any outgoing
# connection or `--port 0` listener on the machine (it happened beside
# other tests). tests/cluster_smoke.sh picks its ports the same way.
random_port() {
  local low=32768 high
  read -r low high < /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  local span=$((low - 20000))
  [ "$span" -ge 1000 ] || span=1000
  echo $((20000 + RANDOM % span))
}
# A free port (bounded tries).
free_port() {
  local p tries
  for tries in $(seq 1 200); do
    p="$(random_port)"
    if port_free "$p"; then echo "$p"; return 0; fi
  done
  return 1
}
# GET $2 on 127.0.0.1:$1; prints the status code (empty if none).
http_status() {
  local line
  { exec 4<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 0
  printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$2" >&4
  IFS= read -r -t 2 line <&4 || true
  exec 4<&- 4>&-
  line="${line#HTTP/1.1 }"
  echo "${line%% *}"
}

for i in $(seq 0 $((nodes - 1))); do
  port_free $((first_port + i)) || { log "port $((first_port + i)) is in use; choose another first port with -p"; exit 1; }
done

# --- scratch dir and cleanup ----------------------------------------------------
scratch="$(mktemp -d /tmp/livechat-cluster-XXXXXX)"
chmod 755 "$scratch"  # PostgreSQL's user must reach its dir inside
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || { log "running as root and there is no postgres user"; rm -rf "$scratch"; exit 1; }
  as_pg=(runuser -u postgres --)
fi
mkdir -p "$scratch/pg" "$scratch/redis"
[ "${#as_pg[@]}" -gt 0 ] && chown postgres: "$scratch/pg"

node_pids=()
redis_pid=""
pg_started=0
stopping=0
cleanup() {
  [ "$stopping" = 1 ] && return
  stopping=1
  trap '' INT TERM
  local pid i
  for pid in "${node_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  # Nodes close their WebSockets (1001) and exit within ~5 s.
  for pid in "${node_pids[@]}"; do
    for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "$redis_pid" ]; then
    kill -TERM "$redis_pid" 2>/dev/null || true
    for i in $(seq 1 50); do kill -0 "$redis_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
  fi
  if [ "$pg_started" = 1 ]; then
    "${as_pg[@]}" "$pgbin/pg_ctl" -D "$scratch/pg/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
  fi
  rm -rf "$scratch"
  log "stopped; removed $scratch"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- PostgreSQL -------------------------------------------------------------------
(cd "$scratch/pg" && "${as_pg[@]}" "$pgbin/initdb" -D "$scratch/pg/data" -U postgres -A trust -E UTF8 \
  --locale=C --no-sync >"$scratch/pg/initdb.log" 2>&1) ||
  { log "initdb failed:"; tail -20 "$scratch/pg/initdb.log" >&2; exit 1; }
# A port that looked free may be taken (or bound without listening) by
# the time the server binds it: a few tries, on new ports.
for attempt in 1 2 3; do
  pg_port="$(free_port)" || { log "no free port for PostgreSQL"; exit 1; }
  if (cd "$scratch/pg" && "${as_pg[@]}" "$pgbin/pg_ctl" -D "$scratch/pg/data" -l "$scratch/pg/server.log" \
        -w -t 60 -o "-p $pg_port -c listen_addresses=127.0.0.1 -k $scratch/pg -c fsync=off -c full_page_writes=off" \
        start >"$scratch/pg/pg_ctl.log" 2>&1); then
    pg_started=1
    break
  fi
done
[ "$pg_started" = 1 ] || { log "PostgreSQL did not start:"; tail -20 "$scratch/pg/server.log" >&2; exit 1; }
log "PostgreSQL on 127.0.0.1:$pg_port (data in $scratch/pg)"
store="postgresql://postgres@127.0.0.1:$pg_port/postgres?sslmode=disable"

# --- Redis --------------------------------------------------------------------------
broker=""
if [ -n "$redis_bin" ]; then
  up=0
  for attempt in 1 2 3; do
    redis_port="$(free_port)" || { log "no free port for Redis"; exit 1; }
    "$redis_bin" --bind 127.0.0.1 --port "$redis_port" --dir "$scratch/redis" --save '' \
      --appendonly no --daemonize no --logfile "$scratch/redis/redis.log" &
    redis_pid=$!
    for i in $(seq 1 100); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$redis_port") 2>/dev/null; then up=1; break; fi
      kill -0 "$redis_pid" 2>/dev/null || break
      sleep 0.05
    done
    [ "$up" = 1 ] && break
    kill -KILL "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
    redis_pid=""
  done
  [ "$up" = 1 ] || { log "redis-server did not start:"; tail -20 "$scratch/redis/redis.log" >&2; exit 1; }
  broker="redis://127.0.0.1:$redis_port"
  log "Redis on 127.0.0.1:$redis_port"
fi

# --- nodes ---------------------------------------------------------------------------
broker_args=()
if [ "$use_broker" = 1 ]; then
  broker_args=(--broker "$broker")
else
  log "LIVECHAT_CLUSTER_NO_BROKER=1: the nodes share the store only (no --broker)"
fi
for i in $(seq 0 $((nodes - 1))); do
  port=$((first_port + i))
  # Output prefixed per node; $! is the server itself (the prefixer runs in
  # a process substitution), so it is the pid that is stopped.
  "$server" --host 127.0.0.1 --port "$port" --store "$store" "${broker_args[@]}" "${server_args[@]}" \
    > >(sed -u "s/^/[node$((i + 1))] /") 2>&1 &
  node_pids+=($!)
done
for i in $(seq 0 $((nodes - 1))); do
  port=$((first_port + i))
  ok=0
  for t in $(seq 1 200); do
    [ "$(http_status "$port" /healthz)" = 200 ] && { ok=1; break; }
    kill -0 "${node_pids[$i]}" 2>/dev/null || break
    sleep 0.05
  done
  [ "$ok" = 1 ] || { log "node $((i + 1)) did not answer /healthz on port $port"; exit 1; }
done

{
  echo
  echo "livechat cluster ready: $nodes nodes"
  for i in $(seq 0 $((nodes - 1))); do
    port=$((first_port + i))
    echo "  node $((i + 1)): http://127.0.0.1:$port/  ws://127.0.0.1:$port/api/v1/ws/live-chat  (pid ${node_pids[$i]})"
  done
  echo "  store:  $store"
  [ -n "$broker" ] && echo "  broker: $broker$([ "$use_broker" = 1 ] || echo ' (not passed to the nodes)')  (pid $redis_pid)"
  echo "  scratch: $scratch (removed at exit)"
  echo "Ctrl-C stops everything."
} >&2

# Runs until a signal, or until a node exits on its own (then the rest stop).
set +e
wait -n "${node_pids[@]}"
status=$?
log "a node exited (status $status); stopping the cluster"
exit 1
