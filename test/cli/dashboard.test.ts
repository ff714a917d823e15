/**
 * OP3, end to end: `larder-cache dashboard` against a real Redis while caches publish telemetry
 * (OP4) in the background, opened in a real headless browser (Debian's chromium, driven by
 * playwright-core). The page shows the caches' namespaces, its numbers move without a reload,
 * the doctor's findings appear, and it loads nothing from anywhere but the dashboard itself.
 *
 * LARDER_SCREENSHOT=path writes a screenshot of the page there, LARDER_SCREENSHOT_SECONDS later
 * (docs/dashboard.png: LARDER_SCREENSHOT=docs/dashboard.png LARDER_SCREENSHOT_SECONDS=60).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createCache, type Cache } from '../../src/index.js';
import { cli } from '../support/cli.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';

const CHROMIUM = '/usr/bin/chromium';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// Page-side expressions are strings: functions compiled by tsx carry helpers the page lacks.
const METRIC = `((m) => Number(document.querySelector('[data-metric="' + m + '"]').textContent.replace(/,/g, '')))`;

/** Reads, writes, generator runs and contended locks, until `stop` is set. */
async function traffic(cache: Cache, name: string, state: { stop: boolean }): Promise<void> {
  let i = 0;
  while (!state.stop) {
    i++;
    for (let j = 0; j < 4; j++) await cache.getValue(`hot:${(i + j) % 8}`, { generator: () => ({ i, name }), expiresInSec: 3 });
    if (i % 2 === 0) await cache.getValue(`cold:${i}`);
    if (i % 5 === 0) {
      await Promise.all([
        cache.withLock('job', () => sleep(5), { ttlMs: 2000, waitMs: 1000 }),
        cache.withLock('job', () => sleep(5), { ttlMs: 2000, waitMs: 1000 }),
      ]);
    }
    await sleep(20);
  }
}

async function text(page: Page, selector: string): Promise<string> {
  return (await page.locator(selector).first().textContent()) ?? '';
}

