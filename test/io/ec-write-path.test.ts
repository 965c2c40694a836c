/**
 * The EC array write path's three ways of making a shard write (src/io/io.ts planArray), on real
 * pools and files: whole stripes of cells of at least NATIVE_GF_MIN_BYTES are encoded from the
 * caller's bytes and their data cells written from them (stores with `updateArrayParts`: a gather
 * write) or copied into the stripe buffers in the encode's pass (`encodeFrom`); partial stripes
 * read, merge and re-encode. Specification: whatever the path, every byte reads back as a model
 * says, and the parity is right: with two of the group's six targets gone, degraded reads decode
 * the same bytes. The caller's buffer is not changed by a write. Both whole-stripe paths run: the
 * gather one as the local store offers it, the copying one with the store's method hidden. The
 * gather path's parity is deferred to the pool jobs that write it (media/fills.ts): it runs with
 * the addon's GFNI fill kernel and with its scalar reference, and with deferral off (encoded on
 * the JavaScript thread); the degraded reads check the parity each way wrote.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { Pool } from '../../src/pool/pool.js';
import { ContainerStore } from '../../src/vos/container-store.js';
import { NATIVE_GF_MIN_BYTES } from '../../ec/index.js';
import { fillStats, deferParity } from '../../src/media/fills.js';
import { nativeAddon } from '../../src/media/io-uring.js';
import { Rng } from '../../core/rng.js';
import { tmpDir } from '../helpers/tmp.js';

const t = suite('ec write paths');
const MIB = 1 << 20;
/** Six targets: one EC_4P2G1 group is all of them. */
const SHAPE = { nodes: 3, ranksPerNode: 1, targetsPerRank: 2, scmBytes: 16 << 20, dataBytes: 64 << 20 };
const CELL = 64 * 1024;
const STRIPE = 4 * CELL;
const ARRAY_BYTES = 6 * MIB;

/** The writes of one scenario: [offset, length], whole stripes and partial ones, overlapping. */
const WRITES: Array<[number, number]> = [
  [0, MIB], // whole stripes (4), one chunk
  [2 * MIB + STRIPE, 2 * STRIPE], // whole stripes inside a chunk
  [3 * MIB + 1000, 200_000], // partial stripes: read-modify-write
  [STRIPE, STRIPE], // a whole stripe over written bytes
  [4 * MIB - STRIPE, 2 * STRIPE], // whole stripes across a chunk boundary
  [5 * MIB + 5, 3], // a few bytes
];

type PartsFn = (this: ContainerStore, ...a: unknown[]) => Promise<void>;

/** How a gather write's parity is made: deferred to the pool (GFNI or scalar fill kernel) or encoded here. */
type Parity = 'deferred' | 'deferred-scalar' | 'here';

async function scenario(label: string, gather: boolean, parity: Parity = 'deferred'): Promise<void> {
  const addon = nativeAddon();
  const canDefer = addon?.parityFill !== undefined && addon.fillKernel !== undefined;
  if (parity === 'here') deferParity(false);
  if (parity === 'deferred-scalar' && canDefer) assert.is(addon!.fillKernel!('scalar'), 'scalar');
  const before = fillStats();
  const proto = ContainerStore.prototype as { updateArrayParts?: PartsFn };
  const own = proto.updateArrayParts;
  let partsCalls = 0;
  if (own !== undefined) {
    proto.updateArrayParts = gather ? function (this: ContainerStore, ...a: unknown[]) { partsCalls++; return own.apply(this, a); } : undefined;
  }
  const root = tmpDir('cairn-ec-write-');
  const dir = join(root, 'pool');
  let pool = await Pool.create(dir, SHAPE);
  try {
    assert.ok(CELL >= NATIVE_GF_MIN_BYTES, 'cells large enough for the whole-stripe paths');
    let c = await pool.createContainer('c', { oclass: 'EC_4P2G1', cellSize: CELL });
    await c.openTargets();
    const model = new Uint8Array(ARRAY_BYTES);
    const rng = new Rng(gather ? 0x9a7 : 0xc0b);
    let arr = c.array('a', { chunkSize: MIB });
    for (const [off, len] of WRITES) {
      const src = rng.bytes(len);
      const kept = src.slice();
      await arr.write(off, src);
      assert.ok(Buffer.from(src).equals(kept), `${label}: the caller's bytes unchanged by the write at ${off}`);
      model.set(src, off);
    }
    if (gather && own !== undefined) assert.ok(partsCalls > 0, `${label}: whole stripes were written from the caller's bytes (gather writes)`);
    if (!gather || own === undefined) assert.is(partsCalls, 0);
    const after = fillStats();
    if (gather && own !== undefined && canDefer && parity !== 'here') {
      assert.ok(after.sent > before.sent, `${label}: parity fills went to the pool with their writes`);
      assert.is(after.computedHere, before.computedHere, `${label}: no fill computed on this thread`);
    } else {
      assert.is(after.deferred, before.deferred, `${label}: no parity deferred`);
    }
    const check = async (what: string) => {
      const got = await arr.read(0, ARRAY_BYTES);
      for (let i = 0; i < ARRAY_BYTES; i++) if (got[i] !== model[i]) assert.unreachable(`${label}, ${what}: byte ${i} is ${got[i]}, want ${model[i]}`);
    };
    await check('healthy');
    // Two of the six targets gone: every dkey reads with its parity (a wrong parity is wrong bytes or DATA_LOST).
    await pool.close();
    for (const tg of [1, 4]) rmSync(join(dir, 'targets', String(tg)), { recursive: true, force: true });
    pool = await Pool.open(dir);
    c = await pool.openContainer('c');
    arr = c.array('a', { chunkSize: MIB });
    await check('two targets gone');
  } finally {
    deferParity(true);
    if (canDefer) addon!.fillKernel!('auto');
    if (own !== undefined) proto.updateArrayParts = own;
    await pool.close();
    rmSync(root, { recursive: true, force: true });
  }
}

t('whole stripes written from the caller\'s bytes (gather writes), partial stripes merged: reads and degraded reads give the model', async () => {
  await scenario('gather', true);
});

t('gather writes with the parity fills on the scalar reference kernel: the same bytes, healthy and degraded', async () => {
  await scenario('gather, scalar fills', true, 'deferred-scalar');
});

t('gather writes with the parity encoded on the JavaScript thread (deferral off): the same bytes, healthy and degraded', async () => {
  await scenario('gather, parity here', true, 'here');
});

t('whole stripes copied in the encode\'s pass (a store without gather writes): the same bytes, healthy and degraded', async () => {
  await scenario('copy', false);
});

t.run();
