/**
 * Physical key layout (K1–K5).
 *
 *   <prefix>{<tag>}<space><user>:<name>
 *
 *   prefix  `lr:<ns>:` for a namespace, `lr::` for shared keys. `<ns>` is escaped so that it holds
 *           no `:`; the prefix of one namespace is therefore never a prefix of another's, and a
 *           Redis ACL limited to `~lr:<ns>:*` confines a tenant (K5). Exposed as `cache.keyPrefix`.
 *   tag     4 hex digits hashed from the object's user part and name: a Redis Cluster hash tag that
 *           keeps every physical key of one logical object (a lock and its fencing counter, say) in
 *           one slot, while spreading a namespace's objects over all slots.
 *   space   one letter: what kind of object this is. Lower case letters are cache entries and are
 *           removed by clearCache (P3); upper case are coordination state (locks, fencing counters,
 *           leases) that clearCache leaves alone.
 *   user    `-` for no user scope, `=<user>` (escaped, no `:`) for a user-scoped key (K2).
 *   name    the caller's key, escaped: no glob metacharacter, no `{`/`}`, no `%` survives
 *           unescaped, so a pattern built from escaped parts can only match what it means to.
 *
 * Escaping is percent-encoding of single UTF-16 units below U+0100 (`%XX`) for the few characters
 * that need it; everything else, unicode included, stays as written so keys stay readable in
 * redis-cli. SCAN patterns made from escaped parts are only a pre-filter: every scanned key is
 * parsed back and matched exactly against the caller's pattern (see `compilePattern`).
 */

import { KeyError } from './errors.js';
import { compileGlob, escapeGlob } from './stores/glob.js';

/** Lower case: cache entries (cleared by clearCache). Upper case: coordination state. */
export type Space =
  | 'k' // values, hashes, lists, sets written through the string/hash/list/set API
  | 'm' // memoised results
  | 'd' // cached documents
  | 'p' // process-cache bookkeeping
  | 'L' // locks (also read-write locks and semaphores)
  | 'F' // fencing counters
  | 'S' // stampede leases
  | 'V' // versions (document fill guards)
  | 'T'; // tag tokens (tags/: one key per tag of a namespace or of the shared space)

export interface KeyScope {
  namespace: string;
  /** `null`: not user-scoped. */
  user: string | null;
  shared: boolean;
}

export interface ParsedKey {
  space: Space;
  user: string | null;
  name: string;
}

export const MAX_KEY_BYTES = 1024;
/** What every physical key starts with; then the escaped namespace and `:` (empty for shared keys). */
const NAMESPACE_HEAD = 'lr:';
const SHARED_PREFIX = `${NAMESPACE_HEAD}:`;
/** The prefix of every shared key (K1). */
export const SHARED_KEY_PREFIX = SHARED_PREFIX;

// Characters escaped in names: the escape char itself, Redis glob metacharacters, hash-tag braces,
// and control characters (matched on purpose, hence no-control-regex off for these four).
/* eslint-disable no-control-regex */
const NAME_UNSAFE = /[%*?[\]\\{}\u0000-\u001f\u007f]/;
const NAME_UNSAFE_G = /[%*?[\]\\{}\u0000-\u001f\u007f]/g;
// Namespaces and users additionally may not hold `:` (it ends them) or `=`.
const PART_UNSAFE = /[%*?[\]\\{}:=\u0000-\u001f\u007f]/;
const PART_UNSAFE_G = /[%*?[\]\\{}:=\u0000-\u001f\u007f]/g;
/* eslint-enable no-control-regex */

function hex2(ch: string): string {
  const c = ch.charCodeAt(0);
  return (c < 16 ? '%0' : '%') + c.toString(16).toUpperCase();
}

export function escapeName(s: string): string {
  return NAME_UNSAFE.test(s) ? s.replace(NAME_UNSAFE_G, hex2) : s;
}

export function escapePart(s: string): string {
  return PART_UNSAFE.test(s) ? s.replace(PART_UNSAFE_G, hex2) : s;
}

export function unescape(s: string): string {
  return s.includes('%') ? s.replace(/%([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))) : s;
}

