/**
 * A TCP proxy in front of a redis-server that misbehaves on demand, the way a network does
 * (toxiproxy's idea, in one file: there is no Docker here).
 *
 *   const proxy = await startFaultProxy({ targetPort: server.port });
 *   createCache({ store: proxy.url });
 *   proxy.setMode('stall');   // …the test… then proxy.setMode('pass');
 *
 * Modes, switchable at any time; each applies to the connections already open and to new ones:
 *   pass       bytes forwarded as they come.
 *   latency    every chunk delayed by `latencyMs`, in both directions, order kept.
 *   stall      connections accepted and read, nothing forwarded or answered. What was read is kept
 *              and delivered when the mode returns to pass or latency, as TCP does when a stalled
 *              link heals (a SIGSTOPped server behaves the same way).
 *   reset      every open connection is destroyed with a TCP RST; new ones are reset on accept.
 *   blackhole  new connections are accepted and never answered (no upstream connection is opened
 *              until the mode changes); the open ones stall.
 *
 * holdServerToClient(pred) holds back server→client bytes: on a connection where a chunk matches
 * `pred` (every chunk without one), that chunk and everything after it is buffered until release().
 * Tests use it to hold a GET reply while something else happens (the near cache's race test).
 *
 * halfOpen(pred, { dropUpstream }) makes the open connections whose client→server bytes so far
 * (their first 64 KiB) match `pred` go silent in both directions, for good, without closing the
 * client's socket: what a NAT or proxy idle timeout does to a connection. With `dropUpstream`, the
 * server's side is closed too (Redis sees the client leave; the client sees nothing). Other and
 * later connections are not affected. Resolves to how many connections it silenced.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export type FaultMode = 'pass' | 'latency' | 'stall' | 'reset' | 'blackhole';

export interface FaultProxyOptions {
  targetPort: number;
  targetHost?: string;
  /** Initial mode; default 'pass'. */
  mode?: FaultMode;
  /** Delay of each chunk in 'latency' mode; default 50. */
  latencyMs?: number;
}

export interface FaultProxy {
  readonly host: string;
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  readonly mode: FaultMode;
  latencyMs: number;
  setMode(mode: FaultMode): void;
  /** Client connections currently open through the proxy. */
  readonly connections: number;
  /** Hold server→client bytes (see the file comment). `pred` sees each chunk as it arrives. */
  holdServerToClient(pred?: (chunk: Buffer) => boolean): void;
  /** Resolves once a chunk is being held (at once if one is). */
  held(): Promise<void>;
  /** Stops holding and delivers what was held, in order. */
  release(): void;
  /** Silences matching open connections for good (see the file comment). */
  halfOpen(pred: (sentSoFar: string) => boolean, opts?: { dropUpstream?: boolean }): number;
  close(): Promise<void>;
}

/** One direction of one connection: delivers chunks in order, each not before its due time. */
class Lane {
  private readonly queue: Array<{ due: number; chunk: Buffer }> = [];
  private timer: NodeJS.Timeout | undefined;
  private lastDue = 0;

  constructor(private readonly out: () => Socket | null) {}

  push(chunk: Buffer, delayMs: number): void {
    const now = Date.now();
    if (delayMs <= 0 && this.queue.length === 0) {
      this.write(chunk);
      return;
    }
    const due = Math.max(now + delayMs, this.lastDue);
    this.lastDue = due;
    this.queue.push({ due, chunk });
    this.schedule();
  }

  private schedule(): void {
    if (this.timer !== undefined || this.queue.length === 0) return;
    const wait = Math.max(0, this.queue[0]!.due - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const now = Date.now();
      while (this.queue.length > 0 && this.queue[0]!.due <= now) this.write(this.queue.shift()!.chunk);
      this.schedule();
    }, wait);
  }

  private write(chunk: Buffer): void {
    const sock = this.out();
    if (sock !== null && !sock.destroyed) sock.write(chunk);
  }

  clear(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
  }
}

interface Link {
  client: Socket;
  server: Socket | null;
  /** Client→server chunks not yet handed to the lane (stall, blackhole, upstream connecting). */
  up: Buffer[];
  /** Server→client chunks not yet handed to the lane (stall, hold). */
  down: Buffer[];
  holding: boolean;
  /** The first 64 KiB the client sent, as latin1 text (halfOpen's predicate). */
  sent: string;
  /** Silenced for good by halfOpen: nothing moves either way, the client's socket stays open. */
  halted: boolean;
  upLane: Lane;
  downLane: Lane;
  closed: boolean;
}

