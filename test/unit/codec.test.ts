import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  CODEC_MAGIC,
  CODEC_VERSION,
  MAX_DEPTH,
  decodeValue,
  defaultCodec,
  encodeValue,
  isIntegerCounter,
} from '../../src/codec/index.js';
import { DecodeError, ValueError } from '../../src/errors.js';

const MAX = 64 * 1024 * 1024;
const roundTrip = (v: unknown): unknown => decodeValue(encodeValue(v, MAX));

/**
 * Deep equality as C1 means it: `Object.is` for primitives (so -0 ≠ 0, NaN = NaN), the same class
 * on both sides (Buffer ≠ Uint8Array), holes ≠ undefined, Dates by time value (invalid = invalid),
 * Maps and Sets entry by entry in insertion order. A null-prototype object equals a plain one with
 * the same properties (it decodes as a plain object).
 */
function assertSame(actual: unknown, expected: unknown, path = '$'): void {
  const fail = (why: string) => assert.fail(`${path}: ${why}`);
  if (typeof expected !== 'object' || expected === null) {
    if (!Object.is(actual, expected)) fail(`${String(actual)} is not ${String(expected)}`);
    return;
  }
  if (typeof actual !== 'object' || actual === null) return fail(`${String(actual)} is not an object`);
  const ep: unknown = Object.getPrototypeOf(expected);
  const ap: unknown = Object.getPrototypeOf(actual);
  if (ep === null ? ap !== Object.prototype : ap !== ep) return fail('prototypes differ');
  if (expected instanceof Date) {
    if (!Object.is((actual as Date).getTime(), expected.getTime())) fail('dates differ');
  } else if (expected instanceof Uint8Array) {
    assert.deepEqual([...(actual as Uint8Array)], [...expected], path);
  } else if (expected instanceof Map) {
    const a = [...(actual as Map<unknown, unknown>)];
    const e = [...expected];
    if (a.length !== e.length) fail('map sizes differ');
    e.forEach(([k, v], i) => {
      assertSame(a[i]![0], k, `${path}<Map>[${i}]<key>`);
      assertSame(a[i]![1], v, `${path}<Map>[${i}]`);
    });
  } else if (expected instanceof Set) {
    const a = [...(actual as Set<unknown>)];
    const e = [...expected];
    if (a.length !== e.length) fail('set sizes differ');
    e.forEach((v, i) => assertSame(a[i], v, `${path}<Set>[${i}]`));
  } else if (Array.isArray(expected)) {
    const a = actual as unknown[];
    if (a.length !== expected.length) fail(`lengths ${a.length} and ${expected.length}`);
    assert.deepEqual(Object.keys(a), Object.keys(expected).filter((k) => String(Number(k)) === k), `${path}: holes differ`);
    for (const k of Object.keys(a)) assertSame(a[Number(k)], expected[Number(k)], `${path}[${k}]`);
  } else {
    const e = expected as Record<string, unknown>;
    const a = actual as Record<string, unknown>;
    assert.deepEqual(Object.keys(a), Object.keys(e), `${path}: keys differ`);
    for (const k of Object.keys(e)) assertSame(a[k], e[k], `${path}.${k}`);
  }
}

function refusedAt(v: unknown, path: string, what?: RegExp): void {
  assert.throws(
    () => encodeValue(v, MAX),
    (e: unknown) => {
      assert.ok(e instanceof ValueError, `expected a ValueError, got ${String(e)}`);
      assert.equal(e.path, path);
      if (what) assert.match(e.message, what);
      return true;
    },
  );
}

function throwsDecode(bytes: Uint8Array | number[]): void {
  assert.throws(() => decodeValue(Buffer.from(bytes as Uint8Array)), DecodeError);
}

const env = (...body: number[]) => Buffer.from([CODEC_MAGIC, CODEC_VERSION, ...body]);
const ascii = (s: string) => [...Buffer.from(s, 'latin1')];

// --- C1: every kind round-trips exactly ------------------------------------------------------

test('C1: null and booleans round-trip', () => {
  for (const v of [null, true, false]) assertSame(roundTrip(v), v);
});

test('C1: -0 round-trips as -0, NaN and ±Infinity as themselves', () => {
  for (const v of [-0, NaN, Infinity, -Infinity]) assertSame(roundTrip(v), v);
  assertSame(roundTrip([-0, { z: -0 }]), [-0, { z: -0 }]);
});

