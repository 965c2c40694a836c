/**
 * The fused EC read (src/io/io.ts `locateRoles` in `fetchArray`): an EC array read locates its data cells
 * synchronously on each target's store and reads them as one hashed group. Specification: it
 * returns exactly the bytes the read path without it returns (the model), whole stripes and
 * partial ones, unaligned ranges, rewritten cells; the located reads are the ones taken (every
 * data cell of a whole-stripe read is located); a flipped byte under a located cell is never
 * returned and never reads as zeros: that cell's located read fails its checksum, it is read again
 * through `fetchArrayInto` (CHECKSUM_MISMATCH, the bad shard reported) and reconstructed from
 * parity; with two data targets gone the read reconstructs as before.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { openSync, readSync, writeSync, closeSync, rmSync } from 'node:fs';
import { Pool } from '../../src/pool/pool.js';
import { ContainerStore } from '../../src/vos/container-store.js';
import { locateArrayRead } from '../../src/vos/locate.js';
import { DATA_FILE } from '../../src/vos/constants.js';
import { fusedReads } from '../../src/io/io.js';
import type { LocatedShardRead, Recx } from '../../src/io/shard-store.js';
import { Rng } from '../../core/rng.js';
import { tmpDir } from '../helpers/tmp.js';
import { nativeAddon } from '../../src/media/io-uring.js';

/** Located reads need the native addon's hashed batches (CAIRN_NO_NATIVE=1: the plain path, checked against the model only). */
const NATIVE = nativeAddon()?.hashedBatch !== undefined;
const t = suite('fused EC reads');
const MIB = 1 << 20;
/** Six targets: one EC_4P2G1 group is all of them. */
const SHAPE = { nodes: 3, ranksPerNode: 1, targetsPerRank: 2, scmBytes: 16 << 20, dataBytes: 64 << 20 };
const CELL = 64 * 1024;
const STRIPE = 4 * CELL;
const ARRAY_BYTES = 4 * MIB;

type LocateFn = (this: ContainerStore, epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, recx: Recx, into: readonly Uint8Array[]) => LocatedShardRead | null;
type IntoFn = (this: ContainerStore, ...a: unknown[]) => Promise<void>;

/** What the located reads did: how many were located, how many matched, where the failed ones lay. */
interface Seen { located: number; matched: number; failed: number; positions: Array<{ dir: string; position: number }>; intoErrors: string[] }

/**
 * Count located reads through the store's `locateArrayNow` (the store's own, or, until the
 * store has one, the same call made through `locateArrayRead` with the store's view) and the
 * errors of `fetchArrayInto`; returns the undo.
 */
function watch(seen: Seen): () => void {
  const proto = ContainerStore.prototype as unknown as { locateArrayNow?: LocateFn; fetchArrayInto: IntoFn };
  const own = proto.locateArrayNow;
  const base: LocateFn = own ?? function (this: ContainerStore, epoch, oid, dkey, akey, recx, into) {
    return locateArrayRead(this.target, this.state, this['view'](), epoch, oid, dkey, akey, recx, into);
  };
  proto.locateArrayNow = function (this: ContainerStore, epoch, oid, dkey, akey, recx, into) {
    const l = base.call(this, epoch, oid, dkey, akey, recx, into);
    if (l === null) return l;
    seen.located++;
    seen.positions.push({ dir: this.target.dir, position: l.read.position });
    return { read: l.read, finish: (r) => { const ok = l.finish(r); if (ok) seen.matched++; else seen.failed++; return ok; } };
  };
  const into = proto.fetchArrayInto;
  proto.fetchArrayInto = async function (this: ContainerStore, ...a: unknown[]) {
    try { return await into.apply(this, a); } catch (e) { seen.intoErrors.push(String((e as { code?: string }).code)); throw e; }
  };
  return () => {
    if (own) proto.locateArrayNow = own; else delete proto.locateArrayNow;
    proto.fetchArrayInto = into;
  };
}

const fresh = (): Seen => ({ located: 0, matched: 0, failed: 0, positions: [], intoErrors: [] });

