/**
 * X1/X2 through real servers: Node's http, Express 5, Fastify 5 and Hono (on @hono/node-server),
 * each on a free port, each hit with concurrent requests of different tenants and users. Every
 * request must see its own namespace, user, `cache.local` and request cache, across awaits and
 * body parsing, and never another request's.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { serve } from '@hono/node-server';
import { createCache } from '../../src/cache.js';
import { createMemoryStore } from '../../src/stores/memory/index.js';
import type { RequestInfo } from '../../src/middleware.js';

const cache = createCache({ store: createMemoryStore(), namespace: 'fallback' });
after(() => cache.close());

// Real timers, on purpose: requests over real sockets interleave across timer callbacks, where an
// async context is most easily lost. No time logic is tested here.
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Frappe-style: the site from a header (Host in production), the user from the session. */
const resolve = async (req: RequestInfo) => {
  await sleep(Math.random() * 2); // an async resolver, as a session lookup would be
  return { namespace: req.header('x-site') ?? 'fallback', user: req.header('x-user') };
};

/** Counts runs per request in cache.local, so a shared request cache would show up. */
const loadSettings = cache.requestCached(async (key: string) => {
  const n = ((cache.local.get('runs') as number | undefined) ?? 0) + 1;
  cache.local.set('runs', n);
  await sleep(1);
  return `${key}@${cache.namespace}`;
});

/** The work every framework's handler does. */
async function work(id: string, body?: unknown) {
  const nsAtStart = cache.namespace;
  cache.local.set('id', id);
  await sleep(Math.random() * 10);
  await cache.setValue('who', id, { user: true });
  await sleep(Math.random() * 10);
  const who = await cache.getValue('who', { user: true });
  const settings = await Promise.all([loadSettings('s'), loadSettings('s'), loadSettings('s')]);
  await new Promise((r) => setImmediate(r));
  return {
    nsAtStart,
    ns: cache.namespace,
    id: cache.local.get('id'),
    who,
    settings: settings[0],
    runs: cache.local.get('runs'),
    body,
  };
}

interface Running {
  url: string;
  close(): Promise<void>;
}

async function listen(server: http.Server): Promise<Running> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** A POST whose body arrives in two chunks, 15 ms apart: parsing resumes in another async context. */
async function slowPost(base: string, site: string, id: number): Promise<Record<string, unknown>> {
  const url = new URL(`${base}/work`);
  return new Promise((resolvePost, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'x-site': site, 'x-user': `u${id}`, 'x-id': String(id), 'content-type': 'application/json', 'transfer-encoding': 'chunked' } },
      (res) => {
        let raw = '';
        res.on('data', (d: Buffer) => (raw += d.toString()));
        res.on('end', () => (res.statusCode === 200 ? resolvePost(JSON.parse(raw) as Record<string, unknown>) : reject(new Error(`${res.statusCode} ${raw}`))));
      },
    );
    req.on('error', reject);
    req.write('{"n":');
    setTimeout(() => req.end(`${id}}`), 15);
  });
}

async function slowPosts(base: string): Promise<void> {
  const out = await Promise.all(Array.from({ length: 6 }, (_, i) => slowPost(base, `slow${i % 3}`, i)));
  out.forEach((body, i) => {
    assert.equal(body.ns, `slow${i % 3}`);
    assert.equal(body.id, String(i));
    assert.deepEqual(body.body, { n: i });
  });
}

async function hammer(base: string, n = 40, post = false): Promise<void> {
  const responses = await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const site = `site${i % 5}.example.com`;
      const user = `user${i}@x.com`;
      const res = await fetch(`${base}/work?id=${i}`, {
        method: post ? 'POST' : 'GET',
        headers: { 'x-site': site, 'x-user': user, 'x-id': String(i), ...(post ? { 'content-type': 'application/json' } : {}) },
        ...(post ? { body: JSON.stringify({ n: i }) } : {}),
      });
      assert.equal(res.status, 200, await res.clone().text());
      return { i, site, body: (await res.json()) as Record<string, unknown> };
    }),
  );
  for (const { i, site, body } of responses) {
    assert.equal(body.nsAtStart, site, `request ${i}: namespace at start`);
    assert.equal(body.ns, site, `request ${i}: namespace after awaits`);
    assert.equal(body.id, String(i), `request ${i}: cache.local`);
    assert.equal(body.who, String(i), `request ${i}: user-scoped value`);
    assert.equal(body.settings, `s@${site}`);
    assert.equal(body.runs, 1, `request ${i}: request cache ran once in its own request`);
    if (post) assert.deepEqual(body.body, { n: i });
  }
  // Nothing leaked out of the requests.
  assert.throws(() => cache.local);
  assert.equal(cache.namespace, 'fallback');
}

