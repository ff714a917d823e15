/**
 * One child process of the harness, opening exactly one system (children.ts spawns it):
 *
 *   child.ts stampede <system id> <setup json>
 *     → {ready}; on {go, key, callers, genMs}: `callers` concurrent getOrSet calls of `key` whose
 *       factory takes genMs → {done, runs, errors, empty, slowestMs}; repeated until {exit}.
 *   child.ts memory <system id> <setup json> <entries>      (run with --expose-gc)
 *     → {ready} after a warm-up; on {fill}: writes `entries` distinct keys, reads each once (so
 *       every tier holds it), → {filled, heapPerEntry, buffersPerEntry}; then waits for {exit}.
 */
import type { CacheAdapter, Setup } from './adapter.js';
import { isCacheId, openCache } from './systems.js';
import { smallValue } from './workload.js';
import { fillWith } from './adapter.js';

const [mode, id, setupJson, entriesArg] = process.argv.slice(2) as [string, string, string, string | undefined];
if (!isCacheId(id)) throw new Error(`unknown system ${id}`);
const setup = JSON.parse(setupJson) as Setup;
const send = (m: object) => process.send!(m);
const messages: Array<Record<string, unknown>> = [];
let wake: (() => void) | undefined;
process.on('message', (m: Record<string, unknown>) => {
  messages.push(m);
  wake?.();
});
async function next(): Promise<Record<string, unknown>> {
  while (messages.length === 0) await new Promise<void>((r) => (wake = r));
  return messages.shift()!;
}

const adapter: CacheAdapter = await openCache(id, setup);

if (mode === 'stampede') {
  send({ type: 'ready' });
  for (;;) {
    const m = await next();
    if (m.type === 'exit') break;
    const { key, callers, genMs } = m as { key: string; callers: number; genMs: number };
    let runs = 0;
    const factory = async () => {
      runs++;
      await new Promise((r) => setTimeout(r, genMs));
      return { by: process.pid, at: Date.now() };
    };
    let errors = 0;
    let empty = 0;
    let slowestMs = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: callers }, async () => {
        try {
          if ((await adapter.getOrSet!(key, factory)) === undefined) empty++;
        } catch {
          errors++;
        }
        slowestMs = Math.max(slowestMs, performance.now() - t0);
      }),
    );
    send({ type: 'done', runs, errors, empty, slowestMs });
  }
} else if (mode === 'memory') {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('memory mode needs --expose-gc');
  // V8 heap plus the bytes of ArrayBuffers (a Buffer's contents live outside the V8 heap: a
  // store of encoded bytes would look free if only heapUsed were counted).
  const heap = () => {
    gc();
    gc();
    const m = process.memoryUsage();
    return { heap: m.heapUsed, buffers: m.arrayBuffers };
  };
  const n = Number(entriesArg);
  // Warm every code path first (its compiled code and lazily built structures are not entries).
  await adapter.set('warm-up', smallValue(0));
  await adapter.get('warm-up');
  send({ type: 'ready' });
  await next(); // {fill}
  const h0 = heap();
  await fillAndRead(adapter, n);
  const h1 = heap();
  send({ type: 'filled', heapPerEntry: (h1.heap - h0.heap) / n, buffersPerEntry: (h1.buffers - h0.buffers) / n });
  await next(); // {exit}
} else {
  throw new Error(`unknown mode ${mode}`);
}
await adapter.close();
process.disconnect();

/**
 * Keys and values are made after the first reading, inside a function of their own: once it has
 * returned, nothing of this code holds them (a block inside the long-running top-level async
 * code would not do: its suspended frame keeps dead locals alive), so what stays is what the
 * cache holds.
 */
async function fillAndRead(a: CacheAdapter, n: number): Promise<void> {
  const entries = Array.from({ length: n }, (_, i) => [`item:${i}`, smallValue(i)] as [string, unknown]);
  await a.fill(entries);
  await fillWith(entries, (k) => a.get(k));
}
// Peers may keep timers or sockets; the child's work is done.
setTimeout(() => process.exit(0), 200).unref();
