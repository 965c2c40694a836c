/**
 * Fused EC writes (native gfni.c gf_fused_stripes, hashio.c fused_pass): a hashed batch holding the
 * k data cells of whole stripes (gather writes of the caller's bytes) and the two parity rows
 * carrying deferred fills of those stripes, all rewrites through writable mappings, is written in
 * one pass (parity computed from the data as it is copied into the mappings, every cell hashed in
 * the same pass). Specification: the file's bytes and the answered hashes are the reference's (the
 * reference codec's parity row by row, gfMul; xxhash-wasm) for k 1-6, cells of 64 bytes to 64 KiB,
 * 1-3 stripes, cell positions 64-byte aligned (non-temporal stores) or not; the unfused way
 * (fillKernel('unfused'), and the scalar reference, fillKernel('scalar')) gives the same bytes and
 * hashes. Which way ran is observable: the fused pass leaves the parity buffers as they were (the
 * file holds the parity), the unfused way fills them. A batch the pass does not take (k 8; a data
 * cell missing; cells not a multiple of 64 bytes; no mapping: pwritev) is written the unfused way,
 * correctly. A write whose mappings faulted lately (pages write-protected by writeback: the
 * mapping backs off to pwritev) is hashed in the same one pass, its parity stored into its buffers,
 * then written with pwritev: the same bytes and hashes. (hashedBatch itself, with a writable mapping: the device's policy of when a write
 * takes the mapping is test/media/mapped-batch-writes'.)
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Rng } from '../../core/rng.js';
import { initXxhash, xxh64 } from '../../core/xxhash.js';
import { nativeAddon } from '../../src/media/io-uring.js';
import { gfMul } from '../../ec/gf.js';
import { diskTmpDir } from '../helpers/tmp.js';

const tmp = diskTmpDir('cairn-fused-ec-');
const t = suite('media: fused EC writes');
t.before(async () => { await initXxhash(); });
t.after(() => { nativeAddon()?.fillKernel?.('auto'); fs.rmSync(tmp, { recursive: true, force: true }); });
const SEED = 0x6675_7365_6400_0001n;
const MIB = 1 << 20;
let fileNo = 0;
const fresh = () => path.join(tmp, `dev-${fileNo++}.dat`);
/** Whether the addon fuses (mapped batch writes, fills, and a fill kernel that knows 'unfused'). */
const haveFused = () => {
  const a = nativeAddon();
  const ok = a?.hashedBatch !== undefined && a.mapFile !== undefined && a.mappedBatchWrites === true && a.parityFill !== undefined && a.fillKernel?.('auto') === 'gfni';
  if (!ok) console.log('  (no GFNI fill kernel or mapped batch writes here: skipped)');
  return ok;
};

/** The reference parity row `coeffs` of whole stripes of `data` (k cells of `cell` bytes each). */
function parityOf(coeffs: Uint8Array, data: Uint8Array, cell: number): Uint8Array {
  const k = coeffs.length, stripes = data.length / (k * cell);
  const p = new Uint8Array(stripes * cell);
  for (let s = 0; s < stripes; s++) for (let j = 0; j < k; j++) {
    const c = coeffs[j]!, base = (s * k + j) * cell;
    for (let x = 0; x < cell; x++) p[s * cell + x]! ^= gfMul(c, data[base + x]!);
  }
  return p;
}

type Batch = NonNullable<ReturnType<typeof nativeAddon>>['hashedBatch'];
type Map = NonNullable<ReturnType<NonNullable<NonNullable<ReturnType<typeof nativeAddon>>['mapFile']>>>;

/**
 * One EC write of `data` (whole stripes) as the data path sends it, in one hashedBatch: data cell
 * j's views are cell j of each stripe, the parity cells carry their fills; cell i at `at + i *
 * strideOf(its length) + skew` through writable mapping `map` (`omit`: a data cell left out). Checks the file and the
 * hashes; answers whether the parity buffers were left as they were (the fused pass ran).
 */
