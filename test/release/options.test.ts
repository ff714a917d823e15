// Issue 13: option names are checked (one list per call, src/options-check.ts), messages quote
// what they got, and deleteKeys('') is refused. JavaScript callers are the point, so the tests
// pass what the types forbid through `as never`.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createCache, createMemoryStore } from '../../src/index.js';
import { OPTION_NAMES, suggest } from '../../src/options-check.js';

function throwsTypeError(fn: () => unknown, ...parts: RegExp[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof TypeError, `a TypeError, got ${String(err)}`);
    for (const p of parts) assert.match(err.message, p);
    return true;
  });
}

/** A call that answers with a promise: whether it throws at once or rejects, the error is checked. */
async function rejectsTypeError(p: () => unknown, ...parts: RegExp[]): Promise<void> {
  await assert.rejects(async () => p(), (err: unknown) => {
    assert.ok(err instanceof TypeError, `a TypeError, got ${String(err)}`);
    for (const q of parts) assert.match(err.message, q);
    return true;
  });
}

describe('unknown option names throw a TypeError with a suggestion', () => {
  const cache = createCache({ store: createMemoryStore() });

  test('setValue(k, v, { ttl: 60 }) names ttl and suggests expiresInSec, and stores nothing', async () => {
    const p = cache.setValue('k', 1, { ttl: 60 } as never);
    assert.ok(p instanceof Promise, 'a promise-returning call rejects, it does not throw');
    await rejectsTypeError(() => p, /"ttl"/, /did you mean expiresInSec\?/);
    assert.equal(await cache.getValue('k'), undefined);
  });

  test('a misspelt name is matched by edit distance or prefix (generatr → generator, expiresInSecs → expiresInSec)', async () => {
    await rejectsTypeError(() => cache.getValue('k', { generatr: () => 1 } as never), /"generatr"/, /did you mean generator\?/);
    await rejectsTypeError(() => cache.hset('h', 'f', 1, { expiresInSecs: 5 } as never), /did you mean expiresInSec\?/);
  });

  test('every method family checks: scope calls, hashes, memoize, documents, locks, semaphores, lists, clearCache', async () => {
    await rejectsTypeError(() => cache.exists('k', { usr: 'a' } as never), /did you mean user\?/);
    throwsTypeError(() => cache.memoize(async function f() { return 1; }, { ttl: 5 } as never), /did you mean ttlSec\?/);
    throwsTypeError(() => cache.documents({ load: () => undefined, ttl: 5 } as never), /did you mean ttlSec\?/);
    await rejectsTypeError(() => cache.lock('l', { timeout: 5 } as never), /"timeout"/, /did you mean waitMs\?/);
    throwsTypeError(() => cache.semaphore('s', { permits: 2, permit: 1 } as never), /"permit"/, /did you mean permits\?/);
    await rejectsTypeError(() => cache.semaphore('s', { permits: 2 }).acquire({ ttl: 5 } as never), /did you mean ttlMs\?/);
    await rejectsTypeError(() => cache.readWriteLock('rw').read({ wait: 1 } as never), /did you mean waitMs\?/);
    await rejectsTypeError(() => cache.rpush({ key: 'l', usr: 'a' } as never, 1), /"usr"/);
    await rejectsTypeError(() => cache.clearCache({ shared: true } as never), /"shared"/);
  });

  test('createCache: unknown options, and unknown names inside nearCache, memory and circuitBreaker', () => {
    throwsTypeError(() => createCache({ stor: 'memory' } as never), /createCache/, /"stor"/, /did you mean store\?/);
    throwsTypeError(() => createCache({ nearCache: { maxEntry: 10 } } as never), /nearCache\.maxEntry\b/, /did you mean maxEntries\?/);
    throwsTypeError(() => createCache({ memory: { maxByte: 10 } } as never), /did you mean maxBytes\?/);
    throwsTypeError(() => createCache({ circuitBreaker: { failure: 1 } } as never), /did you mean failures\?/);
  });

  test('a name nothing resembles gets no suggestion, only the accepted list', async () => {
    await rejectsTypeError(() => cache.setValue('k', 1, { zzzzzzzz: 1 } as never), /"zzzzzzzz"/, /accepted: user, shared, expiresInSec/);
    assert.equal(suggest('zzzzzzzz', OPTION_NAMES.setValue), undefined);
  });

  test('options set to undefined are accepted (exactOptionalPropertyTypes callers)', async () => {
    await cache.setValue('u', 1, { expiresInSec: undefined, user: undefined, shared: undefined });
    assert.equal(await cache.getValue('u', { generator: undefined }), 1);
    createCache({ store: undefined, namespace: undefined, nearCache: undefined, memory: undefined }).close().catch(() => {});
  });
});

describe('messages quote what they got', () => {
  const cache = createCache({ store: createMemoryStore() });
  test('a string where a number belongs is shown quoted: got "60", not got 60', async () => {
    await rejectsTypeError(() => cache.setValue('k', 1, { expiresInSec: '60' as never }), /got "60"/);
    await rejectsTypeError(() => cache.lock('l', { ttlMs: '100' as never }), /got "100"/);
    throwsTypeError(() => createCache({ commandTimeoutMs: '5' as never }), /got "5"/);
  });
});

describe("deleteKeys('') is refused", () => {
  test("an empty pattern would delete every key of the tenant: TypeError pointing to clearCache(), nothing deleted", async () => {
    const cache = createCache({ store: createMemoryStore() });
    await cache.setValue('keep', 1);
    await rejectsTypeError(() => cache.deleteKeys(''), /clearCache\(\)/);
    assert.equal(await cache.getValue('keep'), 1);
    await cache.close();
  });
});
