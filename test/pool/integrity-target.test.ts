/**
 * Integrity at the pool level (issue 13), damage in the files of ONE target: a 16-target pool with
 * RP_3G1 and EC_4P2G1 containers (redundancy factor 2), single values and arrays, inline and in
 * vos.data, a snapshot and punches, part in runs and part only in the log (a crash image), is
 * copied per case and one target's files are damaged: the first log record, run data / index /
 * bloom blocks, superblock slots, manifest copies, tail slots, values in vos.data — at fixed
 * offsets and at seeded random ones — and bytes every ~1 KB over the metadata file. Then: every
 * read is right (never other bytes, never "absent" or zeros for what exists), now and at the
 * snapshot; `pool.scrub()` reports what it repaired (the target rebuilt as a whole, or the shards
 * in damaged ranges); every read is right again; a second scrub is clean; and with two other
 * targets of a group excluded, the repaired target serves its shards alone.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { Pool } from '../../src/pool/pool.js';
import { containerPort } from '../../src/container/container.js';
import { Rng } from '../../core/rng.js';
import { tmpDir } from '../helpers/tmp.js';
import { safe } from '../vos/safe.js';
import { SB_SLOT_BYTES } from '../../src/vos/manifest.js';
import { damagedRanges } from '../../src/pool/local-backend.js';
import { inDamagedRange } from '../../src/pool/scrub.js';
import type { TargetStore } from '../../src/vos/store.js';
import { buildPool, copyTree, flip, locate, readAll, readReplicasOn, tablesOn, CONTS, type Oracle, type TargetFiles } from './integrity-fixture.js';

const test = suite('pool integrity: one target damaged');

let root = '';
let template = '';
let oracle: Oracle;
/** The damaged target: it holds shards of RP and EC objects, singles and arrays, in runs and in its log. */
let T = -1;
let files: TargetFiles;

test.before(async () => {
  root = tmpDir('cairn-integrity-');
  const built = await buildPool(root);
  template = built.dir;
  oracle = built.oracle;
  // a target holding a shard of the hidden object in both containers, and the most items of both
  const hidden = (cont: string) => [...oracle.items.values()].find((i) => i.cont === cont && i.obj === oracle.hidden)!.targets;
  let best = -1;
  for (let t = 0; t < 16; t++) {
    if (!hidden('rp').includes(t) || !hidden('ec').includes(t)) continue;
    const on = oracle.on(t);
    const score = Math.min(on.filter((i) => i.cont === 'rp').length, on.filter((i) => i.cont === 'ec').length);
    if (score > best) { best = score; T = t; }
  }
  files = await locate(template, T);
  const on = oracle.on(T);
  for (const cont of ['rp', 'ec']) for (const akey of ['sv', 'ar']) assert.ok(on.some((i) => i.cont === cont && i.akey === akey && i.now), `target ${T} holds ${cont} ${akey}`);
  assert.ok(files.logRecords > 0 && files.tail > files.firstRecord.off, `target ${T} has acknowledged records in its log (${files.logRecords})`);
  assert.ok(files.blocks.some((b) => b.kind === 'index') && files.blocks.some((b) => b.kind === 'bloom') && files.blocks.filter((b) => b.kind === 'data').length >= 2, 'runs with data, index and bloom blocks');
  assert.ok(files.dataBlocks.length > 4, 'values in vos.data');
});

test.after(() => { fs.rmSync(root, { recursive: true, force: true }); });

const seeded = new Rng(20260613);
const scmOf = (d: string) => path.join(d, 'targets', String(T), 'vos.scm');
const dataOf = (d: string) => path.join(d, 'targets', String(T), 'vos.data');

/** What a case expects of the first scrub. */
interface Expect {
  /** The target is damaged as a whole: scrub rebuilds it. Undefined: either is acceptable (random damage). */
  whole?: boolean;
  /** Damaged run blocks: scrub must list the shard on T of every object whose keys they cover. */
  blocks?: Array<{ lo: string; hi: string }>;
}

/**
 * Run one case: copy the template, damage target T, open, read everything, scrub, read, scrub
 * again (clean), then check the repaired target serves alone.
 */
