/**
 * Raw ioredis: the upper bound for anything that makes one Redis round trip per call. One
 * `new Redis(url)` with ioredis' defaults (no auto-pipelining), values through larder's own codec
 * so that the difference to larder is the library, not the serialisation. No TTL logic, no key
 * validation, no namespacing beyond a literal prefix, no stampede protection.
 *
 * Also the lock bound: SET NX PX to acquire, DEL to release (no token check, no fencing, no
 * waiting) — what a lock costs when it gives none of a lock's guarantees.
 */
import { Redis } from 'ioredis';
import { defaultCodec } from '../../../src/index.js';
import { TTL_SEC, type CacheSystem, type LockSystem } from '../adapter.js';

const PREFIX = 'raw:';

export const rawIoredis: CacheSystem = {
  info: { name: 'raw ioredis', role: 'bound', tier: 'redis' },
  async create(setup) {
    const client = new Redis(setup.redisUrl);
    return {
      ...this.info,
      async ready() {
        await client.ping();
      },
      async get(k) {
        const b = await client.getBuffer(PREFIX + k);
        return b === null ? undefined : defaultCodec.decode(b);
      },
      async set(k, v) {
        await client.set(PREFIX + k, defaultCodec.encode(v), 'EX', TTL_SEC);
      },
      async fill(entries) {
        for (let i = 0; i < entries.length; i += 1000) {
          const p = client.pipeline();
          for (const [k, v] of entries.slice(i, i + 1000)) p.set(PREFIX + k, defaultCodec.encode(v), 'EX', TTL_SEC);
          await p.exec();
        }
      },
      /**
       * The pattern-delete bound: SCAN MATCH with COUNT 1000 (as larder scans), one UNLINK per
       * batch. Correct only because nothing else writes these keys meanwhile; no exact re-check.
       */
      async deleteByPrefix(prefix) {
        let cursor = '0';
        let deleted = 0;
        do {
          const [next, keys] = await client.scan(cursor, 'MATCH', `${PREFIX}${prefix}*`, 'COUNT', 1000);
          cursor = next;
          if (keys.length > 0) deleted += await client.unlink(...keys);
        } while (cursor !== '0');
        return deleted;
      },
      async close() {
        client.disconnect();
      },
    };
  },
};

export const rawLock: LockSystem = {
  info: { name: 'raw ioredis SET NX PX + DEL', role: 'bound', tier: 'redis' },
  async create(setup) {
    const client = new Redis(setup.redisUrl);
    let n = 0;
    return {
      ...this.info,
      async ready() {
        await client.ping();
      },
      async acquire(name) {
        const key = `rawlock:${name}`;
        // No waiting: a bound for the uncontended path only.
        if ((await client.set(key, String(++n), 'PX', 30_000, 'NX')) !== 'OK') throw new Error('held');
        return key;
      },
      async release(key) {
        await client.del(key as string);
      },
      async close() {
        client.disconnect();
      },
    };
  },
};

/**
 * The hand-off bound: the fewest round trips a woken waiter can take. Release is DEL + PUBLISH in
 * one pipeline; a waiter whose SET NX failed subscribes (own connection) and retries on the
 * message (and every 100 ms, like larder's fallback). No token, no fencing, no lease renewal.
 */
export const rawHandoff: LockSystem = {
  info: { name: 'raw ioredis SET NX + DEL/PUBLISH wake-up', role: 'bound', tier: 'redis' },
  async create(setup) {
    const client = new Redis(setup.redisUrl);
    const sub = new Redis(setup.redisUrl);
    const wakers = new Map<string, Set<() => void>>();
    sub.on('message', (channel: string) => {
      for (const w of wakers.get(channel) ?? []) w();
    });
    let n = 0;
    const tryOnce = async (key: string) => (await client.set(key, String(++n), 'PX', 30_000, 'NX')) === 'OK';
    return {
      ...this.info,
      async ready() {
        await Promise.all([client.ping(), sub.ping()]);
      },
      async acquire(name) {
        const key = `rawwake:${name}`;
        if (await tryOnce(key)) return key;
        let set = wakers.get(key);
        if (set === undefined) {
          wakers.set(key, (set = new Set()));
          await sub.subscribe(key);
        }
        for (;;) {
          // Subscribed first, then try again: a release between the two cannot be missed.
          if (await tryOnce(key)) return key;
          await new Promise<void>((resolve) => {
            const timer = setTimeout(done, 100);
            function done() {
              clearTimeout(timer);
              set!.delete(done);
              resolve();
            }
            set.add(done);
          });
        }
      },
      async release(key) {
        await client.pipeline().del(key as string).publish(key as string, '1').exec();
      },
      async close() {
        client.disconnect();
        sub.disconnect();
      },
    };
  },
};
