/**
 * `larder-cache keys PATTERN` (OP1): the logical keys of a namespace matching a P1 pattern
 * (`*` wildcard, everything else literal, a trailing `*` implied), as `getKeys` sees them,
 * found by the same bounded scan as every command (scan.ts). Read-only.
 */
import { compilePattern, namespacePrefix, parseKey, type ParsedKey } from '../keys.js';
import { scanAll, type ScanIo, type ScanLimits } from './scan.js';
import type { Target } from './target.js';

export const KEYS_SCHEMA = 'larder-cache/keys@1';

export interface KeyRow {
  /** The key as the caller wrote it (K3). */
  key: string;
  /** The user scope, or null (K2). */
  user: string | null;
  /** ms left; null: no expiry. */
  ttlMs: number | null;
  /** The physical Redis key. */
  physical: string;
}

export interface KeysReport {
  schema: typeof KEYS_SCHEMA;
  namespace: string | null;
  pattern: string;
  keys: KeyRow[];
  /** True when `limit` stopped the listing early. */
  truncated: boolean;
}

export interface KeysOptions extends ScanLimits {
  /** null: shared keys. */
  namespace: string | null;
  /** undefined: any user scope; null: unscoped keys only. */
  user: string | null | undefined;
  /** Stop after this many keys. */
  limit: number;
}

export async function runKeys(target: Target, pattern: string, opts: KeysOptions, io: ScanIo): Promise<KeysReport> {
  const prefix = opts.namespace === null ? 'lr::' : namespacePrefix(opts.namespace);
  const compiled = compilePattern(prefix, 'k', opts.user, pattern);
  const masters = await target.masters();
  const rows: KeyRow[] = [];
  let truncated = false;
  await scanAll(masters, compiled.glob, opts, io, 'keys', async (keys, node) => {
    const found: Array<{ physical: string; parsed: ParsedKey }> = [];
    for (const physical of keys) {
      const parsed = parseKey(prefix, physical);
      if (parsed?.space !== 'k' || (opts.user !== undefined && parsed.user !== opts.user) || !compiled.matches(parsed.name)) continue;
      found.push({ physical, parsed });
    }
    if (found.length === 0 || truncated) return;
    const pipe = node.pipeline();
    for (const f of found) pipe.pttl(f.physical);
    const ttls = (await pipe.exec()) ?? [];
    found.forEach((f, i) => {
      const pttl = ttls[i]?.[1];
      if (typeof pttl !== 'number' || pttl === -2 || rows.length >= opts.limit) {
        if (rows.length >= opts.limit) truncated = true;
        return;
      }
      rows.push({ key: f.parsed.name, user: f.parsed.user, ttlMs: pttl < 0 ? null : pttl, physical: f.physical });
    });
  });
  rows.sort((a, b) => a.key.localeCompare(b.key) || (a.user ?? '').localeCompare(b.user ?? ''));
  return { schema: KEYS_SCHEMA, namespace: opts.namespace, pattern, keys: rows, truncated };
}
