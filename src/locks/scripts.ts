/**
 * The atomic steps of every lock, each written twice (see Script in ../stores/store.ts): in Lua for
 * Redis and as a synchronous twin over the embedded store's LocalData. Each Lua script is headed by
 * its KEYS, ARGV and reply; the twin below it must answer with exactly the same shapes.
 *
 * Layout (all keys of one lock share its hash tag, so every script touches one slot, K5):
 *   mutex            <lock>              string: the holder's random token, PX = the lease
 *                    <F sibling>         integer: the fencing counter, never expires
 *   read-write lock  <lock>%w            string: the writer's token, PX = the lease
 *                    <lock>%r            sorted set: reader token -> lease end (store clock, ms)
 *                    <lock>%i            sorted set: waiting writer token -> intent end
 *                    <F sibling of %w>   the writers' fencing counter
 *   semaphore        <lock>%s            sorted set: holder token -> lease end
 *                    <F sibling of %s>   fencing counter of permit grants
 *
 * Sorted-set members are alive while their score is greater than the store's clock; every script
 * that reads such a set first removes the dead ones, so an expired holder never counts (LK8). The
 * set's own key TTL is kept at least as long as its longest lease, so abandoned state disappears.
 *
 * Waking waiters (LK5): the release scripts PUBLISH on the lock's channel themselves, in the same
 * atomic step, so a release costs one round trip and a waiter hears of it as soon as possible.
 */
import type { LocalData, Script, ScriptArg, ScriptReply } from '../stores/store.js';

// The store's clock in ms. Redis 7 replicates scripts by their effects, so TIME is allowed here.
const LUA_NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

const str = (a: ScriptArg | undefined): string => (Buffer.isBuffer(a) ? a.toString('latin1') : String(a));
const num = (a: ScriptArg | undefined): number => Number(str(a));
const holds = (data: LocalData, key: string, token: string): boolean => data.get(key)?.toString('latin1') === token;
const EMPTY = Buffer.alloc(0);

/** Removes the dead members of a lease set; the twin of `ZREMRANGEBYSCORE key -inf now`. */
function prune(data: LocalData, key: string, now: number): void {
  data.zremRangeByScore(key, -Infinity, now);
}

/** Keeps a lease set's key alive at least `ttl` ms more. */
function keepAlive(data: LocalData, key: string, ttl: number): void {
  const left = data.pttl(key);
  if (left !== -2 && left < ttl) data.pexpire(key, ttl);
}

/**
 * Mutex acquire: the lease and the fencing token in one step (LK2, LK3).
 *   KEYS[1]  the lock          KEYS[2]  its fencing counter
 *   ARGV[1]  the new token     ARGV[2]  lease in ms
 *   reply    {1, fencing token} if acquired; {0, ms left on the holder's lease (-1: none)} if not
 */
export const lockAcquire: Script = {
  name: 'lock-acquire',
  lua: `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1, redis.call('INCR', KEYS[2])}
end
return {0, redis.call('PTTL', KEYS[1])}`,
  local(data, keys, args): ScriptReply {
    const [lock, fence] = keys as [string, string];
    if (data.exists(lock)) return [0, data.pttl(lock)];
    data.set(lock, Buffer.from(str(args[0]), 'latin1'), num(args[1]));
    return [1, data.incrBy(fence, 1)];
  },
};

/**
 * Compare-token-and-delete for a lock held as a string (mutex, write side of a read-write lock).
 *   KEYS[1]  the lock
 *   ARGV[1]  the holder's token    ARGV[2]  the channel waiters listen on
 *   reply    1 if released (and waiters told), 0 if the token no longer holds the lock
 */
export const lockRelease: Script = {
  name: 'lock-release',
  lua: `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], '')
  return 1
end
return 0`,
  local(data, keys, args) {
    const lock = keys[0]!;
    if (!holds(data, lock, str(args[0]))) return 0;
    data.del(lock);
    data.publish(str(args[1]), EMPTY);
    return 1;
  },
};

/**
 * Compare-token-and-renew for a lock held as a string.
 *   KEYS[1]  the lock
 *   ARGV[1]  the holder's token    ARGV[2]  the new lease in ms, from now
 *   reply    1 if renewed, 0 if the token no longer holds the lock
 */
