/**
 * Redis glob patterns (SCAN MATCH, KEYS), matched in JavaScript exactly as Redis's
 * `stringmatchlen` matches them, in time linear (or near-linear) in the key (Z1).
 *
 *   *        any run of characters, the empty one included
 *   ?        exactly one character
 *   [abc]    one of the listed characters; `[a-z]` a range (reversed ends are swapped, as Redis
 *            does); `[^...]` negates; `\x` inside a class is a literal x
 *   \x       a literal x outside a class; a lone trailing `\` is a literal backslash
 *   else     literal, `{` and `}` included (larder's hash tags: `lr:acme:{*}[kumd]-:item*`)
 *
 * The quirks of Redis's `stringmatchlen` are kept: `[]` matches nothing and `[^]` any character;
 * an unterminated class (`[abc`) runs to the end of the pattern; in `[a-]` the `]` is the end of
 * the range `a-]`, not of the class; an empty key matches only the empty pattern (SCAN and KEYS
 * special-case the pattern `*` alone, and so does `compileGlob`).
 *
 * ## Why not a RegExp
 *
 * A pattern compiled to a backtracking RegExp (`^a[\s\S]*a[\s\S]*a[\s\S]*b$`) takes time
 * exponential in its number of stars on a key that almost matches: `a*a*a*a*b` over one
 * 300-character key took seconds, and a caller's `deleteKeys(\`price::${userInput}\`)` is enough
 * to hand one in. Here the pattern is cut at its stars into segments of one-character tokens;
 * the first segment must match at the start of the key, the last at its end, and every segment
 * between them at its leftmost place after the previous one. Taking the leftmost place is always
 * right: any later place leaves less room for the segments after it, never more. Each segment
 * is looked for once, from where the previous one ended, so the work is at most the key's
 * length times the longest segment, and a segment of literals is found with `indexOf`.
 *
 * One difference cannot be avoided: Redis matches bytes, this matches characters (code points), so
 * `?` against a non-ASCII character of a key means one byte there and one character here. larder
 * only emits `*`, single-letter classes and ASCII literals around escaped names, where the two agree.
 */

export interface Glob {
  /** The characters every match starts with: a cheap pre-filter before the full test. */
  readonly prefix: string;
  /** True if the whole string matches the pattern. */
  test(s: string): boolean;
}

/** A one-character token: a code point (a literal), `ANY` (`?`), or a class. */
type Token = number | CharClass;
const ANY = -1;

interface CharClass {
  readonly negate: boolean;
  /** Inclusive code point ranges, [lo0, hi0, lo1, hi1, …]; a single character is lo = hi. */
  readonly ranges: readonly number[];
}

/** The segments between the stars, each with its literal text when it holds only literals. */
interface Segment {
  readonly tokens: readonly Token[];
  /** The literal string the segment matches, or null if it holds `?` or a class. */
  readonly literal: string | null;
}

function codePoint(ch: string): number {
  return ch.codePointAt(0) ?? 0;
}

/**
 * Cuts a pattern into its segments: `segments.length - 1` stars separate them (runs of stars
 * count as one). Parsing does not depend on the key, as in Redis.
 */
function parse(pattern: string): Segment[] {
  const p = Array.from(pattern);
  const n = p.length;
  const segments: Segment[] = [];
  let tokens: Token[] = [];
  const close = () => {
    let literal: string | null = '';
    for (const t of tokens) {
      if (typeof t !== 'number' || t === ANY) {
        literal = null;
        break;
      }
      literal += String.fromCodePoint(t);
    }
    segments.push({ tokens, literal });
    tokens = [];
  };
  for (let i = 0; i < n; i++) {
    const c = p[i]!;
    if (c === '*') {
      while (i + 1 < n && p[i + 1] === '*') i++;
      close();
    } else if (c === '?') {
      tokens.push(ANY);
    } else if (c === '\\') {
      if (i + 1 < n) i++;
      tokens.push(codePoint(p[i]!));
    } else if (c === '[') {
      i++;
      const negate = p[i] === '^';
      if (negate) i++;
      const ranges: number[] = [];
      for (; i < n; i++) {
        const d = p[i]!;
        if (d === '\\' && i + 1 < n) {
          i++;
          const x = codePoint(p[i]!);
          ranges.push(x, x);
        } else if (d === ']') {
          break;
        } else if (i + 2 < n && p[i + 1] === '-') {
          const a = codePoint(d);
          const b = codePoint(p[i + 2]!);
          ranges.push(Math.min(a, b), Math.max(a, b));
          i += 2;
        } else {
          const x = codePoint(d);
          ranges.push(x, x);
        }
      }
      // An unterminated class ends with the pattern (i === n here, and the loop ends).
      tokens.push({ negate, ranges });
    } else {
      tokens.push(codePoint(c));
    }
  }
  close();
  return segments;
}

