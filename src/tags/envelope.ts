/**
 * The header a tagged entry carries in front of its bytes: the names of its tags and, for each,
 * the tag's token as it was read before the entry was written (or its generator started, T4).
 *
 *   C1 FD 54 01 | count: u8 | count × (name length: u16 LE, name UTF-8, token length: u8, token) | bytes
 *
 *   C1 FD 54 01  magic and format version. `C1` followed by a version byte is the codec's own
 *                header; `FD` is never one of its versions (nor `FE`, the S6/S7 envelope's), so no
 *                plain value or stale-policy entry starts so. `C1` never starts valid UTF-8 or
 *                MessagePack either, which keeps custom codecs' values apart too.
 *   bytes        what the entry would hold untagged (a plain value, or an S6/S7 envelope).
 *
 * An untagged read costs one byte compare (`isTagged`): it is the only thing the hot read path
 * adds. The names (not the tag keys) are stored: the keys follow from the entry's own prefix.
 */
const M0 = 0xc1;
const M1 = 0xfd;
const M2 = 0x54;
const VERSION = 0x01;
const HEAD = 5;

/** Whether stored bytes carry a tag header. The first compare fails for nearly every plain value. */
export function isTagged(bytes: Uint8Array): boolean {
  return bytes[1] === M1 && bytes[0] === M0 && bytes.length >= HEAD && bytes[2] === M2 && bytes[3] === VERSION;
}

export interface TagHeader {
  names: string[];
  /** The tokens, as views into the stored bytes. */
  tokens: Buffer[];
  /** Where the untagged bytes start. */
  end: number;
}

/** The header of tagged bytes, or null if it is malformed (treated as a miss). */
export function readHeader(bytes: Buffer): TagHeader | null {
  const count = bytes[4]!;
  const names: string[] = [];
  const tokens: Buffer[] = [];
  let i = HEAD;
  for (let n = 0; n < count; n++) {
    if (i + 2 > bytes.length) return null;
    const len = bytes.readUInt16LE(i);
    i += 2;
    if (i + len + 1 > bytes.length) return null;
    names.push(bytes.toString('utf8', i, i + len));
    i += len;
    const tlen = bytes[i]!;
    i += 1;
    if (i + tlen > bytes.length) return null;
    tokens.push(bytes.subarray(i, i + tlen));
    i += tlen;
  }
  return { names, tokens, end: i };
}

/** A header for these names and tokens (as many of each; at most 255). */
export function writeHeader(names: readonly string[], tokens: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [Buffer.from([M0, M1, M2, VERSION, names.length])];
  for (let i = 0; i < names.length; i++) {
    const name = Buffer.from(names[i]!, 'utf8');
    const len = Buffer.allocUnsafe(2);
    len.writeUInt16LE(name.length);
    const token = tokens[i]!;
    parts.push(len, name, Buffer.from([token.length]), token);
  }
  return Buffer.concat(parts);
}

/** Tagged bytes: `header` in front of `bytes`. */
export function withHeader(header: Buffer, bytes: Buffer): Buffer {
  return Buffer.concat([header, bytes]);
}
