/**
 * `larder-cache locks` (OP1): the locks held now, found by a bounded scan of lock keys (space
 * `L` in keys.ts), with the lease left and the fencing counter beside each. Read-only.
 *
 * Lock key layouts (locks/scripts.ts): a mutex is the lock key itself (a token string); a
 * read-write lock adds `%w` (writer), `%r` (readers, a sorted set) and `%i` (waiting writers);
 * a semaphore is `%s` (holders, a sorted set). Fencing counters are the `F` sibling.
 */
import type { Redis } from 'ioredis';
import { namespacePrefix, parseAnyKey, siblingKey } from '../keys.js';
import { scanAll, type ScanIo, type ScanLimits } from './scan.js';
import type { Target } from './target.js';

export const LOCKS_SCHEMA = 'larder-cache/locks@1';

export type LockKind = 'mutex' | 'write' | 'read' | 'intents' | 'semaphore';

export interface LockRow {
  /** null: a shared lock. */
  namespace: string | null;
  /** The lock's name as the caller wrote it. */
  name: string;
  user: string | null;
  kind: LockKind;
  /** Holders now: 1 for a mutex or writer, members of a reader, intent or semaphore set. */
  holders: number;
  /** Lease left on the key, ms; null: no expiry. */
  ttlMs: number | null;
  /** The last fencing token granted for this lock (null: none yet, or a reader set). */
  fencing: number | null;
  key: string;
}

export interface LocksReport {
  schema: typeof LOCKS_SCHEMA;
  locks: LockRow[];
}

const SUFFIX: Record<string, LockKind> = { '%w': 'write', '%r': 'read', '%i': 'intents', '%s': 'semaphore' };

function kindOf(physical: string): { kind: LockKind; suffix: string } {
  const tail = physical.slice(-2);
  const kind = SUFFIX[tail];
  return kind === undefined ? { kind: 'mutex', suffix: '' } : { kind, suffix: tail };
}

async function describe(node: Redis, keys: string[]): Promise<LockRow[]> {
  const pipe = node.pipeline();
  const shapes = keys.map((k) => ({ key: k, ...kindOf(k) }));
  for (const s of shapes) {
    pipe.pttl(s.key);
    if (s.kind === 'mutex' || s.kind === 'write') pipe.exists(s.key);
    else pipe.zcard(s.key);
    // The fencing counter is the F sibling of the key that grants exclusively (lock, %w, %s).
    pipe.get(siblingKey(s.key, 'F'));
  }
  const r = (await pipe.exec()) ?? [];
  const rows: LockRow[] = [];
  shapes.forEach((s, i) => {
    const parsed = parseAnyKey(s.key);
    const pttl = r[3 * i]?.[1];
    const holders = r[3 * i + 1]?.[1];
    const fence = r[3 * i + 2]?.[1];
    if (parsed === null || typeof pttl !== 'number' || pttl === -2) return;
    rows.push({
      namespace: parsed.namespace,
      name: s.suffix === '' ? parsed.name : parsed.name.slice(0, -2),
      user: parsed.user,
      kind: s.kind,
      holders: typeof holders === 'number' ? holders : 0,
      ttlMs: pttl < 0 ? null : pttl,
      fencing: typeof fence === 'string' && s.kind !== 'read' && s.kind !== 'intents' ? Number(fence) : null,
      key: s.key,
    });
  });
  return rows;
}

export async function runLocks(target: Target, namespace: string | undefined, limits: ScanLimits, io: ScanIo): Promise<LocksReport> {
  const masters = await target.masters();
  const match = namespace === undefined ? 'lr:*L*' : `${namespacePrefix(namespace)}{*}L*`;
  const locks: LockRow[] = [];
  await scanAll(masters, match, limits, io, 'locks', async (keys, node) => {
    // The glob is a pre-filter: keep keys whose space letter (after the tag) is L.
    const mine = keys.filter((k) => parseAnyKey(k)?.space === 'L');
    if (mine.length > 0) locks.push(...(await describe(node, mine)));
  });
  locks.sort((a, b) => (a.namespace ?? '').localeCompare(b.namespace ?? '') || a.name.localeCompare(b.name));
  return { schema: LOCKS_SCHEMA, locks };
}