t('fused reads give the model: whole and partial stripes, unaligned ranges, rewrites; off gives the same', async () => {
  const seen = fresh();
  const undo = watch(seen);
  const root = tmpDir('cairn-fused-');
  const pool = await Pool.create(join(root, 'pool'), SHAPE);
  try {
    const c = await pool.createContainer('c', { oclass: 'EC_4P2G1', cellSize: CELL });
    await c.openTargets();
    const arr = c.array('a', { chunkSize: MIB });
    const model = new Uint8Array(ARRAY_BYTES);
    const rng = new Rng(0xf05e);
    for (const [off, len] of [[0, ARRAY_BYTES], [MIB + STRIPE, 2 * STRIPE], [2 * MIB + 777, 150_000], [3 * MIB, MIB]] as Array<[number, number]>) {
      const src = rng.bytes(len);
      await arr.write(off, src);
      model.set(src, off);
    }
    const reads: Array<[number, number]> = [[0, MIB], [MIB, MIB], [2 * MIB, MIB], [3 * MIB, MIB], [STRIPE, STRIPE], [CELL + 5, 3 * CELL], [2 * MIB + 700, 200_000], [0, ARRAY_BYTES], [17, 1]];
    for (const on of [true, false, true]) {
      fusedReads(on);
      const before = seen.located;
      for (const [off, len] of reads) {
        const got = await arr.read(off, len);
        assert.ok(Buffer.from(got).equals(Buffer.from(model.subarray(off, off + len))), `fused ${on}: bytes [${off}, +${len}) as written`);
        const into = new Uint8Array(len).fill(0xee);
        await arr.read(off, len, { into });
        assert.ok(Buffer.from(into).equals(Buffer.from(model.subarray(off, off + len))), `fused ${on}: into [${off}, +${len})`);
      }
      if (on && NATIVE) assert.ok(seen.located - before >= 8, `fused reads located cells (${seen.located - before})`);
      else assert.is(seen.located, before, 'off: nothing located');
    }
    assert.is(seen.failed, 0);
    assert.equal(seen.intoErrors, []);
    assert.ok(seen.matched === seen.located);
  } finally {
    fusedReads(true);
    undo();
    await pool.close();
    rmSync(root, { recursive: true, force: true });
  }
});

t('a flipped byte under a located cell: never returned, never zeros: reported, read from parity; two targets gone: reconstructed', async () => {
  if (!NATIVE) { console.log('  (no native addon: no located reads; skipped)'); return; }
  const seen = fresh();
  const undo = watch(seen);
  const root = tmpDir('cairn-fused-bad-');
  const dir = join(root, 'pool');
  let pool = await Pool.create(dir, SHAPE);
  try {
    fusedReads(true);
    let c = await pool.createContainer('c', { oclass: 'EC_4P2G1', cellSize: CELL });
    await c.openTargets();
    let arr = c.array('a', { chunkSize: MIB });
    const model = new Rng(0xbad).bytes(ARRAY_BYTES);
    await arr.write(0, model);
    const first = await arr.read(0, MIB);
    assert.ok(Buffer.from(first).equals(Buffer.from(model.subarray(0, MIB))));
    assert.is(seen.located, 4, 'one located read per data cell range of the 1 MiB read');
    // flip a byte inside the first located cell range (its data file, at its position)
    const victim = seen.positions[0]!;
    const fd = openSync(join(victim.dir, DATA_FILE), 'r+');
    try {
      const b = Buffer.alloc(1);
      readSync(fd, b, 0, 1, victim.position + 1234);
      b[0] = b[0]! ^ 0x40;
      writeSync(fd, b, 0, 1, victim.position + 1234);
    } finally { closeSync(fd); }
    const into = new Uint8Array(MIB);
    await arr.read(0, MIB, { into });
    assert.ok(Buffer.from(into).equals(Buffer.from(model.subarray(0, MIB))), 'the damaged cell is rebuilt from parity, not returned, not zeros');
    assert.ok(seen.failed >= 1, 'the damaged located read did not count');
    assert.ok(seen.intoErrors.includes('CHECKSUM_MISMATCH'), `read again the checked way, which failed: ${seen.intoErrors}`);
    // the rest of the array still reads right
    const all = await arr.read(0, ARRAY_BYTES);
    assert.ok(Buffer.from(all).equals(Buffer.from(model)));
    // two of the six targets gone, the damaged one among them (a third loss would be too many):
    // reconstructed (the located reads of the others still taken)
    await pool.close();
    const m = /targets\/(\d+)/.exec(victim.dir);
    assert.ok(m, `the damaged store lies under targets/: ${victim.dir}`);
    const bad = Number(m![1]);
    for (const tg of [bad, (bad + 3) % 6]) rmSync(join(dir, 'targets', String(tg)), { recursive: true, force: true });
    pool = await Pool.open(dir);
    c = await pool.openContainer('c');
    arr = c.array('a', { chunkSize: MIB });
    const degraded = await arr.read(0, ARRAY_BYTES); // (opens the stores: the next read finds them open)
    assert.ok(Buffer.from(degraded).equals(Buffer.from(model)), 'two targets gone: the model');
    const before = seen.located;
    const again = await arr.read(0, ARRAY_BYTES);
    assert.ok(Buffer.from(again).equals(Buffer.from(model)), 'two targets gone, stores open: the model');
    assert.ok(seen.located > before, 'the surviving data cells were located');
  } finally {
    undo();
    await pool.close();
    rmSync(root, { recursive: true, force: true });
  }
});

t.run();
