/**
 * `larder-cache inspect KEY` (OP1): everything about one logical key: its physical key and
 * cluster slot, Redis type, TTL, encoded size, the decoded value (through the built-in codec,
 * safe on untrusted bytes: C3), the S6/S7 metadata envelope when there is one, and whether a
 * generator is running for it somewhere (its stampede lease, S5). Read-only.
 */
import type { Redis } from 'ioredis';
import { decodeValue, isIntegerCounter } from '../codec/index.js';
import { readEntry } from '../codec/entry.js';
import { physicalKey, siblingKey, validateKey, type Space } from '../keys.js';
import { keySlot } from '../stores/redis/cluster.js';
import type { Target } from './target.js';

export const INSPECT_SCHEMA = 'larder-cache/inspect@1';

export interface InspectReport {
  schema: typeof INSPECT_SCHEMA;
  key: string;
  namespace: string | null;
  user: string | null;
  physical: string;
  slot: number;
  /** Redis TYPE: string, hash, list, set, zset, or none when the key does not exist. */
  type: string;
  exists: boolean;
  ttlMs: number | null;
  /** Bytes of the stored value (STRLEN for a string) and MEMORY USAGE of the key. */
  encodedBytes: number | null;
  memoryBytes: number | null;
  /** The decoded value (JSON-safe rendering: see `render`), or the decode error. */
  value: unknown;
  decodeError: string | null;
  /** S6/S7 metadata envelope: logical expiry (ms since epoch) and last compute time. */
  envelope: { logicalExpiry: number; computeMs: number } | null;
  /** The stampede lease (S5): a generator for this key runs in some process while it exists. */
  lease: { held: boolean; ttlMs: number | null };
  /** Tag bookkeeping of the entry; null where this version records none. */
  tags: string[] | null;
}

/** A value rendered for JSON and tables: bigint, Map, Set, Date, bytes, -0, NaN and ±Infinity spelled out. */
export function render(v: unknown, depth = 0): unknown {
  if (depth > 20) return '…';
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'number') return Number.isFinite(v) ? (Object.is(v, -0) ? '-0' : v) : String(v);
  if (v === undefined) return '(undefined)';
  if (v instanceof Date) return { $date: v.toISOString() };
  if (v instanceof Uint8Array) return { $bytes: Buffer.from(v).toString('base64') };
  if (v instanceof Map) return { $map: [...v].map(([k, x]) => [render(k, depth + 1), render(x, depth + 1)]) };
  if (v instanceof Set) return { $set: [...v].map((x) => render(x, depth + 1)) };
  if (Array.isArray(v)) return v.map((x) => render(x, depth + 1));
  if (typeof v === 'object' && v !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = render(x, depth + 1);
    return out;
  }
  return v;
}

function decode(b: Buffer): unknown {
  if (isIntegerCounter(b)) return Number(b.toString('latin1'));
  return decodeValue(b);
}

export interface InspectOptions {
  namespace: string;
  user: string | null;
  shared: boolean;
  /** Which kind of entry (keys.ts Space): `k` values by default. */
  space: Space;
}

/** How many members of a hash, list or set are shown. */
const SHOW = 100;

async function readValue(node: Redis, pk: string, type: string): Promise<{ value: unknown; envelope: InspectReport['envelope'] }> {
  if (type === 'string') {
    const b = await node.getBuffer(pk);
    if (b === null) return { value: null, envelope: null };
    const entry = readEntry(b);
    if (entry !== null) {
      return { value: render(decode(entry.value)), envelope: { logicalExpiry: entry.exp, computeMs: entry.delta } };
    }
    return { value: render(decode(b)), envelope: null };
  }
  if (type === 'hash') {
    const [, flat] = await node.hscanBuffer(pk, '0', 'COUNT', SHOW);
    const out: Record<string, unknown> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]!.toString()] = render(decode(flat[i + 1]!));
    return { value: out, envelope: null };
  }
  if (type === 'list') return { value: (await node.lrangeBuffer(pk, 0, SHOW - 1)).map((b) => render(decode(b))), envelope: null };
  if (type === 'set') {
    const [, members] = await node.sscanBuffer(pk, '0', 'COUNT', SHOW);
    return { value: members.map((b) => render(decode(b))), envelope: null };
  }
  if (type === 'zset') return { value: await node.call('ZRANGE', pk, '0', String(SHOW - 1), 'WITHSCORES'), envelope: null };
  return { value: null, envelope: null };
}

export async function runInspect(target: Target, key: string, opts: InspectOptions): Promise<InspectReport> {
  validateKey(key);
  const pk = physicalKey({ namespace: opts.namespace, user: opts.user, shared: opts.shared }, opts.space, key);
  const masters = await target.masters();
  const slot = keySlot(pk);
  const cluster = await target.cluster();
  // On a cluster, read from the master serving the key's slot.
  let node = masters[0]!;
  if (cluster !== null) {
    const owner = (cluster as unknown as { slots: string[][] }).slots[slot]?.[0];
    node = masters.find((m) => `${m.options.host ?? ''}:${m.options.port ?? 0}` === owner) ?? node;
  }
  const lease = siblingKey(pk, 'S');
  const [type, pttl, leaseTtl] = await Promise.all([node.type(pk), node.pttl(pk), node.pttl(lease)]);
  const exists = type !== 'none';
  let value: unknown = null;
  let envelope: InspectReport['envelope'] = null;
  let decodeError: string | null = null;
  let encodedBytes: number | null = null;
  let memoryBytes: number | null = null;
  if (exists) {
    try {
      ({ value, envelope } = await readValue(node, pk, type));
    } catch (err) {
      decodeError = err instanceof Error ? err.message : String(err);
    }
    if (type === 'string') encodedBytes = await node.strlen(pk);
    try {
      memoryBytes = (await node.call('MEMORY', 'USAGE', pk)) as number;
    } catch {
      memoryBytes = null;
    }
  }
  return {
    schema: INSPECT_SCHEMA,
    key,
    namespace: opts.shared ? null : opts.namespace,
    user: opts.user,
    physical: pk,
    slot,
    type,
    exists,
    ttlMs: pttl < 0 ? null : pttl,
    encodedBytes,
    memoryBytes,
    value,
    decodeError,
    envelope,
    lease: { held: leaseTtl !== -2, ttlMs: leaseTtl < 0 ? null : leaseTtl },
    tags: null,
  };
}
