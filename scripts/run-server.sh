#!/usr/bin/env bash
# livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#
# Builds the example server in build/ (Release, no tests) and runs it in the
# foreground. Extra arguments go to livechat-server unchanged, e.g.
#   ./scripts/run-server.sh --help
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

"$root/scripts/install-deps.sh"

jobs="${LIVECHAT_JOBS:-$(nproc 2>/dev/null || echo 2)}"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release \
  -DLIVECHAT_BUILD_TESTS=OFF -DLIVECHAT_BUILD_EXAMPLES=ON -DLIVECHAT_BUILD_BENCHMARKS=OFF
cmake --build build --target livechat-server -j "$jobs"

# Written at configure time by the root CMakeLists.txt: wherever examples/
# puts the binary, this file says where.
server="$(cat build/livechat-server-path.txt)"
exec "$server" "$@"