export const lockExtend: Script = {
  name: 'lock-extend',
  lua: `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`,
  local(data, keys, args) {
    const lock = keys[0]!;
    if (!holds(data, lock, str(args[0]))) return 0;
    return data.pexpire(lock, num(args[1])) ? 1 : 0;
  },
};

/**
 * Read side of a read-write lock. Refused while a writer holds the lock or waits for it (writer
 * preference, LK8).
 *   KEYS[1]  readers set   KEYS[2]  writer   KEYS[3]  writer intents   KEYS[4]  writers' fencing counter
 *   ARGV[1]  the new token         ARGV[2]  lease in ms
 *   reply    {1, the last writer's fencing token (0: none yet)} if acquired;
 *            {0, ms left on the writer's lease, or -1} if not
 */
export const readAcquire: Script = {
  name: 'rw-read-acquire',
  lua: `
${LUA_NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local w = redis.call('PTTL', KEYS[2])
if w ~= -2 then return {0, w} end
if redis.call('ZCARD', KEYS[3]) > 0 then return {0, -1} end
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return {1, tonumber(redis.call('GET', KEYS[4]) or '0')}`,
  local(data, keys, args): ScriptReply {
    const [readers, writer, intents, fence] = keys as [string, string, string, string];
    const now = data.now();
    prune(data, readers, now);
    prune(data, intents, now);
    const w = data.pttl(writer);
    if (w !== -2) return [0, w];
    if (data.zcard(intents) > 0) return [0, -1];
    const ttl = num(args[1]);
    data.zadd(readers, now + ttl, str(args[0]));
    keepAlive(data, readers, ttl);
    const last = data.get(fence);
    return [1, last === null ? 0 : Number(last.toString('latin1'))];
  },
};

/**
 * Write side of a read-write lock: granted when no writer holds it and no reader's lease is alive.
 * A writer that is going to wait leaves an intent that blocks new readers until it is granted,
 * withdrawn, or (if the writer vanished) has run out.
 *   KEYS[1]  readers set   KEYS[2]  writer   KEYS[3]  writer intents   KEYS[4]  writers' fencing counter
 *   ARGV[1]  the new token   ARGV[2]  lease in ms   ARGV[3]  intent lifetime in ms (0: leave none)
 *   reply    {1, fencing token} if acquired; {0, ms left on the writer's lease, or -1} if not
 */
export const writeAcquire: Script = {
  name: 'rw-write-acquire',
  lua: `
${LUA_NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local w = redis.call('PTTL', KEYS[2])
if w == -2 and redis.call('ZCARD', KEYS[1]) == 0 then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
  redis.call('ZREM', KEYS[3], ARGV[1])
  return {1, redis.call('INCR', KEYS[4])}
end
local intent = tonumber(ARGV[3])
if intent > 0 then
  redis.call('ZADD', KEYS[3], now + intent, ARGV[1])
  if redis.call('PTTL', KEYS[3]) < intent then redis.call('PEXPIRE', KEYS[3], intent) end
end
return {0, w == -2 and -1 or w}`,
  local(data, keys, args): ScriptReply {
    const [readers, writer, intents, fence] = keys as [string, string, string, string];
    const now = data.now();
    prune(data, readers, now);
    prune(data, intents, now);
    const token = str(args[0]);
    const w = data.pttl(writer);
    if (w === -2 && data.zcard(readers) === 0) {
      data.set(writer, Buffer.from(token, 'latin1'), num(args[1]));
      data.zrem(intents, token);
      return [1, data.incrBy(fence, 1)];
    }
    const intent = num(args[2]);
    if (intent > 0) {
      data.zadd(intents, now + intent, token);
      keepAlive(data, intents, intent);
    }
    return [0, w === -2 ? -1 : w];
  },
};

/**
 * A waiting writer gives up: its intent goes, and blocked readers are told.
 *   KEYS[1]  writer intents
 *   ARGV[1]  the writer's token    ARGV[2]  the channel
 *   reply    1 if an intent was removed, 0 otherwise
 */
export const withdrawIntent: Script = {
  name: 'rw-withdraw-intent',
  lua: `
local n = redis.call('ZREM', KEYS[1], ARGV[1])
if n > 0 then redis.call('PUBLISH', ARGV[2], '') end
return n`,
  local(data, keys, args) {
    const n = data.zrem(keys[0]!, str(args[0]));
    if (n > 0) data.publish(str(args[1]), EMPTY);
    return n;
  },
};

