// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// The console imports this module from the server at /livechat/, served
// from clients/js itself (there is no copy): a server started on its
// default roots must answer every module byte for byte as it is here, with
// the console's headers, every import of the console must resolve, and
// nothing else of this folder (tests, declarations, package.json) nor
// anything outside it may come out under /livechat/.

import test from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync, readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Server, skipReason } from './helpers.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const clientDir = join(here, '..');
const webDir = join(here, '..', '..', '..', 'examples', 'server', 'web');

/** GET with the path sent as written (fetch would normalise "..").  */
function get(port, path) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, timeout: 5000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('timeout', () => req.destroy(new Error('GET ' + path + ' timed out')));
    req.on('error', reject);
  });
}

const SAME_HEADERS = ['content-security-policy', 'x-content-type-options', 'x-frame-options', 'referrer-policy',
  'cache-control'];

test('the server serves clients/js at /livechat/, and only its modules', { timeout: 30000 }, async (t) => {
  const skip = await skipReason();
  if (skip) return t.skip(skip);
  const server = await new Server().start();
  try {
    const app = await get(server.port, '/app.js');
    assert.equal(app.status, 200, 'the console itself');

    const modules = readdirSync(clientDir).filter((f) => f.endsWith('.js'));
    assert.ok(modules.includes('livechat.js'));
    for (const f of modules) {
      const r = await get(server.port, '/livechat/' + f);
      assert.equal(r.status, 200, '/livechat/' + f);
      assert.ok(r.body.equals(readFileSync(join(clientDir, f))), '/livechat/' + f + ' is clients/js/' + f);
      assert.match(r.headers['content-type'], /^text\/javascript/);
      for (const h of SAME_HEADERS) assert.equal(r.headers[h], app.headers[h], h + ' of /livechat/' + f);
    }

    // Every import of the console's own modules resolves on the server.
    const consoleFiles = readdirSync(webDir).filter((f) => f.endsWith('.js'));
    let clientImports = 0;
    for (const f of consoleFiles) {
      const src = readFileSync(join(webDir, f), 'utf8');
      for (const m of src.matchAll(/\bfrom\s+'(\.\/[^']+)'/g)) {
        const path = '/' + m[1].slice(2);
        if (path.startsWith('/livechat/')) clientImports += 1;
        assert.equal((await get(server.port, path)).status, 200, f + ' imports ' + m[1]);
      }
    }
    assert.ok(clientImports > 0, 'the console imports the client from /livechat/');

    for (const path of ['/livechat/package.json', '/livechat/livechat.d.ts', '/livechat/test/helpers.mjs',
      '/livechat/test%2fhelpers.mjs', '/livechat/bench/console_latency.mjs', '/livechat/', '/livechat/nope.js',
      '/livechat/../app.js', '/livechat/%2e%2e/app.js', '/livechat/..%2fapp.js', '/livechat/%2e%2e%2fREADME.md',
      '/livechat/.hidden.js', '/livechat//livechat.js/']) {
      const r = await get(server.port, path);
      assert.equal(r.status, 404, path);
    }
  } finally {
    await server.stop();
  }
});