test('C1: numbers at every integer-form boundary and floats round-trip', () => {
  const ns = [0, 1, 127, 128, 255, 256, -1, -32, -33, -128, -129, 32767, 32768, -32768, -32769,
    2 ** 31 - 1, 2 ** 31, -(2 ** 31), -(2 ** 31) - 1, 2 ** 32, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER,
    2 ** 53, 2 ** 53 + 2, -(2 ** 60), 1.5, -0.1, Math.PI, 5e-324, Number.MAX_VALUE, -Number.MAX_VALUE, 1e21];
  for (const n of ns) {
    assertSame(roundTrip(n), n);
    assertSame(roundTrip([n]), [n]);
  }
});

test('C1: small integers inside values take the compact forms', () => {
  assert.equal(encodeValue([5], MAX).length, 2 + 1 + 1);
  assert.equal(encodeValue([-5], MAX).length, 2 + 1 + 1);
  assert.equal(encodeValue([-100], MAX).length, 2 + 1 + 2);
  assert.equal(encodeValue([1000], MAX).length, 2 + 1 + 3);
  assert.equal(encodeValue([100000], MAX).length, 2 + 1 + 5);
  assert.equal(encodeValue([1.5], MAX).length, 2 + 1 + 9);
  assert.equal(encodeValue([-0], MAX).length, 2 + 1 + 9);
});

test('C1: strings round-trip: empty, ASCII, 2-, 3- and 4-byte UTF-8, at the length boundaries', () => {
  const strs = ['', 'a', 'hello', 'é', 'ünïcödé', '☃ snow', '😀', 'a😀b', '\u0000\u007f\u0080\u07ff\u0800\uffff',
    'x'.repeat(31), 'x'.repeat(32), 'é'.repeat(15), 'é'.repeat(16), '€'.repeat(10), '€'.repeat(11), 'x'.repeat(63),
    'x'.repeat(64), 'é'.repeat(63), 'é'.repeat(64), '😀'.repeat(40), 'x'.repeat(255), 'x'.repeat(256),
    'mixed ascii and ünïcode '.repeat(5000), 'x'.repeat(100_000)];
  for (const s of strs) {
    assertSame(roundTrip(s), s);
    assertSame(roundTrip({ [s]: s }), { [s]: s });
  }
});

test('C1: strings with lone surrogates round-trip exactly (not as U+FFFD)', () => {
  const strs = ['\ud800', '\udc00', 'a\ud800b', 'ab\udfff', '\udc00\ud800', '😀\ud83d', 'é\ud800'.repeat(50), `${'x'.repeat(100)}\udbff`];
  for (const s of strs) {
    assert.equal(roundTrip(s), s);
    assertSame(roundTrip({ [s]: [s] }), { [s]: [s] });
  }
});

test('C1: bigints of any size and sign round-trip, 0n included', () => {
  const bs = [0n, 1n, -1n, 127n, 128n, 255n, 256n, -256n, 2n ** 63n, -(2n ** 64n) - 1n, 2n ** 1000n + 12345n, -(3n ** 5000n), 7n ** 20000n];
  for (const b of bs) {
    assert.equal(roundTrip(b), b);
    assertSame(roundTrip([b]), [b]);
  }
});

test('C1: Dates round-trip, an invalid Date included', () => {
  for (const d of [new Date(0), new Date(-1), new Date(8.64e15), new Date(-8.64e15), new Date('2024-02-29T12:34:56.789Z'), new Date(NaN)]) {
    const r = roundTrip(d);
    assert.ok(r instanceof Date);
    assert.ok(Object.is(r.getTime(), d.getTime()));
  }
});

test('C1: Buffer decodes as a Buffer and Uint8Array as a plain Uint8Array', () => {
  const b = roundTrip(Buffer.from('hello'));
  assert.ok(Buffer.isBuffer(b));
  assert.equal(b.toString(), 'hello');
  const u = roundTrip(new Uint8Array([1, 2, 255]));
  assert.equal(Object.getPrototypeOf(u), Uint8Array.prototype);
  assert.deepEqual([...(u as Uint8Array)], [1, 2, 255]);
  const view = new Uint8Array(Buffer.from('xxabcxx').buffer, 0, 0);
  assertSame(roundTrip(view), view);
  const sub = new Uint8Array([9, 8, 7, 6]).subarray(1, 3);
  assertSame(roundTrip(sub), new Uint8Array([8, 7]));
  assertSame(roundTrip(Buffer.alloc(0)), Buffer.alloc(0));
  assertSame(roundTrip(Buffer.alloc(70_000, 3)), Buffer.alloc(70_000, 3));
});

