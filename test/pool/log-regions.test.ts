/**
 * A pool's target stores are created with the resident share an open with the default cache gives
 * them, so their log regions (sized from it at creation, and kept on disk) fit in it: 1 MiB for a
 * 16-target pool, 4 MiB for a 4-target one (see `TargetOptions.walBytes`). A store created without
 * its share took a lone target's 4 MiB in every pool, which left 8 MiB less of a small cap for runs
 * (the scale bench's 1M objects then hit NO_SPACE at a 64 MiB cap).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Pool } from '../../src/pool/pool.js';
import { TargetStore } from '../../src/vos/index.js';

const test = suite('pool log regions');
const MiB = 1024 * 1024;
let dir = '';
test.before.each(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-logreg-')); });
test.after.each(() => { fs.rmSync(dir, { recursive: true, force: true }); });

async function walBytesOf(shape: { nodes: number; ranksPerNode: number; targetsPerRank: number }): Promise<number[]> {
  const root = path.join(dir, `p${shape.nodes * shape.ranksPerNode * shape.targetsPerRank}`);
  const pool = await Pool.create(root, { ...shape, scmBytes: 64 * MiB, dataBytes: 16 * MiB });
  await pool.close();
  const out: number[] = [];
  for (const t of fs.readdirSync(path.join(root, 'targets'))) {
    const ts = await TargetStore.open(path.join(root, 'targets', t), { readOnly: true });
    out.push(ts.geo.walBytes);
    await ts.close();
  }
  return out;
}

test('16 targets: 1 MiB log regions in every target; 4 targets: 4 MiB', async () => {
  const sixteen = await walBytesOf({ nodes: 4, ranksPerNode: 2, targetsPerRank: 2 });
  assert.is(sixteen.length, 16);
  assert.ok(sixteen.every((w) => w === 1 * MiB), `16 targets: ${sixteen.join(', ')}`);
  const four = await walBytesOf({ nodes: 1, ranksPerNode: 2, targetsPerRank: 2 });
  assert.is(four.length, 4);
  assert.ok(four.every((w) => w === 4 * MiB), `4 targets: ${four.join(', ')}`);
});

test.run();
