/**
 * Redis glob patterns (SCAN MATCH, KEYS), compiled to an anchored RegExp so the embedded store
 * answers `scan` exactly as Redis would.
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
 * the range `a-]`, not of the class.
 *
 * One difference cannot be avoided: Redis matches bytes, this matches characters (code points), so
 * `?` against a non-ASCII character of a key means one byte there and one character here. larder
 * only emits `*`, single-letter classes and ASCII literals around escaped names, where the two agree.
 */

export interface Glob {
  /** The characters every match starts with: a cheap pre-filter before the RegExp. */
  readonly prefix: string;
  readonly regexp: RegExp;
  /** True if the whole string matches the pattern. */
  test(s: string): boolean;
}

/** The code point of one element of `Array.from(pattern)`: never an empty string, so never the `?? 0`. */
function codePoint(ch: string): number {
  return ch.codePointAt(0) ?? 0;
}

/** Escapes one code point for use inside a RegExp (inside or outside a class, with the `u` flag). */
function lit(ch: string): string {
  return /[0-9A-Za-z_]/.test(ch) ? ch : `\\u{${codePoint(ch).toString(16)}}`;
}

/** The RegExp source of a Redis glob; see the module comment for the rules. */
export function globSource(pattern: string): string {
  // Work on code points so a surrogate pair is one character, as the `u` flag sees it.
  const p = Array.from(pattern);
  const n = p.length;
  let out = '';
  let i = 0;
  while (i < n) {
    const c = p[i]!;
    if (c === '*') {
      while (i + 1 < n && p[i + 1] === '*') i++;
      out += '[\\s\\S]*';
    } else if (c === '?') {
      out += '[\\s\\S]';
    } else if (c === '\\') {
      if (i + 1 < n) i++;
      out += lit(p[i]!);
    } else if (c === '[') {
      i++;
      const negate = p[i] === '^';
      if (negate) i++;
      const items: string[] = [];
      for (;;) {
        if (i >= n) break; // unterminated: the class ends with the pattern
        const d = p[i]!;
        if (d === '\\' && i + 1 < n) {
          i++;
          items.push(lit(p[i]!));
        } else if (d === ']') {
          break;
        } else if (i + 2 < n && p[i + 1] === '-') {
          let lo = d;
          let hi = p[i + 2]!;
          if (codePoint(lo) > codePoint(hi)) [lo, hi] = [hi, lo];
          items.push(`${lit(lo)}-${lit(hi)}`);
          i += 2;
        } else {
          items.push(lit(d));
        }
        i++;
      }
      if (items.length === 0) out += negate ? '[\\s\\S]' : '(?!)';
      else out += `[${negate ? '^' : ''}${items.join('')}]`;
    } else {
      out += lit(c);
    }
    i++;
  }
  return out;
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
  // A lone high surrogate at the cut would never startsWith-match a well-formed key's pair half
  // differently, but keep the prefix well formed anyway.
  const last = prefix.charCodeAt(prefix.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? prefix.slice(0, -1) : prefix;
}

/** Compiles a Redis glob once; use the result for every key of a scan. */
export function compileGlob(pattern: string): Glob {
  const prefix = literalPrefix(pattern);
  if (pattern === '*') return { prefix: '', regexp: /^[\s\S]*$/u, test: () => true };
  const regexp = new RegExp(`^${globSource(pattern)}$`, 'u');
  return {
    prefix,
    regexp,
    test: prefix === '' ? (s) => regexp.test(s) : (s) => s.startsWith(prefix) && regexp.test(s),
  };
}

/** One-off match, for tests and rare calls; scans should compile once with `compileGlob`. */
export function globMatch(pattern: string, s: string): boolean {
  return compileGlob(pattern).test(s);
}