test('C1: decoded bytes and strings do not share memory with the stored bytes', () => {
  const stored = encodeValue({ b: Buffer.from('abc') }, MAX);
  const v = decodeValue(stored) as { b: Buffer };
  stored.fill(0);
  assert.equal(v.b.toString(), 'abc');
});

test('C1: a Map with object keys and a nested Set round-trip, in insertion order', () => {
  const m = new Map<unknown, unknown>([
    [{ id: 1 }, new Set([1, 'a', new Set([2, [3]])])],
    [[1, 2], new Map([[null, undefined]])],
    ['k', -0],
    [NaN, new Date(5)],
    [10n, Buffer.from('x')],
  ]);
  assertSame(roundTrip(m), m);
  assertSame(roundTrip(new Set()), new Set());
  assertSame(roundTrip(new Map()), new Map());
});

test('C1: sparse arrays keep their holes; holes and undefined stay distinct', () => {
  const a = [1, , 3, , , undefined, 7, ,]; // eslint-disable-line no-sparse-arrays
  const r = roundTrip(a) as unknown[];
  assertSame(r, a);
  assert.equal(r.length, 8);
  assert.ok(!(1 in r) && 5 in r && !(7 in r));
  assertSame(roundTrip(new Array(5)), new Array(5));
  const huge: unknown[] = [];
  huge[1e9] = 'x';
  huge[3] = 1;
  const enc = encodeValue(huge, MAX);
  assert.ok(enc.length < 40, 'runs of holes are stored compactly');
  const h = decodeValue(enc) as unknown[];
  assert.equal(h.length, 1e9 + 1);
  assert.equal(h[3], 1);
  assert.equal(h[1e9], 'x');
  assert.equal(Object.keys(h).length, 2);
});

test('C1: undefined inside objects stays an own property; inside arrays, an element', () => {
  const r = roundTrip({ a: undefined, b: [undefined], c: 1 }) as Record<string, unknown>;
  assert.ok(Object.hasOwn(r, 'a'));
  assert.equal(r.a, undefined);
  assertSame(r, { a: undefined, b: [undefined], c: 1 });
});

test('C1: plain objects of every size, null-prototype ones decode as plain objects', () => {
  for (const n of [0, 1, 15, 16, 17, 300]) {
    const o = Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));
    assertSame(roundTrip(o), o);
    const arr = Array.from({ length: n }, (_, i) => i);
    assertSame(roundTrip(arr), arr);
  }
  const np = Object.assign(Object.create(null) as object, { x: 1, y: { z: 2 } });
  const r = roundTrip(np);
  assert.equal(Object.getPrototypeOf(r), Object.prototype);
  assertSame(r, { x: 1, y: { z: 2 } });
});

test('C1: keys that Object.prototype has decode as own data properties', () => {
  const o = { constructor: 1, toString: 'x', hasOwnProperty: null, valueOf: [1], __defineGetter__: 2, '': 3 };
  const r = roundTrip(o) as Record<string, unknown>;
  assertSame(r, o);
  for (const k of Object.keys(o)) assert.ok(Object.getOwnPropertyDescriptor(r, k)?.writable);
});

test('C1: symbol keys and non-enumerable properties are ignored, getters read as values (as structured clone)', () => {
  const o: Record<string | symbol, unknown> = { a: 1, [Symbol('s')]: 2 };
  Object.defineProperty(o, 'hidden', { value: 3, enumerable: false });
  Object.defineProperty(o, 'g', { get: () => 'got', enumerable: true });
  assertSame(roundTrip(o), { a: 1, g: 'got' });
});

test('C1: shared (non-cyclic) references are stored as copies', () => {
  const shared = { x: 1 };
  const r = roundTrip({ a: shared, b: shared, c: [shared, shared] }) as { a: object; b: object };
  assertSame(r, { a: { x: 1 }, b: { x: 1 }, c: [{ x: 1 }, { x: 1 }] });
  assert.notEqual(r.a, r.b);
});

