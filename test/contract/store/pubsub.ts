/**
 * Publish/subscribe: literal channels, delivery after the publish, one copy per handler, handlers
 * that leave hear nothing more. Each delivery test runs on a plain channel and on one with a hash
 * tag (a shard channel on a Redis >= 7 cluster: SPUBLISH/SSUBSCRIBE).
 *
 * What `publish` resolves to is "subscribers reached", and stores count differently: the embedded
 * store counts handlers, Redis counts subscribed connections (one per store), and a Redis Cluster
 * counts only those on the node that took a plain PUBLISH (the others hear it over the cluster bus,
 * uncounted). So the contract pins a whole number, and 0 once nobody is subscribed; each store's
 * own count is in its unit tests. Delivery itself is what these tests check.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { b, twin, type ContractContext, type Keys } from './helpers.js';

const channels = (k: Keys): Array<[kind: string, channel: string]> => [
  ['a plain channel', k('ch')],
  ['a hash-tagged channel', k.slot('ch')],
];

const publishInScript = twin('publish', `return redis.call('PUBLISH', ARGV[1], ARGV[2])`, (data, _keys, [channel, message]) =>
  data.publish(String(channel), Buffer.isBuffer(message) ? message : Buffer.from(String(message))),
);

export function pubsubContract({ withStore }: ContractContext): void {
  describe('pub/sub', () => {
    it('subscribe resolves once active; every handler gets the message bytes, after the publish call; unsubscribing removes one', withStore(async (store, k, { until }) => {
      for (const [kind, channel] of channels(k)) {
        const got1: Buffer[] = [];
        const got2: Buffer[] = [];
        const other: Buffer[] = [];
        const off1 = await store.subscribe(channel, (m) => got1.push(m));
        const off2 = await store.subscribe(channel, (m) => got2.push(m));
        const offOther = await store.subscribe(`${channel}-other`, (m) => other.push(m));
        const p = store.publish(channel, Buffer.from([1, 2, 3]));
        assert.deepEqual([got1, got2], [[], []], `${kind}: nothing is delivered during the publish call`);
        const reached = await p;
        assert.ok(Number.isInteger(reached) && reached >= 0, `${kind}: reached ${reached}`);
        await until(() => got1.length === 1 && got2.length === 1, `${kind}: both handlers got it`);
        assert.deepEqual(got1[0], Buffer.from([1, 2, 3]));
        assert.deepEqual(got2[0], Buffer.from([1, 2, 3]));
        await off1();
        await off1();
        await store.publish(channel, b('second'));
        await until(() => got2.length === 2, `${kind}: the remaining handler got the second message`);
        assert.equal(got1.length, 1, `${kind}: the removed handler heard nothing more`);
        await off2();
        assert.equal(await store.publish(channel, b('nobody')), 0, `${kind}: nobody left to reach`);
        assert.deepEqual(other, [], `${kind}: another channel hears nothing`);
        await offOther();
      }
    }));

    it('each handler gets its own copy of the message, in publish order', withStore(async (store, k, { until }) => {
      for (const [kind, channel] of channels(k)) {
        const got: Buffer[] = [];
        const off1 = await store.subscribe(channel, (m) => {
          got.push(m);
          m[0] = 0x21;
        });
        const off2 = await store.subscribe(channel, (m) => got.push(m));
        const msg = b('ab');
        await store.publish(channel, msg);
        await store.publish(channel, b('cd'));
        msg[0] = 0x3f;
        await until(() => got.length === 4, `${kind}: four deliveries`);
        assert.deepEqual(got.map(String), ['!b', 'ab', '!d', 'cd'], kind);
        await off1();
        await off2();
      }
    }));

    it('unsubscribing stops delivery, even of a message already published', withStore(async (store, k, { until }) => {
      for (const [kind, channel] of channels(k)) {
        const got: string[] = [];
        const witness: string[] = [];
        const off = await store.subscribe(channel, (m) => got.push(m.toString()));
        const offWitness = await store.subscribe(channel, (m) => witness.push(m.toString()));
        await store.publish(channel, b('1'));
        await until(() => witness.length === 1, `${kind}: first message`);
        const p = store.publish(channel, b('2'));
        await off();
        await p;
        await off();
        await store.publish(channel, b('3'));
        // Messages arrive in order: once the witness has the third, the second was dispatched too.
        await until(() => witness.length === 3, `${kind}: the witness got every message`);
        assert.deepEqual(witness, ['1', '2', '3']);
        assert.deepEqual(got, ['1'], kind);
        await offWitness();
        assert.equal(await store.publish(channel, b('4')), 0, `${kind}: nobody left`);
      }
    }));

    it("a handler that throws is reported through watch().error, and the channel's other handlers still receive", withStore(async (store, k, { until }) => {
      const errors: Error[] = [];
      const unwatch = store.watch({ error: (e) => errors.push(e) });
      const got: string[] = [];
      const offA = await store.subscribe(k('ch'), () => {
        throw new Error('boom');
      });
      const offB = await store.subscribe(k('ch'), (m) => got.push(m.toString()));
      await store.publish(k('ch'), b('x'));
      await until(() => got.length === 1 && errors.length === 1, 'delivered and reported');
      assert.deepEqual(got, ['x']);
      assert.equal(errors[0]?.message, 'boom');
      unwatch();
      await offA();
      await offB();
    }));

    it("a script's PUBLISH reaches subscribers, and the script is told a count", withStore(async (store, k, { until }) => {
      for (const [kind, channel] of channels(k)) {
        const got: string[] = [];
        const off = await store.subscribe(channel, (m) => got.push(m.toString()));
        // The script's one key puts it in the channel's slot, as the lock scripts do (K5).
        const reached = await store.eval(publishInScript, [k.slot('lock')], [channel, b('m')]);
        assert.ok(typeof reached === 'number' && Number.isInteger(reached) && reached >= 0, `${kind}: reached ${String(reached)}`);
        await until(() => got.length === 1, `${kind}: delivered`);
        assert.deepEqual(got, ['m']);
        await off();
      }
    }));
  });
}
