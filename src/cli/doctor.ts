/**
 * `larder-cache doctor` (OP2): the memory-bloat and risk report. One bounded scan of larder's
 * keys on every master (scan.ts) with, per batch, one pipeline of PTTL and MEMORY USAGE (its
 * default SAMPLES 5: an estimate for hashes, lists and sets, exact enough for strings), then a
 * few configuration probes. Read-only: the only state it creates is a short-lived connection
 * that switches CLIENT TRACKING on and off to learn whether the user may.
 *
 * Findings (each with a stable `code`, what it means and what to do: README "Doctor findings"):
 *   NO_TTL_NAMESPACE    most cache entries of a namespace never expire
 *   OVERSIZED_VALUE     one key over `bigBytes` (1 MiB), each named
 *   NOEVICTION_NO_TTL   maxmemory-policy noeviction while keys without a TTL exist
 *   VOLATILE_NO_TTL     a volatile-* policy while keys without a TTL exist (never evicted)
 *   TRACKING_REFUSED    CLIENT TRACKING refused to the configured user (no near cache)
 *   SLOTS_UNCOVERED     cluster slots no master serves
 */
import { Redis } from 'ioredis';
import { namespacePrefix, parseAnyKey } from '../keys.js';
import { scanAll, type ScanIo, type ScanLimits } from './scan.js';
import type { Target } from './target.js';

export const DOCTOR_SCHEMA = 'larder-cache/doctor@1';

export interface DoctorOptions extends ScanLimits {
  /** Only this namespace (`lr:<ns>:*`); all namespaces when undefined. */
  namespace?: string;
  /** Values over this many bytes are findings (1 MiB). */
  bigBytes: number;
  /** A namespace is flagged when more than this share of its cache entries has no TTL (0.5). */
  noTtlShare: number;
  /** How many of the biggest keys each namespace lists (5). */
  top: number;
}

export const DOCTOR_DEFAULTS = { bigBytes: 1024 * 1024, noTtlShare: 0.5, top: 5 } as const;

export type FindingCode =
  | 'NO_TTL_NAMESPACE'
  | 'OVERSIZED_VALUE'
  | 'NOEVICTION_NO_TTL'
  | 'VOLATILE_NO_TTL'
  | 'TRACKING_REFUSED'
  | 'SLOTS_UNCOVERED';

export interface Finding {
  code: FindingCode;
  /** The tenant concerned; null for shared keys; absent for store-wide findings. */
  namespace?: string | null;
  /** The physical key concerned (OVERSIZED_VALUE). */
  key?: string;
  /** The master it was seen on (`host:port`), for per-node findings. */
  node?: string;
  message: string;
  advice: string;
}

export interface NamespaceReport {
  /** null: shared keys (`lr::`). */
  namespace: string | null;
  /** Every physical key of the namespace: cache entries and coordination state. */
  keys: number;
  /** Cache entries (values, memo results, documents, process-cache bookkeeping). */
  entries: number;
  /** Cache entries with no TTL, and their share of `entries` (0 when there are none). */
  noTtl: number;
  noTtlShare: number;
  /** Locks, fencing counters, leases, versions. */
  coordination: number;
  /** Sum of MEMORY USAGE over the namespace's keys. */
  bytes: number;
  biggest: Array<{ key: string; bytes: number; ttlMs: number | null }>;
}

export interface DoctorReport {
  schema: typeof DOCTOR_SCHEMA;
  store: { kind: string; endpoint: string; user: string; masters: string[] };
  scanned: { keys: number; ms: number };
  config: { maxmemoryPolicy: string | null; maxmemory: number | null };
  tracking: { allowed: boolean | null; detail: string | null };
  namespaces: NamespaceReport[];
  findings: Finding[];
}

const CACHE_SPACES = 'kmdp';

/** Where a connection really goes: a Sentinel-resolved one's options still hold the defaults. */
export function addrOf(node: Redis): string {
  const stream = (node as unknown as { stream?: { remoteAddress?: string; remotePort?: number } }).stream;
  if ((node.options.sentinels?.length ?? 0) > 0 && stream?.remoteAddress !== undefined) {
    return `${stream.remoteAddress}:${stream.remotePort ?? 0}`;
  }
  return `${node.options.host ?? '127.0.0.1'}:${node.options.port ?? 6379}`;
}

