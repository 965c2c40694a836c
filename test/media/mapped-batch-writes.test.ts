/**
 * Hashed batch writes (`hashedWriteNow` + `writeHashedGroup`: the cells of an EC write) of ranges
 * written before go through the data file's writable mapping (copied and hashed in one pass on the
 * pool job) instead of a hash pass and pwritev. Specification: the file's bytes and the answered
 * checksums are exactly those of pwrite (CAIRN_MAPPED_WRITES=small) for every group shape (view
 * splits, zero tails, deferred parity fills); a first write of a range goes to pwritev and a
 * rewrite through the mapping (observable as mapped file pages in RSS); a fault in the mapping
 * (the file cut short behind the device's back) leaves the group to pwritev, whose answer stands;
 * an acknowledged write is in the page cache (a SIGKILLed process loses none); a read-only mapping
 * is never written through. The rule with huge bulk mappings (the default where the kernel takes
 * them) is specified in huge-bulk-map.test.ts; this file specifies the small-page rule.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Rng } from '../../core/rng.js';
import { initXxhash, xxh64 } from '../../core/xxhash.js';
import { openBlockDevice, writeHashedGroup, MAPPED_WRITES_ENV, MAP_HUGE_ENV, type BlockDevice } from '../../src/media/block-device.js';
import { nativeAddon } from '../../src/media/io-uring.js';
import { deferFill, dropFill } from '../../src/media/fills.js';
import { gfMul } from '../../ec/gf.js';
import { diskTmpDir } from '../helpers/tmp.js';

process.env[MAP_HUGE_ENV] = '0'; // (read at each device's open)
const tmp = diskTmpDir('cairn-mapped-batch-');
const t = suite('media: mapped batch writes');
t.before(async () => { await initXxhash(); });
t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const SEED = 0x6d61_7070_6564_0001n;
const MIB = 1 << 20;
let fileNo = 0;
const fresh = () => path.join(tmp, `dev-${fileNo++}.dat`);
/** Whether the addon takes mapped batch writes (one built before them does not: every write is a pwritev then). */
const haveBatch = () => {
  const ok = nativeAddon()?.hashedBatch !== undefined && nativeAddon()?.mapFile !== undefined && nativeAddon()?.mappedBatchWrites === true;
  if (!ok) console.log('  (no native mapped batch writes: skipped)');
  return ok;
};
const rssFile = () => Number(/RssFile:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN) * 1024;

/** A buffered pread device with batch writes mapped (`on`) or pwritev only (CAIRN_MAPPED_WRITES=small); the switch is read at open. */
async function open(file: string, size: number, on: boolean): Promise<BlockDevice> {
  if (on) delete process.env[MAPPED_WRITES_ENV]; else process.env[MAPPED_WRITES_ENV] = 'small';
  try { return await openBlockDevice(file, { size, io: 'pread', direct: false }); } finally { delete process.env[MAPPED_WRITES_ENV]; }
}

/** Write `writes` ([offset, length, views]) as one group; their answers (hashes or errors). */
async function group(dev: BlockDevice, writes: Array<[number, number, Uint8Array[]]>): Promise<Array<bigint | Error>> {
  const slots = writes.map(([o, l, v]) => dev.hashedWriteNow!(o, l, v, SEED)!);
  assert.ok(slots.every(Boolean), 'prepared');
  try { return await writeHashedGroup(slots); } finally { for (const s of slots) s.release(); }
}

/** Views of `v` cut at `cuts` random places (some inside a 32-byte stripe). */
function split(rng: Rng, v: Uint8Array, cuts: number): Uint8Array[] {
  const at = Array.from({ length: cuts }, () => rng.int(v.length + 1)).sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const c of at) { if (c > from) { out.push(v.subarray(from, c)); from = c; } }
  if (from < v.length || out.length === 0) out.push(v.subarray(from));
  return out;
}

