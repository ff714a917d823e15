/**
 * The names each call accepts in its options object, in one place, and the check that refuses any
 * other name. A JavaScript caller (or a TypeScript one with a spread of a wider object) can write
 * `setValue(k, v, { ttl: 60 })`; silently ignoring `ttl` would store the value without expiry, so
 * an unknown name is a TypeError naming it, with the closest accepted name as a suggestion.
 *
 * Adding an option to a call is one edit here: put its name in the call's list (a feature that
 * adds a name to many calls, such as `tags`, adds it to the lists it belongs to).
 */

const SCOPE = ['user', 'shared'] as const;
const WRITE = [...SCOPE, 'expiresInSec'] as const;
const LOCK = ['ttlMs', 'waitMs', 'autoExtend', 'signal'] as const;

/** Accepted option names, per call. */
export const OPTION_NAMES = {
  createCache: [
    'store', 'namespace', 'defaultTtlSec', 'nearCache', 'codec', 'commandTimeoutMs', 'onStoreError',
    'persistentKeys', 'memory', 'maxValueBytes', 'leaseMs', 'circuitBreaker', 'clock', 'now', 'random',
    'telemetry',
  ],
  'createCache nearCache': ['maxEntries', 'maxBytes', 'ttlSec'],
  'createCache memory': ['maxEntries', 'maxBytes'],
  'createCache circuitBreaker': ['failures', 'cooldownMs'],
  scope: SCOPE,
  key: ['key', ...SCOPE],
  setValue: [...WRITE, 'ifAbsent', 'tags'],
  setMany: [...WRITE, 'tags'],
  incr: WRITE,
  getValue: [...WRITE, 'generator', 'staleWhileRevalidateSec', 'staleIfErrorSec', 'earlyRefresh', 'tags'],
  clearCache: ['user'],
  hset: [...WRITE, 'tags'],
  hget: [...SCOPE, 'generator'],
  memoize: ['name', 'ttlSec', ...SCOPE, 'tags'],
  processCached: ['name', 'ttlSec', 'maxEntries', 'tags'],
  runInContext: ['namespace', 'user'],
  middleware: ['resolve'],
  documents: ['load', 'ttlSec', 'tags'],
  getCachedValue: ['asDict'],
  clearDocumentCache: ['after'],
  lock: [...LOCK, ...SCOPE, 'waitReplicas', 'waitTimeoutMs'],
  'read-write lock': LOCK,
  semaphore: ['permits', ...SCOPE],
  permit: LOCK,
  'Redlock lock': [...LOCK, 'shared', 'waitReplicas', 'waitTimeoutMs', 'retryCount'],
} as const satisfies Record<string, readonly string[]>;

export type OptionsOf = keyof typeof OPTION_NAMES;

/** Names users reach for out of habit (other libraries, Frappe's Python API), mapped to ours. */
const HABITS: Record<string, readonly string[]> = {
  ttl: ['expiresInSec', 'ttlSec', 'ttlMs'],
  ttlSec: ['expiresInSec'],
  ttlMs: ['expiresInSec', 'ttlSec'],
  ex: ['expiresInSec'],
  px: ['expiresInSec'],
  expire: ['expiresInSec', 'ttlSec'],
  expires: ['expiresInSec', 'ttlSec'],
  expiresIn: ['expiresInSec', 'ttlSec'],
  expires_in_sec: ['expiresInSec'],
  expiresInSec: ['ttlSec', 'ttlMs'],
  nx: ['ifAbsent'],
  ifNotExists: ['ifAbsent'],
  timeout: ['waitMs', 'ttlMs'],
  timeoutMs: ['waitMs', 'ttlMs'],
  wait: ['waitMs'],
  blocking_timeout: ['waitMs'],
  as_dict: ['asDict'],
  sharedKey: ['shared'],
  userId: ['user'],
  generate: ['generator'],
  loader: ['generator', 'load'],
  fn: ['generator'],
  redis: ['store'],
  url: ['store'],
  ns: ['namespace'],
  site: ['namespace'],
  tenant: ['namespace'],
};

