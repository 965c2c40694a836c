/**
 * Large EC single values read back whole: the output buffer of an EC single-value read of 128 KiB
 * or more comes from the media layer's recycled buffers (contents left from an earlier value), so
 * every byte of the value must be written by the combine; reads are checked against a model after
 * GC churn that puts freed outputs back on the free list. Real pool and files.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { Pool } from '../../src/pool/pool.js';
import { Rng } from '../../core/rng.js';
import { tmpDir } from '../helpers/tmp.js';

const t = suite('io/ec-single-large');

t('EC_4P2G1 single values of 1 B to 1 MiB + 5 read back byte for byte through recycled outputs', async () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const root = tmpDir('cairn-ec-single-large-');
  const pool = await Pool.create(join(root, 'pool'), { nodes: 4, ranksPerNode: 2, targetsPerRank: 2, dataBytes: 128 << 20 });
  try {
    const c = await pool.createContainer('ec', { oclass: 'EC_4P2G1' });
    const kv = c.kv('big');
    const rng = new Rng(0x51e);
    const sizes = [1, 100, 4095, 128 * 1024 - 1, 128 * 1024, 4 * 128 * 1024 + 3, (1 << 20) + 5];
    const model = new Map<string, Uint8Array>();
    for (let round = 0; round < 3; round++) {
      for (const [i, n] of sizes.entries()) {
        const v = rng.bytes(n);
        model.set(`k${i}`, v);
        await kv.put(`k${i}`, v);
      }
      for (let pass = 0; pass < 3; pass++) {
        for (const [key, want] of model) {
          const got = await kv.get(key);
          assert.ok(got !== undefined, `${key} present`);
          assert.is(got!.length, want.length, `${key} length`);
          assert.ok(Buffer.from(got!.buffer, got!.byteOffset, got!.length).equals(want), `round ${round} pass ${pass}: ${key} (${want.length} bytes) reads back`);
        }
        gc();
        await new Promise((res) => setImmediate(res));
      }
    }
    await c.close();
  } finally {
    await pool.close();
    rmSync(root, { recursive: true, force: true });
  }
});

t.run();
