/**
 * The Node Buffer methods the codec calls on its hot path that `@types/node` does not declare.
 * They are the primitives behind `toString`/`write`, without the argument normalisation those
 * wrappers do on every call; both the encoder and the decoder cast their buffers to this type.
 */

/** Node's Buffer has these (they skip `toString`/`write`'s argument normalisation); not in @types. */
export interface FastBuffer extends Buffer {
  utf8Slice(start: number, end: number): string;
  utf8Write(s: string, offset: number, length?: number): number;
  ucs2Slice(start: number, end: number): string;
  latin1Slice(start: number, end: number): string;
}
