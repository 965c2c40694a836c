/**
 * Degraded EC reads of whole stripes as one located group (src/io/io.ts `fusedDegraded`), on a real
 * pool whose excluded target cannot be rebuilt (six targets, one EC_4P2G1 group: the rebuild is
 * blocked, so every read of it stays degraded). Specification:
 *
 * - a whole-stripe read with a data target down locates the data cells that are up and one parity
 *   cell (k located reads, no `fetchArrayInto`), and decodes the lost cell in place: the model's bytes,
 *   with a caller buffer and without;
 * - ranges that are not whole stripes read the model the other way (`fetchDegraded`);
 * - a flipped byte under the located parity cell is never returned: the read is made again the
 *   checked way (CHECKSUM_MISMATCH reported) and decoded from the other parity role.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { basename, join } from 'node:path';
import { openSync, readSync, writeSync, closeSync, rmSync } from 'node:fs';
import { Pool } from '../../src/pool/pool.js';
import { ContainerStore } from '../../src/vos/container-store.js';
import { DATA_FILE } from '../../src/vos/constants.js';
import type { LocatedShardRead, Recx } from '../../src/io/shard-store.js';
import { Rng } from '../../core/rng.js';
import { tmpDir } from '../helpers/tmp.js';
import { nativeAddon } from '../../src/media/io-uring.js';

const NATIVE = nativeAddon()?.hashedBatch !== undefined;
const t = suite('io/fused-degraded');
const MIB = 1 << 20;
const SHAPE = { nodes: 3, ranksPerNode: 1, targetsPerRank: 2, scmBytes: 16 << 20, dataBytes: 64 << 20 };
const CELL = 64 * 1024;
const STRIPE = 4 * CELL;

type LocateFn = (this: ContainerStore, epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, recx: Recx, into: readonly Uint8Array[]) => LocatedShardRead | null;
type IntoFn = (this: ContainerStore, ...a: unknown[]) => Promise<void>;
interface Seen { located: Array<{ target: number; position: number }>; into: number; intoErrors: string[] }

/** Record located reads (target, data-file position) and `fetchArrayInto` calls and errors; returns the undo. */
function watch(seen: Seen): () => void {
  const proto = ContainerStore.prototype as unknown as { locateArrayNow: LocateFn; fetchArrayInto: IntoFn };
  const locate = proto.locateArrayNow, into = proto.fetchArrayInto;
  proto.locateArrayNow = function (this: ContainerStore, ...a) {
    const l = locate.apply(this, a);
    if (l !== null) seen.located.push({ target: Number(basename(this.target.dir)), position: l.read.position });
    return l;
  };
  proto.fetchArrayInto = async function (this: ContainerStore, ...a: unknown[]) {
    seen.into++;
    try { return await into.apply(this, a); } catch (e) { seen.intoErrors.push(String((e as { code?: string }).code)); throw e; }
  };
  return () => { proto.locateArrayNow = locate; proto.fetchArrayInto = into; };
}

t('whole stripes with a data target down: k located reads, decoded in place; other ranges and damage read the model', async () => {
  if (!NATIVE) { console.log('  (no native addon: no located reads; skipped)'); return; }
  const seen: Seen = { located: [], into: 0, intoErrors: [] };
  const undo = watch(seen);
  const root = tmpDir('cairn-fused-degraded-');
  const pool = await Pool.create(join(root, 'pool'), SHAPE);
  try {
    const c = await pool.createContainer('c', { oclass: 'EC_4P2G1', cellSize: CELL });
    await c.openTargets();
    const arr = c.array('a', { chunkSize: MIB });
    const model = new Rng(0xde9).bytes(4 * MIB);
    await arr.write(0, model);
    // Healthy: chunk 0's four data cells are located; the first is data role 0's target.
    seen.located = [];
    assert.ok(Buffer.from(await arr.read(0, MIB)).equals(Buffer.from(model.subarray(0, MIB))));
    assert.is(seen.located.length, 4);
    const victim = seen.located[0]!.target;
    pool.setRebuildBudget({ bytesPerSecond: MIB });
    await pool.exclude(victim);
    assert.is(pool.rebuildStatus().state, 'blocked', 'six targets, one group: nowhere to rebuild to');
    await c.openTargets(); // (the map change closed the container's stores: located reads need them open)

    // Whole stripes: the three data cells up and one parity cell located, nothing read the other way.
    for (const [off, len] of [[0, MIB], [0, STRIPE], [STRIPE, 2 * STRIPE]] as Array<[number, number]>) {
      seen.located = []; seen.into = 0;
      const got = await arr.read(off, len);
      assert.ok(Buffer.from(got).equals(Buffer.from(model.subarray(off, off + len))), `[${off}, +${len})`);
      if (len === MIB) {
        assert.is(seen.located.length, 4, 'k located reads');
        assert.ok(!seen.located.some((l) => l.target === victim), 'none on the target down');
        assert.is(seen.into, 0, 'no read the other way');
      }
      const into = new Uint8Array(len).fill(0xee);
      assert.is(await arr.read(off, len, { into }), into);
      assert.ok(Buffer.from(into).equals(Buffer.from(model.subarray(off, off + len))), `into [${off}, +${len})`);
    }
    // Not whole stripes: the model, read the other way.
    for (const [off, len] of [[5, 100_000], [CELL, STRIPE], [MIB - 3, 10]] as Array<[number, number]>) {
      assert.ok(Buffer.from(await arr.read(off, len)).equals(Buffer.from(model.subarray(off, off + len))), `[${off}, +${len})`);
    }
    // Damage under the located parity cell (the last located read of chunk 0): never returned.
    seen.located = [];
    await arr.read(0, MIB);
    const parity = seen.located[3]!;
    const fd = openSync(join(root, 'pool', 'targets', String(parity.target), DATA_FILE), 'r+');
    try {
      const b = Buffer.alloc(1);
      readSync(fd, b, 0, 1, parity.position + 4321);
      b[0] = b[0]! ^ 0x10;
      writeSync(fd, b, 0, 1, parity.position + 4321);
    } finally { closeSync(fd); }
    seen.intoErrors = [];
    const again = await arr.read(0, MIB);
    assert.ok(Buffer.from(again).equals(Buffer.from(model.subarray(0, MIB))), 'decoded from the other parity role');
    assert.ok(seen.intoErrors.includes('CHECKSUM_MISMATCH'), `the damaged parity cell is read again the checked way: ${seen.intoErrors.join(',')}`);
  } finally {
    undo();
    await pool.close();
    rmSync(root, { recursive: true, force: true });
  }
});

t.run();
