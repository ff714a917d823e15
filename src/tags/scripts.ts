/**
 * The Lua (and embedded twins) of tags/. Each script touches one key: tag keys of one entry live in
 * as many slots as the entry has tags, so nothing here needs cross-slot atomicity (Redis Cluster).
 */
import type { Script } from '../stores/store.js';

/**
 * Reads a tag's token, creating it if the tag has none, and makes the tag key outlive the entry
 * about to carry it (T5, T8). The TTL is only raised when less than half of what is wanted is
 * left: every write to the key sends Redis's tracking invalidation to the processes that read it,
 * and those drop the near copies of the tag's entries, so extending on every tagged write would
 * empty their near caches. The key is read last so that Redis tracks it for this connection again.
 *   KEYS[1]  the tag key
 *   ARGV[1]  a fresh token, used if the tag has none
 *   ARGV[2]  the TTL wanted in ms (the entry's TTL plus leaseMs); 0: the entry has no expiry
 *   reply    the token
 */
export const touchTag: Script = {
  name: 'touch-tag',
  lua: `
local want = tonumber(ARGV[2])
if redis.call('EXISTS', KEYS[1]) == 0 then
  if want > 0 then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', want)
  else
    redis.call('SET', KEYS[1], ARGV[1])
  end
else
  local left = redis.call('PTTL', KEYS[1])
  if want == 0 then
    if left >= 0 then redis.call('PERSIST', KEYS[1]) end
  elseif left >= 0 and left * 2 < want then
    redis.call('PEXPIRE', KEYS[1], want)
  end
end
return redis.call('GET', KEYS[1])`,
  local(data, keys, args) {
    const key = keys[0]!;
    const want = Number(args[1]);
    if (!data.exists(key)) data.set(key, Buffer.from(String(args[0]), 'latin1'), want > 0 ? want : null);
    else {
      const left = data.pttl(key);
      if (want === 0) {
        if (left >= 0) data.pexpire(key, null);
      } else if (left >= 0 && left * 2 < want) data.pexpire(key, want);
    }
    return data.get(key);
  },
};

/**
 * The same for a hash whose tag header (in its reserved field) was found invalidated.
 *   KEYS[1]  the hash
 *   ARGV[1]  the reserved field's name
 *   ARGV[2]  the header read
 *   reply    1 if deleted, else 0
 */
export const dropHashIfSame: Script = {
  name: 'drop-invalidated-hash',
  lua: `
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('DEL', KEYS[1])
end
return 0`,
  local(data, keys, args) {
    const cur = data.hget(keys[0]!, String(args[0]));
    const seen = args[1];
    if (cur !== null && Buffer.isBuffer(seen) && cur.equals(seen)) return data.del(keys[0]!) ? 1 : 0;
    return 0;
  },
};

/**
 * One field of a hash and the hash's tag header, in one round trip (hget of a hash that may be tagged).
 *   KEYS[1]  the hash
 *   ARGV[1]  the field
 *   ARGV[2]  the reserved field's name
 *   reply    [field value or nil, header or nil]
 */
export const hgetWithTags: Script = {
  name: 'hget-tagged',
  lua: `return redis.call('HMGET', KEYS[1], ARGV[1], ARGV[2])`,
  local(data, keys, args) {
    return [data.hget(keys[0]!, String(args[0])), data.hget(keys[0]!, String(args[1]))];
  },
};

/**
 * A hash's tag header and its TTL, before a tagged hset merges its tags in.
 *   KEYS[1]  the hash
 *   ARGV[1]  the reserved field's name
 *   reply    [header or nil, PTTL]
 */
export const hashTagState: Script = {
  name: 'hash-tag-state',
  lua: `return { redis.call('HGET', KEYS[1], ARGV[1]), redis.call('PTTL', KEYS[1]) }`,
  local(data, keys, args) {
    return [data.hget(keys[0]!, String(args[0])), data.pttl(keys[0]!)];
  },
};
