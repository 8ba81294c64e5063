// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// The operator console (examples/server/web) in Chromium: what an operator
// sees and does (unread across tabs and the link: console_link.browser.test.mjs;
// how both run: browser.mjs). Each case is a bug the console had: a draft
// followed you to the next conversation, Join stayed disabled, buttons
// ignored the session, the page was 496 px wide on a 390 px phone,
// /favicon.ico was 404, a reload forgot everything; and what an operator
// must not miss: a customer writing while the tab is hidden is a desktop
// notification and a count in the title.

import assert from 'node:assert/strict';
import { PNG, UPLOAD_LIMIT, consoleTest, rowOf } from './browser.mjs';

consoleTest('the console in Chromium', async (t, { server, browser, openConsole }) => {
  // An error notice must clear by itself: raised first, checked last (after its 8 s).
  const errorPage = await openConsole('alice');
  await errorPage.fill('#room', 'bad room name!');
  await errorPage.click('#join');
  assert.notEqual(await errorPage.textContent('#notice'), '');
  const errorShownAt = Date.now();

  await t.test('/favicon.ico is served', async () => {
    const res = await fetch(server.httpUrl + '/favicon.ico');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/x-icon');
  });

  await t.test('a customer writes while the tab is hidden: one desktop notification, the count in the title', async () => {
    // The page is hidden by overriding what the console reads (document.visibilityState
    // and hidden) and dispatching visibilitychange; notifications are captured where
    // the console creates them (new Notification), permission is the browser's own,
    // granted on the context, and reads as not asked yet until the console asks.
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await ctx.grantPermissions(['notifications'], { origin: server.httpUrl });
    await ctx.addInitScript(() => {
      const Real = window.Notification;
      window.__notes = [];
      window.__asked = 0;
      window.__hidden = false;
      class Captured {
        constructor(title, options = {}) {
          window.__notes.push({ title, body: options.body, tag: options.tag });
          this.onclick = null;
        }
        close() {}
        static get permission() { return window.__asked > 0 ? Real.permission : 'default'; }
        static async requestPermission() {
          window.__asked += 1;
          return Real.requestPermission();
        }
      }
      window.Notification = Captured;
      Object.defineProperty(document, 'visibilityState', { configurable: true,
        get: () => (window.__hidden ? 'hidden' : 'visible') });
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => window.__hidden });
    });
    const page = await openConsole('nora', { context: ctx });
    const setHidden = (hidden) => page.evaluate((h) => {
      window.__hidden = h;
      document.dispatchEvent(new Event('visibilitychange'));
    }, hidden);
    const titleCount = async () => {
      const m = /^\((\d+)\) /.exec(await page.title());
      return m ? Number(m[1]) : 0;
    };

    // Asked for on a click, not before.
    assert.equal(await page.evaluate(() => window.__asked), 0, 'no permission request before the click');
    assert.equal(await page.isVisible('#notify'), true, 'the button offers notifications');
    await page.click('#notify');
    await page.waitForFunction(() => window.__asked === 1 && Notification.permission === 'granted');
    await page.waitForSelector('#notify', { state: 'hidden' });

    const before = await titleCount();
    await setHidden(true);
    await server.webhook('Unotify', 'is anyone there? <b>hello</b>');
    await page.waitForFunction(() => window.__notes.length > 0, null, { timeout: 5000 });
    const [stored] = await server.history('Unotify');
    assert.ok(stored && stored.sender && stored.sender.name, 'the stored message names its customer');
    await page.waitForFunction((n) => document.title.startsWith('(' + n + ') '), before + 1, { timeout: 5000 });
    await new Promise((r) => setTimeout(r, 300)); // a second notification for the same message would come now
    const notes = await page.evaluate(() => window.__notes);
    assert.equal(notes.length, 1, JSON.stringify(notes));
    assert.equal(notes[0].title, stored.sender.name);
    assert.equal(notes[0].body, 'is anyone there? <b>hello</b>');
    assert.equal(notes[0].tag, 'conversation:Unotify');

    // Visible again: nothing more is notified for what the operator can see.
    await setHidden(false);
    await server.webhook('Unotify', 'still here');
    await page.waitForFunction(() => {
      const li = document.querySelector('#inbox li[data-room="conversation:Unotify"] .preview');
      return li && li.textContent.endsWith('still here');
    }, null, { timeout: 5000 });
    assert.equal(await page.evaluate(() => window.__notes.length), 1, 'no notification while the tab is visible');
    await ctx.close();
  });

  await t.test('390 px: no horizontal overflow, the conversation takes the width; 1280 px: two columns', async () => {
    await server.webhook('Ulayout', 'a long line without spaces ' + 'x'.repeat(300));
    const page = await openConsole('alice', { width: 390 });
    await rowOf(page, 'Ulayout').click();
    await page.waitForSelector('#messages li[data-seq="1"]');
    const phone = await page.evaluate(() => ({
      scroll: document.documentElement.scrollWidth,
      conversation: document.querySelector('#conversation').getBoundingClientRect().width,
      inboxShown: getComputedStyle(document.querySelector('#sidebar')).display !== 'none',
    }));
    assert.ok(phone.scroll <= 390, 'page width ' + phone.scroll);
    assert.ok(phone.conversation >= 0.9 * 390, 'conversation ' + phone.conversation + ' px');
    assert.equal(phone.inboxShown, false);
    await page.click('#back');
    assert.ok(await page.isVisible('#inbox'));
    await page.setViewportSize({ width: 1280, height: 800 });
    await rowOf(page, 'Ulayout').click();
    const wide = await page.evaluate(() => ({
      scroll: document.documentElement.scrollWidth,
      sidebar: document.querySelector('#sidebar').getBoundingClientRect().width,
      conversation: document.querySelector('#conversation').getBoundingClientRect().width,
    }));
    assert.ok(wide.scroll <= 1280 && wide.sidebar > 200 && wide.conversation > 800, JSON.stringify(wide));
    await page.close();
  });

  await t.test('Open is enabled once connected; a reload keeps the login and the open conversation', async () => {
    await server.webhook('Ureload', 'hello');
    const page = await openConsole(null);
    assert.equal(await page.isDisabled('#join'), true);
    await page.fill('#token', 'alice');
    await page.click('#connect');
    await page.waitForFunction(() => !document.querySelector('#join').disabled);
    await page.fill('#room', 'Ureload');
    await page.click('#join');
    await page.waitForSelector('#messages li[data-seq="1"]');
    await page.reload();
    await page.waitForSelector('#messages li[data-seq="1"]');
    assert.match(await page.textContent('#status-text'), /connected as alice/);
    assert.equal(await page.inputValue('#room'), 'conversation:Ureload');
    await page.close();
  });

  await t.test('a draft stays with its conversation; Enter in another one sends nothing', async () => {
    await server.webhook('Udraft1', 'one');
    await server.webhook('Udraft2', 'two');
    const page = await openConsole('alice');
    await rowOf(page, 'Udraft1').click();
    await page.fill('#text', 'reply meant for Udraft1');
    await rowOf(page, 'Udraft2').click();
    await page.waitForSelector('#messages li[data-seq="1"]');
    assert.equal(await page.inputValue('#text'), '');
    await page.press('#text', 'Enter');
    await rowOf(page, 'Udraft1').click();
    assert.equal(await page.inputValue('#text'), 'reply meant for Udraft1');
    assert.equal((await server.history('Udraft2')).length, 1, 'nothing sent to Udraft2');
    assert.equal((await server.history('Udraft1')).length, 1, 'nor to Udraft1 yet');
    // The keyboard: Esc leaves the conversation for the inbox, arrows and Enter open one.
    await page.press('#text', 'Escape');
    assert.equal(await page.textContent('#title'), '');
    await page.focus('#inbox');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    const second = await page.$eval('#inbox li:nth-child(2)', (li) => li.dataset.room);
    await page.keyboard.press('Enter');
    assert.equal('conversation:' + (await page.textContent('#title')), second);
    await page.close();
  });

  await t.test('claim, release and close follow the session; the timeline says who', async () => {
    await server.webhook('Usession', 'help');
    const alice = await openConsole('alice');
    const bob = await openConsole('bob');
    for (const p of [alice, bob]) {
      await rowOf(p, 'Usession').click();
      await p.waitForSelector('#messages li[data-seq="1"]');
    }
    assert.deepEqual(await Promise.all(['#claim', '#release', '#close-session'].map((b) => bob.isDisabled(b))), [false, true, false]);
    await bob.click('#claim');
    await bob.waitForFunction(() => document.querySelector('#session-status').textContent === 'claimed');
    assert.deepEqual(await Promise.all(['#claim', '#release', '#close-session'].map((b) => bob.isDisabled(b))), [true, false, false]);
    await alice.waitForFunction(() => document.querySelector('#session-holder').textContent === 'by bob');
    assert.deepEqual(await Promise.all(['#claim', '#release', '#close-session'].map((b) => alice.isDisabled(b))), [true, true, true],
      "an operator cannot take or close another's claim");
    await alice.waitForSelector('#messages li.system:has-text("bob claimed the conversation")');
    await bob.waitForSelector('#messages li.system:has-text("you claimed the conversation")');
    await bob.click('#filters button[data-filter="mine"]');
    assert.deepEqual(await bob.$$eval('#inbox li', (l) => l.map((x) => x.dataset.room)), ['conversation:Usession']);
    await bob.click('#filters button[data-filter="unassigned"]');
    assert.equal(await rowOf(bob, 'Usession').count(), 0);
    await bob.click('#filters button[data-filter="all"]');
    await bob.click('#close-session');
    await alice.waitForFunction(() => document.querySelector('#session-status').textContent === 'closed');
    assert.equal(await alice.textContent('#session-holder'), 'handled by bob');
    await alice.waitForSelector('#messages li.system:has-text("the conversation was closed (handled by bob)")');
    assert.equal(await bob.isDisabled('#close-session'), true);
    await bob.waitForSelector('#messages li.system:has-text("you closed the conversation")');
    await alice.close();
    await bob.close();
  });

  await t.test('older messages: the note at the top, Load older pages back; a pill when scrolled up', async () => {
    await server.webhook('Upaging', Array.from({ length: 70 }, (_, i) => 'line ' + (i + 1)));
    const page = await openConsole('alice', { width: 1280 });
    await rowOf(page, 'Upaging').click();
    await page.waitForSelector('#messages li[data-seq="70"]');
    const first = await page.$$eval('#messages li', (l) => [l[0].className, l[1].dataset.seq]);
    assert.deepEqual(first, ['older', '21'], 'the note first, then the latest 50');
    // A DOM click: page.click would scroll the button into view first, and
    // reaching the top loads older messages by itself, re-rendering the
    // button away under the click (a race that failed the case under load).
    await page.$eval('#load-older', (b) => b.click());
    await page.waitForSelector('#messages li[data-seq="1"]');
    assert.equal(await page.locator('#messages li.older').count(), 0, 'no note once everything is shown');
    assert.deepEqual(await page.$$eval('#messages li[data-seq]', (l) => l.map((x) => Number(x.dataset.seq))),
      Array.from({ length: 70 }, (_, i) => i + 1));
    await page.$eval('#messages', (m) => { m.scrollTop = 0; });
    await server.webhook('Upaging', 'while scrolled up');
    await page.waitForSelector('#messages li[data-seq="71"]', { state: 'attached' });
    await page.waitForSelector('#new-messages', { state: 'visible' });
    await page.click('#new-messages');
    assert.equal(await page.isVisible('#new-messages'), false);
    assert.ok(await page.$eval('#messages', (m) => m.scrollHeight - m.scrollTop - m.clientHeight < 40), 'at the end');
    await page.close();
  });

  await t.test('a filter also finds conversations beyond the 100 newest (REST list)', async () => {
    await server.webhook('Uold', 'an old conversation');
    const events = Array.from({ length: 101 }, (_, i) => ({ type: 'message', message: { type: 'text', id: 'n' + i, text: 'newer' },
      source: { type: 'user', userId: 'Unewer' + i }, timestamp: Date.now(), webhookEventId: 'newer-' + i,
      deliveryContext: { isRedelivery: false } }));
    const res = await fetch(server.httpUrl + '/api/v1/webhook', { method: 'POST', body: JSON.stringify({ destination: 't', events }) });
    assert.equal(res.status, 200);
    const page = await openConsole('alice');
    await page.fill('#room', 'Uold');
    await page.click('#join');
    await page.waitForSelector('#messages li[data-seq="1"]');
    await page.click('#close-session');
    await page.waitForFunction(() => document.querySelector('#session-status').textContent === 'closed');
    await page.reload(); // a fresh inbox: the 100 newest, Uold not among them
    await page.waitForSelector('#inbox li');
    assert.equal(await rowOf(page, 'Uold').count(), 0, 'not in the live inbox');
    await page.click('#filters button[data-filter="closed"]');
    await rowOf(page, 'Uold').waitFor({ timeout: 5000 });
    await page.close();
  });

  await t.test('rich messages: an image inline that loads and enlarges, a sticker and a location as cards', async () => {
    await server.webhook('Urich', 'hi');
    const events = [
      { type: 'sticker', id: '9001', packageId: '446', stickerId: '1988' },
      { type: 'location', id: '9002', title: 'Shop', address: '1 Main St', latitude: 35.68, longitude: 139.76 },
    ].map((message, i) => ({ type: 'message', message, source: { type: 'user', userId: 'Urich' }, timestamp: Date.now(),
      webhookEventId: 'rich-' + i, deliveryContext: { isRedelivery: false } }));
    const res = await fetch(server.httpUrl + '/api/v1/webhook', { method: 'POST',
      body: JSON.stringify({ destination: 'test', events }), headers: { 'Content-Type': 'application/json' } });
    assert.equal(res.status, 200);
    const page = await openConsole('alice');
    await rowOf(page, 'Urich').click();
    await page.waitForSelector('#messages li[data-seq="3"]');
    assert.match(await page.textContent('#messages li[data-seq="2"] .card.sticker'), /Sticker.*446.*1988/);
    assert.match(await page.textContent('#messages li[data-seq="3"] .card.location'), /Shop.*1 Main St.*35\.68000, 139\.76000/);
    await page.setInputFiles('#file', { name: 'dot.png', mimeType: 'image/png', buffer: PNG });
    await page.waitForSelector('#messages li[data-seq="4"] .attachment.image img');
    await page.waitForFunction(() => {
      const img = document.querySelector('#messages li[data-seq="4"] img');
      return img && img.complete && img.naturalWidth === 1;
    }, null, { timeout: 5000 });
    assert.match(await page.textContent('#messages li[data-seq="4"] .file-line'), /dot\.png\s+70 B/);
    await page.click('#messages li[data-seq="4"] .image-open');
    assert.equal(await page.evaluate(() => document.querySelector('#lightbox').open), true, 'enlarged');
    await page.click('#lightbox-close');
    assert.equal(await page.evaluate(() => document.querySelector('#lightbox').open), false);
    const stored = await server.history('Urich');
    assert.deepEqual(stored.map((m) => m.kind || 'text'), ['text', 'sticker', 'location', 'image']);
    await page.close();
  });

  await t.test('an upload shows its progress and ends as a message; cancel stops one; 413 is a clear error', async () => {
    await server.webhook('Uupload', 'send me the manual');
    const page = await openConsole('alice');
    await rowOf(page, 'Uupload').click();
    await page.waitForSelector('#messages li[data-seq="1"]');
    // Every progress value the page shows, however fast the upload.
    await page.evaluate(() => {
      window.seenProgress = [];
      new MutationObserver(() => {
        for (const p of document.querySelectorAll('#uploads progress')) window.seenProgress.push(p.value / p.max);
      }).observe(document.querySelector('#uploads'), { childList: true, subtree: true });
    });
    // Slow enough to see the bar move and to cancel.
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1,
      uploadThroughput: 1024 * 1024 });
    const big = Buffer.alloc(2 * 1024 * 1024, 7);
    await page.setInputFiles('#file', { name: 'manual.pdf', mimeType: 'application/pdf', buffer: big });
    await page.waitForSelector('#uploads li progress');
    await page.waitForSelector('#messages li[data-seq="2"] .attachment.file a.file-link', { timeout: 15000 });
    const seen = await page.evaluate(() => window.seenProgress);
    assert.ok(seen.some((v) => v > 0 && v < 1), 'a partial progress was shown: ' + JSON.stringify(seen.slice(0, 20)));
    assert.equal(await page.locator('#uploads li').count(), 0, 'the bar is gone once sent');
    assert.match(await page.textContent('#messages li[data-seq="2"] .file-line'), /manual\.pdf\s+2\.0 MiB/);
    const link = await page.getAttribute('#messages li[data-seq="2"] a.file-link', 'href');
    const got = await fetch(server.httpUrl + link);
    assert.equal(got.status, 200);
    assert.ok(Buffer.from(await got.arrayBuffer()).equals(big), 'the link serves the uploaded bytes');

    await page.setInputFiles('#file', { name: 'cancelled.bin', mimeType: 'application/octet-stream', buffer: big });
    // Each progress tick redraws the row with a new button, so a pointer click
    // could find the one it aimed at detached (it did, under load): the row's
    // button is found and clicked in one step inside the page, where no
    // redraw can come between, after checking it is the shown cancel button
    // of an upload still under way.
    const cancel = '#uploads li[data-upload="cancelled.bin"] button';
    await page.waitForSelector('#uploads li[data-upload="cancelled.bin"] progress');
    // Polled: the row can be drawn before it is laid out (a box of 0 x 0
    // for a frame); the click happens only on a shown button.
    const clicked = await (await page.waitForFunction((sel) => {
      const b = document.querySelector(sel);
      if (!b) return null;
      const box = b.getBoundingClientRect();
      if (!(box.width > 0 && box.height > 0)) return null;
      const seen = { label: b.textContent, underWay: b.closest('li').querySelector('progress') !== null };
      b.click();
      return seen;
    }, cancel, { timeout: 5000, polling: 'raf' })).jsonValue();
    assert.deepEqual(clicked, { label: 'cancel', underWay: true });
    assert.equal(await page.locator('#uploads li').count(), 0, 'cancelled');
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });

    await page.setInputFiles('#file', { name: 'huge.bin', mimeType: 'application/octet-stream',
      buffer: Buffer.alloc(UPLOAD_LIMIT + 1, 1) });
    await page.waitForSelector('#uploads li.failed');
    assert.match(await page.textContent('#uploads li.failed'), /too large \(3\.0 MiB\)/);
    assert.match(await page.textContent('#notice'), /huge\.bin: too large/);
    await page.click('#uploads li.failed button');
    await new Promise((r) => setTimeout(r, 300));
    const stored = await server.history('Uupload');
    assert.deepEqual(stored.map((m) => m.text), ['send me the manual', 'manual.pdf'], 'nothing else was sent');
    await page.close();
  });

  await t.test('an error notice clears itself', async () => {
    await errorPage.waitForFunction(() => document.querySelector('#notice').textContent === '', null,
      { timeout: Math.max(1000, 12000 - (Date.now() - errorShownAt)) });
    await errorPage.close();
  });
});
