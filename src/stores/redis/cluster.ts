/**
 * What the Redis store does differently on a cluster: slot arithmetic and grouping of multi-key
 * commands by slot, resending on TRYAGAIN within the caller's deadline, dialling masters early,
 * pattern scans over every master repeated while slots migrate, and finding the master of a key.
 *
 * Nothing here holds state: the command connection (connection.ts) and the store pass in what a
 * function needs, through the small ports below.
 */
import type { Cluster, Redis } from 'ioredis';
import { delay, type Clock } from '../../clock.js';
import { StoreError, StoreUnavailableError } from '../../errors.js';

// ---------------------------------------------------------------------------------------------
// Slots (CRC16-XMODEM of the key, or of its hash tag: the first non-empty `{...}`).

const CRC16_TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let j = 0; j < 8; j++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
})();

function crc16(s: string, from: number, to: number): number {
  let crc = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return crc16Bytes(Buffer.from(s.slice(from, to), 'utf8'));
    crc = ((crc << 8) & 0xffff) ^ CRC16_TABLE[((crc >> 8) ^ c) & 0xff]!;
  }
  return crc;
}

function crc16Bytes(b: Buffer): number {
  let crc = 0;
  // Indexed on purpose: for-of over a Buffer goes through its iterator, about half as fast here
  // (measured on Node 20, 30-byte keys), and every command of a non-ASCII key hashes it.
  // eslint-disable-next-line @typescript-eslint/prefer-for-of
  for (let i = 0; i < b.length; i++) crc = ((crc << 8) & 0xffff) ^ CRC16_TABLE[((crc >> 8) ^ b[i]!) & 0xff]!;
  return crc;
}

/** The Redis Cluster hash slot of a key (as CLUSTER KEYSLOT). */
export function keySlot(key: string): number {
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) return crc16(key, open + 1, close) & 0x3fff;
  }
  return crc16(key, 0, key.length) & 0x3fff;
}

/** Positions of `keys` grouped by slot, in first-seen order. */
export function groupBySlot(keys: readonly string[]): Map<number, number[]> {
  const groups = new Map<number, number[]>();
  for (let i = 0; i < keys.length; i++) {
    const slot = keySlot(keys[i]!);
    const g = groups.get(slot);
    if (g) g.push(i);
    else groups.set(slot, [i]);
  }
  return groups;
}

/** Positions of `keys` grouped by slot; on a standalone server, one group. */
export function slotGroups(keys: readonly string[], isCluster: boolean): number[][] {
  if (!isCluster) return [keys.map((_, i) => i)];
  return [...groupBySlot(keys).values()];
}

/** Keys per MGET/UNLINK command: large lists are split, and the parts are sent together. */
export const CHUNK = 1024;

