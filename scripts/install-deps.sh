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
# postgresql and redis-server are only for the tests (tests/postgres_fixture.hpp
# starts a throwaway server with its initdb and pg_ctl, tests/redis_fixture.hpp
# a redis-server; scripts/run-cluster.sh starts its own of both); the
# library needs libpq-dev and libhiredis-dev.
# nginx is only for the tests too (tests/integration/nginx.test.cpp starts
# its own on a free loopback port with a generated config). The nginx and
# redis-server packages would start (and enable) a system-wide service on install: see
# `services` below.
# ccache is not listed: scripts/test.sh uses it when it is installed, but on
# a fresh machine its cache is empty and it only adds its hashing; install it
# where the cache is kept between runs.
set -euo pipefail

packages=(
  g++ make ninja-build cmake pkg-config ca-certificates
  libasio-dev libwebsocketpp-dev rapidjson-dev catch2
  libsqlite3-dev libssl-dev libbenchmark-dev libcli11-dev libcurl4-openssl-dev
  libpq-dev postgresql nginx
  libhiredis-dev redis-server
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

# Packages whose install starts a system service nothing here uses (the
# tests and scripts start their own instances on free ports): a
# policy-rc.d that denies starting services is put in place for the
# install (unless the machine has one, as containers do), and the services
# installed now are disabled afterwards where systemd runs. A service that
# was installed before is left as it was.
services=()
for p in "${missing[@]}"; do
  case "$p" in
    nginx) services+=(nginx) ;;
    redis-server) services+=(redis-server) ;;
  esac
done
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ "${#services[@]}" -gt 0 ] && [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# installed by livechat install-deps.sh for one apt-get run\nexit 101\n' |
    "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod 755 "$policy"
  own_policy=1
fi
cleanup() {
  if [ "$own_policy" -eq 1 ]; then "${sudo[@]}" rm -f "$policy"; fi
}
trap cleanup EXIT

echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update
"${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
if [ "${#services[@]}" -gt 0 ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  "${sudo[@]}" systemctl disable --now "${services[@]}" >/dev/null 2>&1 || true
fi