const sets = new Map<OptionsOf, ReadonlySet<string>>();
function known(what: OptionsOf): ReadonlySet<string> {
  let s = sets.get(what);
  if (s === undefined) sets.set(what, (s = new Set(OPTION_NAMES[what])));
  return s;
}

/**
 * Throws a TypeError if `opts` (an object the caller passed) has an own enumerable name that
 * `what` does not accept. Values are not looked at here; each call checks its own.
 * Cheap on the common path: a for-in over a few names and one Set lookup each.
 */
export function checkOptionNames(what: OptionsOf, opts: object | undefined): void {
  const err = optionNamesError(what, opts);
  if (err !== undefined) throw err;
}

/**
 * The same check for calls that answer with a promise: the TypeError to reject with, or
 * undefined. (A promise-returning call rejects rather than throws, so `.catch()` sees it.)
 */
export function optionNamesError(what: OptionsOf, opts: object | undefined): TypeError | undefined {
  // A JavaScript caller's options may be anything; a non-object is for the call's own checks.
  const o: unknown = opts;
  if (typeof o !== 'object' || o === null) return undefined;
  const names = known(what);
  let unknown: string[] | undefined;
  for (const k in opts) {
    if (!names.has(k) && Object.hasOwn(opts, k)) (unknown ??= []).push(k);
  }
  return unknown === undefined ? undefined : new TypeError(unknownMessage(what, unknown, OPTION_NAMES[what]));
}

function unknownMessage(what: string, unknown: string[], accepted: readonly string[]): string {
  // A nested option ('createCache memory') is named by its path: memory.maxByte.
  const space = what.indexOf(' ');
  const parent = space < 0 ? '' : `${what.slice(space + 1)}.`;
  if (space >= 0) what = what.slice(0, space);
  const listed = unknown.map((u) => (parent === '' ? quote(u) : `${parent}${u}`)).join(', ');
  const hints = unknown.map((u) => suggest(u, accepted)).filter((s): s is string => s !== undefined);
  const noun = unknown.length === 1 ? 'option' : 'options';
  const hint = hints.length > 0 ? ` (did you mean ${[...new Set(hints)].join(', ')}?)` : '';
  return `larder: ${what}: unknown ${noun} ${listed}${hint}; accepted: ${accepted.join(', ')}`;
}

/** The accepted name closest to `name`: a known habit first, else the nearest by edit distance. */
export function suggest(name: string, accepted: readonly string[]): string | undefined {
  const habit = HABITS[name]?.find((h) => accepted.includes(h));
  if (habit !== undefined) return habit;
  const lower = name.toLowerCase();
  // One name the start of the other (ttl, ttlMs), or both the same but for the ending (maxEntry,
  // maxEntries): that one.
  const prefixed = accepted.find((a) => lower.length >= 3 && (a.toLowerCase().startsWith(lower) || lower.startsWith(a.toLowerCase())));
  if (prefixed !== undefined) return prefixed;
  const stem = accepted.find((a) => commonPrefix(lower, a.toLowerCase()) >= Math.max(4, lower.length - 2));
  if (stem !== undefined) return stem;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const a of accepted) {
    const d = distance(lower, a.toLowerCase());
    if (d < bestDistance) {
      best = a;
      bestDistance = d;
    }
  }
  // Only a near miss is worth suggesting: a third of the name's letters at most (at least one).
  return bestDistance <= Math.max(1, Math.floor(name.length / 3)) ? best : undefined;
}

function commonPrefix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/** Levenshtein distance (two rows). Option names are short, so quadratic is nothing. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}

/** A caller's value as a message shows it: strings quoted (`"60"`, not `60`), long ones cut. */
export function quote(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'function') return 'a function';
  if (typeof v === 'symbol') return v.toString();
  if (v === null || typeof v !== 'object') return String(v);
  if (Array.isArray(v)) return 'an array';
  return 'an object';
}
