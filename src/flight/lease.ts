/**
 * The cross-process lease of one generator run (S5), as scripts: claim it, release it, and the
 * release as a Lua fragment that a fill can end with (values/scripts.ts), so that writing the
 * value and ending the lease are one atomic step and one round trip.
 *
 * The lease key is the value key's sibling in space `S` (one Cluster slot, K5). A caller that finds
 * the lease held marks it as waited on (one byte appended to the holder's token, TTL kept), so the
 * holder publishes "landed" only when someone listens: an uncontended miss costs no pub/sub.
 */
import type { LocalData, Script } from '../stores/store.js';

/**
 * Takes the lease unless the value is there.
 *   KEYS[1]  the value key, KEYS[2]  the lease key
 *   ARGV[1]  token, ARGV[2]  lease ms, ARGV[3]  '1': answer "present" if the value key exists;
 *            '0': ignore the value (it is there but stale, and we mean to refresh it)
 *   reply    {1}: the value is there; {2}: the lease is ours; {0, pttl}: another holds it (pttl ms left)
 */
export const claimLease: Script = {
  name: 'stampede-claim',
  lua: `
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[1]) == 1 then return {1} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {2} end
local held = redis.call('GET', KEYS[2])
if #held == #ARGV[1] then redis.call('SETRANGE', KEYS[2], #held, 'w') end
return {0, redis.call('PTTL', KEYS[2])}`,
  local(data, keys, args) {
    if (String(args[2]) === '1' && data.exists(keys[0]!)) return [1];
    const lease = keys[1]!;
    const token = String(args[0]);
    const held = data.get(lease);
    if (held === null) {
      data.set(lease, Buffer.from(token), Number(args[1]));
      return [2];
    }
    if (held.length === Buffer.byteLength(token)) data.set(lease, Buffer.concat([held, Buffer.from('w')]), 'keep');
    return [0, data.pttl(lease)];
  },
};

/**
 * Lua that ends the lease in KEYS[lk] held with token ARGV[a] and, if anyone waited on it (or it
 * was no longer ours: we cannot know), publishes ARGV[a+2] on channel ARGV[a+1]. Leaves `mine`
 * (1 if the lease was ours and is deleted) in a local.
 */
export function releaseLua(lk: number, a: number): string {
  return `
local held = redis.call('GET', KEYS[${lk}])
local mine = 0
local waited = 1
if held and string.sub(held, 1, #ARGV[${a}]) == ARGV[${a}] then
  redis.call('DEL', KEYS[${lk}])
  mine = 1
  if #held == #ARGV[${a}] then waited = 0 end
end
if waited == 1 then redis.call('PUBLISH', ARGV[${a + 1}], ARGV[${a + 2}]) end`;
}

/** The local twin of releaseLua. */
export function releaseLocal(data: LocalData, lease: string, tokenArg: unknown, channel: unknown, message: unknown): number {
  const token = Buffer.from(String(tokenArg));
  const held = data.get(lease);
  let mine = 0;
  let waited = true;
  if (held !== null && held.length >= token.length && held.subarray(0, token.length).equals(token)) {
    data.del(lease);
    mine = 1;
    waited = held.length > token.length;
  }
  if (waited) data.publish(String(channel), Buffer.isBuffer(message) ? message : Buffer.from(String(message)));
  return mine;
}

/**
 * Ends a lease without a fill (the generator threw or returned undefined).
 *   KEYS[1]  the lease key
 *   ARGV[1]  token, ARGV[2]  channel, ARGV[3]  message (the value's physical key)
 *   reply    1 if the lease was still ours and is deleted, else 0
 */
export const releaseLease: Script = {
  name: 'stampede-release',
  lua: `${releaseLua(1, 1)}
return mine`,
  local: (data, keys, args) => releaseLocal(data, keys[0]!, args[0], args[1], args[2]),
};

/** The "landed" channel of the namespace (or shared space) a physical key belongs to. */
export function landedChannel(physical: string): string {
  return physical.slice(0, physical.indexOf('{')) + 'landed';
}

/** A lease held by this process: what a fill needs to end it in the same step. */
export interface HeldLease {
  readonly key: string;
  readonly token: string;
  readonly channel: string;
}
