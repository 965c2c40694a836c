/**
 * A closed pool's Container handle pins none of its stores: a user who keeps the handle after
 * `pool.close()` kept every target store reachable through it (its opened-store cache), with
 * their runs' point indexes and verified blocks (~330 MiB after the io bench's 150k puts). After
 * close the stores are collectable while the handle lives, and the handle answers POOL_CLOSED.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Pool } from '../../src/pool/pool.js';
import { tmpDir, rejectsWith } from '../helpers/tmp.js';

const t = suite('container close');
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** WeakRefs to the stores `c` holds open (made in a scope of its own: no strong reference kept here). */
function storeRefs(c: object): Array<WeakRef<object>> {
  const ready = (c as unknown as { ready: Array<{ target?: object } | undefined> }).ready;
  const out: Array<WeakRef<object>> = [];
  for (const s of ready) if (s !== undefined) { out.push(new WeakRef(s)); if (s.target) out.push(new WeakRef(s.target)); }
  return out;
}

t('after pool.close(), a Container handle still held pins no target store', async () => {
  const pool = await Pool.create(join(tmpDir(), 'pool'), { nodes: 2, ranksPerNode: 2, targetsPerRank: 1, scmBytes: 16 << 20, dataBytes: 64 << 20 });
  const c = await pool.createContainer('c', { oclass: 'RP_2G1' });
  for (let i = 0; i < 2000; i++) await c.kv(`o${i}`).put('v', `value ${i}`);
  for (let i = 0; i < 2000; i += 7) await c.kv(`o${i}`).get('v');
  const refs = storeRefs(c);
  assert.ok(refs.length >= 2, `stores opened: ${refs.length}`);
  await pool.close();
  // (collections until they are gone, a bounded number: a timer or a pending callback of the
  // closed stores may hold one for a moment on a loaded machine)
  for (let i = 0; i < 40 && refs.some((r) => r.deref() !== undefined); i++) { await new Promise((r) => setTimeout(r, 25)); gc(); }
  const alive = refs.filter((r) => r.deref() !== undefined).length;
  assert.is(alive, 0, `${alive} of ${refs.length} store objects still reachable from the closed handle`);
  await rejectsWith(() => c.kv('o1').get('v'), 'POOL_CLOSED');
  await rejectsWith(() => c.kv('o1').put('v', 'x'), 'POOL_CLOSED');
});

t.run();
