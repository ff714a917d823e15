/**
 * Hashes, lists, sets and sorted sets over the keyspace's entries, as Redis answers HSET, LPUSH,
 * SADD, ZADD and their kin: a collection whose last element goes stops existing, and every element
 * counts toward the bounds by the sizes of entry.ts. With them the keyspace is the whole of
 * LocalData, what script twins run against (`MemoryStore.data`).
 */

import { StoreError } from '../../errors.js';
import type { LocalData, TtlMs } from '../store.js';
import { ELEMENT_OVERHEAD, type Hash, type Members, type Zset } from './entry.js';
import { Keyspace } from './keyspace.js';
import { addInteger, notInteger } from './rules.js';

function checkIndex(n: number): number {
  if (!Number.isInteger(n)) throw notInteger();
  return n;
}

/** LRANGE/LTRIM/ZRANGE index rules; null for an empty range. */
function range(len: number, start: number, stop: number): [number, number] | null {
  if (start < 0) start += len;
  if (stop < 0) stop += len;
  if (start < 0) start = 0;
  if (start > stop || start >= len) return null;
  if (stop >= len) stop = len - 1;
  return [start, stop];
}

function compareMembers(a: [string, number], b: [string, number]): number {
  if (a[1] !== b[1]) return a[1] < b[1] ? -1 : 1;
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

/** The keyspace with every data type: the embedded store's LocalData. */
export class Collections extends Keyspace implements LocalData {
  // --- hashes ----------------------------------------------------------------------------------

  hget(key: string, field: string): Buffer | null {
    const e = this.read(key, 'hash');
    return e === undefined ? null : ((e.value as Hash).get(field) ?? null);
  }

  hset(key: string, field: string, value: Buffer): number {
    const e = this.container(key, 'hash', () => new Map());
    const h = e.value as Hash;
    const old = h.get(field);
    const bytes = this.copyIn(value);
    h.set(field, bytes);
    this.grow(e, old === undefined ? field.length * 2 + bytes.length + ELEMENT_OVERHEAD : bytes.length - old.length);
    this.bound(key);
    return old === undefined ? 1 : 0;
  }

  /** HSET, then the TTL of the whole hash when ttlMs is not undefined (null: none). */
  hsetWithTtl(key: string, field: string, value: Buffer, ttlMs: TtlMs | undefined): void {
    const exp = ttlMs === undefined ? 0 : this.deadline(ttlMs);
    this.hset(key, field, value);
    if (ttlMs === undefined) return;
    const e = this.map.get(key);
    if (e !== undefined) e.exp = exp;
  }

  hdel(key: string, field: string): number {
    return this.hdelMany(key, [field]);
  }

  hdelMany(key: string, fields: readonly string[]): number {
    if (fields.length === 0) return 0;
    const e = this.read(key, 'hash');
    if (e === undefined) return 0;
    const h = e.value as Hash;
    let removed = 0;
    for (const f of fields) {
      const old = h.get(f);
      if (old === undefined) continue;
      h.delete(f);
      this.grow(e, -(f.length * 2 + old.length + ELEMENT_OVERHEAD));
      removed++;
    }
    if (h.size === 0) this.remove(e);
    return removed;
  }

  hgetall(key: string): Map<string, Buffer> {
    const e = this.read(key, 'hash');
    return e === undefined ? new Map<string, Buffer>() : new Map(e.value as Hash);
  }

  hincrBy(key: string, field: string, by: number): number {
    if (!Number.isInteger(by)) throw notInteger();
    const existing = this.read(key, 'hash');
    const old = existing === undefined ? undefined : (existing.value as Hash).get(field);
    const s = addInteger(old, by, 'hash value');
    this.hset(key, field, Buffer.from(s, 'latin1'));
    return Number(s);
  }

  hlen(key: string): number {
    const e = this.read(key, 'hash');
    return e === undefined ? 0 : (e.value as Hash).size;
  }

  hexists(key: string, field: string): boolean {
    const e = this.read(key, 'hash');
    return e !== undefined && (e.value as Hash).has(field);
  }

  hkeys(key: string): string[] {
    const e = this.read(key, 'hash');
    return e === undefined ? [] : Array.from((e.value as Hash).keys());
  }

  // --- lists -----------------------------------------------------------------------------------

  /** LPUSH/RPUSH: values are pushed one by one, so a left push of [a, b] gives [b, a]. */
  push(key: string, values: readonly Buffer[], end: 'left' | 'right'): number {
    if (values.length === 0) return this.llen(key);
    const e = this.container(key, 'list', () => []);
    let list = e.value as Buffer[];
    let added = 0;
    if (end === 'right') {
      for (const v of values) {
        const b = this.copyIn(v);
        list.push(b);
        added += b.length + ELEMENT_OVERHEAD;
      }
    } else {
      const front: Buffer[] = new Array<Buffer>(values.length);
      for (let i = 0; i < values.length; i++) {
        const b = this.copyIn(values[i]!);
        front[values.length - 1 - i] = b;
        added += b.length + ELEMENT_OVERHEAD;
      }
      if (front.length === 1) list.unshift(front[0]!);
      else e.value = list = front.concat(list);
    }
    this.grow(e, added);
    this.bound(key);
    return list.length;
  }

  pop(key: string, end: 'left' | 'right'): Buffer | null {
    const e = this.read(key, 'list');
    if (e === undefined) return null;
    const list = e.value as Buffer[];
    // An emptied list is removed (below), so a list read here has an element to pop.
    const v = end === 'left' ? list.shift() : list.pop();
    if (v === undefined) return null;
    this.grow(e, -(v.length + ELEMENT_OVERHEAD));
    if (list.length === 0) this.remove(e);
    return v;
  }

  llen(key: string): number {
    const e = this.read(key, 'list');
    return e === undefined ? 0 : (e.value as Buffer[]).length;
  }

  lrange(key: string, start: number, stop: number): Buffer[] {
    checkIndex(start);
    checkIndex(stop);
    const e = this.read(key, 'list');
    if (e === undefined) return [];
    const list = e.value as Buffer[];
    const r = range(list.length, start, stop);
    return r === null ? [] : list.slice(r[0], r[1] + 1);
  }

  ltrim(key: string, start: number, stop: number): void {
    checkIndex(start);
    checkIndex(stop);
    const e = this.read(key, 'list');
    if (e === undefined) return;
    const list = e.value as Buffer[];
    const r = range(list.length, start, stop);
    if (r === null) {
      this.remove(e);
      return;
    }
    let dropped = 0;
    for (let i = 0; i < r[0]; i++) dropped += list[i]!.length + ELEMENT_OVERHEAD;
    for (let i = r[1] + 1; i < list.length; i++) dropped += list[i]!.length + ELEMENT_OVERHEAD;
    if (dropped === 0) return;
    e.value = list.slice(r[0], r[1] + 1);
    this.grow(e, -dropped);
  }

  // --- sets ------------------------------------------------------------------------------------

  sadd(key: string, members: readonly Buffer[]): number {
    if (members.length === 0) return 0;
    const e = this.container(key, 'set', () => new Map());
    const s = e.value as Members;
    let added = 0;
    let bytes = 0;
    for (const m of members) {
      const id = m.toString('latin1');
      if (s.has(id)) continue;
      s.set(id, this.copyIn(m));
      added++;
      bytes += m.length * 2 + ELEMENT_OVERHEAD;
    }
    this.grow(e, bytes);
    this.bound(key);
    return added;
  }

  srem(key: string, members: readonly Buffer[]): number {
    if (members.length === 0) return 0;
    const e = this.read(key, 'set');
    if (e === undefined) return 0;
    const s = e.value as Members;
    let removed = 0;
    for (const m of members) {
      if (!s.delete(m.toString('latin1'))) continue;
      removed++;
      this.grow(e, -(m.length * 2 + ELEMENT_OVERHEAD));
    }
    if (s.size === 0) this.remove(e);
    return removed;
  }

  smembers(key: string): Buffer[] {
    const e = this.read(key, 'set');
    return e === undefined ? [] : Array.from((e.value as Members).values());
  }

  sismember(key: string, member: Buffer): boolean {
    const e = this.read(key, 'set');
    return e !== undefined && (e.value as Members).has(member.toString('latin1'));
  }

  scard(key: string): number {
    const e = this.read(key, 'set');
    return e === undefined ? 0 : (e.value as Members).size;
  }

  // --- sorted sets -----------------------------------------------------------------------------

  zadd(key: string, score: number, member: string): number {
    if (typeof score !== 'number' || Number.isNaN(score)) throw new StoreError('ERR value is not a valid float');
    const e = this.container(key, 'zset', () => new Map());
    const z = e.value as Zset;
    const isNew = !z.has(member);
    z.set(member, score);
    if (isNew) {
      this.grow(e, member.length * 2 + 8 + ELEMENT_OVERHEAD);
      this.bound(key);
    }
    return isNew ? 1 : 0;
  }

  zrem(key: string, member: string): number {
    const e = this.read(key, 'zset');
    if (e === undefined) return 0;
    const z = e.value as Zset;
    if (!z.delete(member)) return 0;
    this.grow(e, -(member.length * 2 + 8 + ELEMENT_OVERHEAD));
    if (z.size === 0) this.remove(e);
    return 1;
  }

  zscore(key: string, member: string): number | null {
    const e = this.read(key, 'zset');
    return e === undefined ? null : ((e.value as Zset).get(member) ?? null);
  }

  zcard(key: string): number {
    const e = this.read(key, 'zset');
    return e === undefined ? 0 : (e.value as Zset).size;
  }

  zremRangeByScore(key: string, min: number, max: number): number {
    const e = this.read(key, 'zset');
    if (e === undefined) return 0;
    const z = e.value as Zset;
    let removed = 0;
    for (const [member, score] of z) {
      if (score < min || score > max) continue;
      z.delete(member);
      this.grow(e, -(member.length * 2 + 8 + ELEMENT_OVERHEAD));
      removed++;
    }
    if (z.size === 0) this.remove(e);
    return removed;
  }

  /**
   * Sorted on demand (sorted sets here are small: lock holders, semaphore permits). Ties order by
   * member in UTF-16 unit order, which is Redis's byte order for every ASCII member.
   */
  zrange(key: string, start: number, stop: number): string[] {
    checkIndex(start);
    checkIndex(stop);
    const e = this.read(key, 'zset');
    if (e === undefined) return [];
    const sorted = Array.from(e.value as Zset).sort(compareMembers);
    const r = range(sorted.length, start, stop);
    if (r === null) return [];
    const out: string[] = [];
    for (let i = r[0]; i <= r[1]; i++) out.push(sorted[i]![0]);
    return out;
  }
}