test('C1: nesting up to MAX_DEPTH containers round-trips', () => {
  let v: unknown = 'leaf';
  for (let i = 0; i < MAX_DEPTH; i++) v = i % 3 === 0 ? [v] : i % 3 === 1 ? { k: v } : new Set([v]);
  assertSame(roundTrip(v), v);
});

test('C1: property-based: any supported value round-trips exactly', () => {
  fc.assert(
    fc.property(valueArb, (v) => {
      assertSame(roundTrip(v), v);
    }),
    { numRuns: 1500 },
  );
});

test('C1: encoding is deterministic: the same value gives the same bytes (L1 compares them)', () => {
  fc.assert(
    fc.property(valueArb, (v) => {
      assert.deepEqual(encodeValue(v, MAX), encodeValue(v, MAX));
    }),
    { numRuns: 300 },
  );
  assert.deepEqual(encodeValue(roundTrip({ a: [1, 'x'] }), MAX), encodeValue({ a: [1, 'x'] }, MAX));
});

test('C1: a top-level safe integer is stored as ASCII decimal (incr-compatible) and reads back', () => {
  for (const n of [0, 5, -7, 42, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]) {
    const b = encodeValue(n, MAX);
    assert.equal(b.toString('latin1'), String(n));
    assert.equal(decodeValue(b), n);
  }
  for (const n of [-0, 1.5, 2 ** 53, NaN]) assert.equal(encodeValue(n, MAX)[0], CODEC_MAGIC);
});

test('C1: defaultCodec round-trips and encode can be called from a getter being encoded', () => {
  const inner = { get nested() { return decodeValue(encodeValue({ deep: [1, 'two'] }, MAX)); }, s: 'x'.repeat(40) };
  const v = { before: 'a'.repeat(100), inner, after: [1, 2, 3] };
  const r = defaultCodec.decode(defaultCodec.encode(v));
  assertSame(r, { before: 'a'.repeat(100), inner: { nested: { deep: [1, 'two'] }, s: 'x'.repeat(40) }, after: [1, 2, 3] });
});

test('C1: decodeValue takes a plain Uint8Array as well as a Buffer', () => {
  const b = encodeValue({ a: 'b' }, MAX);
  assertSame(decodeValue(new Uint8Array(b)), { a: 'b' });
});

// --- C2: refusals, with the path of the offending part -------------------------------------

test('C2: a function is refused with its path ($.items[3].fn)', () => {
  refusedAt({ items: [0, 1, 2, { fn() {} }] }, '$.items[3].fn', /function/);
  refusedAt(() => 1, '$');
});

test('C2: a class instance inside a Map is refused with the Map path', () => {
  class Foo {}
  refusedAt({ m: new Map<unknown, unknown>([['a', 1], ['b', new Foo()]]) }, '$.m<Map>[1]', /Foo/);
  refusedAt(new Map([[new Foo(), 1]]), '$<Map>[0]<key>', /Foo/);
  refusedAt([new Map([[{ f: () => 1 }, 1]])], '$[0]<Map>[0]<key>.f');
  refusedAt({ s: new Set([1, 2, new Foo()]) }, '$.s<Set>[2]');
});

test('C2: a symbol is refused with its path', () => {
  refusedAt({ s: Symbol('x') }, '$.s', /symbol/);
  refusedAt(Symbol.iterator, '$');
});

test('C2: keys that are not identifiers are quoted in the path', () => {
  refusedAt({ 'a key': { 'x-y': [() => 1] } }, '$["a key"]["x-y"][0]');
  refusedAt({ 0: { $ok_1: () => 1 } }, '$["0"].$ok_1');
});

test('C2: a cycle is refused, naming where it closes', () => {
  const a: Record<string, unknown> = { x: {} };
  (a.x as Record<string, unknown>).self = a;
  refusedAt(a, '$.x.self', /cycle/);
  const arr: unknown[] = [1];
  arr.push(arr);
  refusedAt(arr, '$[1]', /cycle/);
  const m = new Map<unknown, unknown>();
  m.set('me', m);
  refusedAt({ m }, '$.m<Map>[0]', /cycle/);
  const s = new Set<unknown>();
  s.add(s);
  refusedAt(s, '$<Set>[0]', /cycle/);
});

