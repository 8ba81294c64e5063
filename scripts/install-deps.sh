#!/usr/bin/env bash
# livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#
# Installs the Debian 12 packages livechat needs to build, test and run.
# Does nothing when they are all installed already.
# --no-install-recommends matters: libasio-dev recommends Boost, and with Boost
# around websocketpp could pick Boost.Asio (the build defines ASIO_STANDALONE).
# It also means clang-14 comes without its sanitizer and libFuzzer runtimes
# (libclang_rt.*, only recommended), so scripts/fuzz.sh needs
# libclang-rt-14-dev named here.
# nodejs and node-ws are only for the tests of the JavaScript client
# (clients/js: Node's test runner, and a WebSocket for Node; the module
# itself needs neither). A newer Node from elsewhere counts as installed.
# chromium is only for the console's tests in a browser; they drive it with
# playwright-core, which ctest installs from the npm registry into the build
# tree (scripts/install-playwright-core.sh), so npm is installed too unless
# an npm is on the PATH already (a Node from elsewhere brings its own).
# postgresql is only for the tests (tests/postgres_fixture.hpp starts a
# throwaway server with its initdb and pg_ctl); the library needs libpq-dev.
# ccache is not listed: scripts/test.sh uses it when it is installed, but on
# a fresh machine its cache is empty and it only adds its hashing; install it
# where the cache is kept between runs.
set -euo pipefail

packages=(
  g++ make cmake pkg-config ca-certificates
  libasio-dev libwebsocketpp-dev rapidjson-dev catch2
  libsqlite3-dev libssl-dev libbenchmark-dev libcli11-dev libcurl4-openssl-dev
  libpq-dev postgresql
  clang-14 libclang-rt-14-dev
  nodejs node-ws
  chromium
)
if ! command -v npm >/dev/null 2>&1; then
  packages+=(npm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed'; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: not root and no sudo; install them as root" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update
"${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
