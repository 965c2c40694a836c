/**
 * Scrub specification: bit flips in a target's data file are found by `pool.scrub()`, repaired
 * from redundancy (the repaired shard then serves reads on its own), and a second scrub is clean.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { existsSync, openSync, readSync, writeSync, closeSync, readdirSync, statSync } from 'node:fs';
import { Pool } from '../../src/pool/pool.js';
import { Rng } from '../../core/rng.js';
import { tmpDir } from '../helpers/tmp.js';

const t = suite('scrub');

/** Flip one bit in every written 4 KiB block of a data file (skipping all-zero blocks). */
function flipBlocks(path: string, rng: Rng): number {
  const fd = openSync(path, 'r+');
  const size = statSync(path).size;
  const buf = Buffer.alloc(4096);
  let flipped = 0;
  for (let off = 0; off + 4096 <= Math.min(size, 64 << 20); off += 4096) {
    readSync(fd, buf, 0, 4096, off);
    if (buf.every((b) => b === 0)) continue;
    const i = rng.int(4096);
    buf[i]! ^= 1 << rng.int(8);
    writeSync(fd, buf, i, 1, off + i);
    flipped++;
  }
  closeSync(fd);
  return flipped;
}

for (const oclass of ['EC_2P1G1', 'RP_2G1']) {
  t(`${oclass}: scrub finds flipped bits, repairs them from redundancy, and a second scrub is clean`, async () => {
    const dir = join(tmpDir(), 'pool');
    let pool = await Pool.create(dir, { nodes: 3, ranksPerNode: 1, targetsPerRank: 1, scmBytes: 16 << 20, dataBytes: 64 << 20 });
    const c = await pool.createContainer('c', { oclass, redundancyFactor: 1, cellSize: 8192 });
    const rng = new Rng(3);
    const values = new Map<string, Uint8Array>();
    for (let i = 0; i < 12; i++) {
      const v = rng.bytes(20_000 + rng.int(60_000));
      await c.object(`o${i % 3}`).update(`d${i}`, 'a', { recx: { index: 0, count: v.length }, data: v });
      values.set(`${i % 3}/d${i}`, v);
    }
    const snapValues = new Map(values);
    await c.snapshot('s');
    for (let i = 0; i < 4; i++) {
      const v = rng.bytes(30_000);
      await c.object(`o${i % 3}`).update(`d${i}`, 'a', { recx: { index: 0, count: v.length }, data: v });
      values.set(`${i % 3}/d${i}`, v);
    }
    await pool.close();
    // Corrupt target 0's data file.
    const tdir = join(dir, 'targets', '0');
    let flipped = 0;
    const f = join(tdir, 'vos.data');
    if (existsSync(f)) flipped += flipBlocks(f, rng);
    assert.ok(flipped > 0, 'nothing was flipped');
    pool = await Pool.open(dir);
    const report = await pool.scrub();
    assert.ok(report.bad.length > 0, 'scrub found nothing');
    assert.is(report.unrepairable, 0);
    assert.is(report.repaired, report.bad.length);
    assert.ok(report.bad.every((b) => b.target === 0));
    const again = await pool.scrub();
    assert.is(again.bad.length, 0, JSON.stringify(again.bad.slice(0, 3)));
    // The repaired target now serves reads alone: take out another target of each group.
    const c2 = await pool.openContainer('c');
    const layout = (c2 as unknown as { layout(o: bigint): { groups: number[][] } }).layout(c2.object('o0').oid).groups[0]!;
    await pool.exclude(layout.find((x) => x !== 0)!);
    for (const [k, v] of values) {
      const [o, d] = k.split('/');
      assert.equal(await c2.object(`o${o}`).fetch(d!, 'a', { recx: { index: 0, count: v.length } }), v, k);
    }
    for (const [k, v] of snapValues) {
      const [o, d] = k.split('/');
      assert.equal(await c2.object(`o${o}`).fetch(d!, 'a', { recx: { index: 0, count: v.length }, snapshot: 's' }), v, `snapshot ${k}`);
    }
    await pool.close();
  });
}

t.run();
