/**
 * Integrity at the pool level (issue 13), damage in the pool's own files: one flipped byte in
 * pool.meta, pool.map, pool.map.stable or rebuild.state (either copy, at fixed and seeded random
 * offsets) still opens, with the same map and every read right, and the damaged copy is rewritten
 * so the other copy may fail next; one in a container's meta is survived the same way, and a
 * container whose both copies are damaged stops alone (the others read and scrub); one flipped byte
 * in a DONE record of the container journal (first, middle, last; either copy) never discards an
 * acknowledged commit (the journal keeps both copies in one file: test/container/journal-file.ts).
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
import { buildPool, copyTree, flip, readAll, type Oracle } from './integrity-fixture.js';
import { copyImage, copyRecords, flipCopy } from '../container/journal-file.js';

const test = suite('pool integrity: pool files');

let root = '';
/** A closed pool (built as a crash image, reopened, a target excluded and reintegrated: every pool file exists). */
let template = '';
let oracle: Oracle;
let mapVersion = 0;
const seeded = new Rng(31337);

test.before(async () => {
  root = tmpDir('cairn-integrity-files-');
  const built = await buildPool(root);
  oracle = built.oracle;
  template = path.join(root, 'closed');
  copyTree(built.dir, template);
  const pool = await Pool.open(template, { io: 'pread' });
  try {
    await pool.exclude(9);
    await pool.waitForRebuild();
    await pool.reintegrate(9);
    await pool.waitForRebuild();
    mapVersion = pool.map.version;
  } finally { await pool.close(); }
  for (const f of ['pool.meta', 'pool.map', 'pool.map.stable', 'rebuild.state']) {
    for (const c of ['', '.copy']) assert.ok(fs.existsSync(path.join(template, f + c)), `${f}${c} exists`);
  }
});

test.after(() => { fs.rmSync(root, { recursive: true, force: true }); });

let caseNo = 0;
/** A fresh copy of the template. */
function fresh(): string {
  const d = path.join(root, `case-${++caseNo}`);
  copyTree(template, d);
  return d;
}

/** A few items of both containers, read right (the whole oracle when `all`). */
async function reads(pool: Pool, label: string, all = false): Promise<void> {
  if (all) { await readAll(pool, oracle, label); return; }
  for (const cl of ['rp', 'ec']) {
    const c = await pool.openContainer(cl);
    const some = [...oracle.items.values()].filter((i) => i.cont === cl && i.akey === 'sv' && i.now).slice(0, 4);
    for (const it of some) assert.equal(await c.object(it.obj).fetch(it.dkey, 'sv'), it.now, `${label}: ${cl}/${it.obj}/${it.dkey}`);
  }
}

/** Open, check the map and reads, close. */
async function opens(dir: string, label: string, all = false): Promise<void> {
  const pool = await Pool.open(dir, { io: 'pread' }).catch((err: Error & { code?: string }) => { throw new Error(`${label}: Pool.open failed: ${err.code} ${err.message}`); });
  try {
    assert.is(pool.map.version, mapVersion, `${label}: the map in force`);
    assert.ok(pool.map.targets.every((t) => t.state === 'UPIN'), `${label}: every target in service`);
    assert.equal((await pool.listContainers()).map((c) => c.label).sort(), ['ec', 'rp'], `${label}: containers`);
    await reads(pool, label, all);
  } finally { await pool.close(); }
}

/** Offsets to damage in a file of `size` bytes: its header fields, the middle, the end, a seeded random one. */
function offsetsOf(size: number): Array<[string, number]> {
  return [['magic', 1], ['version', 9], ['length', 13], ['checksum', 17], ['middle', size >> 1], ['end', size - 3], ['random', seeded.int(size)]];
}

// ------------------------------------------------------------------ pool files

