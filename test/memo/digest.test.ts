/**
 * M1: argument digests are stable — the same arguments give the same digest in every process and
 * every run (pinned golden values, and a child process recomputing them), plain objects compare by
 * value whatever their key order, and distinct arguments give distinct digests.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { argumentDigest } from '../../src/memo/digest.js';
import { ValueError } from '../../src/errors.js';

/** Pinned: changing them changes every memo key in every deployment (a breaking change). */
const GOLDEN: Array<[unknown[], string]> = [
  [['ITEM-001', 'Standard Selling'], '8R2gN0aLCtQFdsO8tOPhRR'],
  [[{ b: [1, 2n, new Date(0)], a: new Map([['x', null]]) }], 'JE2JlHNFKNhaWHdjOEFV-0'],
];

function shuffleKeys(v: unknown, rnd: () => number): unknown {
  if (Array.isArray(v)) return v.map((x) => shuffleKeys(x, rnd));
  if (typeof v !== 'object' || v === null) return v;
  const keys = Object.keys(v).sort(() => rnd() - 0.5);
  const out: Record<string, unknown> = {};
  for (const k of keys) out[k] = shuffleKeys((v as Record<string, unknown>)[k], rnd);
  return out;
}

describe('argument digests (M1)', () => {
  it('M1: golden digests are unchanged in this process and in a fresh one', () => {
    for (const [args, digest] of GOLDEN) assert.equal(argumentDigest(args), digest);
    const script = `
      import { argumentDigest } from ${JSON.stringify(new URL('../../src/memo/digest.ts', import.meta.url).href)};
      process.stdout.write(JSON.stringify([
        argumentDigest(['ITEM-001', 'Standard Selling']),
        argumentDigest([{ a: new Map([['x', null]]), b: [1, 2n, new Date(0)] }]),
      ]));`;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.deepEqual(JSON.parse(out), GOLDEN.map((g) => g[1]));
  });

  it('M1: plain objects compare by value whatever their key order (property)', () => {
    const json = fc.jsonValue({ maxDepth: 4 });
    fc.assert(
      fc.property(fc.array(json, { maxLength: 4 }), fc.integer(), (args, seed) => {
        fc.pre(!JSON.stringify(args).includes('"__proto__"')); // the codec refuses an own __proto__ (C3)
        let s = seed;
        const rnd = () => ((s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
        assert.equal(argumentDigest(args.map((a) => shuffleKeys(a, rnd))), argumentDigest(args));
      }),
      { numRuns: 200 },
    );
  });

  it('M1: distinct arguments give distinct digests; JS-equal numbers give one', () => {
    const distinct: unknown[][] = [[], [1], ['1'], [1n], [-0], [0], [null], [[1]], [{ a: 1 }], [{ a: '1' }], [1, 2], [2, 1], [undefined, 1], [[, 1]], [[undefined, 1]], [new Date(1)], [new Uint8Array([1])], [new Set([1])], [new Map([[1, 1]])]]; // eslint-disable-line no-sparse-arrays -- [, 1] has a hole, unlike [undefined, 1]
    const digests = distinct.map(argumentDigest);
    assert.equal(new Set(digests).size, distinct.length);
    assert.equal(argumentDigest([120.0, 23]), argumentDigest([120, 23]));
    assert.equal(argumentDigest([1]), argumentDigest([1, undefined]));
    assert.equal(argumentDigest([new Set([1, 2])]), argumentDigest([new Set([2, 1])]));
    assert.equal(argumentDigest([new Map<string, unknown>([['a', { y: 1, x: 2 }], ['b', 2]])]), argumentDigest([new Map<string, unknown>([['b', 2], ['a', { x: 2, y: 1 }]])]));
  });

  it('M5: refused arguments throw ValueError naming the argument', () => {
    assert.throws(() => argumentDigest([1, { f() {} }]), (e: ValueError) => e instanceof TypeError && e.path === '$[1].f');
    assert.throws(() => argumentDigest([Symbol('x')]), ValueError);
    assert.throws(() => argumentDigest([new (class A {})()]), ValueError);
  });
});
