/**
 * What a database change does to the cache: the one place that decides it (CF1).
 *
 * A changed row invalidates its cached document; a TRUNCATE, or a feed that was away past the
 * retention (CF3), invalidates the doctype. This goes through `clearDocumentCache` (D2: a load in
 * flight in any process is not cached afterwards). When tags (T2) land, a row's change becomes
 * `invalidateTags([docTag(doctype, name)])` and a doctype's `invalidateTags([doctypeTag(doctype)])`,
 * so everything derived from the document goes with it; only this file changes.
 *
 * Idempotent: running the same invalidation twice (two processes running one feed over one Redis,
 * or a replay after a restart) costs a store round trip and at most one extra miss, never a stale
 * read: the version bump and delete of D2 are the same whoever runs them, and a doc cached between
 * the two is dropped once more and reloaded.
 */
import type { Cache } from '../cache.js';
import type { DocumentCache } from '../documents.js';

export type Invalidate = (namespace: string, doctype: string, name: string | null) => Promise<void>;

/** Views kept per namespace before the map is emptied (each is a small object; tenants are many). */
const MAX_VIEWS = 10_000;

export function documentInvalidator(cache: Cache): Invalidate {
  const views = new Map<string, DocumentCache<object>>();
  const view = (namespace: string): DocumentCache<object> => {
    let docs = views.get(namespace);
    if (docs === undefined) {
      if (views.size >= MAX_VIEWS) views.clear();
      // clearDocumentCache never loads: the loader is only there because documents() needs one.
      docs = cache.forNamespace(namespace).documents({ load: () => undefined });
      views.set(namespace, docs);
    }
    return docs;
  };
  return (namespace, doctype, name) => view(namespace).clearDocumentCache(doctype, name ?? undefined);
}
