/**
 * A write the near cache keeps (N1): the old copy dropped, a ticket taken, then one script that
 * sets the key and reads it back (so Redis tracks it again) and, for a generator's fill, ends its
 * lease (values/scripts.ts). The value is kept near when the reply comes, unless an invalidation
 * of the key arrived meanwhile (the ticket, N2). setValue and generator fills both write this way.
 */
import type { CacheCore } from '../core.js';
import type { HeldLease } from '../flight/lease.js';
import type { NearCache } from '../near/near-cache.js';
import type { TtlMs } from '../stores/store.js';
import { fillAndRelease, setAndTrack } from './scripts.js';

/**
 * Writes `bytes` (and ends `lease`, if any). Resolves to whether the store took the write, and the
 * value callers should get: the near cache's kept copy, else `decoded()`. `kept`: the bytes the near
 * cache keeps when they differ from what is stored (a tagged entry's, without its tag header).
 */
export async function trackedWrite(
  core: CacheCore,
  near: NearCache | null,
  pk: string,
  bytes: Buffer,
  ttlMs: TtlMs,
  lease: HeldLease | null,
  decoded: () => unknown,
  kept: Buffer = bytes,
): Promise<{ value: unknown; written: boolean }> {
  near?.drop(pk);
  const ticket = near?.begin(pk) ?? null;
  let reply: unknown;
  try {
    // To the store itself: the value view's own drop would spoil the ticket just taken.
    reply = await core.guard.write('EVALSHA', () =>
      lease === null
        ? core.store.eval(setAndTrack, [pk], [bytes, ttlMs ?? 0])
        : core.store.eval(fillAndRelease, [pk, lease.key], [bytes, ttlMs ?? 0, lease.token, lease.channel, pk]),
    );
  } catch (err) {
    if (ticket !== null) near?.abandon(ticket);
    throw err;
  }
  // A degraded write (the store unavailable) resolves to undefined: nothing was written.
  const written = reply !== undefined;
  if (near === null || ticket === null) return { value: decoded(), written };
  if (!written) {
    near.abandon(ticket);
    return { value: decoded(), written };
  }
  return { value: near.settle(ticket, decoded(), kept), written };
}