async function damagedCase(name: string, damage: (dir: string) => void, expect: Expect): Promise<void> {
  const dir = path.join(root, name.replace(/\W+/g, '-'));
  copyTree(template, dir);
  damage(dir);
  let pool = await Pool.open(dir, { io: 'pread' });
  try {
    await readAll(pool, oracle, `${name}, before scrub`);
    const report = await pool.scrub();
    const rebuilt = report.targetsRebuilt.includes(T);
    if (expect.whole !== undefined) assert.is(rebuilt, expect.whole, `${name}: target rebuilt as a whole: ${JSON.stringify(report.bad.slice(0, 2))}`);
    assert.ok(report.bad.length > 0, `${name}: scrub reports what it repaired`);
    assert.ok(report.bad.every((b) => b.target === T), `${name}: only target ${T} was damaged: ${JSON.stringify(report.bad.filter((b) => b.target !== T).slice(0, 2))}`);
    assert.is(report.unrepairable, 0, `${name}: ${JSON.stringify(report.bad.filter((b) => !b.repaired).slice(0, 2))}`);
    assert.is(report.repaired, report.bad.length);
    assert.is(report.targetsRebuilt.length, rebuilt ? 1 : 0);
    if (!rebuilt) {
      const covered = await objectsIn(pool, expect.blocks ?? []);
      for (const o of covered) {
        assert.ok(report.bad.some((b) => b.container === o.cont && b.oid === o.oid && b.shard === o.shard), `${name}: scrub lists shard ${o.shard} of ${o.cont}/${o.name} (a damaged block covered it): ${JSON.stringify(report.bad.map((b) => `${b.container}/${b.oid}/${b.shard}`))}`);
      }
    }
    await readAll(pool, oracle, `${name}, after scrub`);
    await readReplicasOn(pool, oracle, T, `${name}, after scrub`);
    await tablesOn(pool, oracle, T, `${name}, after scrub`);
    const again = await pool.scrub();
    assert.equal(again.bad, [], `${name}: a second scrub is clean`);
    assert.equal(again.targetsRebuilt, []);
  } finally { await pool.close(); }
  // The repaired target serves alone: for one RP and one EC object on it, the two other targets
  // of its group that are not needed... are excluded (each in a copy of the repaired pool).
  for (const { label } of CONTS) {
    const copy = `${dir}-${label}`;
    copyTree(dir, copy);
    pool = await Pool.open(copy, { io: 'pread' });
    try {
      const c = await pool.openContainer(label);
      const port = containerPort(c);
      // the hidden object first: its punches must have survived the repair
      const names = [oracle.hidden, ...[...oracle.objects.get(label)!].filter((o) => o !== oracle.hidden)];
      const onT = names.map((o) => ({ o, group: port.layout(c.object(o).oid).groups[0]! })).filter((x) => x.group.includes(T));
      assert.ok(onT.length > 0, `some ${label} object has a shard on target ${T}`);
      // two targets of the first such group (other than T): an RP object then reads T alone, an EC object needs T
      const out = onT[0]!.group.filter((x) => x !== T).slice(0, 2);
      await pool.exclude(out);
      await readAll(pool, oracle, `${name}, repaired target ${T} with ${out.join(', ')} excluded (${label})`);
    } finally { await pool.close(); }
    fs.rmSync(copy, { recursive: true, force: true });
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Objects with a shard on target T whose keys (data section) a damaged block's range `[lo, hi)` covers. */
async function objectsIn(pool: Pool, blocks: Array<{ lo: string; hi: string }>): Promise<Array<{ cont: string; name: string; oid: string; shard: number }>> {
  const out: Array<{ cont: string; name: string; oid: string; shard: number }> = [];
  const uuids = new Map((await pool.listContainers()).map((c) => [c.label, c.uuid]));
  for (const { label } of CONTS) {
    const c = await pool.openContainer(label);
    const idx = files.contIdx.get(uuids.get(label)!)!;
    for (const name of oracle.objects.get(label)!) {
      const oid = c.object(name).oid;
      const shard = containerPort(c).layout(oid).groups[0]!.indexOf(T);
      if (shard < 0) continue;
      const u = (oid << 32n) | BigInt(shard);
      const p = Buffer.alloc(29);
      p.writeUInt32BE(idx, 0); p[4] = 0x02;
      for (let i = 0; i < 24; i++) p[5 + i] = Number((u >> BigInt(8 * (23 - i))) & 0xffn);
      const end = Buffer.from(p); // prefix end: the next unit oid
      for (let i = 28; i >= 5; i--) { if (end[i] === 0xff) { end[i] = 0; continue; } end[i]!++; break; }
      if (blocks.some((b) => Buffer.compare(Buffer.from(b.lo, 'hex'), end) < 0 && (b.hi === '' || Buffer.compare(p, Buffer.from(b.hi, 'hex')) < 0))) {
        out.push({ cont: label, name, oid: oid.toString(16), shard });
      }
    }
  }
  return out;
}

// ------------------------------------------------------------------ the log

test('the first record of the target\'s log (fixed offset: its stamp): reads go to redundancy, never "absent"; scrub rebuilds the target', safe(async () => {
  await damagedCase('log first record stamp', (d) => flip(scmOf(d), files.firstRecord.off + 12), { whole: true });
}));

test('the first record of the target\'s log (seeded random offset inside it)', safe(async () => {
  const off = files.firstRecord.off + seeded.int(files.firstRecord.len);
  await damagedCase('log first record random', (d) => flip(scmOf(d), off), { whole: true });
}));

// ------------------------------------------------------------------ runs, superblock, manifest, tail slots, values

test('run data, index and bloom blocks, one superblock slot, one manifest copy, a tail slot, values in vos.data (fixed offsets)', safe(async () => {
  const data = files.blocks.find((b) => b.kind === 'data')!;
  const index = files.blocks.find((b) => b.kind === 'index' && b.run !== data.run) ?? files.blocks.find((b) => b.kind === 'index')!;
  const bloom = files.blocks.find((b) => b.kind === 'bloom')!;
  await damagedCase('blocks fixed', (d) => {
    for (const b of [data, index, bloom]) flip(scmOf(d), b.off + (b.len >> 1));
    flip(scmOf(d), 100); // superblock slot 0
    flip(scmOf(d), files.manifests[0]!.chunks[0]! + (files.manifests[0]!.len >> 1));
    flip(scmOf(d), files.slots[0]! + 20);
    flip(dataOf(d), files.dataBlocks[0]! + 100);
    flip(dataOf(d), files.dataBlocks[files.dataBlocks.length >> 1]! + 2048);
  }, { whole: false, blocks: [data, index] });
}));

test('run blocks, the other superblock slot and manifest copy, values in vos.data (seeded random offsets)', safe(async () => {
  const pick = (kind: string) => { const xs = files.blocks.filter((b) => b.kind === kind); return xs[seeded.int(xs.length)]!; };
  const blocks = [pick('data'), pick('data'), pick('index'), pick('bloom')];
  const offs = blocks.map((b) => b.off + seeded.int(b.len));
  const sb = SB_SLOT_BYTES + seeded.int(SB_SLOT_BYTES);
  const man = files.manifests[1]!.chunks[0]! + seeded.int(files.manifests[1]!.len);
  const vals = [0, 1, 2].map(() => files.dataBlocks[seeded.int(files.dataBlocks.length)]! + seeded.int(4096));
  await damagedCase('blocks random', (d) => {
    for (const o of offs) flip(scmOf(d), o, 1 << seeded.int(8));
    flip(scmOf(d), sb);
    flip(scmOf(d), man);
    for (const o of vals) flip(dataOf(d), o, 1 << seeded.int(8));
  }, {});
}));

test('both manifest copies: the target is rebuilt as a whole', safe(async () => {
  await damagedCase('both manifests', (d) => {
    for (const m of files.manifests) flip(scmOf(d), m.chunks[0]! + 40);
  }, { whole: true });
}));

test('the run block holding punches whose hidden versions lie in an older run: the repair keeps them hidden', safe(async () => {
  const newest = Math.max(...files.blocks.map((b) => b.run));
  const blocks = files.blocks.filter((b) => b.kind === 'data' && b.run === newest);
  await damagedCase('punch block', (d) => { for (const b of blocks) flip(scmOf(d), b.off + (b.len >> 1)); }, { whole: false, blocks });
}));

test('every run block holding a container\'s object table: no object vanishes from listings, scrub or reads', safe(async () => {
  // keys are [container u32][section u8]...: section 1 is the object table
  const section = (hex: string) => (hex.length >= 10 ? parseInt(hex.slice(8, 10), 16) : -1);
  const blocks = files.blocks.filter((b) => b.kind === 'data' && (section(b.lo) === 1 || section(b.hi) === 1 || (section(b.lo) === 2 && b.hi !== '' && b.hi.slice(0, 8) !== b.lo.slice(0, 8))));
  assert.ok(blocks.length >= 2, `object-table blocks found (${blocks.length})`);
  await damagedCase('object tables', (d) => { for (const b of blocks) flip(scmOf(d), b.off + 20); }, { whole: false, blocks });
}));

test('the key range of a damaged block that spans the object table and the data section covers both', () => {
  // keys: [container u32][section u8][unit oid 24 bytes]...; section 1 = object table, 2 = data
  const key = (cont: number, section: number, oid: bigint) => {
    const k = Buffer.alloc(29);
    k.writeUInt32BE(cont, 0); k[4] = section;
    for (let i = 0; i < 24; i++) k[5 + i] = Number((oid >> BigInt(8 * (23 - i))) & 0xffn);
    return k.toString('hex');
  };
  const ts = { conts: new Map([[1, { idx: 1, uuid: 'a' }], [2, { idx: 2, uuid: 'b' }]]) } as unknown as TargetStore;
  const covered = (b: { lo: string; hi: string }, uuid: string, u: bigint) => inDamagedRange({ ranges: damagedRanges(ts, { run: 1, block: 0, kind: 'data', ...b }) }, uuid, u);
  // table of container 1 from oid 0x900 on, then its data up to oid 0x200
  const b1 = { lo: key(1, 1, 0x900n), hi: key(1, 2, 0x200n) };
  for (const u of [0x100n, 0x200n, 0x900n, 0xa00n]) assert.ok(covered(b1, 'a', u), `oid ${u.toString(16)} (table or data in the block)`);
  assert.not.ok(covered(b1, 'b', 0x100n), 'another container');
  // table of container 1 from 0x900 on, everything up to container 2's data at 0x300
  const b2 = { lo: key(1, 1, 0x900n), hi: key(2, 2, 0x300n) };
  for (const u of [0x100n, 0x900n, 0xfffn]) assert.ok(covered(b2, 'a', u), `container 1 oid ${u.toString(16)}`);
  for (const u of [0x100n, 0x300n]) assert.ok(covered(b2, 'b', u), `container 2 oid ${u.toString(16)}`);
  // a block inside the data section: only its range
  const b3 = { lo: key(1, 2, 0x300n), hi: key(1, 2, 0x500n) };
  assert.ok(covered(b3, 'a', 0x400n));
  assert.not.ok(covered(b3, 'a', 0x100n));
  assert.not.ok(covered(b3, 'a', 0x600n));
});

// ------------------------------------------------------------------ widespread damage

test('a byte flipped every ~1 KB over the run blocks of the target (manifests, superblocks and log spared)', safe(async () => {
  const blocks = files.blocks;
  await damagedCase('every 1 KB of runs', (d) => {
    for (const b of blocks) for (let off = b.off + seeded.int(Math.min(1024, b.len)); off < b.off + b.len; off += 1024) flip(scmOf(d), off, 0x04);
  }, { whole: false, blocks });
}));

test('a byte flipped every ~1 KB over the whole metadata file of the target', safe(async () => {
  await damagedCase('every 1 KB', (d) => {
    const fd = fs.openSync(scmOf(d), 'r+');
    try {
      const b = Buffer.alloc(1);
      for (let off = seeded.int(1024); off < files.scmSize; off += 1024) {
        fs.readSync(fd, b, 0, 1, off); b[0] = b[0]! ^ 0x20; fs.writeSync(fd, b, 0, 1, off);
      }
    } finally { fs.closeSync(fd); }
  }, { whole: true });
}));

/** Seeds of the random-flip cases (CAIRN_INTEGRITY_SEEDS=4-20 runs more, e.g. while hunting bugs). */
const SEEDS = (() => {
  const m = /^(\d+)-(\d+)$/.exec(process.env.CAIRN_INTEGRITY_SEEDS ?? '');
  return m ? Array.from({ length: Number(m[2]) - Number(m[1]) + 1 }, (_, i) => Number(m[1]) + i) : [1, 2, 3];
})();
for (const seed of SEEDS) {
  test(`seeded random flips over every file of the target (seed ${seed})`, safe(async () => {
    const rng = new Rng(7000 + seed);
    await damagedCase(`random ${seed}`, (d) => {
      // the used part of the metadata file (log regions and heap) and the written data blocks
      const used = files.blocks.reduce((m, b) => Math.max(m, b.off + b.len), files.tail);
      for (let i = 0; i < 40; i++) flip(scmOf(d), rng.int(used), 1 << rng.int(8));
      for (let i = 0; i < 20; i++) flip(dataOf(d), files.dataBlocks[rng.int(files.dataBlocks.length)]! + rng.int(4096), 1 << rng.int(8));
    }, {});
  }));
}

test.run();
