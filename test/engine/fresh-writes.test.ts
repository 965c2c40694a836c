/**
 * A write that starts after another client's write to the same key was acknowledged lands above
 * it, whatever the two clients' clocks say: two clients' epochs in one millisecond are ordered by
 * their clock slots, not by time, so without the engines' check a punch or an update that
 * followed the other client's update could take an epoch below it and leave it in force. Engines
 * refuse such a write (STALE_EPOCH) and the client writes again above. Client A connects first
 * (the lower clock slot: its epochs of a millisecond lie below B's). Two clients writing one key
 * as fast as they can both keep going. Real etcd and engines.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Cluster } from '../helpers/cluster.js';

const t = suite('engine/fresh-writes');
const cluster = await Cluster.start({ engines: 3, targetsPerEngine: 1, leaseTtl: 5, excludeDelayMs: 60_000, scmBytes: '16M', dataBytes: '64M' });
const a = await cluster.connect(), b = await cluster.connect();
const ca = await a.createContainer('fresh', { oclass: 'RP_2G1' });
const cb = await b.openContainer('fresh');
const enc = (v: string) => new TextEncoder().encode(v);
const dec = (v: Uint8Array | undefined) => (v === undefined ? undefined : new TextDecoder().decode(v));
const ROUNDS = 100;

t('an update after the other client\'s update wins', async () => {
  for (let i = 0; i < ROUNDS; i++) {
    const key = `uu-${i}`;
    await cb.object(key).update('d', 'a', enc(`b${i}`));
    await ca.object(key).update('d', 'a', enc(`a${i}`));
    assert.is(dec(await ca.object(key).fetch('d', 'a')), `a${i}`, `round ${i}, read by A`);
    assert.is(dec(await cb.object(key).fetch('d', 'a')), `a${i}`, `round ${i}, read by B`);
  }
});

t('a punch of the akey, the dkey or the object after the other client\'s update hides it', async () => {
  for (let i = 0; i < ROUNDS; i++) {
    const key = `up-${i}`;
    await cb.object(key).update('d', 'a', enc(`b${i}`));
    const o = ca.object(key);
    if (i % 3 === 0) await o.punchAkey('d', 'a'); else if (i % 3 === 1) await o.punchDkey('d'); else await o.punch();
    assert.is(dec(await ca.object(key).fetch('d', 'a')), undefined, `round ${i} (${['akey', 'dkey', 'object'][i % 3]} punch), read by A`);
    assert.is(dec(await cb.object(key).fetch('d', 'a')), undefined, `round ${i}, read by B`);
  }
});

t('an update after the other client\'s punch of its object stays', async () => {
  for (let i = 0; i < ROUNDS; i++) {
    const key = `pu-${i}`;
    await ca.object(key).update('d', 'a', enc('old'));
    await cb.object(key).punch();
    await ca.object(key).update('d', 'a', enc(`a${i}`));
    assert.is(dec(await cb.object(key).fetch('d', 'a')), `a${i}`, `round ${i}, read by B`);
  }
});

t('an array write after the other client\'s write of the same bytes wins', async () => {
  for (let i = 0; i < ROUNDS; i++) {
    const key = `aa-${i}`;
    await cb.object(key).update('d', 'arr', { recx: { index: 0, count: 4 }, data: enc('bbbb') });
    await ca.object(key).update('d', 'arr', { recx: { index: 0, count: 4 }, data: enc('aaaa') });
    assert.is(dec(await cb.object(key).fetch('d', 'arr', { recx: { index: 0, count: 4 } })), 'aaaa', `round ${i}, read by B`);
  }
});

t('two clients writing one key at once all succeed, and the last write of each is one of theirs', async () => {
  const n = 150;
  const writes: Array<Promise<bigint>> = [];
  for (let i = 0; i < n; i++) {
    writes.push(ca.object('hot').update('d', 'a', enc(`a${i}`)));
    writes.push(cb.object('hot').update('d', 'a', enc(`b${i}`)));
  }
  const epochs = await Promise.all(writes);
  assert.is(new Set(epochs.map(String)).size, 2 * n, 'every write has its own epoch');
  const newest = epochs.reduce((m, e, i) => (e > epochs[m]! ? i : m), 0);
  const expect = `${newest % 2 === 0 ? 'a' : 'b'}${Math.floor(newest / 2)}`;
  assert.is(dec(await ca.object('hot').fetch('d', 'a')), expect, 'the value of the highest epoch');
});

t.after(async () => { await a.close(); await b.close(); await cluster.stop(); });
t.run();
