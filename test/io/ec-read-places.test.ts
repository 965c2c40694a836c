/**
 * EC array reads of any range land every byte in its place: `fetchArray` counts, per data role,
 * the places of the output its shard range fills (one per stripe the range covers that role's
 * cell of) and makes each role's places array at that length. Random ranges (inside one cell,
 * across a few stripes, starting before or past the first cell, ending before or past the last)
 * of an EC_4P2G1 and an EC_2P1G1 array with small cells, located reads on and off, with a caller
 * buffer and without, read what was written.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { Pool } from '../../src/pool/pool.js';
import { fusedReads } from '../../src/io/io.js';
import { Rng } from '../../core/rng.js';
import { tmpDir } from '../helpers/tmp.js';

const t = suite('io/ec-read-places');

t('random ranges of EC arrays read back byte for byte (located reads on and off, into and not)', async () => {
  const root = tmpDir('cairn-ec-read-places-');
  const pool = await Pool.create(join(root, 'pool'), { nodes: 4, ranksPerNode: 2, targetsPerRank: 2, dataBytes: 64 << 20 });
  const was = fusedReads();
  try {
    for (const [oclass, cell] of [['EC_4P2G1', 4096], ['EC_2P1G1', 8192]] as const) {
      const c = await pool.createContainer(`c-${oclass}`, { oclass, cellSize: cell });
      const arr = c.array('a', { chunkSize: 1 << 20 });
      const rng = new Rng(cell + oclass.length);
      const size = 300_000;
      const model = rng.bytes(size);
      await arr.write(0, model);
      for (const on of [true, false]) {
        fusedReads(on);
        for (let i = 0; i < 150; i++) {
          const off = rng.int(size - 1);
          const len = 1 + rng.int(Math.min(size - off, i % 3 === 0 ? cell : 12 * cell) - 1 || 1);
          const want = Buffer.from(model.subarray(off, off + len));
          const got = await arr.read(off, len);
          assert.ok(Buffer.from(got).equals(want), `${oclass} fused ${on}: [${off}, +${len})`);
          const into = new Uint8Array(len).fill(0xa5);
          await arr.read(off, len, { into });
          assert.ok(Buffer.from(into).equals(want), `${oclass} fused ${on}: into [${off}, +${len})`);
        }
      }
      await c.close();
    }
  } finally {
    fusedReads(was);
    await pool.close();
    rmSync(root, { recursive: true, force: true });
  }
});

t.run();