/**
 * One name from several caller strings, such that no other list of strings gives the same name
 * (D5): in each part, `%` and the separator are percent-escaped (`%25`, `%2F` for `/`), then the
 * parts are joined by the separator. `joinParts(['Payroll:', 'x'])` and `joinParts(['Payroll',
 * ':x'])` differ, where a plain `${a}:${b}` gives both `Payroll::x`; and `joinParts([a]) + sep`
 * is a prefix of exactly the names whose first part is `a`. Names without `%` or the separator
 * read as written (`Item/ITEM-001`). Documents, @cached method names and tags use it.
 */
export function joinParts(parts: readonly string[], separator = '/'): string {
  if (separator.length !== 1 || separator === '%') throw new TypeError('joinParts: the separator is one character other than %');
  let out = '';
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (i > 0) out += separator;
    out += p.includes('%') || p.includes(separator) ? p.replaceAll('%', '%25').replaceAll(separator, hex2(separator)) : p;
  }
  return out;
}

/** FNV-1a over UTF-16 units: the same in every process and run. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * The hash tag of one logical object: from its name, its user scope and its namespace prefix.
 * The prefix is part of it so that a name every tenant uses (`bootinfo`, a popular doc) does not
 * put every tenant's copy in one slot, on one node.
 */
function tagOf(prefix: string, userPart: string, escapedName: string): string {
  const h = fnv1a(escapedName) ^ (userPart.length > 1 ? fnv1a(userPart) : 0) ^ prefixHash(prefix);
  const t = ((h >>> 16) ^ h) & 0xffff;
  return HEX2[t >>> 8]! + HEX2[t & 0xff]!;
}

/** `00`…`ff`: the tag is built from two of these rather than toString(16) + padStart on every key. */
const HEX2 = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

// The prefix's share of the tag, for the prefix of the previous call: nearly always the same one
// (one tenant per cache or request), so a key's tag costs one FNV pass over its name.
let lastPrefix = '';
let lastPrefixHash = Math.imul(fnv1a(''), 0x9e3779b1);
function prefixHash(prefix: string): number {
  if (prefix !== lastPrefix) {
    lastPrefixHash = Math.imul(fnv1a(prefix), 0x9e3779b1);
    lastPrefix = prefix;
  }
  return lastPrefixHash;
}

const prefixCache = new Map<string, string>();

/** The literal prefix of every physical key of a namespace (K5). */
export function namespacePrefix(namespace: string): string {
  let p = prefixCache.get(namespace);
  if (p === undefined) {
    p = `${NAMESPACE_HEAD}${escapePart(namespace)}:`;
    if (prefixCache.size > 10_000) prefixCache.clear();
    prefixCache.set(namespace, p);
  }
  return p;
}

export function scopePrefix(scope: KeyScope): string {
  return scope.shared ? SHARED_PREFIX : namespacePrefix(scope.namespace);
}

function userPart(user: string | null): string {
  return user === null ? '-' : `=${escapePart(user)}`;
}

/** The physical key of one logical object. Names must have been validated (validateKey). */
export function physicalKey(scope: KeyScope, space: Space, name: string): string {
  const u = userPart(scope.user);
  const n = escapeName(name);
  const prefix = scopePrefix(scope);
  // join, not a template: V8 builds a template of parts as a cons string (a tree of its pieces),
  // and a cons string kept as a Map key (embedded store, near cache) costs about 130 bytes more
  // per entry than the flat string join makes; socket writes would also flatten it on every send.
  return [prefix, '{', tagOf(prefix, u, n), '}', space, u, ':', n].join('');
}

/**
 * The key of `name` in `space`, unscoped, under a prefix taken from another physical key (the part
 * before its `{`): tags/ derives a tagged entry's tag keys from the entry's own key this way.
 */
export function keyInPrefix(prefix: string, space: Space, name: string): string {
  const n = escapeName(name);
  return [prefix, '{', tagOf(prefix, '-', n), '}', space, '-:', n].join('');
}

/** The prefix of a physical key (namespace or shared): everything before its hash tag. */
export function prefixOf(physical: string): string {
  return physical.slice(0, physical.indexOf('{'));
}

/**
 * Two physical keys in the same slot: e.g. a lock (`L`) and its fencing counter (`F`) share the
 * tag of the lock's name.
 */
export function siblingKey(physical: string, space: Space): string {
  const close = physical.indexOf('}');
  return physical.slice(0, close + 1) + space + physical.slice(close + 2);
}

