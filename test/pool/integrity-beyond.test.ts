/**
 * Integrity beyond the redundancy factor (issue 13): damage on THREE targets of one EC_4P2G1
 * group (which survives two), in the pool of integrity-fixture.ts. A read of an item with three
 * or more damaged shards in its group (every replica of an RP_3G1 item, three of an EC_4P2G1
 * item's six) returns the committed bytes or fails with DATA_LOST — never zeros, never "absent",
 * never other bytes; every other item reads right. Scrub reports what it could not repair, and
 * after it the same holds (lost items stay DATA_LOST, nothing reads as empty).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { Pool } from '../../src/pool/pool.js';
import { tmpDir } from '../helpers/tmp.js';
import { safe } from '../vos/safe.js';
import { buildPool, copyTree, flip, locate, readAll, type Item, type Oracle, type TargetFiles } from './integrity-fixture.js';

const test = suite('pool integrity: damage beyond the redundancy factor');

let root = '';
let template = '';
let oracle: Oracle;
/** Three targets of one EC group, and where their structures lie. */
let damaged: number[] = [];
const files = new Map<number, TargetFiles>();

test.before(async () => {
  root = tmpDir('cairn-integrity-beyond-');
  const built = await buildPool(root, 4242);
  template = built.dir;
  oracle = built.oracle;
  // the EC group with the most items; three of its targets, also holding RP items with every replica among them if any
  const groups = new Map<string, Item[]>();
  for (const it of oracle.items.values()) if (it.cont === 'ec') groups.set(it.targets.join(','), [...(groups.get(it.targets.join(',')) ?? []), it]);
  const [best] = [...groups.entries()].sort((a, b) => b[1].length - a[1].length)[0]!;
  const group = best.split(',').map(Number);
  damaged = group.slice(0, 3);
  for (const t of damaged) files.set(t, await locate(template, t));
});

test.after(() => { fs.rmSync(root, { recursive: true, force: true }); });

/** Items whose group has more damaged members than its class survives. */
const beyond = (it: Item) => it.targets.filter((t) => damaged.includes(t)).length >= (it.cont === 'rp' ? 3 : 3);

async function beyondCase(name: string, damage: (dir: string) => void): Promise<void> {
  const dir = path.join(root, name.replace(/\W+/g, '-'));
  copyTree(template, dir);
  damage(dir);
  const pool = await Pool.open(dir, { io: 'pread' });
  try {
    const before = await readAll(pool, oracle, `${name}, before scrub`, beyond);
    assert.ok(before.lost.length > 0, `${name}: some reads beyond the redundancy factor fail with DATA_LOST (${before.reads} right)`);
    const report = await pool.scrub();
    assert.ok(report.bad.length > 0, `${name}: scrub reports damage`);
    assert.ok(report.unrepairable > 0, `${name}: scrub reports what it could not repair: ${JSON.stringify({ ...report, bad: report.bad.slice(0, 3) })}`);
    assert.ok(report.bad.every((b) => b.target === -1 || damaged.includes(b.target)), `${name}: only the damaged targets are named: ${JSON.stringify(report.bad.filter((b) => !damaged.includes(b.target)).slice(0, 3))}`);
    const after = await readAll(pool, oracle, `${name}, after scrub`, beyond);
    assert.ok(after.lost.length > 0, `${name}: lost items stay DATA_LOST after scrub`);
  } finally { await pool.close(); }
  fs.rmSync(dir, { recursive: true, force: true });
}

test('values in vos.data of three targets of one EC group: DATA_LOST or right, never zeros or absent', safe(async () => {
  await beyondCase('three targets vos.data', (d) => {
    for (const t of damaged) {
      const f = files.get(t)!;
      for (const b of f.dataBlocks) flip(path.join(d, 'targets', String(t), 'vos.data'), b + 64);
    }
  });
}));

test('the run data blocks of three targets of one EC group: DATA_LOST or right, never zeros or absent', safe(async () => {
  await beyondCase('three targets run blocks', (d) => {
    for (const t of damaged) {
      const f = files.get(t)!;
      for (const b of f.blocks.filter((x) => x.kind === 'data')) flip(path.join(d, 'targets', String(t), 'vos.scm'), b.off + (b.len >> 1));
    }
  });
}));

test('the first log record of three targets of one EC group (each damaged as a whole): DATA_LOST or right', safe(async () => {
  await beyondCase('three targets log', (d) => {
    for (const t of damaged) flip(path.join(d, 'targets', String(t), 'vos.scm'), files.get(t)!.firstRecord.off + 12);
  });
}));

test('three targets of one group excluded (intact files): items beyond the redundancy factor read DATA_LOST, never "absent"; rebuild reports them lost', safe(async () => {
  const dir = path.join(root, 'excluded');
  copyTree(template, dir);
  const pool = await Pool.open(dir, { io: 'pread' });
  try {
    const err = await pool.exclude(damaged).then(() => undefined, (e: { code?: string }) => e);
    if (err) {
      // refusing the exclusion is the other acceptable answer, with a typed error and nothing changed
      assert.is(err.code, 'RF_VIOLATION', `exclude beyond the redundancy factor: ${JSON.stringify(err)}`);
      await readAll(pool, oracle, 'exclusion refused');
      return;
    }
    await pool.waitForRebuild();
    const st = pool.rebuildStatus();
    const before = await readAll(pool, oracle, `${damaged.join(', ')} excluded`, beyond);
    assert.ok(before.lost.length > 0, `items beyond the redundancy factor read DATA_LOST (${before.reads} right)`);
    assert.ok(st.lost.length > 0, `the rebuild reports lost objects: ${JSON.stringify(st)}`);
  } finally { await pool.close(); }
  fs.rmSync(dir, { recursive: true, force: true });
}));

test.run();
