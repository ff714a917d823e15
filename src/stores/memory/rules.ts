/**
 * The Redis rules the embedded store answers by, shared by its keyspace and its Store methods: the
 * errors Redis replies with, the TTL checks (of scripts, as Redis's; of the Store API, as the Redis
 * store's) and INCRBY's 64-bit arithmetic over stored decimals.
 */

import { NotIntegerError, StoreError, WrongTypeError } from '../../errors.js';
import type { TtlMs } from '../store.js';
import { quote } from '../../options-check.js';

export function wrongType(): WrongTypeError {
  return new WrongTypeError('WRONGTYPE Operation against a key holding the wrong kind of value');
}

export function notInteger(what = 'value'): NotIntegerError {
  return new NotIntegerError(`ERR ${what} is not an integer or out of range`);
}

/** A script's TTL, as Redis checks it (StoreError); fractional ms round up, so it never becomes 0. */
export function checkTtl(ttl: number): number {
  if (typeof ttl !== 'number' || !(ttl > 0) || ttl === Infinity) {
    throw new StoreError(`ERR invalid expire time: ${String(ttl)}`);
  }
  return Math.ceil(ttl);
}

/** The Store API's TTL argument check (the same as the Redis store's). */
export function ttlArg(ttl: TtlMs | undefined, what = 'ttlMs'): void {
  if (ttl === null || ttl === undefined) return;
  if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl <= 0) {
    throw new TypeError(`${what} must be a positive finite number of milliseconds or null, got ${quote(ttl)}`);
  }
}

/** Redis's string2ll: optional '-', no '+', no leading zero, no spaces. */
const INTEGER = /^(?:0|-?[1-9][0-9]{0,18})$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** INCRBY arithmetic over a stored decimal (absent: 0); returns the new decimal. */
export function addInteger(current: Buffer | undefined, by: number, what: string): string {
  let s = '0';
  if (current !== undefined) {
    s = current.toString('latin1');
    if (!INTEGER.test(s)) throw notInteger(what);
  }
  // Up to 15 digits and a safe increment: plain doubles are exact.
  if (s.length < 16 && Number.isSafeInteger(by)) {
    const r = Number(s) + by;
    if (Number.isSafeInteger(r)) return String(r);
  }
  const a = BigInt(s);
  const b = BigInt(by);
  if (a < INT64_MIN || a > INT64_MAX) throw notInteger(what);
  if (b < INT64_MIN || b > INT64_MAX) throw notInteger();
  const r = a + b;
  if (r < INT64_MIN || r > INT64_MAX) throw new NotIntegerError('ERR increment or decrement would overflow');
  return r.toString();
}