test('C2: built-ins other than the supported ones are refused', () => {
  class MyMap extends Map {}
  class MyArray extends Array {}
  const refused: Array<[string, unknown]> = [
    ['RegExp', /x/], ['Error', new Error('e')], ['WeakMap', new WeakMap()], ['Promise', Promise.resolve()],
    ['Float64Array', new Float64Array(1)], ['Uint16Array', new Uint16Array(1)], ['Int8Array', new Int8Array(1)],
    ['DataView', new DataView(new ArrayBuffer(1))], ['ArrayBuffer', new ArrayBuffer(1)], ['Number', Object(1)],
    ['String', Object('s')], ['MyMap', new MyMap()], ['MyArray', new MyArray()], ['forged Date', Object.create(Date.prototype)],
    ['forged Map', Object.create(Map.prototype)], ['WeakRef', new WeakRef({})],
  ];
  for (const [, v] of refused) refusedAt({ v }, '$.v');
});

test('C2: an own __proto__ key is refused (C3)', () => {
  refusedAt(JSON.parse('{"__proto__": 1}'), '$.__proto__', /__proto__/);
  refusedAt({ a: [JSON.parse('{"ok": 1, "__proto__": {"x": 1}}')] }, '$.a[0].__proto__');
});

test('C2: nesting deeper than MAX_DEPTH is refused', () => {
  let v: unknown = 1;
  for (let i = 0; i <= MAX_DEPTH; i++) v = [v];
  refusedAt(v, '$' + '[0]'.repeat(MAX_DEPTH), /deeper/);
});

test('C2: top-level undefined is refused; refusals are synchronous ValueErrors', () => {
  refusedAt(undefined, '$');
  const err = (() => {
    try {
      encodeValue({ f: () => 1 }, MAX);
    } catch (e) {
      return e;
    }
    return null;
  })();
  assert.ok(err instanceof ValueError);
});

test('C2: a getter that throws propagates its own error', () => {
  const boom = new RangeError('boom');
  assert.throws(() => encodeValue({ get x() { throw boom; } }, MAX), (e) => e === boom);
  // ...and the encoder is usable afterwards.
  assertSame(roundTrip({ a: 1 }), { a: 1 });
});

// --- C3: versioned, safe to decode from an untrusted store ---------------------------------

test('C3: the envelope starts with a magic byte that is not an ASCII digit or "-", then version 1', () => {
  const b = encodeValue('x', MAX);
  const first: number = b[0]!;
  assert.ok(!(first >= 0x30 && first <= 0x39) && first !== 0x2d);
  assert.equal(first, CODEC_MAGIC);
  assert.equal(b[1], 1);
});

test('C3: an unknown format version is a DecodeError', () => {
  const b = encodeValue({ a: 1 }, MAX);
  for (const v of [0, 2, 255]) {
    const c = Buffer.from(b);
    c[1] = v;
    assert.throws(() => decodeValue(c), (e: unknown) => e instanceof DecodeError && e.message.includes('version') && e.code === 'E_DECODE');
  }
});

test('C3: stored bytes holding a __proto__ key are undecodable and Object.prototype stays untouched', () => {
  const key = ascii('__proto__');
  const polluted = env(0xb1, 0x80 | key.length, ...key, 0xb1, 0x81, ...ascii('x'), 0x01);
  throwsDecode(polluted);
  const nested = env(0xa1, 0xb1, 0xc8, key.length, ...key, 0x01);
  throwsDecode(nested);
  const viaStr32 = env(0xb1, 0xc9, key.length, 0, 0, 0, ...key, 0x01);
  throwsDecode(viaStr32);
  assert.equal(({} as Record<string, unknown>).x, undefined);
  assert.equal(Object.getPrototypeOf({}), Object.prototype);
});

test('C3: decoding runs no setter of Object.prototype and works with a frozen-like prototype key', () => {
  let called = 0;
  Object.defineProperty(Object.prototype, 'trap', { set() { called++; }, get() { return 'proto'; }, configurable: true });
  Object.defineProperty(Object.prototype, 'readonly', { value: 'proto', writable: false, configurable: true });
  try {
    const r = roundTrip({ trap: 1, readonly: 2 }) as Record<string, unknown>;
    assert.equal(called, 0);
    assert.ok(Object.hasOwn(r, 'trap') && Object.hasOwn(r, 'readonly'));
    assert.equal(r.trap, 1);
    assert.equal(r.readonly, 2);
  } finally {
    delete (Object.prototype as Record<string, unknown>).trap;
    delete (Object.prototype as Record<string, unknown>).readonly;
  }
});