for (const f of ['pool.meta', 'pool.map', 'pool.map.stable', 'rebuild.state']) {
  test(`one flipped byte in ${f} or its copy (fixed and random offsets): the pool opens with its map, reads are right`, safe(async () => {
    for (const copy of ['', '.copy']) {
      const size = fs.statSync(path.join(template, f + copy)).size;
      for (const [where, off] of offsetsOf(size)) {
        const dir = fresh();
        flip(path.join(dir, f + copy), off);
        await opens(dir, `${f}${copy} @${where}`, where === 'middle');
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  }));
}

test('a damaged copy of each pool file is rewritten at open: then the other copy may be damaged too', safe(async () => {
  for (const f of ['pool.meta', 'pool.map', 'pool.map.stable', 'rebuild.state']) {
    for (const [first, second] of [['', '.copy'], ['.copy', '']]) {
      const dir = fresh();
      const size = fs.statSync(path.join(dir, f)).size;
      flip(path.join(dir, f + first), size >> 1);
      await opens(dir, `${f}${first} damaged`);
      flip(path.join(dir, f + second), (size >> 1) + 1);
      await opens(dir, `${f}${first} damaged and rewritten, then ${f}${second} damaged`);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}));

// ------------------------------------------------------------------ container metadata

async function contDir(dir: string, label: string): Promise<string> {
  const pool = await Pool.open(dir, { io: 'pread' });
  try { return path.join(dir, 'containers', (await pool.listContainers()).find((c) => c.label === label)!.uuid); } finally { await pool.close(); }
}

test('one flipped byte in a container\'s meta (either copy, fixed and random offsets): it opens and reads right; the copy is rewritten', safe(async () => {
  for (const copy of ['', '.copy']) {
    const template0 = await contDir(template, 'rp');
    const size = fs.statSync(path.join(template0, 'meta' + copy)).size;
    for (const [where, off] of offsetsOf(size)) {
      const dir = fresh();
      const cdir = path.join(dir, 'containers', path.basename(template0));
      flip(path.join(cdir, 'meta' + copy), off);
      await opens(dir, `container meta${copy} @${where}`, where === 'random');
      if (where === 'middle') {
        flip(path.join(cdir, copy === '' ? 'meta.copy' : 'meta'), off + 1);
        await opens(dir, `container meta${copy} rewritten, then the other copy damaged`);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}));

test('a container whose both meta copies are damaged stops alone: typed error for it, the other reads and scrubs', safe(async () => {
  const dir = fresh();
  const cdir = await contDir(dir, 'rp');
  for (const c of ['meta', 'meta.copy']) flip(path.join(cdir, c), 40);
  const pool = await Pool.open(dir, { io: 'pread' });
  try {
    const err = await pool.openContainer('rp').then(() => undefined, (e: { code?: string }) => e);
    assert.is(err?.code, 'CORRUPTED', 'the damaged container fails with CORRUPTED');
    const ec = [...oracle.items.values()].filter((i) => i.cont === 'ec');
    const c = await pool.openContainer('ec');
    for (const it of ec.filter((i) => i.akey === 'sv')) assert.equal(await c.object(it.obj).fetch(it.dkey, 'sv'), it.now, `ec/${it.obj}/${it.dkey}`);
    const report = await pool.scrub().catch((e: Error & { code?: string }) => { throw new Error(`pool.scrub() stopped on one container's meta: ${e.code} ${e.message}`); });
    assert.ok(report.containers >= 1 && report.objects >= oracle.objects.get('ec')!.size, `the other container was scrubbed: ${JSON.stringify({ ...report, bad: report.bad.length })}`);
    assert.ok(report.bad.some((b) => b.container === 'rp' && !b.repaired), 'the damaged container is reported');
  } finally { await pool.close(); }
  fs.rmSync(dir, { recursive: true, force: true });
}));

// ------------------------------------------------------------------ the container journal

/** Records of copy 0 of a journal file (format 5: both copies in one file): offset in the copy, length, type (2 = DONE) and epoch. */
function journalRecords(file: string): Array<{ off: number; len: number; type: number; epoch: bigint }> {
  const out = copyRecords(copyImage(file, 0));
  assert.ok(out.length > 0, `journal records in ${file}`);
  return out;
}

test('one flipped byte in a DONE record of the container journal (first, middle, last; either copy): no acknowledged commit is discarded', safe(async () => {
  // the crash image: the journal holds every commit of the last session, whose DONE records matter
  const crash = path.join(root, 'crash');
  copyTree(path.join(root, 'template'), crash);
  for (const cl of ['rp', 'ec']) {
    const cdir0 = await (async () => {
      const d = path.join(root, 'probe'); copyTree(crash, d);
      try { return path.basename(await contDir(d, cl)); } finally { fs.rmSync(d, { recursive: true, force: true }); }
    })();
    const recs = journalRecords(path.join(crash, 'containers', cdir0, 'journal'));
    const done = recs.filter((r) => r.type === 2);
    assert.ok(done.length > 10, `${cl}: DONE records in the journal (${done.length})`);
    for (const [which, r] of [['first', done[0]!], ['middle', done[done.length >> 1]!], ['last', done[done.length - 1]!]] as const) {
      for (const copy of [0, 1] as const) {
        for (const [field, at] of [['type', 8], ['epoch', 17], ['checksum', 25], ['random', seeded.int(r.len)]] as const) {
          const dir = path.join(root, `journal-${++caseNo}`);
          copyTree(crash, dir);
          flipCopy(path.join(dir, 'containers', cdir0, 'journal'), copy, r.off + at, 0x10);
          const pool = await Pool.open(dir, { io: 'pread' });
          try {
            const label = `${cl} journal copy ${copy}: ${which} DONE (epoch ${r.epoch}) @${field}`;
            // the items that commit changed read what the oracle says (every item after the last DONE)
            await readAll(pool, oracle, label, undefined, which === 'last' || field === 'random' ? undefined : (it) => it.cont === cl && it.epochs.includes(r.epoch));
            // the commit of that epoch: its object reads what the oracle says
            const c = await pool.openContainer(cl);
            assert.ok(c.readEpoch() >= r.epoch, `${label}: the stable epoch ${c.readEpoch()} covers the acknowledged commit`);
          } finally { await pool.close(); }
          fs.rmSync(dir, { recursive: true, force: true });
        }
      }
    }
  }
  fs.rmSync(crash, { recursive: true, force: true });
}));

test('one flipped byte anywhere else in the container journal (its header, INTENT records, seeded random offsets; either copy): it opens and nothing acknowledged is lost', safe(async () => {
  const crash = path.join(root, 'crash-any');
  copyTree(path.join(root, 'template'), crash);
  const uuids = await (async () => {
    const d = path.join(root, 'probe-any'); copyTree(crash, d);
    try { return [path.basename(await contDir(d, 'rp')), path.basename(await contDir(d, 'ec'))]; } finally { fs.rmSync(d, { recursive: true, force: true }); }
  })();
  for (const [ci, cl] of ['rp', 'ec'].entries()) {
    const file = path.join(crash, 'containers', uuids[ci]!, 'journal');
    const recs = journalRecords(file);
    const intents = recs.filter((r) => r.type === 1);
    assert.ok(intents.length > 10, `${cl}: INTENT records in the journal (${intents.length})`);
    const size = copyImage(file, 0).length;
    const mid = intents[intents.length >> 1]!;
    const spots: Array<[string, number]> = [
      ['header magic', 2], ['header version', 9],
      ['first INTENT length', intents[0]!.off + 5], ['middle INTENT payload', mid.off + 32 + seeded.int(mid.len - 32)],
      ['random', seeded.int(size)], ['random', seeded.int(size)], ['random', seeded.int(size)],
    ];
    for (const copy of [0, 1] as const) {
      for (const [where, off] of spots) {
        const dir = path.join(root, `journal-any-${++caseNo}`);
        copyTree(crash, dir);
        flipCopy(path.join(dir, 'containers', uuids[ci]!, 'journal'), copy, off, 0x10);
        const label = `${cl} journal copy ${copy} @${where} (offset ${off} of the copy)`;
        const pool = await Pool.open(dir, { io: 'pread' }).catch((err: Error & { code?: string }) => { throw new Error(`${label}: Pool.open failed: ${err.code} ${err.message}`); });
        try {
          await readAll(pool, oracle, label, undefined, where === 'random' ? undefined : (it) => it.cont === cl);
          const c = await pool.openContainer(cl);
          const last = [...oracle.items.values()].filter((i) => i.cont === cl).reduce((m, i) => i.epochs.reduce((a, e) => (e > a ? e : a), m), 0n);
          assert.ok(c.readEpoch() >= last, `${label}: the stable epoch ${c.readEpoch()} covers the last acknowledged commit ${last}`);
        } finally { await pool.close(); }
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  fs.rmSync(crash, { recursive: true, force: true });
}));

// ------------------------------------------------------------------ the registry of committed object ids

test('one flipped byte in a container\'s objects.reg (either copy, fixed and random offsets): an object whose every shard is gone is still listed and reads DATA_LOST', safe(async () => {
  // a small pool whose clean close compacts the journal, folding the object ids into objects.reg
  const base = path.join(root, 'reg-base');
  let pool = await Pool.create(base, { nodes: 2, ranksPerNode: 2, targetsPerRank: 1, scmBytes: 8 << 20, dataBytes: 16 << 20, io: 'pread' });
  const names = Array.from({ length: 24 }, (_, i) => `r${i}`);
  let uuid = '';
  try {
    const c = await pool.createContainer('reg', { oclass: 'RP_2G1', redundancyFactor: 1 });
    uuid = (await pool.listContainers()).find((x) => x.label === 'reg')!.uuid;
    for (let i = 0; i < 2400; i++) await c.object(names[i % names.length]!).update('d', 'a', `v${i}`);
  } finally { await pool.close(); }
  const reg = path.join(base, 'containers', uuid, 'objects.reg');
  assert.ok(fs.existsSync(reg) && fs.existsSync(reg + '.copy'), 'the close compacted the journal into objects.reg (two copies)');
  for (const copy of ['', '.copy']) {
    const size = fs.statSync(reg + copy).size;
    for (const [where, off] of offsetsOf(size)) {
      const dir = path.join(root, `reg-${++caseNo}`);
      copyTree(base, dir);
      flip(path.join(dir, 'containers', uuid, 'objects.reg' + copy), off);
      const label = `objects.reg${copy} @${where}`;
      pool = await Pool.open(dir, { io: 'pread' });
      try {
        let c = await pool.openContainer('reg');
        // every target of one object's group out: its only trace is the registry
        const victim = names[0]!;
        const group = containerPort(c).layout(c.object(victim).oid).groups[0]!;
        await pool.exclude([...group]);
        await pool.waitForRebuild();
        c = await pool.openContainer('reg');
        const listed = new Set<bigint>();
        for await (const oid of c.listObjects()) listed.add(oid);
        for (const n of names) assert.ok(listed.has(c.object(n).oid), `${label}: ${n} is listed`);
        const err = await c.object(victim).fetch('d', 'a').then((v) => `read ${v === undefined ? 'as absent' : `${v.length} bytes`}`, (e: { code?: string }) => e.code);
        assert.is(err, 'DATA_LOST', `${label}: the object whose every shard is gone`);
        assert.ok(pool.rebuildStatus().lost.includes(c.object(victim).oid.toString(16)), `${label}: the rebuild reports it lost: ${JSON.stringify(pool.rebuildStatus().lost)}`);
      } finally { await pool.close(); }
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  fs.rmSync(base, { recursive: true, force: true });
}));

test.run();
