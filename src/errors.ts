/**
 * Every error larder throws carries a stable `code` (F1). Bad arguments are `TypeError`s
 * (`KeyError`, `ValueError`, plain `TypeError` for options), everything else a `LarderError`.
 * Codes are part of the public contract: match on `err.code`, never on the message.
 */

export type ErrorCode =
  | 'E_STORE_UNAVAILABLE'
  | 'E_STORE_TIMEOUT'
  | 'E_STORE_FULL'
  | 'E_TRACKING_LOST'
  | 'E_TRACKING_REFUSED'
  | 'E_STORE'
  | 'E_WRONG_TYPE'
  | 'E_NOT_INTEGER'
  | 'E_DECODE'
  | 'E_LOCK_TIMEOUT'
  | 'E_LOCK_NOT_OWNED'
  | 'E_LOCK_LOST'
  | 'E_ABORTED'
  | 'E_VALUE'
  | 'E_KEY'
  | 'E_CONTEXT'
  | 'E_DOCUMENT_NOT_FOUND'
  | 'E_CLOSED';

export interface ErrorDetails {
  cause?: unknown;
  key?: string;
  lockName?: string;
}

export class LarderError extends Error {
  readonly code: ErrorCode;
  /** The logical key (as the caller wrote it) the failing call was about, where there is one. */
  readonly key?: string;
  readonly lockName?: string;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    if (details.key !== undefined) this.key = details.key;
    if (details.lockName !== undefined) this.lockName = details.lockName;
  }

  override get name(): string {
    return this.constructor.name;
  }
}

/** The store could not be reached, refused the call, or the circuit breaker is open. */
export class StoreUnavailableError extends LarderError {
  constructor(message: string, details: ErrorDetails = {}, code: 'E_STORE_UNAVAILABLE' | 'E_STORE_FULL' = 'E_STORE_UNAVAILABLE') {
    super(code, message, details);
  }
}

/**
 * The store refuses writes for want of memory (Redis `OOM` under `maxmemory` with `noeviction`).
 * It still answers reads and deletes, so this is a kind of unavailability for writes only: in
 * 'degrade' mode a refused write is dropped and a generator's value is served (Z4), and the
 * circuit breaker does not open for it (the store answers at once). Code `E_STORE_FULL`.
 */
export class StoreFullError extends StoreUnavailableError {
  constructor(message: string, details: ErrorDetails = {}) {
    super(message, details, 'E_STORE_FULL');
  }
}

/**
 * The near cache's invalidation channel (N3): `E_TRACKING_LOST` when it went silent or broken (a
 * missed heartbeat, a broken redirect, a transient refusal while reconnecting: the near cache is
 * emptied and bypassed and the channel is set up again), `E_TRACKING_REFUSED` when the server
 * refuses client tracking for good (an ACL without CLIENT: the near cache stays off). Reported
 * through `cache.on('error')`, never thrown to a caller.
 */
export class TrackingError extends LarderError {
  constructor(code: 'E_TRACKING_LOST' | 'E_TRACKING_REFUSED', message: string, details: ErrorDetails = {}) {
    super(code, message, details);
  }
}

/** A store call took longer than `commandTimeoutMs` (F4). It will not be replayed. */
export class StoreTimeoutError extends LarderError {
  constructor(message: string, details: ErrorDetails = {}) {
    super('E_STORE_TIMEOUT', message, details);
  }
}

/** The store answered with an error of its own (not a connection problem). */
export class StoreError extends LarderError {
  constructor(message: string, details: ErrorDetails = {}) {
    super('E_STORE', message, details);
  }
}

/** An operation met a key holding another kind of data (a hash read as a list, say). */
export class WrongTypeError extends LarderError {
  constructor(message: string, details: ErrorDetails = {}) {
    super('E_WRONG_TYPE', message, details);
  }
}

/** `incr` met a key whose value is not an integer counter. */
export class NotIntegerError extends LarderError {
  constructor(message: string, details: ErrorDetails = {}) {
    super('E_NOT_INTEGER', message, details);
  }
}

/** Stored bytes could not be decoded (C3). Reported through `cache.on('error')`, read as a miss. */
export class DecodeError extends LarderError {
  constructor(message: string, details: ErrorDetails = {}) {
    super('E_DECODE', message, details);
  }
}

export class LockTimeoutError extends LarderError {
  constructor(message: string, details: ErrorDetails = {}) {
    super('E_LOCK_TIMEOUT', message, details);
  }
}

export class LockNotOwnedError extends LarderError {
  constructor(message: string, details: ErrorDetails = {}) {
    super('E_LOCK_NOT_OWNED', message, details);
  }
}

export class LockLostError extends LarderError {
  constructor(message: string, details: ErrorDetails = {}) {
    super('E_LOCK_LOST', message, details);
  }
}

/** Thrown where the current async context is needed (`user: true`, `cache.local`) and there is none. */
export class ContextError extends LarderError {
  constructor(message: string, details: ErrorDetails = {}) {
    super('E_CONTEXT', message, details);
  }
}

export class DocumentNotFoundError extends LarderError {
  readonly doctype: string;
  readonly docName: string;
  constructor(doctype: string, docName: string) {
    super('E_DOCUMENT_NOT_FOUND', `${doctype} ${JSON.stringify(docName)} not found`);
    this.doctype = doctype;
    this.docName = docName;
  }
}

/** The cache was closed; no further calls are accepted. */
export class ClosedError extends LarderError {
  constructor(message = 'the cache is closed') {
    super('E_CLOSED', message);
  }
}

/** Bad arguments are TypeErrors (C6) that still carry a stable code. */
export class KeyError extends TypeError {
  readonly code = 'E_KEY' as const;
  override get name(): string {
    return 'KeyError';
  }
}

/** A value the codec refuses (C2), too large (C5), or otherwise unstorable. */
export class ValueError extends TypeError {
  readonly code = 'E_VALUE' as const;
  /** Where in the value the problem is, as `$.items[3].fn`. */
  readonly path?: string;
  constructor(message: string, path?: string) {
    super(message);
    if (path !== undefined) this.path = path;
  }
  override get name(): string {
    return 'ValueError';
  }
}

export function abortedError(reason: unknown, what: string): LarderError {
  return new LarderError('E_ABORTED', `${what} was aborted`, { cause: reason });
}

/** True for errors that mean "the store is not there right now" (as opposed to a bad call). */
export function isUnavailability(err: unknown): boolean {
  return err instanceof StoreUnavailableError || err instanceof StoreTimeoutError;
}
