// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// The console (examples/server/web) serves its own copy of this module,
// because the server serves one directory and follows no link out of it.
// The copy must be this module, byte for byte:
//   cp clients/js/*.js examples/server/web/livechat/

import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const source = join(here, '..');
const copy = join(here, '..', '..', '..', 'examples', 'server', 'web', 'livechat');

test('the console serves the same module files as clients/js', () => {
  const modules = readdirSync(source).filter((f) => f.endsWith('.js')).sort();
  assert.deepEqual(readdirSync(copy).sort(), modules, 'the same files');
  for (const f of modules) {
    assert.ok(readFileSync(join(source, f)).equals(readFileSync(join(copy, f))), f + ' differs from clients/js/' + f);
  }
});