describe('the dashboard in a browser (OP3)', () => {
  let server: RedisServer;
  let browser: Browser;
  const caches: Cache[] = [];
  const state = { stop: false };
  const running: Array<Promise<void>> = [];

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is needed (apt-get install chromium; .ci/run installs it)`);
    server = await startRedis();
    const acme = createCache({ store: server.url, namespace: 'acme.example.com', nearCache: { maxEntries: 6 }, telemetry: { publishEverySec: 1 } });
    const globex = createCache({ store: server.url, namespace: 'globex.example.com', telemetry: { publishEverySec: 1 } });
    caches.push(acme, globex);
    // A finding for the doctor: a namespace whose entries never expire.
    const legacy = acme.forNamespace('legacy.example.com');
    for (let i = 0; i < 10; i++) await legacy.setValue(`k${i}`, i);
    running.push(traffic(acme, 'acme', state), traffic(globex, 'globex', state));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  });

  after(async () => {
    state.stop = true;
    await Promise.all(running);
    await browser.close();
    await Promise.all(caches.map((c) => c.close()));
    await server.stop();
  });

  test('shows the publishing namespaces, live numbers that move without a reload, and the doctor findings', async () => {
    let stop!: () => void;
    const until = new Promise<void>((r) => (stop = r));
    let url = '';
    const listening = new Promise<void>((resolve) => {
      void cli(['dashboard', '--store', server.url, '--port', '0', '--doctor-every', '2', '--window', '5'], {
        until,
        onListening: (u) => {
          url = u;
          resolve();
        },
      }).then((r) => assert.equal(r.code, 0, r.stderr));
    });
    await listening;
    const page = await browser.newPage({ viewport: { width: 1280, height: 1300 } });
    const foreign: string[] = [];
    page.on('request', (req) => {
      if (!req.url().startsWith(url)) foreign.push(req.url());
    });
    try {
      await page.goto(url);
      await page.locator('tr[data-namespace="acme.example.com"]').waitFor({ timeout: 15_000 });
      await page.locator('tr[data-namespace="globex.example.com"]').waitFor({ timeout: 15_000 });
      assert.equal(await text(page, '#status'), 'live');
      assert.equal(await text(page, '[data-metric="sources"]'), '2');

      // Numbers move: the cumulative generator runs and lock acquisitions grow, with no reload.
      const runs0 = Number((await text(page, '[data-metric="generator-runs"]')).replace(/,/g, ''));
      const locks0 = Number((await text(page, '[data-metric="locks-acquired"]')).replace(/,/g, ''));
      const navigations: string[] = [];
      page.on('framenavigated', (f) => navigations.push(f.url()));
      await page.waitForFunction(`${METRIC}('generator-runs') > ${runs0} && ${METRIC}('locks-acquired') > ${locks0}`, undefined, { timeout: 20_000 });
      assert.deepEqual(navigations, [], 'updated in place');

      // Per-namespace hit ratio drawn over time, latency, near cache, lock waits.
      await page.locator('#chart-hits path[data-series="acme.example.com"]').waitFor({ timeout: 10_000 });
      await page.locator('#chart-hits path[data-series="globex.example.com"]').waitFor({ timeout: 10_000 });
      assert.match(await text(page, 'tr[data-namespace="acme.example.com"] [data-field="window-hit-ratio"]'), /^\d+(\.\d)?%$/);
      await page.waitForFunction(`document.querySelector('[data-metric="latency-p99"]').textContent.endsWith('ms')`, undefined, { timeout: 10_000 });
      assert.match(await text(page, '[data-metric="latency-p50"]'), / ms$/);
      assert.match(await text(page, '[data-metric="near-active"]'), /^1\/1$/);
      assert.notEqual(await text(page, '[data-metric="near-entries"]'), '–');
      await page.waitForFunction(`${METRIC}('locks-waits') > 0`, undefined, { timeout: 10_000 });

      // The doctor's summary: the TTL-less namespace is named.
      await page.locator('#doctor-findings li[data-code="NO_TTL_NAMESPACE"]').waitFor({ timeout: 15_000 });
      assert.match(await text(page, '#doctor-findings li[data-code="NO_TTL_NAMESPACE"]'), /legacy\.example\.com/);

      assert.deepEqual(foreign, [], 'nothing is loaded from elsewhere (no CDN)');
      const shot = process.env.LARDER_SCREENSHOT;
      if (shot !== undefined && shot !== '') {
        await sleep(Number(process.env.LARDER_SCREENSHOT_SECONDS ?? '4') * 1000); // more points on the charts
        await page.screenshot({ path: shot, fullPage: true });
      }
    } finally {
      await page.close();
      stop();
    }
  });

  test('the page and its script are served; other paths are 404, and the stream is an event stream', async () => {
    let stop!: () => void;
    const until = new Promise<void>((r) => (stop = r));
    let url = '';
    const done = new Promise<void>((resolve) => {
      void cli(['dashboard', '--store', server.url, '--port', '0', '--doctor-every', '0'], {
        until,
        onListening: (u) => {
          url = u;
          resolve();
        },
      });
    });
    await done;
    try {
      const page = await fetch(url);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<script src="app\.js"><\/script>/);
      assert.equal((await fetch(`${url}app.js`)).headers.get('content-type'), 'text/javascript; charset=utf-8');
      assert.equal((await fetch(`${url}../package.json`)).status, 404);
      assert.equal((await fetch(`${url}nope`)).status, 404);
      const snap = (await (await fetch(`${url}api/snapshot`)).json()) as { schema: string; doctor: unknown };
      assert.equal(snap.schema, 'larder-cache/dashboard@1');
      assert.equal(snap.doctor, null, '--doctor-every 0: no doctor runs');
      const ctl = new AbortController();
      const events = await fetch(`${url}events`, { signal: ctl.signal });
      assert.equal(events.headers.get('content-type'), 'text/event-stream');
      const reader = events.body!.getReader();
      const chunk = await reader.read();
      const first = new TextDecoder().decode(chunk.value as Uint8Array);
      assert.match(first, /event: snapshot\ndata: \{/);
      ctl.abort();
    } finally {
      stop();
    }
  });
});