export async function startFaultProxy(opts: FaultProxyOptions): Promise<FaultProxy> {
  const targetHost = opts.targetHost ?? '127.0.0.1';
  let mode: FaultMode = opts.mode ?? 'pass';
  let latencyMs = opts.latencyMs ?? 50;
  let holdPred: ((chunk: Buffer) => boolean) | null = null;
  let heldWaiters: Array<() => void> = [];
  const links = new Set<Link>();

  const flowing = () => mode === 'pass' || mode === 'latency';
  const delay = () => (mode === 'latency' ? latencyMs : 0);

  const closeLink = (link: Link, rst = false) => {
    if (link.closed) return;
    link.closed = true;
    links.delete(link);
    link.upLane.clear();
    link.downLane.clear();
    if (rst) {
      link.client.resetAndDestroy();
      link.server?.resetAndDestroy();
    } else {
      link.client.destroy();
      link.server?.destroy();
    }
  };

  const openUpstream = (link: Link) => {
    if (link.server !== null) return;
    const server = connect(opts.targetPort, targetHost);
    link.server = server;
    server.setNoDelay(true);
    server.on('data', (chunk: Buffer) => {
      if (!link.holding && holdPred?.(chunk)) {
        link.holding = true;
        const w = heldWaiters;
        heldWaiters = [];
        for (const f of w) f();
      }
      link.down.push(chunk);
      pump(link);
    });
    server.on('connect', () => pump(link));
    server.on('error', () => {
      if (!link.halted) closeLink(link);
    });
    server.on('close', () => {
      if (!link.halted) closeLink(link);
    });
  };

  /** Moves whatever may move now from the pending lists into the lanes. */
  const pump = (link: Link) => {
    if (link.closed || link.halted || !flowing()) return;
    if (link.server === null) openUpstream(link);
    const server = link.server!;
    if (!server.connecting) {
      for (const chunk of link.up.splice(0)) link.upLane.push(chunk, delay());
    }
    if (!link.holding) {
      for (const chunk of link.down.splice(0)) link.downLane.push(chunk, delay());
    }
  };

  const srv: Server = createServer((client) => {
    client.setNoDelay(true);
    if (mode === 'reset') {
      client.resetAndDestroy();
      return;
    }
    const link: Link = {
      client,
      server: null,
      up: [],
      down: [],
      holding: false,
      sent: '',
      halted: false,
      upLane: new Lane(() => link.server),
      downLane: new Lane(() => link.client),
      closed: false,
    };
    links.add(link);
    client.on('data', (chunk: Buffer) => {
      if (link.halted) return; // swallowed, as a dead link does
      if (link.sent.length < 65536) link.sent += chunk.toString('latin1');
      link.up.push(chunk);
      pump(link);
    });
    client.on('error', () => closeLink(link));
    client.on('close', () => closeLink(link));
    // In blackhole mode no upstream is opened: the client waits for a server that never speaks.
    if (mode !== 'blackhole') openUpstream(link);
  });

  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve());
  });
  const addr = srv.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;

  const proxy: FaultProxy = {
    host: '127.0.0.1',
    port,
    url: `redis://127.0.0.1:${port}`,
    get mode() {
      return mode;
    },
    get latencyMs() {
      return latencyMs;
    },
    set latencyMs(ms: number) {
      latencyMs = ms;
    },
    get connections() {
      return links.size;
    },
    setMode(m: FaultMode) {
      mode = m;
      if (m === 'reset') {
        for (const link of [...links]) closeLink(link, true);
        return;
      }
      for (const link of [...links]) pump(link);
    },
    holdServerToClient(pred?: (chunk: Buffer) => boolean) {
      holdPred = pred ?? (() => true);
    },
    held() {
      if ([...links].some((l) => l.holding)) return Promise.resolve();
      return new Promise<void>((resolve) => heldWaiters.push(resolve));
    },
    release() {
      holdPred = null;
      for (const link of [...links]) {
        link.holding = false;
        pump(link);
      }
    },
    halfOpen(pred: (sentSoFar: string) => boolean, o?: { dropUpstream?: boolean }) {
      let n = 0;
      for (const link of links) {
        if (link.halted || !pred(link.sent)) continue;
        link.halted = true;
        link.up.length = 0;
        link.down.length = 0;
        link.upLane.clear();
        link.downLane.clear();
        if (o?.dropUpstream === true) link.server?.destroy();
        n++;
      }
      return n;
    },
    async close() {
      for (const link of [...links]) closeLink(link);
      await new Promise<void>((resolve) => srv.close(() => resolve()));
    },
  };
  return proxy;
}