t('groups written, then rewritten (through the mapping), leave files byte-identical to pwritev and answer the same hashes', async () => {
  if (!haveBatch()) return;
  const size = 8 * MIB, blk = 4096;
  const files = [fresh(), fresh()];
  const garbage = new Rng(300).bytes(size);
  for (const f of files) fs.writeFileSync(f, garbage); // old bytes everywhere: zero tails must overwrite them
  const devs = [await open(files[0]!, size, true), await open(files[1]!, size, false)];
  const rng = new Rng(301);
  try {
    // fixed ranges (rewritten each round), 2-8 per group, lengths from 1 block to 512 KiB
    const ranges: Array<[number, number]> = [];
    for (let o = 0; o + 512 * 1024 <= size && ranges.length < 12; o += 640 * 1024) ranges.push([o, blk * rng.range(1, 128)]);
    for (let round = 0; round < 4; round++) {
      for (let from = 0; from < ranges.length;) {
        const n = Math.min(ranges.length - from, rng.range(2, 8));
        const writes: Array<[number, number, Uint8Array[]]> = [];
        const values: Uint8Array[] = [];
        for (const [o, l] of ranges.slice(from, from + n)) {
          const have = rng.int(3) === 0 ? Math.max(1, l - rng.int(blk * 2)) : l; // sometimes a zero tail
          const v = rng.bytes(have);
          values.push(v);
          writes.push([o, l, split(rng, v, rng.int(4))]);
        }
        const outs = await Promise.all(devs.map((d) => group(d, writes)));
        for (let i = 0; i < n; i++) {
          assert.is(outs[0]![i], xxh64(values[i]!, SEED), `round ${round} write ${from + i}: the hash of its bytes`);
          assert.is(outs[1]![i], outs[0]![i], `round ${round} write ${from + i}: as pwritev answers`);
        }
        from += n;
      }
      const [a, b] = files.map((f) => fs.readFileSync(f));
      assert.ok(a!.equals(b!), `round ${round}: mapped and pwritev files are byte-identical`);
      // an ordinary read of the device sees the mapped bytes
      const [o, l] = ranges[round]!;
      assert.ok(Buffer.from(await devs[0]!.read(o, l)).equals(a!.subarray(o, o + l)), `round ${round}: read back`);
    }
  } finally { for (const d of devs) await d.close(); }
});

t('a rewrite with a deferred parity fill writes the reference parity through the mapping', async () => {
  if (!haveBatch() || !nativeAddon()?.parityFill) return;
  const rng = new Rng(302);
  const file = fresh();
  const dev = await open(file, 4 * MIB, true);
  try {
    const k = 4, cell = 65536, stripes = 2;
    for (let round = 0; round < 3; round++) {
      const data = rng.bytes(k * cell * stripes);
      const rows = [Uint8Array.from([1, 1, 1, 1]), Uint8Array.from([3, 7, 11, 200])];
      const outs = rows.map(() => new Uint8Array(cell * stripes));
      const want = rows.map((c) => {
        const p = new Uint8Array(cell * stripes);
        for (let s = 0; s < stripes; s++) for (let j = 0; j < k; j++) for (let x = 0; x < cell; x++) p[s * cell + x]! ^= gfMul(c[j]!, data[s * k * cell + j * cell + x]!);
        return p;
      });
      rows.forEach((c, i) => deferFill(outs[i]!, c, cell, data));
      try {
        // the two parity cells and the four data cells of one EC write, as the fused write sends them
        const writes: Array<[number, number, Uint8Array[]]> = [];
        for (let j = 0; j < k; j++) writes.push([j * cell * stripes, cell * stripes, [0, 1].map((s) => data.subarray(s * k * cell + j * cell, s * k * cell + (j + 1) * cell))]);
        outs.forEach((o, i) => writes.push([(k + i) * cell * stripes, cell * stripes, [o]]));
        const got = await group(dev, writes);
        const bytes = fs.readFileSync(file);
        for (let i = 0; i < 2; i++) {
          assert.ok(bytes.subarray((k + i) * cell * stripes, (k + i + 1) * cell * stripes).equals(want[i]!), `round ${round}: parity ${i} is the reference parity`);
          assert.is(got[k + i], xxh64(want[i]!, SEED), `round ${round}: parity ${i}'s hash`);
        }
        for (let j = 0; j < k; j++) assert.is(got[j], xxh64(Buffer.concat(writes[j]![2]), SEED), `round ${round}: data cell ${j}'s hash`);
      } finally { for (const o of outs) dropFill(o); }
    }
  } finally { await dev.close(); }
});

