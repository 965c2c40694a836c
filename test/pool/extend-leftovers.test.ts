/**
 * An extend that did not take effect leaves its new targets' directories behind: `extend` makes
 * them before it changes the pool map, so a process killed in between (or while a target store is
 * being created: an empty `vos.scm`) leaves targets no saved map names. Running the extend again
 * must make those stores anew, not trust what is there: the extension then takes effect, its
 * migration finishes, and every value reads back, also with the old targets failed.
 * (Found by a seed sweep of test/pool/crash-rebalance: seeds 20 and 35 killed the writer 111 and
 * 183 ms into an extend, and the extend run again failed with "no target store ... vos.scm is
 * missing or empty".)
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Pool } from '../../src/pool/pool.js';
import { Rng } from '../../core/rng.js';
import { tmpDir } from '../helpers/tmp.js';

const t = suite('extend-leftovers');
const root = tmpDir('cairn-extend-left-');
const SHAPE = { nodes: 4, ranksPerNode: 2, targetsPerRank: 2, scmBytes: 16 << 20, dataBytes: 32 << 20 };

/** A pool with values in it, closed; returns its directory and the values. */
async function filled(name: string): Promise<{ dir: string; values: Map<string, Uint8Array> }> {
  const dir = join(root, name);
  const pool = await Pool.create(dir, SHAPE);
  const c = await pool.createContainer('c', { oclass: 'EC_4P2G1', redundancyFactor: 2, cellSize: 4096 });
  const rng = new Rng(35);
  const values = new Map<string, Uint8Array>();
  for (let i = 0; i < 40; i++) {
    const v = rng.bytes(1 + rng.int(9000));
    await c.kv(`k${i}`, { oclass: i % 2 === 0 ? 'EC_4P2G1' : 'RP_3G1' }).put('v', v);
    values.set(`k${i}`, v);
  }
  await pool.close();
  return { dir, values };
}

async function readsBack(pool: Pool, values: Map<string, Uint8Array>, what: string): Promise<void> {
  const c = await pool.openContainer('c');
  for (const [k, v] of values) {
    const got = await c.kv(k, { oclass: Number(k.slice(1)) % 2 === 0 ? 'EC_4P2G1' : 'RP_3G1' }).get('v');
    assert.ok(got !== undefined && Buffer.compare(Buffer.from(got), Buffer.from(v)) === 0, `${what}: ${k} ${got === undefined ? 'missing' : 'reads other bytes'}`);
  }
}

// What a crash can leave of the new targets 16..19: nothing past an empty metadata file (killed as
// the store was created), a metadata file of garbage and no data file, or a whole store.
const LEFTOVERS: Array<[string, (tdir: string) => void]> = [
  ['an empty vos.scm', (tdir) => { mkdirSync(tdir, { recursive: true }); writeFileSync(join(tdir, 'vos.scm'), ''); }],
  ['a vos.scm of garbage and no vos.data', (tdir) => { mkdirSync(tdir, { recursive: true }); writeFileSync(join(tdir, 'vos.scm'), new Rng(1).bytes(70_000)); }],
  ['an empty directory', (tdir) => { mkdirSync(tdir, { recursive: true }); }],
];

for (const [i, [what, leave]] of LEFTOVERS.entries()) {
  t(`extend run again over ${what} left by one that did not take effect: the extension takes effect, its migration finishes, values read back`, async () => {
    const { dir, values } = await filled(`left-${i}`);
    // The first new target's directory as the crash left it; the others as `prepareTargets` had made them, or not yet.
    leave(join(dir, 'targets', '16'));
    const pool = await Pool.open(dir);
    try {
      assert.is(pool.query().targets.length, 16, 'no saved map names the leftover');
      const added = await pool.extend({ nodes: 1 });
      assert.equal(added, [16, 17, 18, 19]);
      await pool.waitForRebuild();
      assert.is(pool.rebuildStatus().state, 'idle');
      assert.ok(existsSync(join(dir, 'targets', '16', 'vos.data')), 'the leftover target was made whole');
      await readsBack(pool, values, 'after the extension');
      // The new targets really hold shards now: fail two old ones, reads go around them.
      await pool.exclude([0, 5]);
      await readsBack(pool, values, 'with targets 0 and 5 failed');
      await pool.waitForRebuild();
      await readsBack(pool, values, 'after that rebuild');
    } finally {
      await pool.close();
    }
    // and the pool opens again with its five nodes
    const again = await Pool.open(dir);
    try {
      assert.is(again.query().targets.length, 20);
      assert.equal(readdirSync(join(dir, 'targets')).length, 20);
      await readsBack(again, values, 'after reopen');
    } finally {
      await again.close();
    }
  });
}

t.run();
