// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// Two figures of the console in Chromium against a built server:
//   - webhook → visible: from sending a customer's message to the webhook to
//     the message being in the open conversation's DOM (20 runs: median, max);
//   - reconnect after a restart: from the restarted server's "listening"
//     line to the console saying "connected" again (SIGKILL, 5 runs).
// Needs playwright-core and Debian's chromium, as the browser tests:
//   LIVECHAT_SERVER_BINARY=build/examples/livechat-server \
//   LIVECHAT_PLAYWRIGHT_CORE=/path/to/node_modules/playwright-core node clients/js/bench/console_latency.mjs

import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Server } from '../test/helpers.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const pw = await import(pathToFileURL(join(process.env.LIVECHAT_PLAYWRIGHT_CORE || '', 'index.mjs')).href);
const server = await new Server(['--web-root', join(here, '..', '..', '..', 'examples', 'server', 'web')]).start();
const browser = await pw.chromium.launch({ executablePath: process.env.LIVECHAT_CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'] });
const median = (xs) => { const s = xs.slice().sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
try {
  await server.webhook('Ulatency', 'first');
  const page = await browser.newPage();
  await page.goto(server.httpUrl + '/');
  await page.fill('#token', 'alice');
  await page.click('#connect');
  await page.click('#inbox li[data-room="conversation:Ulatency"]');
  await page.waitForSelector('#messages li[data-seq="1"]');
  const visible = [];
  for (let i = 0; i < 20; i += 1) {
    const seq = i + 2;
    // Timed inside the page, from just before the POST leaves to the element's insertion.
    const ms = await page.evaluate(async ({ seq, body }) => {
      const seen = new Promise((resolve) => {
        const o = new MutationObserver(() => {
          if (document.querySelector('#messages li[data-seq="' + seq + '"]')) { o.disconnect(); resolve(performance.now()); }
        });
        o.observe(document.querySelector('#messages'), { childList: true });
      });
      const t0 = performance.now();
      await fetch('/api/v1/webhook', { method: 'POST', body });
      return (await seen) - t0;
    }, { seq, body: JSON.stringify({ destination: 'b', events: [{ type: 'message', message: { type: 'text', id: 'l' + seq, text: 'm' + seq },
      source: { type: 'user', userId: 'Ulatency' }, timestamp: Date.now(), webhookEventId: 'lat-' + seq + '-' + Date.now(),
      deliveryContext: { isRedelivery: false } }] }) });
    visible.push(ms);
  }
  console.log('webhook -> visible (20 runs): median ' + median(visible).toFixed(1) + ' ms, max ' + Math.max(...visible).toFixed(1) + ' ms');
  const reconnect = [];
  for (let i = 0; i < 5; i += 1) {
    await server.kill('SIGKILL');
    await page.waitForFunction(() => !document.querySelector('#status-text').textContent.startsWith('connected'));
    await server.start();
    const t0 = Date.now();
    await page.waitForFunction(() => document.querySelector('#status-text').textContent.startsWith('connected'), null, { timeout: 30000 });
    reconnect.push(Date.now() - t0);
  }
  console.log('reconnect after SIGKILL + restart (5 runs): ' + reconnect.join(', ') + ' ms (median ' + median(reconnect) + ' ms)');
} finally {
  await browser.close();
  await server.stop();
}