t('a first write of a range goes to pwritev (no mapped pages), a rewrite through the mapping (its pages mapped)', async () => {
  if (!haveBatch() || !Number.isFinite(rssFile())) return;
  const total = 16 * MIB, cell = 256 * 1024;
  const dev = await open(fresh(), 2 * total, true);
  try {
    const v = new Rng(303).bytes(cell);
    const pass = async () => {
      for (let o = 0; o < total; o += 4 * cell) {
        const out = await group(dev, [0, 1, 2, 3].map((i) => [o + i * cell, cell, [v]] as [number, number, Uint8Array[]]));
        for (const h of out) assert.is(h, xxh64(v, SEED));
      }
    };
    let before = rssFile();
    await pass();
    const first = rssFile() - before;
    assert.ok(first < 4 * MIB, `a first write of 16 MiB mapped ${(first / MIB).toFixed(1)} MiB`);
    before = rssFile();
    await pass();
    const second = rssFile() - before;
    assert.ok(second >= 12 * MIB, `a rewrite of 16 MiB mapped ${(second / MIB).toFixed(1)} MiB (through the mapping)`);
    assert.ok(Buffer.from(await dev.read(total - cell, cell)).equals(Buffer.from(v)));
  } finally { await dev.close(); }
});

t('hashed reads of ranges the batch writes wrote go through the writable mapping: reading them again and again maps no more pages, and reads the bytes written', async () => {
  if (!haveBatch() || !Number.isFinite(rssFile())) return;
  const total = 16 * MIB, cell = 256 * 1024;
  const dev = await open(fresh(), 2 * total, true);
  try {
    const v = new Rng(307).bytes(cell), want = xxh64(v, SEED);
    for (let p = 0; p < 2; p++) { // (first pwritev, then through the mapping: its pages mapped)
      for (let o = 0; o < total; o += 4 * cell) await group(dev, [0, 1, 2, 3].map((i) => [o + i * cell, cell, [v]] as [number, number, Uint8Array[]]));
    }
    const before = rssFile();
    const into = new Uint8Array(cell);
    for (let p = 0; p < 3; p++) {
      for (let o = 0; o < total; o += cell) {
        into.fill(0xee);
        assert.is(await dev.readIntoHashed(o, cell, [into], SEED), want, `pass ${p}: hash at ${o}`);
        assert.ok(Buffer.from(into).equals(Buffer.from(v)), `pass ${p}: bytes at ${o}`);
      }
    }
    const grew = rssFile() - before;
    assert.ok(grew < 4 * MIB, `3 read passes over 16 MiB written through the mapping mapped ${(grew / MIB).toFixed(1)} MiB more (a separate read mapping maps them all again)`);
  } finally { await dev.close(); }
});

t('after a sync, the next 32 MiB of batch writes go to pwritev (no mapped pages), then rewrites take the mapping again', async () => {
  if (!haveBatch() || !Number.isFinite(rssFile())) return;
  const total = 16 * MIB, cell = 256 * 1024;
  const dev = await open(fresh(), 2 * total, true);
  try {
    const v = new Rng(306).bytes(cell);
    const pass = async () => {
      for (let o = 0; o < total; o += 4 * cell) {
        const out = await group(dev, [0, 1, 2, 3].map((i) => [o + i * cell, cell, [v]] as [number, number, Uint8Array[]]));
        for (const h of out) assert.is(h, xxh64(v, SEED));
      }
    };
    await pass(); // (first writes: pwritev)
    await dev.sync();
    let before = rssFile();
    await pass(); await pass(); // 32 MiB after the sync
    const paused = rssFile() - before;
    assert.ok(paused < 4 * MIB, `32 MiB of rewrites after a sync mapped ${(paused / MIB).toFixed(1)} MiB`);
    before = rssFile();
    await pass();
    const again = rssFile() - before;
    assert.ok(again >= 12 * MIB, `the next 16 MiB of rewrites mapped ${(again / MIB).toFixed(1)} MiB (through the mapping again)`);
    assert.ok(Buffer.from(await dev.read(total - cell, cell)).equals(Buffer.from(v)));
  } finally { await dev.close(); }
});

