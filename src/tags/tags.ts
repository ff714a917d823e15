/**
 * Tags (SPEC §14, T1–T8): one call invalidates every entry that carries a tag, whatever kind of
 * entry it is, in every process.
 *
 * ## How (lazy invalidation by tokens)
 *
 * Every tag of a namespace (or of the shared space) has one key, `<prefix>{<hash>}T-:<tag>`, that
 * holds a random token while entries carrying the tag may exist. A tagged write first reads the
 * tokens of its tags (creating missing ones, `touchTag`) and stores them in a header in front of
 * the entry's bytes (envelope.ts). A read of a tagged entry reads its tags' keys (one MGET, one
 * round trip: the tags' slots are asked in parallel) and serves the entry only if every token is
 * the one it carries. `invalidateTags` deletes the tag keys: O(tags), whatever the number of
 * entries. A deleted (or evicted, or expired) tag key never holds an old token again (a new one is
 * random), so an entry stamped before the delete is never served again; its reader removes it.
 *
 *  - T4, no stale fill: a fill reads its tokens before its generator (or document load) starts, so
 *    an invalidation during the run leaves the fill stamped with a dead token: returned, never
 *    served. In this process it is not even written (`stillValid`, below).
 *  - T5, nothing accumulates: a tag key lives as long as the longest-lived entry that carried it
 *    plus leaseMs (the touch raises its TTL); an invalidated tag has no key at all; invalidated
 *    entries are deleted by their next reader or expire with their TTL.
 *  - Near cache (N2): a read takes the entry's tag keys as dependencies before it sends their
 *    MGET; Redis tracks the tag keys for this connection, so an invalidation by any other process
 *    arrives as an invalidation of a tag key, and `onInvalidate` drops every near copy depending on
 *    it (and spoils reads of them in flight). This process's own invalidations drop them at once.
 *  - F3: tag keys whose delete could not reach the store are pending invalidations like any key;
 *    while one is pending no entry carrying it is served here, and no fill takes its old token.
 *
 * ## Redis Cluster
 *
 * Tag keys are hash-tagged by their own name (keys.ts), so the tags of one tenant spread over all
 * slots, as its entries do. Nothing needs two slots at once: a touch is one key, an invalidation is
 * one DEL per slot, and a read compares each token on its own. Correctness only needs each tag key
 * to be read after its delete, which holds on its master.
 */
import { randomBytes } from 'node:crypto';
import { ignore } from '../ignore.js';
import { keyInPrefix, prefixOf } from '../keys.js';
import type { NearCache } from '../near/near-cache.js';
import type { StoreGuard } from '../policy/guard.js';
import type { PendingInvalidations } from '../policy/invalidations.js';
import type { Store, TtlMs } from '../stores/store.js';
import { isTagged, readHeader, writeHeader, type TagHeader } from './envelope.js';
import { compareAndDelete } from '../values/scripts.js';
import { dropHashIfSame, touchTag } from './scripts.js';

/** What tags need from the core. */
export interface TagPort {
  /** The store itself (touch scripts: their final read re-tracks the tag key). */
  readonly store: Store;
  /** The store as the value paths see it (reads, deletes). */
  readonly values: Store;
  readonly guard: StoreGuard;
  readonly invalidations: PendingInvalidations;
  readonly near: NearCache | null;
  readonly leaseMs: number;
}

/** The tokens a write read for its tags, and when (for `stillValid`). */
export interface Stamp {
  readonly names: readonly string[];
  readonly keys: readonly string[];
  readonly tokens: readonly Buffer[];
  readonly header: Buffer;
  readonly seq: number;
}

/** Tag tokens read beside an entry (`readHinted`), for `check`. */
export interface HintedRead {
  readonly keys: readonly string[];
  readonly tokens: Array<Buffer | null>;
}

function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Entries whose tag keys are remembered for one-round-trip reads. */
const MAX_HINTS = 100_000;

/** A tag key's space letter sits right after the hash tag's `}`. */
const T = 84;
function isTagKey(pk: string): boolean {
  return pk.charCodeAt(pk.indexOf('}') + 1) === T;
}

/** Past this many remembered invalidations, the oldest are folded into one floor. */
const MAX_RECENT = 10_000;

