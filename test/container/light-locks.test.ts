/**
 * Small puts take only their dkey lock while no object punch waits or runs (the object's shared
 * lock is implied: container.ts `lightHolds`). An object punch must still never run while a put
 * of its object is in flight, and puts that come while it waits must go after it, as when every
 * put took the object's shared lock: checked with replica writes held at a gate.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import { join } from 'node:path';
import { tmpDir } from '../helpers/tmp.js';
import { Pool } from '../../src/pool/pool.js';
import { ContainerStore } from '../../src/vos/container-store.js';

const test = suite('light-locks');
let dir = '';
test.before.each(() => { dir = tmpDir('light-locks'); });
test.after.each(() => { fs.rmSync(dir, { recursive: true, force: true }); });

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Hold every replica write (`updateSingleNow`) until `open()`; returns the gate and its restore. */
function gateWrites(): { open: () => void; restore: () => void } {
  const real = ContainerStore.prototype.updateSingleNow;
  let opened = false;
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  ContainerStore.prototype.updateSingleNow = function (this: ContainerStore, ...args: Parameters<typeof real>) {
    if (opened) return real.apply(this, args);
    return gate.then(() => real.apply(this, args));
  };
  return { open: () => { opened = true; release(); }, restore: () => { ContainerStore.prototype.updateSingleNow = real; } };
}

test('an object punch waits for the puts of any object in flight, and puts that come meanwhile go after it', async () => {
  const pool = await Pool.create(join(dir, 'pool'), { nodes: 2, ranksPerNode: 1, targetsPerRank: 2, scmBytes: 8 << 20, dataBytes: 64 << 20 });
  const g = gateWrites();
  try {
    const cont = await pool.createContainer('c', { oclass: 'RP_2G1' });
    await cont.openTargets();
    const log: string[] = [];
    const note = (what: string) => (e: bigint) => { log.push(what); return e; };
    const put1 = cont.kv('obj').put('k1', 'v1').then(note('put1'));
    const other = cont.kv('other').put('k', 'x').then(note('other'));
    await sleep(20);
    const punch = cont.object('obj').punch().then(note('punch'));
    await sleep(30);
    assert.equal(log, [], 'the punch waits while puts are in flight');
    const put2 = cont.kv('obj').put('k2', 'v2').then(note('put2'));
    await sleep(30);
    assert.equal(log, [], 'a put that came after the punch waits too');
    g.open();
    const [e1, , ep, e2] = await Promise.all([put1, other, punch, put2]);
    assert.ok(log.indexOf('punch') > log.indexOf('put1'), `the punch ends after the put of its object before it: ${log}`);
    assert.is(log[log.length - 1], 'put2', `the later put ends last: ${log}`);
    assert.ok(e1 < ep && ep < e2, 'epochs in that order');
    assert.is(await cont.kv('obj').get('k1'), undefined, 'the punch hid the put before it');
    assert.is(await cont.kv('obj').getString('k2'), 'v2', 'the put after it is there');
    assert.is(await cont.kv('other').getString('k'), 'x');
    // once the punch is over, puts run without waiting again
    const put3 = await cont.kv('obj').put('k3', 'v3');
    assert.ok(put3 > e2);
    assert.is(await cont.kv('obj').getString('k3'), 'v3');
  } finally {
    g.restore();
    await pool.close();
  }
});

test('many puts in flight with punches among them: every punch hides exactly the puts of its object that ended before it', async () => {
  const pool = await Pool.create(join(dir, 'pool'), { nodes: 2, ranksPerNode: 1, targetsPerRank: 2, scmBytes: 8 << 20, dataBytes: 64 << 20 });
  try {
    const cont = await pool.createContainer('c', { oclass: 'RP_2G1' });
    await cont.openTargets();
    const objs = ['a', 'b', 'c'];
    const ends: Array<{ obj: string; key: string; epoch: bigint } | { obj: string; punch: true; epoch: bigint }> = [];
    const work: Array<Promise<unknown>> = [];
    for (let i = 0; i < 300; i++) {
      const obj = objs[i % 3]!;
      if (i % 37 === 36) work.push(cont.object(obj).punch().then((epoch) => { ends.push({ obj, punch: true, epoch }); }));
      else { const key = `k${i}`; work.push(cont.kv(obj).put(key, key).then((epoch) => { ends.push({ obj, key, epoch }); })); }
      if (i % 10 === 9) await Promise.resolve();
    }
    await Promise.all(work);
    for (const obj of objs) {
      const mine = ends.filter((e) => e.obj === obj);
      const lastPunch = mine.filter((e) => 'punch' in e).reduce((m, e) => (e.epoch > m ? e.epoch : m), -1n);
      for (const e of mine) {
        if ('punch' in e) continue;
        const got = await cont.kv(obj).getString(e.key);
        assert.is(got, e.epoch > lastPunch ? e.key : undefined, `${obj}/${e.key} at ${e.epoch} (last punch ${lastPunch})`);
      }
    }
  } finally {
    await pool.close();
  }
});

test.run();