export function chunks<T>(items: readonly T[], size: number): T[][] {
  if (items.length <= size) return [items as T[]];
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

// ---------------------------------------------------------------------------------------------
// TRYAGAIN

/** Pause before resending a multi-key command a slot migration refused with TRYAGAIN. */
const TRYAGAIN_PAUSE_MS = 5;

/**
 * TRYAGAIN: a multi-key command (MGET, UNLINK, a lock script) whose keys a slot migration has split
 * between two nodes. The command did not run anywhere. ioredis resends it at once up to its
 * redirection limit, which a migration of a few hundred milliseconds easily outlasts; the error
 * then reads "Too many Cluster redirections. Last error: ReplyError: TRYAGAIN ...".
 */
function isTryAgain(err: unknown): boolean {
  return err instanceof Error && /\bTRYAGAIN\b/.test(err.message);
}

/** What a resend needs to know of the connection it goes through. */
export interface ResendPort {
  readonly isCluster: boolean;
  readonly closed: boolean;
  readonly timeoutMs: number;
  readonly clock: Clock;
}

/**
 * Sends one multi-key command, and sends it again after a short pause while a slot migration
 * answers TRYAGAIN (it ran nowhere, so this is not a replay), as long as the caller's deadline is
 * not close: a resend never starts after the caller was told the call failed (F4).
 */
export function tryAgain<T>(port: ResendPort, call: () => Promise<T>): Promise<T> {
  if (!port.isCluster) return call();
  const clock = port.clock;
  const until = clock.monotonic() + port.timeoutMs - 2 * TRYAGAIN_PAUSE_MS;
  const attempt = (): Promise<T> =>
    call().catch((err: unknown) => {
      if (!isTryAgain(err) || port.closed || clock.monotonic() + TRYAGAIN_PAUSE_MS >= until) throw err;
      return delay(clock, TRYAGAIN_PAUSE_MS).then(() => {
        if (port.closed || clock.monotonic() >= until) throw err;
        return attempt();
      });
    });
  return attempt();
}

// ---------------------------------------------------------------------------------------------
// Masters

/**
 * With the cluster's offline queue off, ioredis rejects a command for a node whose first
 * connection is still being made (only the very first command to a fresh node goes through).
 * Dial every master as soon as the cluster learns of it, so that window is one dial long, right
 * after startup or a topology change; calls inside it fail fast. Not while the cluster itself is
 * connecting: its ready check needs nodes that are either connected or never dialled, or it tears
 * the whole client down and starts over.
 */
export function dialMastersEagerly(cluster: Cluster): void {
  cluster.on('+node', (node: Redis) => {
    if (cluster.status === 'ready' && !node.options.readOnly && node.status === 'wait') {
      node.connect().catch(() => undefined);
    }
  });
  cluster.on('ready', () => dialMasters(cluster));
}

function dialMasters(cluster: Cluster): Redis[] {
  const masters = cluster.nodes('master');
  for (const node of masters) if (node.status === 'wait') node.connect().catch(() => undefined);
  return masters;
}

/** The first connection to a cluster is made once every master's connection is (see dialMastersEagerly). */
export function mastersReady(cluster: Cluster): Promise<unknown> {
  const waiting = dialMasters(cluster).filter((node) => node.status !== 'ready');
  return Promise.all(
    waiting.map(
      (node) =>
        new Promise<void>((resolve) => {
          const done = () => {
            node.off('ready', done);
            node.off('end', done);
            resolve();
          };
          node.on('ready', done);
          node.on('end', done);
        }),
    ),
  );
}

/**
 * Sharded pub/sub needs Redis >= 7.0 on every master (SPUBLISH/SSUBSCRIBE). A cluster with any
 * older master keeps plain PUBLISH/SUBSCRIBE for every channel. Decided once, at first connect.
 */
export async function supportsShardedPubSub(cluster: Cluster): Promise<boolean> {
  try {
    // COMMAND INFO rather than INFO: per-tenant ACLs usually refuse @dangerous, which INFO is.
    const replies = await Promise.all(
      cluster.nodes('master').map((n) => n.call('COMMAND', 'INFO', 'spublish') as Promise<unknown[]>),
    );
    return replies.length > 0 && replies.every((r) => Array.isArray(r) && r[0] !== null && r[0] !== undefined);
  } catch {
    return false;
  }
}

/** The connection to the master that serves `key`'s slot (ioredis keeps one per node). */
export function masterOf(cluster: Cluster, key: string): Redis {
  const owner = cluster.slots[keySlot(key)]?.[0];
  if (owner === undefined) throw new StoreUnavailableError(`redis cluster: no master known for the slot of ${key}`);
  const pool = (cluster as unknown as { connectionPool: { getInstanceByKey(k: string): Redis | undefined } }).connectionPool;
  const node = pool.getInstanceByKey(owner);
  if (node === undefined) throw new StoreUnavailableError(`redis cluster: no connection to ${owner}`);
  return node;
}

/** Reloads the slot map from the cluster (ioredis also learns it from MOVED replies). */
export function refreshSlots(cluster: Cluster): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    (cluster as unknown as { refreshSlotsCache(cb: (err?: Error) => void): void }).refreshSlotsCache((err) =>
      err ? reject(err) : resolve(),
    );
  });
}

