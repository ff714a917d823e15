/**
 * Pattern operations (P): getKeys, deleteKeys, clearCache's deletion, and the prefix deletes that
 * clear one memoised function (M3) or one doctype (D).
 *
 * Every one scans with the pattern's glob as a pre-filter, then parses each key and matches it
 * exactly: the glob alone could match across escape sequences (keys.ts). Nothing blocks the store
 * (P2: SCAN, never KEYS). Deletions drop near-cache copies at once, before the scan, and what
 * cannot reach the store is remembered and retried (F3).
 */
import type { CacheCore } from './core.js';
import { isUnavailability, KeyError } from './errors.js';
import { isObject } from './input.js';
import { compilePattern, parseKey, scopePrefix, validateKey, validateScopePart, type KeyScope, type Space } from './keys.js';
import type { Scope, ScopeOptions } from './scope.js';

interface Found {
  physical: string;
  name: string;
  space: Space;
}

/** What one pattern operation selects: `spaces` of the scope, `user` (undefined: any), `pattern`, and `filter`. */
interface Selection {
  scope: KeyScope;
  spaces: string;
  user: string | null | undefined;
  pattern: string;
  filter: (b: Found) => boolean;
}

function validatePattern(pattern: unknown): asserts pattern is string {
  if (typeof pattern !== 'string') throw new KeyError('pattern must be a string');
  if (pattern.length > 0) validateKey(pattern, 'pattern');
}

/** The glob and the exact test of physical keys for a selection. */
function matcher(sel: Selection): { prefix: string; glob: string; parse(physical: string): Found | null } {
  const prefix = scopePrefix(sel.scope);
  const compiled = compilePattern(prefix, sel.spaces, sel.user, sel.pattern);
  return {
    prefix,
    glob: compiled.glob,
    parse(physical) {
      const p = parseKey(prefix, physical);
      if (p === null || !sel.spaces.includes(p.space)) return null;
      if (sel.user !== undefined && p.user !== sel.user) return null;
      if (!compiled.matches(p.name)) return null;
      return { physical, name: p.name, space: p.space };
    },
  };
}

/** Keys of the namespace (and user scope) matching a P1 pattern, as the caller wrote them (K3). */
export async function getKeys(core: CacheCore, view: Scope, pattern: string, opts: ScopeOptions | undefined): Promise<string[]> {
  validatePattern(pattern);
  const scope = view.resolve(opts);
  const out: string[] = [];
  await scanMatching(core, { scope, spaces: 'k', user: scope.user, pattern, filter: () => true }, (batch) => {
    for (const { name } of batch) out.push(name);
  });
  return out;
}

/** Deletes the keys getKeys would list; resolves to how many were deleted. */
export async function deleteKeys(core: CacheCore, view: Scope, pattern: string, opts: ScopeOptions | undefined): Promise<number> {
  validatePattern(pattern);
  const scope = view.resolve(opts);
  const deleted = await invalidateMatching(core, { scope, spaces: 'k', user: scope.user, pattern, filter: () => true });
  if (core.events.wantsInvalidate) core.events.emit('invalidate', { pattern, namespace: scope.namespace, reason: 'pattern' });
  return deleted;
}

/**
 * Deletes every cache entry of the namespace (P3): values, hashes, lists, sets, memoised results,
 * cached documents, user-scoped keys; not shared keys, not locks or fencing counters, and not keys
 * matching `persistentKeys`. With `{ user }`: only that user's entries. The facade adds what a
 * whole-namespace clear also owes the features (documents' epoch, process caches).
 */
export async function clearEntries(core: CacheCore, view: Scope, opts: { user?: string } | undefined): Promise<{ deleted: number; namespace: string; user: string | undefined }> {
  let user: string | undefined;
  if (opts !== undefined) {
    if (!isObject(opts)) throw new TypeError('options must be an object');
    if (opts.user !== undefined) {
      validateScopePart(opts.user, 'user');
      user = opts.user;
    }
  }
  const scope: KeyScope = { namespace: view.namespace, user: user ?? null, shared: false };
  const keep = core.options.persistentKeys.map((p) => compilePattern('', 'k', undefined, p));
  const deleted = await invalidateMatching(core, {
    scope,
    spaces: 'kmdp',
    user,
    pattern: '',
    filter: (b) => b.space !== 'k' || !keep.some((p) => p.matches(b.name)),
  });
  return { deleted, namespace: scope.namespace, user };
}

/**
 * Deletes the entries of one cache space of the namespace (or the shared space) whose names start
 * with `prefix` and pass `filter`, in every user scope: one memoised function (M3), one doctype (D).
 */
export function deleteEntries(
  core: CacheCore,
  namespace: string,
  space: 'm' | 'd',
  prefix: string,
  shared: boolean,
  filter?: (name: string) => boolean,
): Promise<number> {
  const scope: KeyScope = { namespace, user: null, shared };
  // A `*` in the prefix widens the SCAN glob; the exact test narrows it again.
  return invalidateMatching(core, {
    scope,
    spaces: space,
    user: undefined,
    pattern: prefix,
    filter: (b) => b.name.startsWith(prefix) && (filter === undefined || filter(b.name)),
  });
}

/**
 * Deletes what a scan of the selection finds. If the store is unavailable, the deletes that failed
 * and the selection itself are remembered and retried (F3): until then, no read of a matching key
 * is served from the store.
 */
async function invalidateMatching(core: CacheCore, sel: Selection): Promise<number> {
  const m = matcher(sel);
  // N1, F3: kept copies of matching keys go at once, before the scan, even if the store is down.
  core.near?.dropWhere((physical) => {
    const found = m.parse(physical);
    return found !== null && sel.filter(found);
  });
  let deleted = 0;
  let complete: boolean;
  try {
    complete = await scanMatching(core, sel, async (batch) => {
      deleted += await core.invalidations.delete(batch.filter(sel.filter).map((b) => b.physical));
    });
  } catch (err) {
    if (isUnavailability(err)) remember(core, m, sel);
    throw err;
  }
  if (!complete) remember(core, m, sel);
  return deleted;
}

function remember(core: CacheCore, m: ReturnType<typeof matcher>, sel: Selection): void {
  core.invalidations.addPattern({
    glob: m.glob,
    matches: (physical) => {
      const found = m.parse(physical);
      return found !== null && sel.filter(found);
    },
  });
}

/** Scans the selection's keys in batches; false if the store failed and the degrade policy ended the scan early. */
async function scanMatching(core: CacheCore, sel: Selection, onBatch: (batch: Found[]) => void | Promise<void>): Promise<boolean> {
  const m = matcher(sel);
  const { values: store, guard } = core;
  const seen = new Set<string>();
  const iterator = store.scan(m.glob, 1000)[Symbol.asyncIterator]();
  const ended = Symbol('ended');
  try {
    for (;;) {
      const step = await guard.read('SCAN', () => iterator.next(), ended);
      if (step === ended) return false;
      if (step.done === true) break;
      const batch: Found[] = [];
      for (const physical of step.value) {
        if (seen.has(physical)) continue;
        const found = m.parse(physical);
        if (found === null) continue;
        seen.add(physical);
        batch.push(found);
      }
      if (batch.length > 0) await onBatch(batch);
    }
  } finally {
    await iterator.return?.();
  }
  return true;
}
