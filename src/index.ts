// The public API. Nothing inside the package imports this file.
export { Cache, createCache } from './cache.js';
export type { GetValueOptions, HashGetOptions, KeyRef, ScopeOptions, SetValueOptions } from './cache.js';
export type { CacheOptions, MemoryLimits, NearCacheOptions, SentinelSpec, StoreSpec } from './options.js';
export type { Codec } from './codec/index.js';
export type { Clock, Timer } from './clock.js';
export { defaultCodec } from './codec/index.js';
export type { ContextInput } from './context.js';
export type { CacheEvents, CacheStats, HitEvent, InvalidateEvent, MissEvent } from './observability.js';
export type { LocalData, MessageHandler, Script, ScriptArg, ScriptReply, SetOptions, Store, StoreEvents, TtlMs } from './stores/store.js';
export { createMemoryStore } from './stores/memory/index.js';
export { createRedisStore } from './stores/redis/index.js';
export type { RedisStore, RedisStoreOptions, RedisStoreSpec } from './stores/redis/index.js';
export {
  ClosedError,
  ContextError,
  DecodeError,
  DocumentNotFoundError,
  KeyError,
  LarderError,
  LockLostError,
  LockNotOwnedError,
  LockTimeoutError,
  NotIntegerError,
  StoreError,
  StoreFullError,
  StoreTimeoutError,
  StoreUnavailableError,
  TrackingError,
  ValueError,
  WrongTypeError,
} from './errors.js';
export type { ErrorCode } from './errors.js';
export { Lock } from './locks/lock.js';
export type { LockOptions } from './locks/lock.js';
export { ReadWriteLock } from './locks/read-write.js';
export type { RwLockOptions } from './locks/read-write.js';
export { Semaphore } from './locks/semaphore.js';
export type { PermitOptions, SemaphoreOptions } from './locks/semaphore.js';
export { createRedlock } from './locks/redlock.js';
export type { Redlock, RedlockLockOptions, RedlockOptions } from './locks/redlock.js';
// Memoisation, request and process caches, middleware, documents (M, X, D).
export type { Memoized, MemoizeOptions } from './memo/memoize.js';
export type { ProcessCached, ProcessCachedOptions } from './memo/process.js';
export type { RequestCached } from './memo/request.js';
export type { LarderMiddleware, MiddlewareOptions, RequestInfo } from './middleware.js';
export { DocumentCache } from './documents.js';
export { docTag, doctypeTag } from './tags/names.js';
export type { InvalidateTagsOptions } from './tags/invalidate.js';
export type { ClearDocumentOptions, DocumentsOptions, Frozen } from './documents.js';
export { argumentDigest } from './memo/digest.js';
// Published telemetry (OP4): the message the `telemetry` option publishes, for consumers.
export {
  OTHER_NAMESPACE,
  parseTelemetry,
  TELEMETRY_CHANNEL_PATTERN,
  TELEMETRY_CHANNEL_SUFFIX,
  TELEMETRY_KIND,
  TELEMETRY_VERSION,
  telemetryChannel,
} from './telemetry.js';
export type { NamespaceCounters, TelemetryMessage, TelemetryOptions } from './telemetry.js';
// Tracing channels (O3): the context objects their subscribers receive.
export type { CacheTraceContext, LockTraceContext, StoreTraceContext } from './tracing.js';