export class Tags {
  readonly #port: TagPort;
  /** Tokens: unique per process (random) and per call (counter). */
  readonly #tokenHead = randomBytes(6).toString('base64url');
  #tokenSeq = 0;
  /** Near-cache dependencies: tag key → physical keys of entries whose near copies carry it. */
  readonly #deps = new Map<string, Set<string>>();
  #depCount = 0;
  #depLimit = 4096;
  /** Invalidations seen here (own, or pushed by Redis), by tag key: the sequence number they got. */
  readonly #recent = new Map<string, number>();
  #seq = 0;
  /** Stamps older than this are not trusted (the recent map was folded, or everything was dropped). */
  #floor = 0;
  readonly #keyCache = new Map<string, string>();
  /** Physical key → the tag keys its last tagged read found (`hint`). */
  readonly #hints = new Map<string, readonly string[]>();

  constructor(port: TagPort) {
    this.#port = port;
  }

  /** The tag keys of `names` for an entry whose physical key is `pk` (same namespace or shared space). */
  keysFor(pk: string, names: readonly string[]): string[] {
    return this.keysIn(prefixOf(pk), names);
  }

  keysIn(prefix: string, names: readonly string[]): string[] {
    const cache = this.#keyCache;
    return names.map((name) => {
      const id = `${prefix}\u0000${name}`;
      let k = cache.get(id);
      if (k === undefined) {
        k = keyInPrefix(prefix, 'T', name);
        if (cache.size >= 10_000) cache.clear();
        cache.set(id, k);
      }
      return k;
    });
  }

