/**
 * Grouped rebuild steps (migrate.ts `readBatch` / `writeCellsNow`): a decode step's k sources are
 * located and read as one hashed group, verified against their checksums there, and the rebuilt
 * cells are written as prepared writes sent in groups, against the checked per-value chains
 * (`CAIRN_REBUILD_GROUPED=0`, `rebuildGrouped(false)`). The same pool shape loses a target in both
 * modes and every byte reads back as written (model), also after a second target of the group
 * fails (so reads need the rebuilt shards); the grouped run must have located its reads (and the
 * other none). With every value of one healthy source damaged, the located reads of it mismatch,
 * are read again the checked way (which reports the damage), and the source counts as missing:
 * nothing lost, the right bytes. Fused steps run both ways: in the migration's stripe buffers
 * (`rebuildStaged(false)`) and in the pool thread's own memory (staged, the default): the same
 * bytes, and a damaged source's staged step records nothing and runs again. Real pool files.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { Pool } from '../../src/pool/pool.js';
import { rebuildGrouped, rebuildFused, rebuildStaged, rebuildGroupStats } from '../../src/pool/migrate.js';
import { Rng } from '../../core/rng.js';
import { tmpDir } from '../helpers/tmp.js';
import { targetsOf, damageValues } from './rebuild-model.js';
import { swallowedCounts } from '../../core/log.js';
import { ContainerStore } from '../../src/vos/container-store.js';

const t = suite('rebuild grouped steps');
const root = tmpDir('cairn-rebuild-grouped-');
const SHAPE = { nodes: 4, ranksPerNode: 2, targetsPerRank: 2, scmBytes: 16 << 20, dataBytes: 64 << 20 };
const CHUNK = 1 << 20;
/** Whole stripes of 4 KiB cells, and ends inside a cell; several 1 MiB dkeys each (each rotates its parity, so the damaged shard is a source of some). */
const SIZES = [4 << 20, (4 << 20) + 4096 * 3 + 100, 5 << 20];

type Mode = 'checked' | 'grouped' | 'fused' | 'staged';

async function fillAndRebuild(name: string, mode: Mode, damage: boolean): Promise<ReturnType<typeof rebuildGroupStats>> {
  const was = rebuildGrouped(), wasFused = rebuildFused(), wasStaged = rebuildStaged();
  rebuildGrouped(mode !== 'checked');
  rebuildFused(mode === 'fused' || mode === 'staged');
  rebuildStaged(mode === 'staged');
  try {
    const dir = join(root, name);
    let p = await Pool.create(dir, SHAPE);
    let c = await p.createContainer('c', { oclass: 'EC_4P2G1', redundancyFactor: 2, cellSize: 4096 });
    const rng = new Rng(31);
    const model = new Map<string, Uint8Array>();
    for (let i = 0; i < 6; i++) {
      const data = rng.bytes(SIZES[i % SIZES.length]!);
      await c.array(`a-${i}`, { oclass: 'EC_4P2G1', chunkSize: CHUNK }).write(0, data);
      model.set(`a-${i}`, data);
    }
    const verify = async () => {
      for (const [n, data] of model) {
        const got = await c.array(n, { oclass: 'EC_4P2G1', chunkSize: CHUNK }).read(0, data.length);
        assert.ok(Buffer.compare(Buffer.from(got), Buffer.from(data)) === 0, `${n}: wrong bytes`);
      }
    };
    const [victim, second] = targetsOf(c, 'a-0', 'EC_4P2G1');
    if (damage) {
      await p.close();
      assert.ok(damageValues(dir, second!, 4096) > 10, 'values of the source were damaged');
      p = await Pool.open(dir);
      c = await p.openContainer('c');
    }
    const s0 = rebuildGroupStats(), w0 = swallowedCounts();
    await p.exclude(victim!);
    await p.waitForRebuild();
    const s1 = rebuildGroupStats(), w1 = swallowedCounts();
    assert.equal(p.rebuildStatus().lost, [], 'nothing lost');
    assert.ok(p.rebuildStatus().bytes > 0, 'shards were rebuilt');
    if (process.env.DBG) console.log(mode, damage, s1);
    if (damage && (mode === 'fused' || mode === 'staged') && process.env.CAIRN_NO_NATIVE !== '1') assert.ok(s1.fusedFallbacks > s0.fusedFallbacks, 'fused steps met the damaged source and ran again the other way');
    if (damage) {
      // (without the addon nothing is located: the checked reads meet the damage)
      if (process.env.CAIRN_NO_NATIVE !== '1') assert.ok(s1.locatedRereads > s0.locatedRereads, 'located reads of the damaged source mismatched and were read again');
      assert.ok((w1['migrate.cells-unreadable-count-missing'] ?? 0) > (w0['migrate.cells-unreadable-count-missing'] ?? 0), 'the damaged source counted as missing');
    }
    // The second target out as well: reads now depend on the shards the rebuild wrote.
    await p.exclude(second!);
    await p.waitForRebuild();
    assert.equal(p.rebuildStatus().lost, []);
    await verify();
    await p.close();
    const d = { ...s1 };
    for (const n of Object.keys(d) as Array<keyof typeof d>) d[n] -= s0[n];
    return d;
  } finally {
    rebuildGrouped(was);
    rebuildFused(wasFused);
    rebuildStaged(wasStaged);
  }
}