/**
 * Parses a physical key of any namespace, shared keys included: its namespace (`null` for a
 * shared key) and its parts, or null if it is not one of ours. For invalidations that arrive as
 * physical keys with no scope beside them.
 */
export function parseAnyKey(physical: string): (ParsedKey & { namespace: string | null }) | null {
  const head = NAMESPACE_HEAD.length;
  if (!physical.startsWith(NAMESPACE_HEAD)) return null;
  const shared = physical.startsWith(SHARED_PREFIX);
  const end = shared ? head : physical.indexOf(':', head);
  if (end < 0) return null;
  const namespace = shared ? null : unescape(physical.slice(head, end));
  const parsed = parseKey(physical.slice(0, end + 1), physical);
  return parsed === null ? null : { ...parsed, namespace };
}

/** Parses a physical key of the given prefix; null if it is not one of ours. */
export function parseKey(prefix: string, physical: string): ParsedKey | null {
  if (!physical.startsWith(prefix)) return null;
  let i = prefix.length;
  if (physical.charCodeAt(i) !== 123 /* { */) return null;
  const close = physical.indexOf('}', i);
  if (close < 0) return null;
  i = close + 1;
  const space = physical[i] as Space | undefined;
  if (space === undefined) return null;
  const colon = physical.indexOf(':', i + 1);
  if (colon < 0) return null;
  const u = physical.slice(i + 1, colon);
  let user: string | null;
  if (u === '-') user = null;
  else if (u.startsWith('=')) user = unescape(u.slice(1));
  else return null;
  return { space, user, name: unescape(physical.slice(colon + 1)) };
}

export interface CompiledPattern {
  /** Redis glob used with SCAN MATCH: a superset of the keys meant. */
  glob: string;
  /** The exact test, applied to the parsed, unescaped name. */
  matches(name: string): boolean;
}

/**
 * P1: `*` matches any run of characters, everything else is literal, and a trailing `*` is implied.
 * `user` undefined matches any user part (used by clearCache and memo clearing); null only unscoped.
 *
 * Z1: the exact test is a glob matched in linear time (stores/glob.ts), never a backtracking
 * RegExp. The SCAN glob sent to Redis holds the name only up to its first `*`: Redis's own
 * matcher is exponential in the number of stars on Redis < 7.0.9 and 6.2 < 6.2.11 (CVE-2022-36021),
 * and a pattern is often built from user input. The glob stays a superset of the keys meant; the
 * exact test narrows it.
 */
export function compilePattern(
  prefix: string,
  spaces: string,
  user: string | null | undefined,
  pattern: string,
): CompiledPattern {
  const parts = pattern.split('*');
  const namesGlob = escapeName(parts[0]!) + '*';
  const userGlob = user === undefined ? '*' : userPart(user);
  const spaceGlob = spaces.length === 1 ? spaces : `[${spaces}]`;
  const glob = `${prefix}{*}${spaceGlob}${userGlob}:${namesGlob}`;
  let matches: (name: string) => boolean;
  if (parts.length === 1) {
    const lit = parts[0]!;
    matches = (name) => name.startsWith(lit);
  } else {
    const exact = compileGlob(parts.map(escapeGlob).join('*') + '*');
    matches = (name) => exact.test(name);
  }
  return { glob, matches };
}

const encoder = new TextEncoder();

/** K4: a non-empty, well-formed string of at most 1,024 UTF-8 bytes. Throws KeyError before any I/O. */
export function validateKey(key: unknown, what = 'key'): asserts key is string {
  if (typeof key !== 'string') {
    throw new KeyError(`${what} must be a string, got ${key === null ? 'null' : typeof key}`);
  }
  if (key.length === 0) throw new KeyError(`${what} must not be empty`);
  // Fast path: 341 UTF-16 units can never exceed 1,024 UTF-8 bytes.
  if (key.length > 341 && (key.length > MAX_KEY_BYTES || encoder.encode(key).length > MAX_KEY_BYTES)) {
    throw new KeyError(`${what} is longer than ${MAX_KEY_BYTES} UTF-8 bytes`);
  }
  if (!key.isWellFormed()) throw new KeyError(`${what} holds a lone surrogate and has no UTF-8 form`);
}

/** Namespaces and user ids follow the key rules (non-empty, bounded, well-formed). */
export function validateScopePart(value: unknown, what: 'namespace' | 'user'): asserts value is string {
  validateKey(value, what);
}