async function ecWrite(fd: number, map: Map, data: Uint8Array, k: number, cell: number, at: number, skew: number, omit = -1): Promise<boolean> {
  const stripes = data.length / (k * cell), span = stripes * cell, stride = strideOf(span);
  const rows = [Uint8Array.from({ length: k }, (_, j) => j + 1), Uint8Array.from({ length: k }, (_, j) => (j * 37 + 3) & 255 || 1)];
  const outs = rows.map(() => new Uint8Array(span).fill(0x5a));
  const want = rows.map((c) => parityOf(c, data, cell));
  const writes: Array<[number, Uint8Array[]]> = [];
  for (let j = 0; j < k; j++) if (j !== omit) writes.push([j, Array.from({ length: stripes }, (_, s) => data.subarray((s * k + j) * cell, (s * k + j + 1) * cell))]);
  outs.forEach((o, i) => writes.push([k + i, [o]]));
  const reqs = writes.map(([i, v]) => [1, fd, v, at + i * stride + skew, span, SEED + BigInt(i), map, i < k ? undefined : [rows[i - k]!, cell, data]]);
  const got = await (nativeAddon()!.hashedBatch as unknown as (r: unknown[]) => Promise<Array<bigint | number>>)(reqs);
  writes.forEach(([i, v], w) => {
    const expect = i < k ? Buffer.concat(v) : Buffer.from(want[i - k]!);
    const onDisk = Buffer.alloc(span);
    fs.readSync(fd, onDisk, 0, span, at + i * stride + skew);
    assert.ok(onDisk.equals(expect), `k=${k} cell=${cell} stripes=${stripes} skew=${skew}: cell ${i} on disk`);
    assert.is(got[w], xxh64(expect, SEED + BigInt(i)), `k=${k} cell=${cell} stripes=${stripes} skew=${skew}: cell ${i}'s hash`);
  });
  const untouched = outs.every((o) => o.every((b) => b === 0x5a));
  if (!untouched) outs.forEach((o, i) => assert.ok(Buffer.from(o).equals(want[i]!), 'a filled parity buffer holds the parity'));
  return untouched;
}

const CHUNK = 65536;
/** Cells' distance: each in 64 KiB chunks of its own (native MAP_CHUNK: see `mapped`). */
const strideOf = (span: number) => Math.ceil(span / CHUNK) * CHUNK + CHUNK;
/** Bytes one ecWrite of k data cells of `span` bytes each spans. */
const bytesOf = (k: number, span: number) => (k + 2) * strideOf(span) + CHUNK;

/**
 * A file of `size` bytes open for writing and a writable mapping of it (`remap` makes a new one),
 * and `at(bytes)`: a position no write through the current mapping touched, 64 KiB chunks apart.
 * (A rewrite of a range whose mapping took page faults sends the mapping's next writes to pwritev
 * for a while, native MAP_WRITE_BACKOFF_BYTES, and a small group's one stray fault counts: writes
 * here go to fresh ranges so that which way runs depends only on the batch.)
 */
function mapped(size: number): { fd: number; map: () => Map; remap: () => void; at: (bytes: number) => number; close: () => void } {
  const file = fresh();
  fs.writeFileSync(file, '');
  fs.truncateSync(file, size);
  const fd = fs.openSync(file, 'r+');
  let map: Map | undefined, next = 0;
  const remap = () => {
    if (map !== undefined) nativeAddon()!.unmapFile!(map);
    map = nativeAddon()!.mapFile!(fd, size, true);
    assert.ok(map !== undefined, 'mapped');
    next = 0;
  };
  remap();
  const at = (bytes: number) => {
    const p = next;
    next = Math.ceil((p + bytes) / CHUNK) * CHUNK + CHUNK;
    assert.ok(next <= size, 'the file holds the writes');
    return p;
  };
  return { fd, map: () => map!, remap, at, close: () => { nativeAddon()!.unmapFile!(map!); fs.closeSync(fd); } };
}

