/**
 * `cache.invalidateTags(tags, { shared?, after? })` (T1, T2, T6): every entry carrying one of the
 * tags, of every kind, in every process. The store's tag keys go (tags.ts: O(tags) round trips, a
 * failed delete remembered and retried, F3), this process's near copies and process memos go at
 * once, and other processes' process memos through the namespace's process-cache channel (their
 * near copies follow from Redis's tracking of the tag keys).
 */
import type { CacheCore } from '../core.js';
import { isObject } from '../input.js';
import { namespacePrefix, SHARED_KEY_PREFIX } from '../keys.js';
import { invalidateProcessTags, type ProcessPort } from '../memo/process.js';
import type { Scope } from '../scope.js';
import { validateTags } from './names.js';

export interface InvalidateTagsOptions {
  /** Invalidate the tags of shared entries (K1) instead of the namespace's (T2). */
  shared?: boolean;
  /** Invalidate again when this settles, committed or rolled back (T6, as D3). */
  after?: PromiseLike<unknown>;
}

/** Any number of tags per call; each one as T7 says. */
const MAX_TAGS_PER_CALL = 100_000;

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && v !== undefined && typeof (v as { then?: unknown }).then === 'function';
}

export async function invalidateTags(
  core: CacheCore,
  scope: Scope,
  processes: ProcessPort,
  tags: readonly string[],
  opts: InvalidateTagsOptions | undefined,
): Promise<void> {
  const names = validateTags(tags, 'tags', MAX_TAGS_PER_CALL);
  if (opts !== undefined && !isObject(opts)) throw new TypeError('options must be an object');
  const shared = opts?.shared ?? false;
  if (typeof shared !== 'boolean') throw new TypeError('shared must be a boolean');
  const after = opts?.after;
  if (after !== undefined && !isThenable(after)) throw new TypeError('after must be a promise');
  if (names.length === 0) return;
  // Fixed now: the second invalidation (after) may run outside the caller's context.
  const namespace = scope.namespace;
  const prefix = shared ? SHARED_KEY_PREFIX : namespacePrefix(namespace);
  const run = async () => {
    await Promise.all([
      core.tags.invalidate(prefix, names),
      // Process memos are per namespace; shared tags have none to reach.
      shared ? undefined : invalidateProcessTags(processes, namespace, names),
    ]);
    if (core.events.wantsInvalidate) core.events.emit('invalidate', { tags: names, namespace: shared ? null : namespace, reason: 'tags' });
  };
  await run();
  if (after !== undefined) {
    const again = () => {
      run().catch((err: unknown) => core.guard.report(err instanceof Error ? err : new Error(String(err))));
    };
    after.then(again, again);
  }
}
