/**
 * A container's dkey locks are keyed by a 30-bit hash of the object id and the dkey
 * (container.ts `dkeyLockKey`), not a lock-name string per put. Distinct dkeys get distinct locks
 * but for rare collisions, and a collision only adds exclusion: two dkeys that share a lock, in one
 * commit (a transaction naming both: the lock is taken once) or in concurrent puts (the second
 * queues behind the first), all commit and read back.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import { join } from 'node:path';
import { tmpDir, text } from '../helpers/tmp.js';
import { Pool } from '../../src/pool/pool.js';
import { dkeyLockKey } from '../../src/container/container.js';

const test = suite('dkey-locks');
let dir = '';
test.before.each(() => { dir = tmpDir('dkey-locks'); });
test.after.each(() => { fs.rmSync(dir, { recursive: true, force: true }); });

const enc = (s: string) => new TextEncoder().encode(s);

test('dkeyLockKey: a small non-negative integer, the same for the same key, spread over distinct keys', () => {
  const oid = ((1n << 100n) + 77n).toString(16);
  const seen = new Set<number>();
  for (let i = 0; i < 20000; i++) {
    const k = dkeyLockKey(oid, enc(`dkey-${i}`));
    assert.ok(Number.isInteger(k) && k >= 0 && k < 2 ** 30, `key ${k}`);
    assert.is(dkeyLockKey(oid, enc(`dkey-${i}`)), k, 'deterministic');
    seen.add(k);
  }
  assert.ok(seen.size >= 19990, `distinct: ${seen.size} of 20000`);
  // the object id and every byte of the dkey count (long dkeys too)
  assert.is.not(dkeyLockKey(oid, enc('d')), dkeyLockKey(((1n << 100n) + 78n).toString(16), enc('d')));
  const long = new Uint8Array(4096).fill(7);
  const other = long.slice(); other[4000] = 8;
  assert.is.not(dkeyLockKey(oid, long), dkeyLockKey(oid, other));
});

test('two dkeys of one object that share a lock: a transaction writing both commits, concurrent puts to both commit', async () => {
  const pool = await Pool.create(join(dir, 'pool'), { nodes: 2, ranksPerNode: 1, targetsPerRank: 2, scmBytes: 8 << 20, dataBytes: 64 << 20 });
  try {
    const cont = await pool.createContainer('c', { oclass: 'RP_2G1' });
    await cont.openTargets();
    const o = cont.object('obj');
    const obj = o.oid.toString(16);
    // a collision by the birthday bound (~2^15 keys for a 30-bit key)
    const byKey = new Map<number, string>();
    let pair: [string, string] | undefined;
    for (let i = 0; !pair; i++) {
      assert.ok(i < 1_000_000, 'a collision within 1M dkeys');
      const d = `d${i}`;
      const k = dkeyLockKey(obj, enc(d));
      const prev = byKey.get(k);
      if (prev !== undefined) pair = [prev, d]; else byKey.set(k, d);
    }
    const [a, b] = pair;
    assert.is(dkeyLockKey(obj, enc(a)), dkeyLockKey(obj, enc(b)));
    const tx = cont.beginTx();
    await tx.object(o.oid).update(a, 'k', 'tx-a');
    await tx.object(o.oid).update(b, 'k', 'tx-b');
    await tx.commit();
    assert.is(text(await o.fetch(a, 'k')), 'tx-a');
    assert.is(text(await o.fetch(b, 'k')), 'tx-b');
    // puts in flight at once on both (and a third dkey): the second of a pair waits for the first's lock
    const epochs = await Promise.all([o.update(a, 'k', 'p-a'), o.update(b, 'k', 'p-b'), o.update('x', 'k', 'p-x'), o.update(a, 'k', 'p-a2')]);
    assert.is(new Set(epochs).size, 4, 'four commits');
    assert.is(text(await o.fetch(a, 'k')), 'p-a2');
    assert.is(text(await o.fetch(b, 'k')), 'p-b');
    assert.is(text(await o.fetch('x', 'k')), 'p-x');
  } finally {
    await pool.close();
  }
});

test.run();
