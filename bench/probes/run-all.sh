#!/bin/sh
# Runs every probe against two livechat-server binaries and prints a
# before/after table (Markdown). Usage: run-all.sh BEFORE AFTER
# Each probe starts and stops its own servers; each run is capped at 120 s.
set -u
if [ $# -ne 2 ]; then
    echo "usage: $0 BEFORE_BINARY AFTER_BINARY" >&2
    exit 2
fi
before=$1
after=$2
export PYTHONDONTWRITEBYTECODE=1
here=$(cd "$(dirname "$0")" && pwd)
probes="close_codes unread_replies fd_exhaustion hixie76 rest_flood webhook_limits
content_length http_headers conversation_walk close_session_claim many_clients"

one() {  # probe binary -> the result line without its probe= field
    out=$(timeout -k 5 120 python3 "$here/$1.py" "$2" 2>/dev/null | grep "^probe=$1 " | tail -n 1)
    if [ -z "$out" ]; then
        echo "error (no result line)"
    else
        echo "${out#probe=$1 }"
    fi
}

echo "| probe | before | after |"
echo "|---|---|---|"
for p in $probes; do
    b=$(one "$p" "$before")
    a=$(one "$p" "$after")
    echo "| $p | $b | $a |"
done
