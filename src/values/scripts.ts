/**
 * Atomic operations of the value paths, each written once in Lua and once for the embedded store
 * (see the Script type in stores/store.ts). Each Lua script is headed by its KEYS, ARGV and reply.
 */
import { releaseLocal, releaseLua } from '../flight/lease.js';
import type { LocalData, Script } from '../stores/store.js';

function setLocal(data: LocalData, key: string, bytes: unknown, ttlArg: unknown): void {
  const ttl = Number(ttlArg);
  data.set(key, bytes as Buffer, ttl > 0 ? ttl : null);
}

/** Lua: SET KEYS[1] to ARGV[1] (PX ARGV[2] when > 0), then read it back (see setAndTrack). */
const SET_AND_READ_BACK = `
if tonumber(ARGV[2]) > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
redis.call('EXISTS', KEYS[1])`;

/**
 * A write the near cache can keep (N1): sets the key and reads it back in one atomic step. A
 * write makes Redis forget that this client reads the key; the read in the same step makes it
 * track the key again, so that the next write of another client is reported and the value may be
 * kept near.
 *   KEYS[1]  the key
 *   ARGV[1]  the encoded value, ARGV[2]  TTL in ms, 0 for none
 *   reply    1
 */
export const setAndTrack: Script = {
  name: 'near-set',
  lua: `${SET_AND_READ_BACK}
return 1`,
  local: (data, keys, args) => {
    setLocal(data, keys[0]!, args[0], args[1]);
    return 1;
  },
};

/**
 * A generator's fill under its lease (S5): writes the value, reads it back (tracking, as
 * setAndTrack), then ends the lease and tells waiters it landed (flight/lease.ts), all in one
 * step: waiters woken by the message, or finding the lease gone, always find the value.
 *   KEYS[1]  the value key, KEYS[2]  its lease key (same slot)
 *   ARGV[1]  the encoded value, ARGV[2]  TTL in ms, 0 for none
 *   ARGV[3]  lease token, ARGV[4]  landed channel, ARGV[5]  message (the value key)
 *   reply    1 if the lease was still ours, else 0 (the value is written either way)
 */
export const fillAndRelease: Script = {
  name: 'fill-release',
  lua: `${SET_AND_READ_BACK}
${releaseLua(2, 3)}
return mine`,
  local: (data, keys, args) => {
    setLocal(data, keys[0]!, args[0], args[1]);
    return releaseLocal(data, keys[1]!, args[2], args[3], args[4]);
  },
};

/**
 * Deletes a key only if it still holds the given bytes: a value that failed to decode (C3), or a
 * tagged entry a reader found invalidated (T5), is removed unless someone has written a new one since.
 *   KEYS[1]  the key
 *   ARGV[1]  the bytes read
 *   reply    1 if deleted, 0 otherwise
 */
export const compareAndDelete: Script = {
  name: 'compare-and-delete',
  lua: `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`,
  local(data, keys, args) {
    const key = keys[0]!;
    const current = data.get(key);
    const expected = args[0];
    if (current !== null && Buffer.isBuffer(expected) && current.equals(expected)) return data.del(key) ? 1 : 0;
    return 0;
  },
};