  #token(): string {
    return `${this.#tokenHead}${(this.#tokenSeq++).toString(36)}`;
  }

  /**
   * Reads (creating where missing) the tokens of `names` for an entry of key `pk` that will live
   * `ttlMs`. Null when they cannot be read (the store unavailable in degrade mode, or a delete of
   * one of the tags still pending): then nothing may be cached.
   */
  async stamp(pk: string, names: readonly string[], ttlMs: TtlMs): Promise<Stamp | null> {
    const keys = this.keysFor(pk, names);
    const { invalidations, guard, store } = this.#port;
    // F3: a pending delete of one of the tags goes first; never stamp with the token it removes.
    if (invalidations.size !== 0 && keys.some((k) => invalidations.blocks(k)) && !(await invalidations.flush())) return null;
    const seq = this.#seq;
    const want = ttlMs === null ? 0 : ttlMs + this.#port.leaseMs;
    const replies = await Promise.all(keys.map((k) => guard.write('EVALSHA', () => store.eval(touchTag, [k], [this.#token(), want]))));
    const tokens: Buffer[] = [];
    for (const r of replies) {
      if (!Buffer.isBuffer(r)) return null;
      tokens.push(r);
    }
    return { names, keys, tokens, header: writeHeader(names, tokens), seq };
  }

  /** One stamp of two taken for the same entry (a document's automatic tags, then its own). */
  combine(a: Stamp, b: Stamp): Stamp {
    const names = [...a.names];
    const keys = [...a.keys];
    const tokens = [...a.tokens];
    for (let i = 0; i < b.names.length; i++) {
      if (names.includes(b.names[i]!)) continue;
      names.push(b.names[i]!);
      keys.push(b.keys[i]!);
      tokens.push(b.tokens[i]!);
    }
    return { names, keys, tokens, header: writeHeader(names, tokens), seq: Math.min(a.seq, b.seq) };
  }

  /** A stamp for the union of two (a hash's old header and its new tags): the older tokens win. */
  merge(old: TagHeader | null, stamp: Stamp): Buffer {
    if (old === null) return stamp.header;
    const names = [...old.names];
    const tokens = [...old.tokens];
    for (let i = 0; i < stamp.names.length; i++) {
      if (names.includes(stamp.names[i]!)) continue;
      names.push(stamp.names[i]!);
      tokens.push(stamp.tokens[i]!);
    }
    if (names.length > 255) throw new TypeError('a hash may carry at most 255 tags over all its writes');
    return writeHeader(names, tokens);
  }

  /**
   * Whether no invalidation of the stamp's tags reached this process since it was taken (own, or
   * pushed by Redis to the near cache's tracking), and none is pending. A fill that fails this is
   * returned but not written (T4). Synchronous: call it right before the write.
   */
  stillValid(stamp: Stamp): boolean {
    if (stamp.seq < this.#floor) return false;
    const inv = this.#port.invalidations;
    for (const k of stamp.keys) {
      const at = this.#recent.get(k);
      if (at !== undefined && at > stamp.seq) return false;
      if (inv.size !== 0 && inv.blocks(k)) return false;
    }
    return true;
  }

  /**
   * Registers near-cache dependencies of entry `pk` on its tag keys, before whatever may keep it
   * near (a read's MGET, a tracked write): an invalidation of a tag key from then on drops it.
   */
  attach(pk: string, keys: readonly string[]): void {
    const near = this.#port.near;
    if (!near?.active) return;
    for (const k of keys) {
      let set = this.#deps.get(k);
      if (set === undefined) this.#deps.set(k, (set = new Set()));
      if (!set.has(pk)) {
        set.add(pk);
        this.#depCount++;
      }
    }
    if (this.#depCount > this.#depLimit) this.#prune(near);
  }

  /** Forgets dependencies of entries no longer kept near; bounded by what the near cache holds. */
  #prune(near: NearCache): void {
    let count = 0;
    for (const [k, set] of this.#deps) {
      for (const pk of set) if (!near.has(pk)) set.delete(pk);
      if (set.size === 0) this.#deps.delete(k);
      count += set.size;
    }
    this.#depCount = count;
    this.#depLimit = Math.max(4096, count * 2);
  }

  /**
   * The untagged bytes of a tagged entry read from the store under `pk`, or null when one of its
   * tags was invalidated (the entry is then deleted, unless rewritten since), a delete of one is
   * pending (F3), or the tags cannot be read (store unavailable: a miss, F2).
   */
  async check(pk: string, bytes: Buffer, hinted?: HintedRead): Promise<Buffer | null> {
    const header = readHeader(bytes);
    if (header === null) return null;
    const keys = this.keysFor(pk, header.names);
    this.#remember(pk, keys);
    if (this.#blocked(keys)) return null;
    this.attach(pk, keys);
    let got: Array<Buffer | null> | null;
    if (hinted !== undefined && sameKeys(hinted.keys, keys)) got = hinted.tokens;
    else {
      // The entry was rewritten with other tags: ask for those next time.
      if (hinted !== undefined) this.#hints.set(pk, keys);
      const { guard, values } = this.#port;
      // One get per tag, not an MGET of its own: the store coalesces the gets of one tick (every
      // concurrent reader's tags, deduplicated) into one MGET per slot (stores/redis/batch.ts), sent
      // after this call, so a read that starts after an invalidation resolved sees it.
      got = await guard.read('GET', () => Promise.all(keys.map((k) => values.get(k))), null);
    }
    if (got !== null && current(header, got, 0)) return bytes.subarray(header.end);
    if (got !== null) this.#drop(pk, bytes);
    return null;
  }

  /**
   * The tag keys a read of `pk` should ask for beside the entry, in the same tick (one round trip,
   * T3): those its last read here found. Undefined for keys never seen tagged (one Map lookup, and
   * none at all while no tagged entry was read).
   */
  hint(pk: string): readonly string[] | undefined {
    return this.#hints.size === 0 ? undefined : this.#hints.get(pk);
  }

  #remember(pk: string, keys: readonly string[]): void {
    const hints = this.#hints;
    if (hints.get(pk) !== undefined) return;
    if (hints.size >= MAX_HINTS) hints.clear();
    hints.set(pk, keys);
  }

  /** The entry's and its hinted tags' gets, sent in one tick (`hint`). */
  async readHinted(pk: string, keys: readonly string[]): Promise<{ bytes: Buffer | null; hinted: HintedRead } | null> {
    const { guard, values } = this.#port;
    // Near-cache dependencies first: an invalidation of a tag from now on spoils this read.
    this.attach(pk, keys);
    const got = await guard.read('GET', () => Promise.all([values.get(pk), ...keys.map((k) => values.get(k))]), null);
    if (got === null) return null;
    const bytes = got[0] ?? null;
    if (bytes === null || !isTagged(bytes)) this.#hints.delete(pk);
    return { bytes, hinted: { keys, tokens: got.slice(1) } };
  }

  /**
   * Whether a hash whose tag header (its reserved field) is `header` may be served; an invalidated
   * hash is deleted, unless its header changed since.
   */
  async checkHash(pk: string, header: Buffer, field: string): Promise<boolean> {
    const h = isTagged(header) ? readHeader(header) : null;
    if (h === null) return false;
    const keys = this.keysFor(pk, h.names);
    if (this.#blocked(keys)) return false;
    const { guard, values } = this.#port;
    const got = await guard.read('MGET', () => values.getMany(keys), null);
    if (got === null) return false;
    if (current(h, got, 0)) return true;
    guard.write('EVALSHA', () => values.eval(dropHashIfSame, [pk], [field, header])).catch(ignore);
    return false;
  }

  /** `check` of several entries, with one MGET for all their tags. */
  async checkMany(pks: readonly string[], entries: readonly Buffer[]): Promise<Array<Buffer | null>> {
    const headers = entries.map(readHeader);
    const all: string[] = [];
    const at: number[] = [];
    for (let i = 0; i < pks.length; i++) {
      const h = headers[i];
      at.push(all.length);
      if (h == null) continue;
      const keys = this.keysFor(pks[i]!, h.names);
      this.attach(pks[i]!, keys);
      all.push(...keys);
    }
    const { guard, values } = this.#port;
    const got = all.length === 0 ? [] : await guard.read('MGET', () => values.getMany(all), null);
    return pks.map((pk, i) => {
      const h = headers[i];
      if (h == null || got === null) return null;
      if (this.#blocked(all.slice(at[i], at[i]! + h.names.length))) return null;
      if (current(h, got, at[i]!)) return entries[i]!.subarray(h.end);
      this.#drop(pk, entries[i]!);
      return null;
    });
  }

  /** Whether a delete of one of these tag keys is pending (F3); kicks off its retry. */
  #blocked(keys: readonly string[]): boolean {
    const inv = this.#port.invalidations;
    if (inv.size === 0 || !keys.some((k) => inv.blocks(k))) return false;
    void inv.flush();
    return true;
  }

  #drop(pk: string, bytes: Buffer): void {
    const { guard, values } = this.#port;
    guard.write('EVALSHA', () => values.eval(compareAndDelete, [pk], [bytes])).catch(ignore);
  }

  /**
   * Invalidates tags of one prefix (a namespace, or the shared space): drops this process's near
   * copies of their entries at once, then deletes the tag keys; a delete that cannot reach the
   * store is remembered and retried (F3), and in degrade mode resolves as a dropped write does.
   */
  async invalidate(prefix: string, names: readonly string[]): Promise<void> {
    const keys = this.keysIn(prefix, names);
    this.#invalidated(keys);
    await this.#port.invalidations.delete(keys, 'DEL');
  }

  /** Tag keys invalidated (here, or pushed by Redis): near dependents go, fills that read them are refused. */
  #invalidated(keys: readonly string[]): void {
    const seq = ++this.#seq;
    const near = this.#port.near;
    for (const k of keys) {
      this.#recent.set(k, seq);
      const set = this.#deps.get(k);
      if (set === undefined) continue;
      this.#deps.delete(k);
      this.#depCount -= set.size;
      if (near !== null) for (const pk of set) near.drop(pk);
    }
    if (this.#recent.size > MAX_RECENT) {
      this.#recent.clear();
      this.#floor = ++this.#seq;
    }
  }

  /**
   * The near cache's invalidation sink, after the near cache itself: tag keys among `keys` drop their
   * dependents; `null` (a flush, a lost connection) means no stamp taken so far can be trusted.
   */
  onInvalidate(keys: readonly string[] | null): void {
    if (keys === null) {
      this.everything();
      return;
    }
    let tagKeys: string[] | undefined;
    for (const k of keys) if (isTagKey(k)) (tagKeys ??= []).push(k);
    if (tagKeys !== undefined) this.#invalidated(tagKeys);
  }

  /** Everything may have changed (tracking lost or restored, a flush): trust no stamp taken so far. */
  everything(): void {
    this.#deps.clear();
    this.#depCount = 0;
    this.#recent.clear();
    this.#floor = ++this.#seq;
  }
}

/** Whether every token of `h` equals the one read for it (`got` from `from` on). */
function current(h: TagHeader, got: ReadonlyArray<Buffer | null>, from: number): boolean {
  for (let i = 0; i < h.tokens.length; i++) {
    const now = got[from + i];
    if (!now?.equals(h.tokens[i]!)) return false;
  }
  return true;
}
