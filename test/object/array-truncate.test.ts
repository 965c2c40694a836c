/**
 * `ArrayObject.setSize` shrinking to the middle of a chunk keeps that chunk's head: the chunk's
 * punch and the head written back are one commit, so a write that fails (here: a store refusing
 * it) leaves the chunk as it was instead of punched and its head lost. Embedded pool, real files.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { Pool } from '../../src/pool/pool.js';
import { ContainerStore } from '../../src/vos/container-store.js';
import { Rng } from '../../core/rng.js';
import { tmpDir } from '../helpers/tmp.js';

const t = suite('object/array-truncate');
const CHUNK = 4096;

for (const oclass of ['RP_2G1', 'EC_2P1G1']) {
  t(`a shrink into a chunk whose head cannot be written back leaves the chunk whole (${oclass})`, async () => {
    const pool = await Pool.create(join(tmpDir(), `pool-${oclass}`), { nodes: 3, ranksPerNode: 1, targetsPerRank: 1, scmBytes: 16 << 20, dataBytes: 64 << 20 });
    const real = ContainerStore.prototype.updateArray;
    try {
      const c = await pool.createContainer('a', { oclass, cellSize: 512 });
      const arr = c.array('arr', { chunkSize: CHUNK });
      const data = new Rng(77).bytes(10_000);
      await arr.write(0, data.subarray(0, 3000));
      await arr.write(3000, data.subarray(3000)); // (the last chunk holds two extents)
      let refuse = true;
      ContainerStore.prototype.updateArray = async function (this: ContainerStore, ...args: Parameters<typeof real>) {
        if (refuse) throw Object.assign(new Error('test: this store refuses the write'), { code: 'IO_ERROR' });
        return real.apply(this, args);
      };
      let failed = false;
      try { await arr.setSize(5000); } catch { failed = true; }
      assert.ok(failed, 'the shrink fails');
      refuse = false;
      ContainerStore.prototype.updateArray = real;
      // the chunk past the new end went (its own commit); the last chunk is as it was
      assert.equal(await arr.read(0, 2 * CHUNK), data.subarray(0, 2 * CHUNK), 'the chunk being cut is whole');
      await arr.setSize(5000);
      assert.is(await arr.getSize(), 5000);
      assert.equal(await arr.read(0, 5000), data.subarray(0, 5000), 'the head kept after the shrink');
      assert.equal(await arr.read(5000, 4000), new Uint8Array(4000), 'past the end reads as zeros');
    } finally {
      ContainerStore.prototype.updateArray = real;
      await pool.close();
    }
  });
}

t.run();