t('checked, grouped and fused steps rebuild the same bytes; the grouped runs locate their reads, the fused one runs its steps natively', async () => {
  const off = await fillAndRebuild('checked', 'checked', false);
  assert.is(off.locatedReads + off.locatedRereads + off.preparedWrites + off.fusedSteps, 0, 'the checked run groups nothing');
  const on = await fillAndRebuild('grouped', 'grouped', false);
  assert.is(on.fusedSteps, 0, 'the grouped run fuses nothing');
  if (process.env.CAIRN_NO_NATIVE !== '1') assert.ok(on.locatedReads > 0, 'sources were read as located groups');
  assert.is(on.locatedRereads, 0, 'no located read mismatched on healthy sources');
  const fused = await fillAndRebuild('fused', 'fused', false);
  if (process.env.CAIRN_NO_NATIVE !== '1' && process.env.CAIRN_REBUILD_FUSED !== '0') assert.ok(fused.fusedSteps > 0, 'steps ran as fused native jobs');
  assert.is(fused.fusedFallbacks, 0, 'no fused step fell back on healthy sources');
  assert.is(fused.stagedSteps, 0, 'rebuildStaged(false): fused steps in the stripe buffers');
  const staged = await fillAndRebuild('staged', 'staged', false);
  if (process.env.CAIRN_NO_NATIVE !== '1' && process.env.CAIRN_REBUILD_FUSED !== '0') assert.ok(staged.stagedSteps > 0 && staged.stagedSteps === staged.fusedSteps, 'fused steps ran staged');
  assert.is(staged.fusedFallbacks, 0, 'no staged step fell back on healthy sources');
  // Sources whose shard the keys' scan read are located from the version it found (no lookup), where the store takes that.
  if (process.env.CAIRN_NO_NATIVE !== '1' && process.env.CAIRN_REBUILD_FUSED !== '0' && typeof (ContainerStore.prototype as { locateVersionNow?: unknown }).locateVersionNow === 'function') {
    assert.ok(fused.versionLocates > 0, 'fused sources were located from their scanned versions');
  }
});

t('grouped steps, every value of a healthy source damaged: read again the checked way, counted missing, right bytes', async () => {
  await fillAndRebuild('damaged', 'grouped', true);
});

t('fused steps, every value of a healthy source damaged: nothing decoded from it is recorded, the step runs again, right bytes', async () => {
  await fillAndRebuild('damaged-fused', 'fused', true);
});

t('staged steps, every value of a healthy source damaged: nothing decoded from it is recorded, the step runs again, right bytes', async () => {
  await fillAndRebuild('damaged-staged', 'staged', true);
});

t.run();