test('C3: malformed bytes are DecodeErrors: empty, truncated, trailing bytes, bad tags, bad keys', () => {
  throwsDecode([]);
  throwsDecode([CODEC_MAGIC]);
  throwsDecode(env());
  throwsDecode([...env(0x01), 0x01]); // trailing byte
  throwsDecode(env(0xc1)); // undefined at the top level
  throwsDecode(env(0xcf, 1, 0, 0, 0)); // a hole outside an array
  for (let t = 0xd5; t <= 0xdf; t++) throwsDecode(env(t)); // reserved tags
  throwsDecode(env(0xb1, 0x01, 0x01)); // a non-string key
  throwsDecode(env(0xa2, 0xcf, 3, 0, 0, 0)); // a run of holes past the length
  throwsDecode(env(0xa2, 0xcf, 0, 0, 0, 0, 1, 2)); // an empty run
  throwsDecode(env(0xd2, 0, 0, 0, 0)); // negative zero bigint
  throwsDecode(env(0xd1, 2, 0, 0, 0, 0, 1)); // a leading zero byte
  throwsDecode(env(0x85, 0x61)); // string shorter than its length
  throwsDecode(env(0xc7, 0, 0, 0)); // truncated float
  throwsDecode(env(0xca, 1, 0, 0, 0, 0x61)); // odd UTF-16 payload
  assert.throws(() => decodeValue('x' as unknown as Buffer), DecodeError);
  throwsDecode(ascii('{"a":1}'));
  throwsDecode(ascii('hello'));
});

test('C3: a corrupt length does not allocate or read past the end', () => {
  const t0 = performance.now();
  for (const tag of [0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xd1, 0xd3, 0xd4]) {
    throwsDecode(env(tag, 0xff, 0xff, 0xff, 0xff, 1, 2, 3));
    throwsDecode(env(tag, 0xff, 0xff, 0xff));
  }
  throwsDecode(env(0xcb, 0xff, 0xff, 0xff, 0xff, 0xcf, 0xfe, 0xff, 0xff, 0xff)); // 4e9 holes, then nothing
  assert.ok(performance.now() - t0 < 1000);
});

test('C3: deeply nested stored bytes are refused, not a stack overflow', () => {
  throwsDecode(env(...new Array<number>(100_000).fill(0xa1), 0x01));
  throwsDecode(env(...new Array<number>(MAX_DEPTH + 1).fill(0xa1), 0x01));
  let ok = env(...new Array<number>(MAX_DEPTH).fill(0xa1), 0x01);
  assert.ok(Array.isArray(decodeValue(ok)));
  ok = env(...new Array<number>(MAX_DEPTH).fill(0xce).flatMap((t) => [t, 1, 0, 0, 0]), 0x01);
  assert.ok(decodeValue(ok) instanceof Set);
});

test('C3: fuzz: mutated and truncated encodings decode to something or throw DecodeError', () => {
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 6 }) }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 6 }) }),
  );
  fc.assert(
    fc.property(valueArb, fc.array(mutation, { minLength: 1, maxLength: 4 }), (v, muts) => {
      let b = [...encodeValue(v, MAX)];
      for (const m of muts) {
        const at = m.at % (b.length + 1);
        if (m.kind === 'set') {
          if (at < b.length) b[at] = m.byte;
        } else if (m.kind === 'truncate') b = b.slice(0, at);
        else if (m.kind === 'insert') b.splice(at, 0, ...m.bytes);
        else b.splice(at, m.n);
      }
      const t0 = performance.now();
      try {
        decodeValue(Buffer.from(b));
      } catch (e) {
        if (!(e instanceof DecodeError)) throw e;
      }
      assert.ok(performance.now() - t0 < 500, 'decoding a mutated value took too long');
    }),
    { numRuns: 3000 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      try {
        decodeValue(Buffer.concat([env(), bytes]));
      } catch (e) {
        if (!(e instanceof DecodeError)) throw e;
      }
    }),
    { numRuns: 2000 },
  );
  assert.ok(process.memoryUsage().arrayBuffers < 512 * 1024 * 1024, 'the fuzz allocated huge buffers');
});