describe('middleware (X1, X2) with real servers', () => {
  it('X1/X2: Node http — mw(req, res, next) gives each request its own context', async () => {
    const mw = cache.middleware({ resolve });
    const server = http.createServer((req: IncomingMessage, res: ServerResponse) =>
      void mw(req, res, async () => {
        let raw = '';
        for await (const chunk of req) raw += (chunk as Buffer).toString();
        const out = await work(req.headers['x-id'] as string, raw ? JSON.parse(raw) : undefined);
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(out));
      }),
    );
    const running = await listen(server);
    try {
      await hammer(running.url);
      await hammer(running.url, 20, true);
    } finally {
      await running.close();
    }
  });

  it('X1/X2: Express 5 — app.use(mw), through body parsing and async handlers', async () => {
    const app = express();
    app.use(cache.middleware({ resolve }));
    app.use(express.json());
    const handler = async (req: express.Request, res: express.Response) => {
      res.json(await work(req.get('x-id')!, req.method === 'POST' ? req.body : undefined));
    };
    app.get('/work', handler);
    app.post('/work', handler);
    const running = await listen(http.createServer(app));
    try {
      await hammer(running.url);
      await hammer(running.url, 20, true);
      await slowPosts(running.url);
    } finally {
      await running.close();
    }
  });

  it('X1/X2: Fastify 5 — fastify.register(mw); the context survives body parsing to the handler', async () => {
    const app = Fastify();
    await app.register(cache.middleware({ resolve }));
    // A child plugin's routes see the context too (the hooks are not encapsulated).
    await app.register(async (child) => {
      child.get('/work', async (req) => work(req.headers['x-id'] as string));
      child.post('/work', async (req) => {
        await sleep(1);
        return work(req.headers['x-id'] as string, req.body);
      });
    });
    // preHandler hooks run in the request's context as well.
    app.addHook('preHandler', async () => {
      assert.ok(cache.local instanceof Map);
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    try {
      await hammer(`http://127.0.0.1:${port}`);
      await hammer(`http://127.0.0.1:${port}`, 20, true);
      await slowPosts(`http://127.0.0.1:${port}`);
    } finally {
      await app.close();
    }
  });

  it('X1/X2: Hono on @hono/node-server — app.use(mw)', async () => {
    const app = new Hono();
    app.use(cache.middleware({ resolve }));
    app.get('/work', async (c) => c.json(await work(c.req.header('x-id')!)));
    app.post('/work', async (c) => c.json(await work(c.req.header('x-id')!, await c.req.json())));
    const server = await new Promise<http.Server>((r) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => r(s as http.Server));
    });
    const { port } = server.address() as AddressInfo;
    try {
      await hammer(`http://127.0.0.1:${port}`);
      await hammer(`http://127.0.0.1:${port}`, 20, true);
      await slowPosts(`http://127.0.0.1:${port}`);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('X1: a resolver that fails answers 500 (Node http without next) or goes to next(err) (Express)', async () => {
    const failing = cache.middleware({
      resolve: () => {
        throw new Error('no such site');
      },
    });
    const server = http.createServer((req, res) => void failing(req, res));
    const running = await listen(server);
    try {
      assert.equal((await fetch(running.url)).status, 500);
    } finally {
      await running.close();
    }
    const app = express();
    app.use(cache.middleware({ resolve: async () => ({ namespace: '' }) }));
    app.get('/', (_req, res) => {
      res.send('unreachable');
    });
    app.use((err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      res.status(400).send(err.name);
    });
    const running2 = await listen(http.createServer(app));
    try {
      const res = await fetch(running2.url);
      assert.equal(res.status, 400);
      assert.equal(await res.text(), 'KeyError');
    } finally {
      await running2.close();
    }
  });
});