t('a file cut short behind the device\'s back: a mapped rewrite past the cut faults, pwritev writes it, and the process lives', async () => {
  if (!haveBatch()) return;
  const file = fresh(), cell = 64 * 1024;
  const dev = await open(file, 4 * MIB, true);
  try {
    const rng = new Rng(304);
    const writes = (vs: Uint8Array[]): Array<[number, number, Uint8Array[]]> => vs.map((v, i) => [MIB + i * cell, cell, [v]]);
    await group(dev, writes([0, 1, 2, 3].map(() => rng.bytes(cell)))); // (written once: the rewrite below takes the mapping)
    fs.truncateSync(file, MIB + cell); // the second cell on lies past the end: its pages of the mapping raise SIGBUS
    const vs = [0, 1, 2, 3].map(() => rng.bytes(cell));
    const out = await group(dev, writes(vs));
    // (xxh64 is WebAssembly: it runs after the caught fault, so the thread's memory protection keys were restored)
    vs.forEach((v, i) => assert.is(out[i], xxh64(v, SEED), `write ${i} answered its hash`));
    const bytes = fs.readFileSync(file);
    vs.forEach((v, i) => assert.ok(bytes.subarray(MIB + i * cell, MIB + (i + 1) * cell).equals(v), `write ${i} on the file`));
  } finally { await dev.close(); }
});

t('a read-only mapping passed with a write is not written through: the write goes to pwritev', async () => {
  const addon = nativeAddon();
  if (!addon?.hashedBatch || !addon.mapFile) return;
  const file = fresh();
  fs.writeFileSync(file, new Uint8Array(MIB));
  const fd = fs.openSync(file, 'r+');
  const ro = addon.mapFile(fd, MIB)!;
  try {
    const vs = [0, 1, 2].map((i) => new Rng(305 + i).bytes(65536));
    const out = await addon.hashedBatch(vs.map((v, i) => [1, fd, [v], i * 65536, 65536, SEED, ro, undefined]));
    vs.forEach((v, i) => assert.is(out[i], xxh64(v, SEED)));
    const bytes = fs.readFileSync(file);
    vs.forEach((v, i) => assert.ok(bytes.subarray(i * 65536, (i + 1) * 65536).equals(v)));
  } finally { addon.unmapFile?.(ro); fs.closeSync(fd); }
});

t('an acknowledged mapped write is in the page cache: a process SIGKILLed right after its rewrites loses none', () => {
  if (!haveBatch()) return;
  const file = fresh(), ledger = `${file}.ledger`;
  const script = `
    import fs from 'node:fs';
    import { openBlockDevice, writeHashedGroup } from './src/media/block-device.js';
    import { Rng } from './core/rng.js';
    const dev = await openBlockDevice(${JSON.stringify(file)}, { size: 8 << 20, io: 'pread', direct: false });
    const cell = 256 * 1024;
    for (let round = 0; round < 3; round++) {
      const rng = new Rng(900 + round);
      for (let o = 0; o < (8 << 20); o += 4 * cell) {
        const slots = [0, 1, 2, 3].map((i) => dev.hashedWriteNow(o + i * cell, cell, [rng.bytes(cell)], 0n));
        await writeHashedGroup(slots);
        for (const s of slots) s.release();
        fs.writeFileSync(${JSON.stringify(ledger)}, round + ':' + (o + 4 * cell)); // synchronous: what was acknowledged
      }
    }
    process.kill(process.pid, 'SIGKILL');`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: path.resolve(import.meta.dirname, '../..'), encoding: 'utf8' });
  assert.is(r.signal, 'SIGKILL', r.stderr);
  assert.is(fs.readFileSync(ledger, 'utf8'), `2:${8 << 20}`, 'every write acknowledged before the kill');
  const bytes = fs.readFileSync(file);
  const rng = new Rng(902);
  for (let o = 0; o < (8 << 20); o += 256 * 1024) assert.ok(bytes.subarray(o, o + 256 * 1024).equals(Buffer.from(rng.bytes(256 * 1024))), `the last round's cell at ${o} survived the kill`);
});

t.run();

