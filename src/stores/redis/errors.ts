/**
 * What ioredis rejects with, as the typed errors of errors.ts: ioredis' own errors never leave the
 * Redis store.
 */
import {
  ClosedError,
  LarderError,
  NotIntegerError,
  StoreError,
  StoreFullError,
  StoreTimeoutError,
  StoreUnavailableError,
  WrongTypeError,
} from '../../errors.js';

const NOT_INTEGER = /not an integer|out of range|overflow/i;
/** Redis out of memory under `noeviction` (also from a write inside a script): Z4. */
const FULL_REPLY = /^OOM\b|\bOOM command not allowed\b/;
/** Server replies that mean "not usable right now" rather than "your call is wrong". */
const UNAVAILABLE_REPLY = /^(LOADING|BUSY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|READONLY|NOREPLICAS|NOAUTH|WRONGPASS)\b/;

/** Maps whatever ioredis rejected with to the typed errors of errors.ts. */
export function mapRedisError(err: unknown, closed = false): Error {
  if (err instanceof LarderError) return err;
  // Bad arguments are ours to report as they are (F1: TypeErrors carry through).
  if (err instanceof TypeError || err instanceof RangeError) return err;
  const e = err instanceof Error ? err : new Error(String(err));
  if (e.name === 'ReplyError') {
    const m = e.message;
    if (/\bWRONGTYPE\b/.test(m)) return new WrongTypeError(m, { cause: e });
    if (NOT_INTEGER.test(m)) return new NotIntegerError(m, { cause: e });
    if (FULL_REPLY.test(m)) return new StoreFullError(`redis: ${m}`, { cause: e });
    if (UNAVAILABLE_REPLY.test(m)) return new StoreUnavailableError(`redis: ${m}`, { cause: e });
    return new StoreError(`redis: ${m}`, { cause: e });
  }
  if (closed) return new ClosedError('the store is closed');
  if (e.message === 'Command timed out') return new StoreTimeoutError('redis command timed out', { cause: e });
  // Connection closed, stream not writeable, MaxRetriesPerRequestError, ClusterAllFailedError,
  // "Cluster isn't ready", dial errors (ECONNREFUSED, ETIMEDOUT, …): the server is not there.
  return new StoreUnavailableError(`redis unavailable: ${e.message}`, { cause: e });
}