t('the fused pass writes and hashes the reference bytes for every shape, aligned or not, as the unfused way and the scalar reference do', async () => {
  if (!haveFused()) return;
  const addon = nativeAddon()!;
  const rng = new Rng(0xf05ed);
  const f = mapped(64 * MIB);
  try {
    for (const k of [1, 2, 3, 4, 6]) for (const cell of [64, 192, 4096, 65536]) for (const stripes of [1, 3]) {
      if (k * cell * stripes > MIB) continue;
      f.remap();
      for (const skew of [0, 32, 4096 + 8]) {
        for (const kern of ['auto', 'unfused', 'scalar', 'auto'] as const) {
          addon.fillKernel!(kern);
          const fusedRan = await ecWrite(f.fd, f.map(), rng.bytes(k * cell * stripes), k, cell, f.at(bytesOf(k, cell * stripes)), skew);
          assert.is(fusedRan, kern === 'auto', `k=${k} cell=${cell} stripes=${stripes} skew=${skew} ${kern}: fused ${kern === 'auto'}`);
        }
        addon.fillKernel!('auto');
      }
    }
  } finally {
    addon.fillKernel!('auto');
    f.close();
  }
});

t('batches the fused pass does not take are written the unfused way, correctly: k 8, a data cell missing, cells not a multiple of 64 bytes, no mapping', async () => {
  if (!haveFused()) return;
  const rng = new Rng(0xf05ee);
  const f = mapped(8 * MIB);
  const span = (k: number, cell: number, stripes: number) => f.at(bytesOf(k, cell * stripes));
  try {
    assert.is(await ecWrite(f.fd, f.map(), rng.bytes(8 * 4096 * 2), 8, 4096, span(8, 4096, 2), 0), false, 'k 8');
    assert.is(await ecWrite(f.fd, f.map(), rng.bytes(4 * 4096 * 2), 4, 4096, span(4, 4096, 2), 0, 2), false, 'a data cell missing');
    assert.is(await ecWrite(f.fd, f.map(), rng.bytes(4 * 100 * 2), 4, 100, span(4, 100, 2), 0), false, 'cells of 100 bytes');
    assert.is(await ecWrite(f.fd, undefined as unknown as Map, rng.bytes(4 * 4096 * 2), 4, 4096, span(4, 4096, 2), 0), false, 'no mapping (pwritev)');
    assert.is(await ecWrite(f.fd, f.map(), rng.bytes(4 * 4096 * 2), 4, 4096, span(4, 4096, 2), 0), true, 'every cell, mapped: fused');
  } finally { f.close(); }
});

t('a write whose mappings faulted lately (writeback write-protected their pages) is still hashed in one pass, its parity filled into its buffers and written with pwritev: the reference bytes and hashes', async () => {
  if (!haveFused()) return;
  const rng = new Rng(0xf05ef);
  const f = mapped(32 * MIB);
  try {
    const [k, cell, stripes] = [4, 65536, 4];
    const at = f.at(bytesOf(k, cell * stripes));
    assert.is(await ecWrite(f.fd, f.map(), rng.bytes(k * cell * stripes), k, cell, at, 0), true, 'a first write through the mappings: fused');
    fs.fdatasyncSync(f.fd); // (writeback write-protects every written page: the next write through the mapping faults on each)
    assert.is(await ecWrite(f.fd, f.map(), rng.bytes(k * cell * stripes), k, cell, at, 0), true, 'the rewrite that faults: fused, through the mappings');
    // the mapping now sends its next 32 MiB of writes to pwritev (native MAP_WRITE_BACKOFF_BYTES)
    for (let round = 0; round < 3; round++) {
      assert.is(await ecWrite(f.fd, f.map(), rng.bytes(k * cell * stripes), k, cell, at, 0), false, `backed off (round ${round}): the parity filled into its buffers for pwritev`);
    }
  } finally { f.close(); }
});

t.run();
