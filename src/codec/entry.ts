/**
 * The metadata envelope of entries written by `getValue` with `earlyRefresh`,
 * `staleWhileRevalidateSec` or `staleIfErrorSec` (S6, S7). Those need to know, at read time, when
 * the value logically expires and how long it took to compute; the store's TTL cannot say (it is
 * extended by the stale window, so the entry outlives its logical expiry).
 *
 *   C1 FE 4C 01 | exp: float64 LE | delta: uint32 LE | value bytes
 *
 *   C1 FE 4C 01  magic and format version. `C1` then a version byte is the built-in codec's own
 *                header (version 01); `FE` is never one of its versions, so no plain value starts
 *                so. `C1` is also unused in MessagePack and never starts valid UTF-8 (JSON), so
 *                values of the usual custom codecs cannot be mistaken for an envelope either.
 *   exp          the logical expiry, in ms on the writer's clock (`options.now`, `Date.now` by
 *                default: processes sharing a store should have synchronised clocks).
 *   delta        how long the generator ran, in ms (XFetch's `delta`), capped at 2^32 - 1.
 *   value bytes  the value as the cache's codec encodes it (a plain entry's bytes).
 *
 * Readers: `getValue` with those options reads the envelope; every other read of the key (plain
 * `getValue`, `getMany`, the near cache) decodes the value and treats it as a miss from `exp` on,
 * so the stale window is only ever served to callers who asked for stale data.
 * Entries without an expiry are written plain (there is nothing to refresh early or serve stale).
 */

export const ENTRY_HEADER_BYTES = 16;
const M0 = 0xc1;
const M1 = 0xfe;
const M2 = 0x4c;
const VERSION = 0x01;

export interface Entry {
  /** Logical expiry, ms. */
  exp: number;
  /** Last compute time, ms. */
  delta: number;
  /** The codec's bytes of the value (a view into the stored buffer). */
  value: Buffer;
}

/** Whether stored bytes are an envelope (cheap: four byte compares). */
export function isEntry(bytes: Uint8Array): boolean {
  return bytes.length >= ENTRY_HEADER_BYTES && bytes[0] === M0 && bytes[1] === M1 && bytes[2] === M2 && bytes[3] === VERSION;
}

export function writeEntry(value: Buffer, exp: number, delta: number): Buffer {
  const out = Buffer.allocUnsafe(ENTRY_HEADER_BYTES + value.length);
  out[0] = M0;
  out[1] = M1;
  out[2] = M2;
  out[3] = VERSION;
  out.writeDoubleLE(exp, 4);
  out.writeUInt32LE(Math.max(0, Math.min(0xffffffff, Math.round(delta))), 12);
  value.copy(out, ENTRY_HEADER_BYTES);
  return out;
}

/** The envelope's parts, or null if the bytes are a plain value. */
export function readEntry(bytes: Buffer): Entry | null {
  if (!isEntry(bytes)) return null;
  return {
    exp: entryExpiry(bytes),
    delta: bytes.readUInt32LE(12),
    value: entryValue(bytes),
  };
}

/** The logical expiry (ms) of bytes that `isEntry` accepted. */
export function entryExpiry(entry: Buffer): number {
  return entry.readDoubleLE(4);
}

/** The codec's bytes inside bytes that `isEntry` accepted (a view, not a copy). */
export function entryValue(entry: Buffer): Buffer {
  return entry.subarray(ENTRY_HEADER_BYTES);
}

/**
 * XFetch (S6): recompute early when `now − delta·beta·ln(random()) ≥ exp`. `ln(random())` is ≤ 0,
 * so the left side is `now` pushed forward by a random multiple of the compute time: entries that
 * are slow to compute start refreshing earlier, and among many readers about one does at a time.
 */
export function xfetchDue(now: number, entry: Pick<Entry, 'exp' | 'delta'>, beta: number, random: () => number): boolean {
  return now - entry.delta * beta * Math.log(random()) >= entry.exp;
}
