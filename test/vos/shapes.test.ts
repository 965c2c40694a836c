/**
 * Hidden classes of what the write path reads are the same for a store created in the process and
 * one reopened from its files: an engine warms its write path up on a scratch store it creates,
 * then serves stores it reopened, and a different hidden class there deoptimised the compiled
 * write path (`logUpdateNow`: 'wrong map') as soon as it started listening. Checked with V8's own
 * `%HaveSameMap` (natives syntax turned on before the check is compiled).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import v8 from 'node:v8';
import { VosTarget, type VosOptions } from '../../src/vos/index.js';
import { enc, tmpDir } from './helpers.js';

v8.setFlagsFromString('--allow-natives-syntax');
const sameMap = new Function('a', 'b', 'return %HaveSameMap(a, b);') as (a: object, b: object) => boolean;

const test = suite('vos hidden classes');
let dirs: string[] = [];
test.after.each(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); dirs = []; });

const D = enc('d'), A = enc('a');
const MiB = 1024 * 1024;

async function pair(opts: VosOptions, reopenedOpts: VosOptions = opts): Promise<[VosTarget, VosTarget]> {
  const a = tmpDir('shapes'), b = tmpDir('shapes');
  dirs.push(a, b);
  const first = await VosTarget.open(a, reopenedOpts);
  for (let i = 0; i < 20; i++) await first.updateSingle(BigInt(i + 1), BigInt(i), D, A, enc(`v${i}`));
  await first.close();
  const created = await VosTarget.open(b, opts);
  const reopened = await VosTarget.open(a, reopenedOpts);
  for (let i = 0; i < 20; i++) {
    for (const t of [created, reopened]) { const p = t.updateSingleNow(BigInt(i + 100), BigInt(i + 100), D, A, enc('x'), undefined, i % 2 === 0); if (p) await p; }
  }
  return [created, reopened];
}

test('geometry, container state and free chunk list: one hidden class for a created and a reopened store', async () => {
  const [c, r] = await pair({ scmBytes: 64 * MiB, dataBytes: 16 * MiB, walBytes: 256 * 1024 });
  try {
    assert.ok(sameMap(c.target.geo, r.target.geo), 'Geometry (a superblock decodes it in another field order)');
    assert.ok(sameMap(c.state, r.state), 'ContState (the manifest, the log and a create each made one)');
    const free = (t: VosTarget) => (t.target as unknown as { heapFree: number[] }).heapFree;
    assert.ok(sameMap(free(c), free(r)), 'free chunk list elements (the file size from fstat is a heap number)');
  } finally {
    await c.close(); await r.close();
  }
});

test('a store with caps past the small-integer range and a small one share the Geometry class', async () => {
  // (a 1 GiB pmem cap and a 4 GiB data cap are heap numbers; an engine's warm-up store is small)
  const [c, r] = await pair({ scmBytes: 64 * MiB, dataBytes: 16 * MiB, walBytes: 256 * 1024 }, { scmBytes: 1024 * MiB, dataBytes: 4096 * MiB, walBytes: 256 * 1024 });
  try {
    assert.ok(sameMap(c.target.geo, r.target.geo));
  } finally {
    await c.close(); await r.close();
  }
});

test.run();