/**
 * Semaphore acquire: a permit if fewer than `permits` leases are alive (LK8).
 *   KEYS[1]  holders set   KEYS[2]  fencing counter
 *   ARGV[1]  the new token   ARGV[2]  lease in ms   ARGV[3]  permits
 *   reply    {1, fencing token} if acquired; {0, ms until the first lease runs out} if not
 */
export const semaphoreAcquire: Script = {
  name: 'semaphore-acquire',
  lua: `
${LUA_NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local ttl = tonumber(ARGV[2])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
  if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
  return {1, redis.call('INCR', KEYS[2])}
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, tonumber(first[2]) - now}`,
  local(data, keys, args): ScriptReply {
    const [holders, fence] = keys as [string, string];
    const now = data.now();
    prune(data, holders, now);
    const ttl = num(args[1]);
    if (data.zcard(holders) < num(args[2])) {
      data.zadd(holders, now + ttl, str(args[0]));
      keepAlive(data, holders, ttl);
      return [1, data.incrBy(fence, 1)];
    }
    // The set is full (permits >= 1 members), so its first member exists and has a score.
    const first = data.zrange(holders, 0, 0)[0]!;
    return [0, (data.zscore(holders, first) ?? now) - now];
  },
};

/**
 * Releases a lease held in a lease set (a read lock or a semaphore permit). An expired lease is
 * removed without counting as released: it was no longer held, and its place may be taken (LK8).
 *   KEYS[1]  the lease set
 *   ARGV[1]  the holder's token   ARGV[2]  the channel   ARGV[3]  '1': tell waiters only when the set is empty
 *   reply    1 if released, 0 if the lease was no longer held
 */
export const leaseRelease: Script = {
  name: 'lease-release',
  lua: `
${LUA_NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
if ARGV[3] ~= '1' or redis.call('ZCARD', KEYS[1]) == 0 then redis.call('PUBLISH', ARGV[2], '') end
return 1`,
  local(data, keys, args) {
    const set = keys[0]!;
    prune(data, set, data.now());
    if (data.zrem(set, str(args[0])) === 0) return 0;
    if (str(args[2]) !== '1' || data.zcard(set) === 0) data.publish(str(args[1]), EMPTY);
    return 1;
  },
};

/**
 * Renews a lease held in a lease set.
 *   KEYS[1]  the lease set
 *   ARGV[1]  the holder's token   ARGV[2]  the new lease in ms, from now
 *   reply    1 if renewed, 0 if the lease was no longer held
 */
export const leaseExtend: Script = {
  name: 'lease-extend',
  lua: `
${LUA_NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1`,
  local(data, keys, args) {
    const set = keys[0]!;
    const now = data.now();
    prune(data, set, now);
    const token = str(args[0]);
    if (data.zscore(set, token) === null) return 0;
    const ttl = num(args[1]);
    data.zadd(set, now + ttl, token);
    keepAlive(data, set, ttl);
    return 1;
  },
};

/**
 * Redlock, second round: while this node still holds the lock for us, raise its fencing counter to
 * at least the token the quorum agreed on, so the next quorum (which shares a node with this one)
 * can only hand out larger tokens (see redlock.ts).
 *   KEYS[1]  the lock   KEYS[2]  its fencing counter
 *   ARGV[1]  our token  ARGV[2]  the agreed fencing token
 *   reply    1 if this node holds the lock for us and its counter is now >= the agreed token, else 0
 */
export const fenceRaise: Script = {
  name: 'redlock-fence-raise',
  lua: `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local c = tonumber(redis.call('GET', KEYS[2]) or '0')
if c < tonumber(ARGV[2]) then redis.call('SET', KEYS[2], ARGV[2]) end
return 1`,
  local(data, keys, args) {
    const [lock, fence] = keys as [string, string];
    if (!holds(data, lock, str(args[0]))) return 0;
    const cur = data.get(fence);
    const agreed = num(args[1]);
    if ((cur === null ? 0 : Number(cur.toString('latin1'))) < agreed) data.set(fence, Buffer.from(String(agreed)), null);
    return 1;
  },
};
