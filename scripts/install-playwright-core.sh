#!/usr/bin/env bash
# livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
#
# Installs playwright-core (pinned) from the npm registry into DIR, for the
# console's tests in Chromium (clients/js/test/*.browser.test.mjs):
#   scripts/install-playwright-core.sh DIR   → DIR/node_modules/playwright-core
# ctest runs it as the fixture of those tests, into the build tree: nothing
# is downloaded at build time and nothing goes into the source tree. npm
# keeps its own cache (~/.npm), so a second tree installs without a download.
# --ignore-scripts: the package's install scripts would fetch browsers; the
# tests drive Debian's chromium (scripts/install-deps.sh).
# Without npm or the registry the script says so and succeeds, so the tests
# skip, except in CI (CI=true or LIVECHAT_BROWSER_TESTS=require), where it fails.
set -euo pipefail

version="1.65.2"
dir="${1:?usage: install-playwright-core.sh DIR}"
package_json="$dir/node_modules/playwright-core/package.json"

required=0
if [ "${CI:-}" = "true" ] || [ "${LIVECHAT_BROWSER_TESTS:-}" = "require" ]; then
  required=1
fi
give_up() {
  echo "install-playwright-core: $*" >&2
  if [ "$required" = 1 ]; then exit 1; fi
  echo "install-playwright-core: the console's browser tests will be skipped" >&2
  exit 0
}

if [ -f "$package_json" ] && grep -q "\"version\": \"$version\"" "$package_json"; then
  exit 0
fi
command -v npm >/dev/null 2>&1 || give_up "npm not found (apt-get install npm)"
mkdir -p "$dir"
# Bounded: a registry that does not answer must not hold the test run.
if ! timeout 300 npm install --prefix "$dir" --no-save --ignore-scripts --no-audit --no-fund \
     --no-package-lock --loglevel=error "playwright-core@$version"; then
  give_up "npm install playwright-core@$version failed"
fi
[ -f "$package_json" ] || give_up "npm did not install $package_json"
