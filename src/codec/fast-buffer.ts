/**
 * A type for Node's own Buffer methods that the encoder and the decoder call on their hot paths;
 * `@types/node` does not declare them, so both sides cast their buffers to this one declaration.
 */

/** Node's Buffer has these (they skip `toString`/`write`'s argument normalisation); not in @types. */
export interface FastBuffer extends Buffer {
  utf8Slice(start: number, end: number): string;
  utf8Write(s: string, offset: number, length?: number): number;
  ucs2Slice(start: number, end: number): string;
  latin1Slice(start: number, end: number): string;
}