test('C3: incr counters (ASCII decimal integers) read back as numbers', () => {
  const cases: Array<[string, number]> = [['0', 0], ['42', 42], ['-7', -7], ['9007199254740991', 2 ** 53 - 1],
    ['-9223372036854775808', -9223372036854775808], ['18446744073709551615', 2 ** 64]]; // 2 ** 64: the double nearest 18446744073709551615
  for (const [s, n] of cases) {
    assert.ok(isIntegerCounter(Buffer.from(s)), s);
    assert.equal(decodeValue(Buffer.from(s)), n);
  }
});

test('C3: bytes that are not a canonical integer counter are not counters', () => {
  for (const s of ['', '-', '-0', '007', '+1', '1.5', ' 1', '1 ', '1e3', '123456789012345678901', '0x10', '٣']) {
    assert.ok(!isIntegerCounter(Buffer.from(s)), JSON.stringify(s));
    throwsDecode(Buffer.from(s));
  }
  assert.ok(!isIntegerCounter(encodeValue('12', MAX)));
});

// --- C5, C6 ------------------------------------------------------------------------------------

test('C5: a value whose encoding passes maxBytes is a ValueError; one at the limit is not', () => {
  const v = { s: 'x'.repeat(1000) };
  const size = encodeValue(v, MAX).length;
  assert.equal(encodeValue(v, size).length, size);
  assert.throws(() => encodeValue(v, size - 1), (e: unknown) => e instanceof ValueError && (e.code as string) === 'E_VALUE' && e.message.includes('limit'));
  assert.throws(() => encodeValue(1234567, 3), ValueError);
  assert.throws(() => encodeValue('', 1), ValueError);
});

test('C5: the encoder stops once it passes maxBytes instead of encoding everything first', () => {
  const chunk = 'y'.repeat(1 << 20);
  const big = Array.from({ length: 2000 }, () => chunk); // 2 GB if encoded in full
  const t0 = performance.now();
  assert.throws(() => encodeValue(big, 4 << 20), ValueError);
  assert.ok(performance.now() - t0 < 2000);
  // A non-ASCII string close to the limit is measured, not refused for its worst case.
  const s = 'é'.repeat(3 << 20);
  assert.equal((decodeValue(encodeValue(s, (6 << 20) + 16)) as string).length, s.length);
});

test('C6: ValueError is a TypeError with code E_VALUE; DecodeError carries E_DECODE', () => {
  try {
    encodeValue({ f: Symbol('x') }, MAX);
    assert.fail('no throw');
  } catch (e) {
    assert.ok(e instanceof TypeError);
    assert.ok(e instanceof ValueError);
    assert.equal(e.code, 'E_VALUE');
    assert.equal(e.name, 'ValueError');
  }
  try {
    decodeValue(Buffer.from([CODEC_MAGIC, 9]));
    assert.fail('no throw');
  } catch (e) {
    assert.ok(e instanceof DecodeError);
    assert.equal(e.code, 'E_DECODE');
  }
});

// --- generators ---------------------------------------------------------------------------------

const anyUnitString = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 40 });
const leafArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.double(),
  fc.integer(),
  fc.integer({ min: -200, max: 200 }),
  fc.constantFrom(-0, NaN, Infinity, -Infinity, 2 ** 31, -(2 ** 31) - 1, 2 ** 53),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 80 }),
  anyUnitString,
  fc.bigInt(),
  fc.bigInt({ min: -(2n ** 300n), max: 2n ** 300n }),
  fc.date({ noInvalidDate: false }),
  fc.uint8Array({ maxLength: 20 }),
  fc.uint8Array({ maxLength: 20 }).map((u) => Buffer.from(u)),
);
const keyArb = fc.oneof(fc.string({ maxLength: 12 }), anyUnitString, fc.constantFrom('constructor', 'toString', 'a', '0', ''))
  .filter((k) => k !== '__proto__');

const { value: valueArb } = fc.letrec<{ value: unknown; inner: unknown }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leafArb, leafArb,
    fc.array(tie('inner'), { maxLength: 6 }),
    fc.sparseArray(tie('value'), { maxLength: 8 }),
    fc.dictionary(keyArb, tie('inner'), { maxKeys: 6, noNullPrototype: false }),
    fc.array(fc.tuple(tie('value'), tie('inner')), { maxLength: 4 }).map((e) => new Map(e)),
    fc.array(tie('value'), { maxLength: 4 }).map((e) => new Set(e))),
  inner: fc.oneof(tie('value'), fc.constant(undefined)),
}));
