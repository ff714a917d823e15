/**
 * The fault proxy (test/support/fault-proxy.ts) does what the resilience and near-cache tests rely
 * on: every mode, on open and new connections, against a real redis-server.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { startRedis, type RedisServer } from '../support/redis-server.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';

/** A raw RESP client: inline commands, replies as text, errors and close recorded. */
class Raw {
  readonly sock: Socket;
  private buf = '';
  private waiters: Array<() => void> = [];
  error: (Error & { code?: string }) | undefined;
  closed = false;
  readonly ready: Promise<void>;

  constructor(port: number) {
    this.sock = connect(port, '127.0.0.1');
    this.ready = new Promise((resolve, reject) => {
      this.sock.once('connect', resolve);
      this.sock.once('error', reject);
    });
    this.sock.on('data', (d) => {
      this.buf += d.toString();
      this.wake();
    });
    this.sock.on('error', (e) => {
      this.error = e;
    });
    this.sock.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send(line: string): void {
    this.sock.write(line + '\r\n');
  }

  /** Resolves with everything received once it contains `text`; rejects if the socket closes first. */
  async until(text: string): Promise<string> {
    while (!this.buf.includes(text)) {
      if (this.closed) throw Object.assign(new Error('closed'), { cause: this.error });
      await new Promise<void>((r) => this.waiters.push(r));
    }
    const out = this.buf;
    this.buf = '';
    return out;
  }

  /** True if nothing arrived within `ms` (the only way to observe silence on a real socket). */
  async silentFor(ms: number): Promise<boolean> {
    await new Promise((r) => setTimeout(r, ms));
    return this.buf === '' && !this.closed;
  }

  /** Resolves when the socket is closed. */
  async closedNow(): Promise<void> {
    while (!this.closed) await new Promise<void>((r) => this.waiters.push(r));
  }

  destroy(): void {
    this.sock.destroy();
  }
}

describe('fault proxy', () => {
  let server: RedisServer;
  let proxy: FaultProxy;
  const open: Raw[] = [];
  const raw = async (port = proxy.port) => {
    const r = new Raw(port);
    open.push(r);
    await r.ready;
    return r;
  };

  before(async () => {
    server = await startRedis();
    proxy = await startFaultProxy({ targetPort: server.port });
  });
  after(async () => {
    for (const r of open) r.destroy();
    await proxy.close();
    await server.stop();
  });

  test('pass mode forwards commands and replies', async () => {
    proxy.setMode('pass');
    const c = await raw();
    c.send('PING');
    assert.match(await c.until('\r\n'), /^\+PONG/);
  });

  test('latency mode delays each reply by at least latencyMs and keeps order', async () => {
    proxy.latencyMs = 60;
    proxy.setMode('latency');
    const c = await raw();
    const t0 = performance.now();
    c.send('ECHO a');
    c.send('ECHO b');
    const out = await c.until('$1\r\nb\r\n');
    assert.ok(performance.now() - t0 >= 2 * 60 - 5, 'request and reply each wait latencyMs');
    assert.ok(out.indexOf('a') < out.lastIndexOf('b'));
    proxy.setMode('pass');
  });

  test('stall mode answers nothing, and delivers what it kept once passing again', async () => {
    const c = await raw();
    proxy.setMode('stall');
    c.send('PING');
    assert.equal(await c.silentFor(150), true);
    const late = await raw(); // new connections are accepted during a stall
    late.send('ECHO late');
    assert.equal(await late.silentFor(50), true);
    proxy.setMode('pass');
    assert.match(await c.until('PONG'), /PONG/);
    assert.match(await late.until('late'), /late/);
  });

  test('reset mode destroys open connections with a RST and resets new ones on accept', async () => {
    proxy.setMode('pass');
    const c = await raw();
    c.send('PING');
    await c.until('PONG');
    proxy.setMode('reset');
    await c.closedNow();
    assert.equal(c.error?.code, 'ECONNRESET');
    const d = new Raw(proxy.port);
    open.push(d);
    d.ready.catch(() => {}); // the reset may come before or after the connect completes
    await d.closedNow();
    assert.equal(d.error?.code, 'ECONNRESET');
    proxy.setMode('pass');
    const e = await raw();
    e.send('PING');
    assert.match(await e.until('PONG'), /PONG/);
  });

  test('blackhole mode accepts new connections and never answers them; open ones stall', async () => {
    proxy.setMode('pass');
    const before = await raw();
    proxy.setMode('blackhole');
    const fresh = await raw();
    fresh.send('PING');
    before.send('PING');
    assert.equal(await fresh.silentFor(150), true);
    assert.equal(await before.silentFor(0), true);
    proxy.setMode('pass');
    assert.match(await fresh.until('PONG'), /PONG/);
    assert.match(await before.until('PONG'), /PONG/);
  });

  test('holdServerToClient holds back matching replies, and what follows them, until release()', async () => {
    proxy.setMode('pass');
    await server.cli('SET', 'fp:held', 'HELD-VALUE');
    const a = await raw();
    const b = await raw();
    proxy.holdServerToClient((chunk) => chunk.includes('HELD-VALUE'));
    a.send('GET fp:held');
    await proxy.held();
    a.send('PING');
    b.send('ECHO other'); // another connection is not held
    assert.match(await b.until('other'), /other/);
    await server.cli('SET', 'fp:held', 'NEW');
    assert.equal(await a.silentFor(50), true);
    proxy.release();
    const out = await a.until('PONG');
    assert.match(out, /HELD-VALUE[\s\S]*PONG/);
  });

  test('a client connection closes when the server dies', async () => {
    proxy.setMode('pass');
    const c = await raw();
    c.send('PING');
    await c.until('PONG');
    await server.kill();
    await c.closedNow();
    await server.restart();
    const d = await raw();
    d.send('PING');
    assert.match(await d.until('PONG'), /PONG/);
  });
});