/** CONFIG GET of one parameter, or null when the user may not (tenant ACLs refuse @admin). */
async function configGet(node: Redis, name: string): Promise<string | null> {
  try {
    const r = (await node.call('CONFIG', 'GET', name)) as string[];
    return r[1] ?? null;
  } catch {
    return null;
  }
}

/**
 * Whether the configured user may switch CLIENT TRACKING on, and subscribe to the invalidation
 * channel, as the near cache does (N1–N3): on a fresh connection, tracking redirected to itself,
 * then switched off again and the connection closed.
 */
async function probeTracking(node: Redis): Promise<{ allowed: boolean; detail: string | null }> {
  const probe = node.duplicate({ lazyConnect: true, enableReadyCheck: false, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  try {
    await probe.connect();
    const id = await probe.client('ID');
    await probe.call('CLIENT', 'TRACKING', 'ON', 'REDIRECT', String(id), 'NOLOOP');
    await probe.call('CLIENT', 'TRACKING', 'OFF');
    await probe.subscribe('__redis__:invalidate');
    await probe.unsubscribe('__redis__:invalidate');
    return { allowed: true, detail: null };
  } catch (err) {
    const msg = err instanceof Error ? err.message.split('\n')[0]! : String(err);
    return { allowed: false, detail: msg };
  } finally {
    probe.disconnect();
  }
}

/** Slots a CLUSTER SLOTS reply leaves to no master, as inclusive ranges. */
export function uncoveredRanges(slots: ReadonlyArray<readonly [number, number, ...unknown[]]>): Array<[number, number]> {
  const covered = new Uint8Array(16384);
  for (const [from, to] of slots) covered.fill(1, from, to + 1);
  const gaps: Array<[number, number]> = [];
  for (let i = 0; i < 16384; i++) {
    if (covered[i] === 1) continue;
    let j = i;
    while (j + 1 < 16384 && covered[j + 1] === 0) j++;
    gaps.push([i, j]);
    i = j;
  }
  return gaps;
}

/** Slots no master serves, as one master of the cluster sees them (CLUSTER SLOTS). */
async function uncoveredSlots(target: Target, masters: Redis[]): Promise<Array<[number, number]>> {
  if (target.kind !== 'cluster') return [];
  try {
    return uncoveredRanges((await masters[0]!.call('CLUSTER', 'SLOTS')) as Array<[number, number]>);
  } catch {
    return [];
  }
}

function nsLabel(ns: string | null): string {
  return ns === null ? 'shared keys' : `namespace ${JSON.stringify(ns)}`;
}

export async function runDoctor(target: Target, opts: DoctorOptions, io: ScanIo): Promise<DoctorReport> {
  const started = Date.now();
  const masters = await target.masters();
  const byNs = new Map<string | null, NamespaceReport>();
  const findings: Finding[] = [];
  // keys.ts escapes glob metacharacters out of a namespace, so its prefix is a literal MATCH.
  const match = opts.namespace === undefined ? 'lr:*' : `${namespacePrefix(opts.namespace)}*`;

  const scanned = await scanAll(masters, match, opts, io, 'doctor', async (keys, node) => {
    const pipe = node.pipeline();
    for (const k of keys) {
      pipe.pttl(k);
      pipe.call('MEMORY', 'USAGE', k);
    }
    const replies = (await pipe.exec()) ?? [];
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const parsed = parseAnyKey(key);
      if (parsed === null) continue;
      const pttl = replies[2 * i]?.[1];
      const usage = replies[2 * i + 1]?.[1];
      if (typeof pttl !== 'number' || pttl === -2) continue; // gone since the SCAN
      const bytes = typeof usage === 'number' ? usage : 0;
      let r = byNs.get(parsed.namespace);
      if (r === undefined) {
        r = { namespace: parsed.namespace, keys: 0, entries: 0, noTtl: 0, noTtlShare: 0, coordination: 0, bytes: 0, biggest: [] };
        byNs.set(parsed.namespace, r);
      }
      r.keys++;
      r.bytes += bytes;
      const ttlMs = pttl < 0 ? null : pttl;
      if (CACHE_SPACES.includes(parsed.space)) {
        r.entries++;
        if (ttlMs === null) r.noTtl++;
      } else {
        r.coordination++;
      }
      keepBiggest(r.biggest, { key, bytes, ttlMs }, opts.top);
      if (bytes > opts.bigBytes) {
        findings.push({
          code: 'OVERSIZED_VALUE',
          namespace: parsed.namespace,
          key,
          node: addrOf(node),
          message: `${key} takes ${formatBytes(bytes)} (over ${formatBytes(opts.bigBytes)})`,
          advice: 'Store smaller pieces (a hash of fields, or one key per item), or keep the value out of the cache; big values stall every client reading them.',
        });
      }
    }
  });

  const namespaces = [...byNs.values()].sort((a, b) => b.bytes - a.bytes);
  let noTtlTotal = 0;
  for (const r of namespaces) {
    r.noTtlShare = r.entries === 0 ? 0 : r.noTtl / r.entries;
    noTtlTotal += r.noTtl;
    if (r.entries > 0 && r.noTtlShare > opts.noTtlShare) {
      findings.push({
        code: 'NO_TTL_NAMESPACE',
        namespace: r.namespace,
        message: `${nsLabel(r.namespace)}: ${r.noTtl} of ${r.entries} cache entries (${Math.round(r.noTtlShare * 100)}%) have no TTL`,
        advice: 'Set defaultTtlSec on the cache (or expiresInSec/ttlSec on the writes) so that entries nobody reads again leave by themselves.',
      });
    }
  }

  // Configuration, per master (they should agree; a finding names the node that differs).
  let policy: string | null = null;
  let maxmemory: number | null = null;
  for (const node of masters) {
    const p = await configGet(node, 'maxmemory-policy');
    const mm = await configGet(node, 'maxmemory');
    policy ??= p;
    if (mm !== null) maxmemory ??= Number(mm);
    if (p !== null && noTtlTotal > 0) {
      if (p === 'noeviction') {
        findings.push({
          code: 'NOEVICTION_NO_TTL',
          node: addrOf(node),
          message: `maxmemory-policy is noeviction and ${noTtlTotal} cache entries have no TTL: once memory is full, every write fails`,
          advice: 'Use allkeys-lru (or allkeys-lfu) on a Redis that only caches, or give every entry a TTL.',
        });
      } else if (p.startsWith('volatile-')) {
        findings.push({
          code: 'VOLATILE_NO_TTL',
          node: addrOf(node),
          message: `maxmemory-policy is ${p} and ${noTtlTotal} cache entries have no TTL: those are never evicted`,
          advice: 'Give every cache entry a TTL (defaultTtlSec), or use an allkeys-* policy.',
        });
      }
    }
  }

  // CLIENT TRACKING for the configured user, on every master (ACLs are per node on a cluster).
  let tracking: { allowed: boolean | null; detail: string | null } = { allowed: null, detail: null };
  for (const node of masters) {
    const t = await probeTracking(node);
    if (tracking.allowed !== false) tracking = t;
    if (!t.allowed) {
      findings.push({
        code: 'TRACKING_REFUSED',
        node: addrOf(node),
        message: `user ${JSON.stringify(target.user)} may not use CLIENT TRACKING: ${t.detail ?? 'refused'}`,
        advice: 'A near cache (nearCache option) stays bypassed for this user. Grant +client|tracking +client|id and &__redis__:invalidate (see `larder-cache acl`).',
      });
    }
  }

  for (const [from, to] of await uncoveredSlots(target, masters)) {
    findings.push({
      code: 'SLOTS_UNCOVERED',
      message: `cluster slots ${from === to ? from : `${from}-${to}`} are served by no master`,
      advice: 'Assign the slots (redis-cli --cluster fix) or bring the failed master back: calls on those keys fail.',
    });
  }

  return {
    schema: DOCTOR_SCHEMA,
    store: { kind: target.kind, endpoint: target.endpoint, user: target.user, masters: masters.map(addrOf) },
    scanned: { keys: scanned, ms: Date.now() - started },
    config: { maxmemoryPolicy: policy, maxmemory },
    tracking,
    namespaces,
    findings,
  };
}

function keepBiggest(list: NamespaceReport['biggest'], item: NamespaceReport['biggest'][number], top: number): void {
  if (list.length < top) {
    list.push(item);
  } else if (item.bytes > list[list.length - 1]!.bytes) {
    list[list.length - 1] = item;
  } else {
    return;
  }
  list.sort((a, b) => b.bytes - a.bytes);
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}
