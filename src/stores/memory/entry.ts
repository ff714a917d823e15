/**
 * One key of the embedded store: its type, its value, its deadline and its size as the bounds
 * count it. Entries are the LRU list's own nodes (lru.ts), so recency costs no allocation.
 */

import { stringSize } from '../../codec/heap-size.js';
import type { SharedDecoder } from '../store.js';
import type { LruNode } from './lru.js';

/**
 * Bytes counted per key besides its name and contents: the Entry object (its fields and its
 * expiry as a heap number, 128 B measured) and its slot in the keyspace's Map (about 30 B).
 * Measured on Node 20 x64 (no pointer compression); max-bytes.ts checks the total against the
 * heap a full store really holds.
 */
export const ENTRY_OVERHEAD = 150;
/**
 * Bytes counted per element of a hash, list, set or sorted set besides its contents: the element's
 * Buffer object (about 95 B, see stringBytes) and its slot in the collection's Map or array. A
 * hash field counts 2 per name unit + value bytes, a list element its bytes, a set member twice
 * its bytes (it is kept as a Buffer and as a latin1 string), a sorted-set member 2 per name unit +
 * 8 for the score.
 */
export const ELEMENT_OVERHEAD = 128;

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
  /** A StoreRef was handed out for it (its size counts the holder's share: Keyspace.refOf). */
  referenced = false;
  /** Removed from the keyspace (a StoreRef may still reach it). */
  get gone(): boolean {
    return this.type === 'gone';
  }
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
  return ENTRY_OVERHEAD + stringSize(key);
}

/**
 * Bytes a string entry's Buffer holds: its contents and the Buffer object (about 95 B on the
 * heap), plus a share of the 8 KiB pool slabs small copies are cut from, or for a buffer of 4 KiB
 * and more its own ArrayBuffer and backing-store record (measured: 60 B → 161, 1,000 → 1,136,
 * 5,000 → 5,184 per buffer).
 */
export function stringBytes(b: Buffer): number {
  const n = b.length;
  return n + (n < 4096 ? 96 + (n >>> 5) : 180);
}
