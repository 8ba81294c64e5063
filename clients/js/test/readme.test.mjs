// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// README.md's JavaScript example, run as a page would run it: the block is
// written to a module beside a preamble that gives Node what a browser has
// (WebSocket, location, fetch is built in), started as a child process
// against the server, and must store its message once and print its states.

import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Server, skipReason, waitFor, loadWebSocket } from './helpers.mjs';

const here = dirname(fileURLToPath(import.meta.url));

function readmeBlock() {
  const readme = readFileSync(join(here, '..', '..', '..', 'README.md'), 'utf8');
  const m = /<!-- readme-js:[^\n]*-->\n```js\n([\s\S]*?)\n```/.exec(readme);
  assert.ok(m, 'README.md has a js block marked readme-js');
  return m[1];
}

test('the README example sends a message once and reports its states', { timeout: 30000 }, async (t) => {
  const skip = await skipReason();
  if (skip) return t.skip(skip);
  const block = readmeBlock();
  assert.match(block, /from '\.\/livechat\.js'/);
  const server = await new Server().start();
  const WebSocket = await loadWebSocket();
  assert.ok(WebSocket);
  const file = join(server.dir, 'example.mjs');
  const preamble = [
    "import { loadWebSocket } from " + JSON.stringify(pathToFileURL(join(here, 'helpers.mjs')).href) + ';',
    'globalThis.WebSocket = await loadWebSocket();',
    'globalThis.location = { protocol: "http:", host: "127.0.0.1:' + server.port + '", origin: "' + server.httpUrl + '" };',
  ].join('\n');
  const body = block.replace("from './livechat.js'", 'from ' + JSON.stringify(pathToFileURL(join(here, '..', 'livechat.js')).href));
  writeFileSync(file, preamble + '\n' + body + '\n');
  const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  try {
    const stored = await waitFor(async () => {
      const h = await server.history('U123');
      return h.length > 0 ? h : null;
    }, 10000, 'the example message stored');
    assert.deepEqual(stored.map((m) => m.text), ['Hello! How can I help?']);
    await waitFor(() => / sent/.test(out), 5000, 'the example to print sent');
    assert.match(out, /state: connected/);
    assert.match(out, /message [0-9a-f]{32} queued/);
    assert.match(out, /conversation:U123 1 alice: Hello! How can I help\?/);
  } finally {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      process.kill(child.pid, 'SIGKILL');
      await exited;
    }
    await server.stop();
  }
});
