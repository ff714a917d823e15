/**
 * What a database change does to the cache: the one place that decides it (CF1).
 *
 * A changed row invalidates its document's tag, `doc:<doctype>/<name>` (T2): the cached document
 * and everything else that carries the tag (memoised results, values, process caches derived from
 * the document), in every process (T1). A TRUNCATE, or a feed that was away past the retention
 * (CF3), invalidates the doctype's tag, `doctype:<doctype>`. A document load in flight across the
 * invalidation is not cached (T4, as D2).
 *
 * One `invalidateTags` call per namespace and page of the log: its round trips do not depend on
 * how many rows the page holds (T3), so a 10,000-row UPDATE costs a few store calls, not 10,000.
 *
 * Idempotent: running the same invalidation twice (two processes running one feed over one Redis,
 * or a replay after a restart) costs a store round trip and at most one extra miss, never a stale
 * read: an invalidated tag stays invalidated whoever invalidates it again, and an entry cached
 * between the two is dropped once more and reloaded.
 */
import type { Cache } from '../cache.js';
import { docTag, doctypeTag } from '../tags/names.js';

/** A document (`name`), or every document of the doctype (`name: null`). */
export interface Target {
  readonly doctype: string;
  readonly name: string | null;
}

/** Invalidates `targets` in `namespace`. Targets the cache cannot name are reported and skipped. */
export type Invalidate = (namespace: string, targets: readonly Target[], report: (err: Error) => void) => Promise<void>;

/** Tags per invalidateTags call (its own bound is higher; this keeps one call's arrays modest). */
const TAGS_PER_CALL = 10_000;

export function tagInvalidator(cache: Cache): Invalidate {
  return async (namespace, targets, report) => {
    let view: Cache;
    try {
      view = cache.forNamespace(namespace);
    } catch (err) {
      // A namespace the cache refuses (empty, too long) holds nothing.
      report(err as Error);
      return;
    }
    const tags = new Set<string>();
    for (const t of targets) {
      try {
        tags.add(t.name === null ? doctypeTag(t.doctype) : docTag(t.doctype, t.name));
      } catch (err) {
        // A name that is no key (empty, over 1 KiB) was never cached.
        report(err as Error);
      }
    }
    const list = [...tags];
    for (let i = 0; i < list.length; i += TAGS_PER_CALL) await view.invalidateTags(list.slice(i, i + TAGS_PER_CALL));
  };
}
