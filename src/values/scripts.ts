/**
 * Atomic operations of the core cache, each written once in Lua and once for the embedded store
 * (see the Script type in stores/store.ts). Each Lua script is headed by its KEYS, ARGV and reply.
 */
import type { Script } from '../stores/store.js';

/**
 * Deletes a key only if it still holds the given bytes (C3: a value that failed to decode is
 * removed, unless someone has written a new one since).
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
