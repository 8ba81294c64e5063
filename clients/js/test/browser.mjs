// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// What the console's browser tests (*.browser.test.mjs) share: Debian's
// Chromium driven by playwright-core, against the built server. Each file
// runs in its own ctest case, so each starts its own server and browser
// (consoleTest) and the files run in parallel.
//
// playwright-core is not a dependency of the project (npm, not Debian): the
// cases run where it can be imported, as `playwright-core` or from the
// directory LIVECHAT_PLAYWRIGHT_CORE names, with Chromium at /usr/bin/chromium
// (or LIVECHAT_CHROMIUM); elsewhere they are skipped and say why, except in
// CI (CI=true, or LIVECHAT_BROWSER_TESTS=require), where they fail. ctest
// installs playwright-core into the build tree first
// (scripts/install-playwright-core.sh) and runs them in the optimized tree.

import test from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Server, skipReason } from './helpers.mjs';

const here = dirname(fileURLToPath(import.meta.url));
export const webRoot = join(here, '..', '..', '..', 'examples', 'server', 'web');
const chromiumPath = process.env.LIVECHAT_CHROMIUM || '/usr/bin/chromium';

export const UPLOAD_LIMIT = 3 * 1024 * 1024;
// A 1x1 PNG: the browser must decode it for the <img> to count as loaded.
export const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');

export const rowOf = (page, id) => page.locator('#inbox li[data-room="conversation:' + id + '"]');

async function loadChromium() {
  const candidates = [];
  if (process.env.LIVECHAT_PLAYWRIGHT_CORE) {
    candidates.push(pathToFileURL(join(process.env.LIVECHAT_PLAYWRIGHT_CORE, 'index.mjs')).href);
  }
  candidates.push('playwright-core');
  for (const c of candidates) {
    try {
      const m = await import(c);
      const chromium = m.chromium || (m.default && m.default.chromium);
      if (chromium) return chromium;
    } catch (_) {
      // next candidate
    }
  }
  return null;
}

const chromium = await loadChromium();
const why = (await skipReason()) ||
  (!chromium ? 'playwright-core not found (npm install playwright-core, or set LIVECHAT_PLAYWRIGHT_CORE)' : null) ||
  (!existsSync(chromiumPath) ? 'no Chromium at ' + chromiumPath + ' (apt-get install chromium)' : null);
const required = process.env.CI === 'true' || process.env.LIVECHAT_BROWSER_TESTS === 'require';

/**
 * One node:test case with its own server (serving the console) and Chromium:
 * `body(t, env)` runs its subtests, env = { server, browser, openConsole }.
 * Afterwards no page may have thrown or logged a JavaScript error.
 */
export function consoleTest(name, body) {
  test(name, { skip: (!required && why) || false, timeout: 120000 }, async (t) => {
    if (why) throw new Error(why + ' (required here: CI=true or LIVECHAT_BROWSER_TESTS=require)');
    const jsErrors = [];
    const server = await new Server(['--web-root', webRoot, '--max-attachment-bytes', String(UPLOAD_LIMIT)]).start();
    let browser = null;
    try {
      browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox', '--disable-gpu',
        '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
      const openConsole = async (token, { width = 1280, context = null, on = null } = {}) => {
        const ctx = context || await browser.newContext({ viewport: { width, height: 800 } });
        const page = await ctx.newPage();
        page.on('pageerror', (e) => jsErrors.push(e.message));
        page.on('console', (m) => {
          // Network failures while the server is down are the browser's lines, not the page's errors.
          if (m.type() === 'error' && !/WebSocket connection to|Failed to load resource/.test(m.text())) jsErrors.push(m.text());
        });
        await page.goto((on || server).httpUrl + '/');
        if (token) {
          await page.fill('#token', token);
          await page.click('#connect');
          await page.waitForFunction(() => document.querySelector('#status-text').textContent.startsWith('connected'));
        }
        return page;
      };
      await body(t, { server, browser, openConsole });
      assert.deepEqual(jsErrors, [], 'no JavaScript error on any page');
    } finally {
      if (browser) await browser.close();
      await server.stop();
    }
  });
}
