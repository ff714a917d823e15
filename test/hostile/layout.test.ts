/**
 * D5: no two logical objects share one physical entry, however the caller's strings are cut —
 * documents, @cached names, process memos, hash-field flights, lock suffixes. And K5: the keys of
 * one logical object stay in one hash slot.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCache, createMemoryStore } from '../../src/index.js';
import { joinParts, physicalKey, siblingKey } from '../../src/keys.js';
import { canonicalArgumentBytes } from '../../src/memo/digest.js';
import { keySlot as slotOf } from '../../src/stores/redis/cluster.js';

test('joinParts: different lists of parts never join to the same name', () => {
  const lists: string[][] = [
    ['Payroll:', 'x'], ['Payroll', ':x'], ['a/b', 'c'], ['a', 'b/c'], ['a%2Fb', 'c'], ['a', '%2Fb'], ['a', 'b', 'c'], ['a/b/c'],
    ['', 'a'], ['a', ''], ['%'], ['%25'],
  ];
  const seen = new Map<string, string[]>();
  for (const l of lists) {
    const j = joinParts(l);
    assert.equal(seen.get(j), undefined, `${JSON.stringify(l)} and ${JSON.stringify(seen.get(j))} both join to ${j}`);
    seen.set(j, l);
  }
  assert.equal(joinParts(['Item', 'ITEM-001']), 'Item/ITEM-001', 'plain names read as written');
  assert.ok(!joinParts(['Payroll:', 'x']).startsWith(joinParts(['Payroll']) + '/'), 'a doctype prefix covers that doctype only');
  assert.equal(joinParts(['A.b', 'c'], '.'), 'A%2Eb.c');
});

test("D5: getCachedDoc('Payroll:', 'x') and getCachedDoc('Payroll', ':x') are two documents", async () => {
  const cache = createCache({ store: createMemoryStore(), namespace: 'd5' });
  try {
    const docs = cache.documents({ load: (doctype, name) => ({ doctype, name }) });
    assert.deepEqual(await docs.getCachedDoc('Payroll:', 'x'), { doctype: 'Payroll:', name: 'x' });
    assert.deepEqual(await docs.getCachedDoc('Payroll', ':x'), { doctype: 'Payroll', name: ':x' });
    assert.deepEqual(await docs.getCachedDoc('a/b', 'c'), { doctype: 'a/b', name: 'c' });
    assert.deepEqual(await docs.getCachedDoc('a', 'b/c'), { doctype: 'a', name: 'b/c' });
  } finally {
    await cache.close();
  }
});

test("D5: clearDocumentCache('Payroll') evicts Payroll's docs only, not those of 'Payroll:'", async () => {
  const cache = createCache({ store: createMemoryStore(), namespace: 'd5' });
  try {
    let loads = 0;
    const docs = cache.documents({
      load: (doctype, name) => {
        loads++;
        return { doctype, name };
      },
    });
    await docs.getCachedDoc('Payroll:', 'x');
    await docs.getCachedDoc('Payroll', 'y');
    await docs.getCachedDoc('Pay*', 'z');
    assert.equal(loads, 3);
    await docs.clearDocumentCache('Payroll');
    await docs.getCachedDoc('Payroll:', 'x');
    await docs.getCachedDoc('Pay*', 'z');
    assert.equal(loads, 3, "'Payroll:' and 'Pay*' docs were kept");
    await docs.getCachedDoc('Payroll', 'y');
    assert.equal(loads, 4, "'Payroll' docs were evicted");
    await docs.clearDocumentCache('Pay*');
    await docs.getCachedDoc('Payroll:', 'x');
    assert.equal(loads, 4, "a '*' in a doctype is literal");
  } finally {
    await cache.close();
  }
});

test('D5: @cached on class A.b method c and class A method b.c are two functions', async () => {
  const cache = createCache({ store: createMemoryStore(), namespace: 'd5' });
  try {
    const makeA = () =>
      class {
        @cache.cached()
        async 'b.c'(): Promise<string> {
          return 'A / b.c';
        }
      };
    const makeAb = () =>
      class {
        @cache.cached()
        async c(): Promise<string> {
          return 'A.b / c';
        }
      };
    const A = makeA();
    Object.defineProperty(A, 'name', { value: 'A' });
    const Ab = makeAb();
    Object.defineProperty(Ab, 'name', { value: 'A.b' });
    assert.equal(await new A()['b.c'](), 'A / b.c');
    assert.equal(await new Ab().c(), 'A.b / c');
    assert.equal(await new A()['b.c'](), 'A / b.c');
  } finally {
    await cache.close();
  }
});

test('D5: process memos of a namespace holding a NUL never answer for another namespace', async () => {
  const cache = createCache({ store: createMemoryStore(), namespace: 'd5' });
  try {
    // Crafted so that, under the old `${namespace}\0${argument bytes}` key, namespace 'a' calling
    // g(bytes) and namespace 'a\0<header>Z' calling g('q') built the same key.
    const tail = canonicalArgumentBytes(['q']);
    const arg = Buffer.concat([Buffer.from('Z\u0000', 'latin1'), tail]);
    const whole = canonicalArgumentBytes([arg]).toString('latin1');
    const cut = whole.length - tail.length - 1;
    const other = `a\u0000${whole.slice(0, cut)}`;
    assert.equal(`a\u0000${whole}`, `${other}\u0000${tail.toString('latin1')}`, 'the crafted pair collides under the old layout');
    let runs = 0;
    const g = cache.processCached(
      async (x: unknown) => {
        runs++;
        return typeof x;
      },
      { name: 'pc' },
    );
    assert.equal(await cache.runInContext({ namespace: 'a' }, () => g(arg)), 'object');
    assert.equal(await cache.runInContext({ namespace: 'a' }, () => g(arg)), 'object');
    assert.equal(runs, 1, 'kept in this process');
    assert.equal(await cache.runInContext({ namespace: other }, () => g('q')), 'string');
    assert.equal(runs, 2, 'each namespace ran the function once');
  } finally {
    await cache.close();
  }
});

test('D5/K5: lock, read-write lock and semaphore keys of look-alike names are distinct and stay in their slot', () => {
  const scope = { namespace: 'n', user: null, shared: false };
  const names = ['a', 'a%r', 'a%w', 'a%s', 'a%i', 'a%25r'];
  const all = new Set<string>();
  for (const name of names) {
    const pk = physicalKey(scope, 'L', name);
    const keys = [pk, siblingKey(pk, 'F'), `${pk}%r`, `${pk}%w`, `${pk}%i`, `${pk}%s`, siblingKey(`${pk}%w`, 'F'), siblingKey(`${pk}%s`, 'F')];
    for (const k of keys) {
      assert.ok(!all.has(k), `${k} is the key of two objects`);
      all.add(k);
      assert.equal(slotOf(k), slotOf(pk), 'K5: one slot per logical object');
    }
  }
});

test('D5: a doc and its version key share a slot (K5)', () => {
  const scope = { namespace: 'n', user: null, shared: false };
  const doc = physicalKey(scope, 'd', joinParts(['Payroll:', 'x']));
  assert.equal(slotOf(siblingKey(doc, 'V')), slotOf(doc));
});
