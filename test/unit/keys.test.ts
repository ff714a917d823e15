import { test } from 'node:test';
import assert from 'node:assert/strict';
import { physicalKey, parseKey, namespacePrefix, compilePattern, validateKey, siblingKey } from '../../src/keys.js';
import { KeyError } from '../../src/errors.js';

test('K5: every physical key of a namespace starts with its literal prefix, tag after it', () => {
  const k = physicalKey({ namespace: 'acme', user: null, shared: false }, 'k', 'item_price::A');
  assert.ok(k.startsWith('lr:acme:{'));
  assert.equal(namespacePrefix('acme'), 'lr:acme:');
});

test('K1: a namespace holding ":" cannot produce another namespace prefix', () => {
  assert.ok(!namespacePrefix('acme:x').startsWith(namespacePrefix('acme')));
});

test('K3: parseKey gives back the name and user as written', () => {
  const name = 'a|b:c*d?e[f]g\\h{i}j k ünï %41';
  const k = physicalKey({ namespace: 'n s', user: 'a@x.com', shared: false }, 'k', name);
  assert.deepEqual(parseKey(namespacePrefix('n s'), k), { space: 'k', user: 'a@x.com', name });
});

test('K5: a lock and its fencing counter share a hash tag', () => {
  const l = physicalKey({ namespace: 'n', user: null, shared: false }, 'L', 'payroll');
  const f = siblingKey(l, 'F');
  assert.equal(l.slice(0, l.indexOf('}') + 1), f.slice(0, f.indexOf('}') + 1));
  assert.notEqual(l, f);
});

test('P1: patterns treat only * as a wildcard and imply a trailing *', () => {
  const p = compilePattern('lr:n:', 'k', null, 'a?[b]');
  assert.ok(p.matches('a?[b]'));
  assert.ok(p.matches('a?[b]::x'));
  assert.ok(!p.matches('ax[b]'));
  const q = compilePattern('lr:n:', 'k', null, '*2A');
  assert.ok(!q.matches('*'));
});

test('K4: bad keys throw KeyError before any I/O', () => {
  assert.throws(() => validateKey(''), KeyError);
  assert.throws(() => validateKey(42), KeyError);
  assert.throws(() => validateKey('é'.repeat(513)), KeyError);
  assert.throws(() => validateKey('\ud800'), KeyError);
  validateKey('é'.repeat(512));
});