function accepts(t: Token, cp: number): boolean {
  if (typeof t === 'number') return t === ANY || t === cp;
  const r = t.ranges;
  let inside = false;
  for (let j = 0; j < r.length; j += 2) {
    if (cp >= r[j]! && cp <= r[j + 1]!) {
      inside = true;
      break;
    }
  }
  return inside !== t.negate;
}

/** The code point at `i` and its width in UTF-16 units (2 for a surrogate pair). */
function widthAt(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
    const d = s.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) return 2;
  }
  return 1;
}

/** Matches `seg` at `i`, not past `end`: the index after the match, or -1. */
function matchAt(seg: Segment, s: string, i: number, end: number): number {
  if (seg.literal !== null) {
    const lit = seg.literal;
    return i + lit.length <= end && s.startsWith(lit, i) ? i + lit.length : -1;
  }
  for (const t of seg.tokens) {
    if (i >= end) return -1;
    const w = widthAt(s, i);
    const cp = s.codePointAt(i);
    if (cp === undefined || i + w > end || !accepts(t, cp)) return -1;
    i += w;
  }
  return i;
}

/** Matches `seg` so that it ends exactly at `end`, not before `start`: where it begins, or -1. */
function matchEndingAt(seg: Segment, s: string, start: number, end: number): number {
  if (seg.literal !== null) {
    const b = end - seg.literal.length;
    return b >= start && s.startsWith(seg.literal, b) ? b : -1;
  }
  let i = end;
  for (let k = seg.tokens.length - 1; k >= 0; k--) {
    if (i <= start) return -1;
    // The code point ending at i: a pair if a low surrogate follows a high one.
    let w = 1;
    const c = s.charCodeAt(i - 1);
    if (c >= 0xdc00 && c <= 0xdfff && i - 2 >= start) {
      const h = s.charCodeAt(i - 2);
      if (h >= 0xd800 && h <= 0xdbff) w = 2;
    }
    i -= w;
    const cp = s.codePointAt(i);
    if (cp === undefined || !accepts(seg.tokens[k]!, cp)) return -1;
  }
  return i;
}

/** The leftmost match of `seg` in s[from, end): the index after it, or -1. */
function findFrom(seg: Segment, s: string, from: number, end: number): number {
  if (seg.literal !== null) {
    const at = s.indexOf(seg.literal, from);
    return at < 0 || at + seg.literal.length > end ? -1 : at + seg.literal.length;
  }
  for (let i = from; i < end; i += widthAt(s, i)) {
    const e = matchAt(seg, s, i, end);
    if (e >= 0) return e;
  }
  return seg.tokens.length === 0 ? from : -1;
}

function matchSegments(segments: readonly Segment[], s: string): boolean {
  const n = s.length;
  // Redis: an empty key matches only an empty pattern (its loop never starts).
  if (n === 0) return segments.length === 1 && segments[0]!.tokens.length === 0;
  const first = segments[0]!;
  if (segments.length === 1) return matchAt(first, s, 0, n) === n;
  let pos = matchAt(first, s, 0, n);
  if (pos < 0) return false;
  const last = segments[segments.length - 1]!;
  const lastStart = matchEndingAt(last, s, pos, n);
  if (lastStart < 0) return false;
  for (let k = 1; k < segments.length - 1; k++) {
    const seg = segments[k]!;
    if (seg.tokens.length === 0) continue;
    pos = findFrom(seg, s, pos, lastStart);
    if (pos < 0) return false;
  }
  return true;
}

/** The literal characters every match of `pattern` starts with. */
function literalPrefix(pattern: string): string {
  let prefix = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' || c === '?' || c === '[') break;
    if (c === '\\') {
      if (i + 1 >= pattern.length) return prefix + c;
      i++;
      prefix += pattern[i]!;
      continue;
    }
    prefix += c;
  }
  // Keep the prefix well formed: never end it on the first half of a surrogate pair.
  const last = prefix.charCodeAt(prefix.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? prefix.slice(0, -1) : prefix;
}

/** Compiles a Redis glob once; use the result for every key of a scan. */
export function compileGlob(pattern: string): Glob {
  if (pattern === '*') return { prefix: '', test: () => true };
  const prefix = literalPrefix(pattern);
  const segments = parse(pattern);
  return { prefix, test: (s) => matchSegments(segments, s) };
}

/** One-off match, for tests and rare calls; scans should compile once with `compileGlob`. */
export function globMatch(pattern: string, s: string): boolean {
  return compileGlob(pattern).test(s);
}

/** `s` with every glob metacharacter escaped: a glob that matches exactly `s`. */
export function escapeGlob(s: string): string {
  return s.replace(/[*?[\]\\]/g, '\\$&');
}
