/**
 * One key of the embedded store: its type, its value, its deadline and its size as the bounds
 * count it. Entries are the LRU list's own nodes (lru.ts), so recency costs no allocation.
 */

import type { SharedDecoder } from '../store.js';
import type { LruNode } from './lru.js';

/** Bytes counted per key besides its name (2 bytes per UTF-16 unit) and contents. */
export const ENTRY_OVERHEAD = 64;
/**
 * Bytes counted per element of a hash, list, set or sorted set besides its contents: a hash field
 * counts 2 per name unit + value bytes, a list element its bytes, a set member twice its bytes (it
 * is kept as a Buffer and as a latin1 string), a sorted-set member 2 per name unit + 8 for the score.
 */
export const ELEMENT_OVERHEAD = 16;

/** 'gone': removed from the keyspace; only a StoreRef still reaches it. */
export type EntryType = 'string' | 'hash' | 'list' | 'set' | 'zset' | 'gone';
export type Hash = Map<string, Buffer>;
/** Set members keyed by their bytes read as latin1 (a bijection), holding the bytes. */
export type Members = Map<string, Buffer>;
export type Zset = Map<string, number>;
export type Value = Buffer | Hash | Buffer[] | Members | Zset;

/** The deadline of an entry that never expires. */
export const NO_EXPIRY = Infinity;

export class Entry implements LruNode {
  lruPrev: LruNode | null = null;
  lruNext: LruNode | null = null;
  /** Keyspace.moves when this entry last moved to the newest end of the LRU list. */
  stamp = 0;
  /** The decoder that made `shared` from a string's bytes (Store.readShared); null: not decoded. */
  dec: SharedDecoder | null = null;
  /** What `dec` made of the bytes, handed to every reader until the value changes. */
  shared: unknown = undefined;
  constructor(
    readonly key: string,
    public type: EntryType,
    public value: Value,
    /** Deadline in ms on the store clock; NO_EXPIRY for none. */
    public exp: number,
    /** Approximate bytes, key and overhead included. */
    public size: number,
    /** Creation order: a scan stops at the first entry born after it started. */
    readonly born: number,
  ) {}
}

/** Bytes counted for an entry before its contents: the overhead and its name. */
export function keyBytes(key: string): number {
  return ENTRY_OVERHEAD + key.length * 2;
}
