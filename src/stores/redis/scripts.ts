/**
 * Scripts on Redis: EVALSHA with a fallback to EVAL on NOSCRIPT, the replies folded into the
 * ScriptReply shapes of store.ts, and the store's own internal Lua (no local twin needed).
 */
import { createHash } from 'node:crypto';
import { StoreError } from '../../errors.js';
import type { Script, ScriptArg, ScriptReply } from '../store.js';
import { tryAgain } from './cluster.js';
import type { Connection } from './connection.js';
import { shardedLua } from './pubsub.js';

/** Internal scripts need no local twin: only `name` and `lua` are used here. */
export type LuaScript = Pick<Script, 'name' | 'lua'>;

interface Compiled {
  lua: string;
  sha: string;
}
const plainScripts = new WeakMap<LuaScript, Compiled>();
const clusterScripts = new WeakMap<LuaScript, Compiled>();
/** The text and SHA1 to send; on a cluster, with tagged-channel PUBLISH turned into SPUBLISH (pubsub.ts). */
function compiled(script: LuaScript, cluster: boolean): Compiled {
  const cache = cluster ? clusterScripts : plainScripts;
  let c = cache.get(script);
  if (c === undefined) {
    const lua = cluster ? shardedLua(script.lua) : script.lua;
    c = { lua, sha: createHash('sha1').update(lua).digest('hex') };
    cache.set(script, c);
  }
  return c;
}

/** KEYS[1]: counter. ARGV[1]: increment, ARGV[2]: TTL in ms. Returns the new value; the TTL is set only if this call created the key. */
export const INCR_TTL_IF_NEW: LuaScript = {
  name: 'incr-ttl-if-new',
  lua: `local existed = redis.call('EXISTS', KEYS[1])
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if existed == 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return v`,
};

/** KEYS[1]: hash. ARGV[1]: field, ARGV[2]: value, ARGV[3]: TTL in ms, or '' to remove the TTL. Returns 1. */
export const HSET_TTL: LuaScript = {
  name: 'hset-ttl',
  lua: `redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] == '' then redis.call('PERSIST', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1`,
};

/**
 * KEYS[1]: any key. Removes its TTL; returns 1 if the key exists (with or without a TTL), else 0.
 * (PERSIST alone answers 0 both for a missing key and for a key that had no TTL.)
 */
export const PERSIST_IF_EXISTS: LuaScript = {
  name: 'persist-if-exists',
  lua: `if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('PERSIST', KEYS[1])
return 1`,
};

/**
 * ScriptReply from what ioredis decoded: integers as numbers, bulk and status strings as Buffers,
 * nil as null, arrays recursively. RESP3 shapes are folded back to the RESP2 ones the Script
 * contract names (booleans: true → 1, false → null; big numbers → numbers).
 */
function toScriptReply(r: unknown): ScriptReply {
  if (r === null || r === undefined) return null;
  if (Buffer.isBuffer(r)) return r;
  if (typeof r === 'number') return Math.trunc(r);
  if (typeof r === 'bigint') return Number(r);
  if (typeof r === 'boolean') return r ? 1 : null;
  if (typeof r === 'string') {
    const n = Number(r);
    return /^-?\d+$/.test(r) && Number.isFinite(n) ? n : Buffer.from(r);
  }
  if (Array.isArray(r)) return r.map(toScriptReply);
  if (r instanceof Error) throw r;
  throw new StoreError(`redis: unexpected script reply of type ${typeof r}`);
}

function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOSCRIPT');
}

/**
 * EVALSHA, and on NOSCRIPT (a restarted or flushed server) EVAL, which also caches the script
 * again. Safe to retry: NOSCRIPT means nothing ran. On a cluster ioredis routes by the first key.
 */
export function evalLua(conn: Connection, script: LuaScript, keys: readonly string[], args: readonly ScriptArg[]): Promise<ScriptReply> {
  const argv = [...keys, ...args];
  const send = () => {
    // Decided at send time: the first call on a cluster learns the server version while connecting.
    const { sha, lua } = compiled(script, conn.shardedPubSub);
    // callBuffer: bulk replies as Buffers (the typings have no evalshaBuffer).
    return conn.client.callBuffer('evalsha', sha, keys.length, ...argv).catch((err: unknown) => {
      if (!isNoScript(err)) throw err;
      return conn.client.callBuffer('eval', lua, keys.length, ...argv);
    });
  };
  return conn.exec(`EVALSHA ${script.name}`, keys.length > 1 ? () => tryAgain(conn, send) : send, keys.length > 0 ? { keys } : undefined).then(toScriptReply);
}
