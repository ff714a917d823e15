/**
 * Z1, P1, P2: globs are matched in linear (or near-linear) time wherever larder matches one in
 * JavaScript (the embedded store's SCAN, the exact test behind every pattern operation,
 * persistentKeys), and with Redis's own semantics.
 *
 * The reference below is a direct port of Redis's `stringmatchlen` (util.c, without its
 * skipLongerMatches shortcut, which changes no answer): recursive, exponential in the worst case,
 * fine on the short inputs fast-check draws. Hostile cases run under the test's own timeout: an
 * exponential matcher does not finish them (seconds to forever before the fix).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileGlob, escapeGlob, globMatch } from '../../src/stores/glob.js';
import { compilePattern } from '../../src/keys.js';
import { createCache, createMemoryStore } from '../../src/index.js';

/** Redis's stringmatchlen over code points (nocase off). */
function reference(pattern: readonly string[], s: readonly string[]): boolean {
  const cp = (c: string | undefined) => (c === undefined ? -2 : c.codePointAt(0)!);
  const go = (p: number, i: number): boolean => {
    let pl = pattern.length - p;
    let sl = s.length - i;
    while (pl > 0 && sl > 0) {
      const c = pattern[p]!;
      if (c === '*') {
        while (pl > 1 && pattern[p + 1] === '*') {
          p++;
          pl--;
        }
        if (pl === 1) return true;
        while (sl > 0) {
          if (go(p + 1, i)) return true;
          i++;
          sl--;
        }
        return false;
      } else if (c === '?') {
        i++;
        sl--;
      } else if (c === '[') {
        p++;
        pl--;
        const not = pattern[p] === '^';
        if (not) {
          p++;
          pl--;
        }
        let match = false;
        for (;;) {
          if (pattern[p] === '\\' && pl >= 2) {
            p++;
            pl--;
            if (cp(pattern[p]) === cp(s[i])) match = true;
          } else if (pattern[p] === ']') {
            break;
          } else if (pl === 0) {
            p--;
            pl++;
            break;
          } else if (pl >= 3 && pattern[p + 1] === '-') {
            let start = cp(pattern[p]);
            let end = cp(pattern[p + 2]);
            if (start > end) [start, end] = [end, start];
            p += 2;
            pl -= 2;
            const x = cp(s[i]);
            if (x >= start && x <= end) match = true;
          } else if (cp(pattern[p]) === cp(s[i])) {
            match = true;
          }
          p++;
          pl--;
        }
        if (not) match = !match;
        if (!match) return false;
        i++;
        sl--;
      } else {
        if (c === '\\' && pl >= 2) {
          p++;
          pl--;
        }
        if (pattern[p] !== s[i]) return false;
        i++;
        sl--;
      }
      p++;
      pl--;
      if (sl === 0) {
        while (pattern[p] === '*') {
          p++;
          pl--;
        }
        break;
      }
    }
    return pl === 0 && sl === 0;
  };
  return go(0, 0);
}

const refMatch = (pattern: string, s: string) => (pattern === '*' ? true : reference(Array.from(pattern), Array.from(s)));

test('Z1/P1: the glob matcher agrees with Redis stringmatchlen on random patterns and keys', () => {
  const patternChar = fc.constantFrom('a', 'b', '*', '?', '[', ']', '^', '-', '\\', 'é', '😀');
  const keyChar = fc.constantFrom('a', 'b', '-', ']', '[', '^', '\\', '*', '?', 'é', '😀');
  fc.assert(
    fc.property(fc.array(patternChar, { maxLength: 12 }), fc.array(keyChar, { maxLength: 14 }), (p, k) => {
      const pattern = p.join('');
      const key = k.join('');
      assert.equal(globMatch(pattern, key), refMatch(pattern, key), `${JSON.stringify(pattern)} vs ${JSON.stringify(key)}`);
    }),
    { numRuns: 20_000 },
  );
});

test('Z1/P1: star-heavy patterns over keys that nearly match agree with the reference', () => {
  const starry = fc.array(fc.constantFrom('a', 'a', 'a', '*', 'b', '?'), { minLength: 1, maxLength: 10 });
  fc.assert(
    fc.property(starry, fc.array(fc.constantFrom('a', 'a', 'a', 'b'), { maxLength: 16 }), (p, k) => {
      const pattern = p.join('');
      const key = k.join('');
      assert.equal(globMatch(pattern, key), refMatch(pattern, key), `${JSON.stringify(pattern)} vs ${JSON.stringify(key)}`);
    }),
    { numRuns: 20_000 },
  );
});

test('escapeGlob: an escaped string matches itself and nothing else', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 }), (a, b) => {
      assert.equal(globMatch(escapeGlob(a), b), a === b || (a.length === 0 && b.length === 0));
    }),
  );
});

// The hostile cases: before the fix, 'a*a*a*a*b' over 300 characters took 3.8 s and six stars
// over 600 did not finish. The test's timeout is the bound.
test('Z1: a pattern with many stars over a long key that almost matches is answered at once', { timeout: 20_000 }, () => {
  const key = 'a'.repeat(1000);
  for (const stars of [4, 6, 12, 100, 499]) {
    const pattern = Array.from({ length: stars }, () => 'a').join('*') + '*b';
    assert.equal(globMatch(pattern, key), false);
    assert.equal(globMatch(pattern.slice(0, -1), key), true);
    assert.equal(compileGlob(pattern).test(key + 'b'), true);
    const exact = compilePattern('lr:n:', 'k', null, pattern.replace(/\*b$/, '*b'));
    assert.equal(exact.matches(key), false);
    assert.equal(exact.matches(key + 'b'), true);
  }
  // `?` and classes between the stars as well.
  assert.equal(globMatch('*?a*[a]*?*a*[ab]*a*b', key), false);
  assert.equal(globMatch('*[^b]*a*?*[a-a]*a*a', key), true);
});

test('P2: the SCAN glob holds the name only up to its first star (Redis < 7.0.9 matches stars exponentially)', () => {
  const p = compilePattern('lr:n:', 'k', null, 'a*a*a*a*b');
  assert.equal(p.glob, 'lr:n:{*}k-:a*');
  assert.ok(p.matches('aaaab'));
  assert.ok(!p.matches('aaaa'));
});

test('Z1/P1: getKeys, deleteKeys and persistentKeys with hostile patterns finish on the embedded store', { timeout: 60_000 }, async () => {
  const hostile = Array.from({ length: 8 }, () => 'a').join('*') + '*b';
  const cache = createCache({ store: createMemoryStore(), namespace: 'glob', persistentKeys: [hostile] });
  try {
    const long = 'a'.repeat(600);
    await cache.setValue(long, 1);
    await cache.setValue(`${long}b`, 2);
    await cache.setValue('price::x*y', 3);
    assert.deepEqual(await cache.getKeys(hostile), [`${long}b`]);
    // A caller's input inside a pattern: its `*` are wildcards (P1), and matching stays fast.
    const userInput = '*a*a*a*a*a*a*a*a*a*a*c';
    assert.equal(await cache.deleteKeys(`price::${userInput}`), 0);
    assert.equal(await cache.deleteKeys('price::x*y'), 1);
    // clearCache keeps what matches the persistent pattern, and deletes the rest.
    assert.equal(await cache.clearCache(), 1);
    assert.deepEqual(await cache.getKeys(''), [`${long}b`]);
  } finally {
    await cache.close();
  }
});