// ---------------------------------------------------------------------------------------------
// Scans

/**
 * A pattern scan over a cluster whose slots keep moving gives up (StoreUnavailableError) once it
 * has been repeating passes for this long: a time budget, not a count of passes, because a
 * reshard's length depends on how many slots move and how busy the machines are, not on how fast
 * one pass is.
 */
const MAX_SCAN_MS = 60_000;
/** Pause between two scan passes while a slot migration is in progress. */
const SCAN_PASS_PAUSE_MS = 20;

/** Sends a command once connected, bounded by the store's deadline, errors mapped (connection.ts). */
export interface ExecPort {
  exec<T>(what: string, send: () => Promise<T>): Promise<T>;
}

/** A scan's budget and pauses are on the store's clock. */
export interface ScanPort extends ExecPort {
  readonly clock: Clock;
}

/**
 * P2 on a cluster: SCAN on every master in turn.
 *
 * A key may move between masters while they are scanned (a reshard): scanned on its new node
 * before it arrived and on its old node after it left, it would be missed. So the slot layout
 * (every master's own slots, with the `[slot->-id]` / `[slot-<-id]` markers of a migration in
 * progress) is read before and after each pass, and the pass is repeated while a migration is in
 * progress or the layout changed. Keys may then be yielded more than once; callers dedupe.
 */
export async function* scanMasters(port: ScanPort, cluster: Cluster, match: string, count: number): AsyncIterable<string[]> {
  let layout = await slotLayout(port, cluster);
  const began = port.clock.monotonic();
  for (let pass = 1; ; pass++) {
    const nodes = cluster.nodes('master');
    if (nodes.length === 0) throw new StoreUnavailableError('redis cluster: no master node is known');
    for (const node of nodes) yield* scanNode(port, node, match, count);
    const after = await slotLayout(port, cluster);
    if (after === layout && !after.includes('[')) return;
    if (port.clock.monotonic() - began > MAX_SCAN_MS) {
      throw new StoreUnavailableError(`redis cluster: slots kept moving during ${pass} scan passes (${MAX_SCAN_MS / 1000} s)`);
    }
    // Learn the new owners before the next pass (ioredis also learns them from MOVED replies).
    await refreshSlots(cluster).catch(() => undefined);
    if (after.includes('[')) await delay(port.clock, SCAN_PASS_PAUSE_MS);
    layout = await slotLayout(port, cluster);
  }
}

/** P2: SCAN with MATCH/COUNT on one node, never KEYS. */
export async function* scanNode(port: ExecPort, node: Redis, match: string, count: number): AsyncIterable<string[]> {
  let cursor = '0';
  do {
    const [next, keys] = await port.exec('SCAN', () => node.scan(cursor, 'MATCH', match, 'COUNT', count));
    cursor = next;
    if (keys.length > 0) yield keys;
  } while (cursor !== '0');
}

/** Every master's own CLUSTER NODES line (id, slots, migration markers), sorted: equal strings, same layout. */
async function slotLayout(port: ExecPort, cluster: Cluster): Promise<string> {
  const lines = await Promise.all(
    cluster.nodes('master').map((node) =>
      port.exec('CLUSTER NODES', () => node.call('CLUSTER', 'NODES')).then((reply) => {
        const text = Buffer.isBuffer(reply) ? reply.toString() : String(reply);
        const mine = text.split('\n').find((l) => l.includes('myself')) ?? '';
        const f = mine.trim().split(' ');
        return `${f[0]} ${f[2]?.includes('master') ? 'M' : 'R'} ${f.slice(8).join(' ')}`;
      }, (err: unknown) => {
        // A user whose ACL refuses CLUSTER NODES (NOPERM) gets single-pass scans, as before
        // this check existed; an unreachable node fails the scan.
        if (err instanceof StoreError && !(err instanceof StoreUnavailableError)) return `${node.options.port} ?`;
        throw err;
      }),
    ),
  );
  return lines.sort().join('\n');
}
