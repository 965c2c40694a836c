/**
 * Failure and recovery specification (issue 6): rebuild after lost, corrupted or excluded targets,
 * redundancy really restored, reintegrate / drain / extend, DATA_LOST beyond the redundancy
 * factor (never wrong bytes), SIGKILL during rebuild then resume on reopen, a seeded property
 * test of pool map changes with concurrent writes against an in-memory model, and progress events.
 * Real files and processes throughout; a 16-target pool (4 nodes x 2 ranks x 2 targets) leaves
 * spares for the 6-wide EC_4P2G1 and 3-wide RP_3G1 layouts.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { Pool, type RebuildStatus } from '../../src/pool/pool.js';
import { containerPort } from '../../src/container/container.js';
import { Rng } from '../../core/rng.js';
import { tmpDir } from '../helpers/tmp.js';
import { Model, fill, mutate, verify, targetsOf, oidHex, tolerance, corruptTarget } from './rebuild-model.js';

const t = suite('rebuild');
const root = tmpDir('cairn-rebuild-');
const SHAPE = { nodes: 4, ranksPerNode: 2, targetsPerRank: 2, scmBytes: 16 << 20, dataBytes: 64 << 20 };
type Cont = Awaited<ReturnType<Pool['createContainer']>>;

async function newPool(name: string): Promise<{ dir: string; pool: Pool; c: Cont }> {
  const dir = join(root, name);
  const pool = await Pool.create(dir, SHAPE);
  const c = await pool.createContainer('c', { oclass: 'EC_4P2G1', redundancyFactor: 2, cellSize: 4096 });
  return { dir, pool, c };
}

async function reopen(pool: Pool, dir: string): Promise<{ pool: Pool; c: Cont }> {
  await pool.close();
  const p = await Pool.open(dir);
  return { pool: p, c: await p.openContainer('c') };
}

const stateOf = (pool: Pool, id: number) => pool.query().targets[id]!.state;

/** Every object that has a shard on `target`. */
function objectsOn(c: Cont, m: Model, target: number): string[] {
  return m.objects().filter((o) => targetsOf(c, o.name, o.oclass).includes(target)).map((o) => o.name);
}

/** Objects that have more shards in `failed` than their class survives. */
function beyondRedundancy(c: Cont, m: Model, failed: number[]): Set<string> {
  return new Set(m.objects().filter((o) => targetsOf(c, o.name, o.oclass).filter((x) => failed.includes(x)).length > tolerance(o.oclass)).map((o) => o.name));
}

/** Collect 'rebuild' events (and the union of lost objects they name) until `stop()`. */
function recordEvents(pool: Pool): { events: RebuildStatus[]; lost: Set<string>; stop(): void } {
  const events: RebuildStatus[] = [];
  const lost = new Set<string>();
  const on = (s: RebuildStatus) => { events.push(s); for (const l of s.lost) lost.add(l); };
  pool.on('rebuild', on);
  return { events, lost, stop: () => pool.off('rebuild', on) };
}

t('fill, delete a target directory, exclude, rebuild, verify; a corrupted second target; then one failure too many: DATA_LOST for that object only', async () => {
  let { dir, pool, c } = await newPool('lose');
  const m = new Model();
  await fill(c, m, 1);
  await c.snapshot('snap');
  const snap = m.clone();
  await mutate(c, m, 2);

  // ---- first failure: the directory of a target holding shards of obj-0 vanishes (pool closed).
  const victim = targetsOf(c, 'obj-0', 'EC_4P2G1')[0]!;
  const hit = objectsOn(c, m, victim);
  assert.ok(hit.length >= 1);
  await pool.close();
  rmSync(join(dir, 'targets', String(victim)), { recursive: true, force: true });
  pool = await Pool.open(dir);
  c = await pool.openContainer('c');
  // Degraded reads before anyone excludes it: right bytes, the bad shard is recorded.
  await verify(c, m);
  await verify(c, snap, { snapshot: 'snap' });
  assert.ok(pool.query().badShards >= 1, 'reads around a missing target record the bad shard');
  const rec = recordEvents(pool);
  await pool.exclude(victim);
  assert.ok(['DOWN', 'DOWNOUT'].includes(stateOf(pool, victim)));
  // I/O continues at once, while the rebuild runs in the background.
  await verify(c, m);
  await pool.waitForRebuild();
  rec.stop();
  assert.is(stateOf(pool, victim), 'DOWNOUT');
  const st = pool.rebuildStatus();
  assert.is(st.state, 'idle');
  assert.equal(st.lost, []);
  assert.ok(st.bytes > 0, 'rebuild reconstructed bytes');
  assert.is(rec.lost.size, 0);
  for (const o of m.objects()) assert.not.ok(targetsOf(c, o.name, o.oclass).includes(victim), `${o.name} still laid out on the excluded target`);
  await verify(c, m);
  await verify(c, snap, { snapshot: 'snap' });

  // ---- second failure within the redundancy factor: corrupt the files of another target of obj-0.
  const second = targetsOf(c, 'obj-0', 'EC_4P2G1').find((x) => x !== victim)!;
  await pool.close();
  corruptTarget(dir, second, 77);
  ({ pool, c } = { pool: await Pool.open(dir), c: undefined as unknown as Cont });
  c = await pool.openContainer('c');
  await verify(c, m);
  await pool.exclude(second);
  await pool.waitForRebuild();
  assert.is(stateOf(pool, second), 'DOWNOUT');
  assert.equal(pool.rebuildStatus().lost, []);
  await verify(c, m);
  await verify(c, snap, { snapshot: 'snap' });
  ({ pool, c } = await reopen(pool, dir));
  await verify(c, m);

  // ---- one too many, at once: three targets of obj-2's group die together (their directories
  // vanish with the pool closed), then all three are excluded in one call.
  const three = targetsOf(c, 'obj-2', 'EC_4P2G1').slice(0, 3);
  const doomed = beyondRedundancy(c, m, three);
  assert.ok(doomed.has('obj-2'));
  await pool.close();
  for (const x of three) rmSync(join(dir, 'targets', String(x)), { recursive: true, force: true });
  pool = await Pool.open(dir);
  c = await pool.openContainer('c');
  const before = await verify(c, m, { mayLose: doomed, mustLose: new Set(['obj-2']) });
  assert.ok(before.lost >= 1);
  const rec3 = recordEvents(pool);
  await pool.exclude(three);
  await pool.waitForRebuild();
  rec3.stop();
  for (const x of three) assert.is(stateOf(pool, x), 'DOWNOUT');
  assert.ok(rec3.lost.has(oidHex(c, 'obj-2', 'EC_4P2G1')), `rebuild names obj-2 as lost (got ${[...rec3.lost].join(',')})`);
  for (const o of m.objects()) {
    if (!doomed.has(o.name)) assert.not.ok(rec3.lost.has(oidHex(c, o.name, o.oclass)), `${o.name} reported lost but had redundancy left`);
  }
  const after = await verify(c, m, { mayLose: doomed, mustLose: new Set(['obj-2']) });
  assert.ok(after.checked > 0);
  // Still true after reopen: never wrong bytes, the lost object still says DATA_LOST.
  ({ pool, c } = await reopen(pool, dir));
  await verify(c, m, { mayLose: doomed, mustLose: new Set(['obj-2']) });
  await pool.close();
});

for (const damage of ['deleted', 'corrupted'] as const) {
  t(`rebuild reads around a second target whose files are ${damage} but which is not excluded yet`, async () => {
    let { dir, pool, c } = await newPool(`around-${damage}`);
    const m = new Model();
    await fill(c, m, 8);
    await c.snapshot('snap');
    const snap = m.clone();
    await mutate(c, m, 9);
    // Two targets shared by an EC and a replicated object (replicas are copied, so the copy
    // source itself may be the broken one).
    const ecT = targetsOf(c, 'obj-0', 'EC_4P2G1');
    const rpT = targetsOf(c, 'obj-1', 'RP_3G1');
    const [broken, victim] = rpT.filter((x) => ecT.includes(x)).length >= 2 ? rpT.filter((x) => ecT.includes(x)) : [ecT[0]!, ecT[1]!];
    await pool.close();
    if (damage === 'deleted') rmSync(join(dir, 'targets', String(broken)), { recursive: true, force: true });
    else corruptTarget(dir, broken!, 31);
    pool = await Pool.open(dir);
    c = await pool.openContainer('c');
    const rec = recordEvents(pool);
    await pool.exclude(victim!);
    await pool.waitForRebuild();
    rec.stop();
    assert.ok(!rec.events.some((e) => e.state === 'failed'), `rebuild failed: ${rec.events.find((e) => e.state === 'failed')?.error}`);
    assert.is(stateOf(pool, victim!), 'DOWNOUT');
    assert.equal(pool.rebuildStatus().lost, []);
    await verify(c, m);
    await verify(c, snap, { snapshot: 'snap' });
    // The broken target goes too: everything was rebuilt from good data, so it all still reads.
    await pool.exclude(broken!);
    await pool.waitForRebuild();
    await verify(c, m);
    await verify(c, snap, { snapshot: 'snap' });
    ({ pool, c } = await reopen(pool, dir));
    await verify(c, m);
    await pool.close();
  });
}

t('a replicated object that loses every replica is reported lost and never reads as empty', async () => {
  let { dir, pool, c } = await newPool('rp-all');
  const m = new Model();
  await fill(c, m, 3, 4, 64 * 1024);
  const all = targetsOf(c, 'obj-1', 'RP_3G1');
  const doomed = beyondRedundancy(c, m, all);
  await pool.close();
  for (const x of all) rmSync(join(dir, 'targets', String(x)), { recursive: true, force: true });
  pool = await Pool.open(dir);
  c = await pool.openContainer('c');
  await verify(c, m, { mayLose: doomed, mustLose: new Set(['obj-1']) });
  const rec = recordEvents(pool);
  await pool.exclude(all);
  await pool.waitForRebuild();
  rec.stop();
  assert.ok(rec.lost.has(oidHex(c, 'obj-1', 'RP_3G1')), 'rebuild names the object whose replicas are all gone');
  // Regression: once the rebuild completes, the lost object's new layout points at fresh targets
  // that hold nothing; the container must remember it as lost so a fetch gives DATA_LOST, not
  // `undefined` (an empty value), also after reopen.
  await verify(c, m, { mayLose: doomed, mustLose: new Set(['obj-1']) });
  await pool.close();
});

t('after a rebuild redundancy is really restored: p more failures in a rebuilt group still read', async () => {
  const { pool, c } = await newPool('restored');
  const m = new Model();
  await fill(c, m, 4);
  await c.snapshot('snap');
  const snap = m.clone();
  await mutate(c, m, 5);
  // A target shared by an EC object and a replicated one, so both kinds are rebuilt.
  const objs = m.objects();
  let victim = -1, ec = '', rp = '';
  for (const e of objs.filter((o) => o.oclass === 'EC_4P2G1')) {
    for (const r of objs.filter((o) => o.oclass === 'RP_3G1')) {
      const common = targetsOf(c, e.name, e.oclass).find((x) => targetsOf(c, r.name, r.oclass).includes(x));
      if (common !== undefined && victim < 0) { victim = common; ec = e.name; rp = r.name; }
    }
  }
  assert.ok(victim >= 0, 'some EC and RP object share a target');
  const ecBefore = targetsOf(c, ec, 'EC_4P2G1');
  const rpBefore = targetsOf(c, rp, 'RP_3G1');
  await pool.exclude(victim);
  await pool.waitForRebuild();
  const ecAfter = targetsOf(c, ec, 'EC_4P2G1');
  const rpAfter = targetsOf(c, rp, 'RP_3G1');
  const ecNew = ecAfter.find((x) => !ecBefore.includes(x))!;
  const rpNew = rpAfter.find((x) => !rpBefore.includes(x))!;
  assert.ok(ecNew !== undefined && rpNew !== undefined, 'the rebuilt shards live on new targets');
  // Fail p = 2 other members of the EC group: the 4 left include the rebuilt shard, and k = 4 are
  // needed, so every read of the EC object depends on the rebuilt shard. Read before the rebuild
  // of these failures can move anything.
  const ecOthers = ecAfter.filter((x) => x !== ecNew).slice(0, 2);
  for (const x of ecOthers) await pool.exclude(x);
  await verify(c, m, { mayLose: new Set() });
  await verify(c, snap, { snapshot: 'snap' });
  await pool.waitForRebuild();
  // Both other replicas of the RP object: only the rebuilt replica is left to read.
  const rpOthers = targetsOf(c, rp, 'RP_3G1').filter((x) => x !== rpNew);
  if (!rpOthers.some((x) => ecOthers.includes(x))) {
    for (const x of rpOthers) await pool.exclude(x);
    const mayLose = beyondRedundancy(c, m, rpOthers);
    assert.not.ok(mayLose.has(rp));
    await verify(c, m, { mayLose });
    await pool.waitForRebuild();
  }
  await verify(c, m);
  await verify(c, snap, { snapshot: 'snap' });
  await pool.close();
});

t('reintegrate (after writes while out), drain, extend: only moved shards move, reads stay right throughout, the targets serve data afterwards', async () => {
  const { dir, pool, c } = await newPool('grow');
  const m = new Model();
  await fill(c, m, 10);
  await c.snapshot('snap');
  const snap = m.clone();

  // ---- reintegrate a target that missed writes while it was out.
  const victim = targetsOf(c, 'obj-0', 'EC_4P2G1')[0]!;
  await pool.exclude(victim);
  await pool.waitForRebuild();
  assert.is(stateOf(pool, victim), 'DOWNOUT');
  await mutate(c, m, 11);
  await pool.reintegrate(victim);
  assert.ok(['UP', 'UPIN'].includes(stateOf(pool, victim)));
  await verify(c, m); // while it is being integrated
  await pool.waitForRebuild();
  assert.is(stateOf(pool, victim), 'UPIN');
  assert.ok(pool.query().targets[victim]!.spaceUsed > 0, 'the reintegrated target holds data again');
  const back = objectsOn(c, m, victim);
  assert.ok(back.includes('obj-0'), 'obj-0 is laid out on the reintegrated target again');
  // Exclude p other members of obj-0's group: every read of obj-0 now needs the reintegrated shard.
  const others = targetsOf(c, 'obj-0', 'EC_4P2G1').filter((x) => x !== victim).slice(0, 2);
  await pool.exclude(others);
  await verify(c, m);
  await verify(c, snap, { snapshot: 'snap' });
  await pool.waitForRebuild();
  for (const x of others) assert.is(stateOf(pool, x), 'DOWNOUT');

  // ---- drain a healthy target: its shards move off while it stays readable.
  const drained = targetsOf(c, 'obj-1', 'RP_3G1').find((x) => stateOf(pool, x) === 'UPIN')!;
  const onDrained = objectsOn(c, m, drained);
  const layoutsBefore = new Map(m.objects().map((o) => [o.name, targetsOf(c, o.name, o.oclass)]));
  await pool.drain(drained);
  assert.ok(['DRAIN', 'DOWNOUT'].includes(stateOf(pool, drained)));
  const writes = mutate(c, m, 12); // concurrent with the drain
  await verify(c, snap, { snapshot: 'snap' });
  await writes;
  await pool.waitForRebuild();
  assert.is(stateOf(pool, drained), 'DOWNOUT');
  for (const o of m.objects()) {
    const now = targetsOf(c, o.name, o.oclass);
    assert.not.ok(now.includes(drained), `${o.name} still on the drained target`);
    // Only the shards that were on the drained target moved.
    const was = layoutsBefore.get(o.name)!;
    now.forEach((x, i) => { if (was[i] !== drained) assert.is(x, was[i], `${o.name} shard ${i} moved without cause`); });
  }
  await verify(c, m);
  // Likewise: the moved replicas carry the data once the others are gone.
  const rp = onDrained.find((n) => m.objects().find((o) => o.name === n)!.oclass === 'RP_3G1');
  if (rp) {
    const newHome = targetsOf(c, rp, 'RP_3G1').find((x, i) => layoutsBefore.get(rp)![i] === drained)!;
    const rest = targetsOf(c, rp, 'RP_3G1').filter((x) => x !== newHome);
    await pool.exclude(rest);
    await verify(c, m, { mayLose: beyondRedundancy(c, m, rest) });
    await pool.waitForRebuild();
  }
  await verify(c, m);

  // ---- extend by one node: new targets start NEW, end UPIN holding data.
  const before = new Map(m.objects().map((o) => [o.name, targetsOf(c, o.name, o.oclass)]));
  const ids = await pool.extend({ nodes: 1 });
  assert.is(ids.length, SHAPE.ranksPerNode * SHAPE.targetsPerRank);
  for (const id of ids) assert.ok(['NEW', 'UPIN'].includes(stateOf(pool, id)));
  const w2 = mutate(c, m, 13);
  await verify(c, snap, { snapshot: 'snap' });
  await w2;
  await pool.waitForRebuild();
  for (const id of ids) assert.is(stateOf(pool, id), 'UPIN');
  const newUsed = ids.reduce((n, id) => n + pool.query().targets[id]!.spaceUsed, 0);
  assert.ok(newUsed > 0, 'the new targets hold data');
  let movedShards = 0, toNew = 0, total = 0;
  for (const o of m.objects()) {
    const now = targetsOf(c, o.name, o.oclass);
    now.forEach((x, i) => {
      total++;
      if (x !== before.get(o.name)![i]) { movedShards++; if (ids.includes(x)) toNew++; }
    });
  }
  // Most of what moves goes to the new node, and most shards stay where they were (the placement
  // may also shift a few shards between old targets: 6 of 45 with this seed).
  assert.ok(toNew > 0, 'some shards moved to the new node');
  assert.ok(toNew * 2 >= movedShards, `only ${toNew} of ${movedShards} moved shards went to the new node`);
  assert.ok(movedShards * 2 <= total, `${movedShards} of ${total} shards moved`);
  await verify(c, m);
  await verify(c, snap, { snapshot: 'snap' });
  const r = await reopen(pool, dir);
  await verify(r.c, m);
  await verify(r.c, snap, { snapshot: 'snap' });
  await r.pool.close();
});

/** Run the child until it reports rebuild progress, then SIGKILL it. Returns what it printed. */
async function killDuringRebuild(args: string[]): Promise<string> {
  const child = new URL('./rebuild-child.ts', import.meta.url).pathname;
  const proc = spawn(process.execPath, ['--import', 'tsx', child, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    proc.stdout.on('data', (d) => {
      out += d;
      if (out.includes('progress ')) proc.kill('SIGKILL');
    });
    proc.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`child exited with ${code} before it was killed: ${out}`))));
  });
  return out;
}

t('SIGKILL during rebuild (twice): reopen resumes the rebuild, which completes with every byte right', async () => {
  let { dir, pool, c } = await newPool('sigkill');
  const m = new Model();
  await fill(c, m, 20, 8, 256 * 1024);
  // Enough objects that a rebuild takes many steps: EC and replicated arrays.
  const rng = new Rng(21);
  for (let i = 0; i < 40; i++) await m.writeArray(c, `big-${i}`, i % 3 === 2 ? 'RP_3G1' : 'EC_4P2G1', 0, rng.bytes(192 * 1024));
  await c.snapshot('snap');
  const snap = m.clone();
  await mutate(c, m, 22);
  const victim = targetsOf(c, 'obj-0', 'EC_4P2G1')[0]!;
  await pool.close();

  const out1 = await killDuringRebuild([dir, 'exclude', String(victim)]);
  assert.not.ok(out1.includes('done'), 'the first child was killed mid-rebuild');
  const out2 = await killDuringRebuild([dir, 'resume']);
  assert.not.ok(out2.includes('done'), 'the second child was killed mid-rebuild');

  pool = await Pool.open(dir);
  // Opening resumes the pending rebuild in the background.
  assert.is(stateOf(pool, victim), 'DOWN');
  assert.is(pool.rebuildStatus().state, 'running');
  c = await pool.openContainer('c');
  await verify(c, m); // degraded reads while it runs
  await pool.waitForRebuild();
  assert.is(stateOf(pool, victim), 'DOWNOUT');
  assert.equal(pool.rebuildStatus().lost, []);
  await verify(c, m);
  await verify(c, snap, { snapshot: 'snap' });
  // Redundancy is back: two more failures in obj-0's group still read.
  await pool.exclude(targetsOf(c, 'obj-0', 'EC_4P2G1').slice(0, 2));
  await verify(c, m);
  await pool.waitForRebuild();
  ({ pool, c } = await reopen(pool, dir));
  await verify(c, m);
  await verify(c, snap, { snapshot: 'snap' });
  await pool.close();
});

t('SIGKILL during rebalance (drain, reintegrate, extend): reopen resumes it, every byte right, the moved shards carry data', async () => {
  let { dir, pool, c } = await newPool('sigkill-rebalance');
  const m = new Model();
  await fill(c, m, 80, 8, 256 * 1024);
  const rng = new Rng(81);
  for (let i = 0; i < 40; i++) await m.writeArray(c, `big-${i}`, i % 3 === 2 ? 'RP_3G1' : 'EC_4P2G1', 0, rng.bytes(160 * 1024));
  await c.snapshot('snap');
  const snap = m.clone();
  const out = targetsOf(c, 'obj-0', 'EC_4P2G1')[0]!;
  const drained = targetsOf(c, 'obj-1', 'RP_3G1').find((x) => x !== out)!;
  await pool.exclude(out);
  await pool.waitForRebuild();
  await mutate(c, m, 82);
  await pool.close();

  const cycle = async (args: string[], check: (p: Pool) => void) => {
    const printed = await killDuringRebuild([dir, ...args]);
    assert.not.ok(printed.includes('done'), `${args.join(' ')}: the child was killed mid-migration`);
    pool = await Pool.open(dir);
    assert.is(pool.rebuildStatus().state, 'running', `${args.join(' ')}: reopen resumes the migration`);
    c = await pool.openContainer('c');
    await verify(c, m);
    await pool.waitForRebuild();
    check(pool);
    await verify(c, m);
    await verify(c, snap, { snapshot: 'snap' });
    await pool.close();
  };
  await cycle(['drain', String(drained)], (p) => assert.is(stateOf(p, drained), 'DOWNOUT'));
  await cycle(['reintegrate', String(out)], (p) => assert.is(stateOf(p, out), 'UPIN'));
  let added: number[] = [];
  await cycle(['extend'], (p) => {
    added = p.query().targets.filter((x) => x.id >= 16).map((x) => x.id);
    assert.is(added.length, 4);
    for (const id of added) assert.is(stateOf(p, id), 'UPIN');
    assert.ok(added.reduce((n, id) => n + p.query().targets[id]!.spaceUsed, 0) > 0, 'the new targets hold data');
  });
  // The reintegrated target and the new ones carry real data: fail two other targets of every
  // object laid out on them, one object at a time, and read it back.
  pool = await Pool.open(dir);
  c = await pool.openContainer('c');
  const carriers = [out, ...added];
  const probe = m.objects().find((o) => o.oclass === 'EC_4P2G1' && targetsOf(c, o.name, o.oclass).some((x) => carriers.includes(x)));
  if (probe) {
    const others = targetsOf(c, probe.name, probe.oclass).filter((x) => !carriers.includes(x)).slice(0, 2);
    await pool.exclude(others);
    await verify(c, m);
    await pool.waitForRebuild();
  }
  await verify(c, m);
  await pool.close();
});

t('writes, punches and a snapshot taken while a rebuild runs: current state and every snapshot read right after it', async () => {
  let { dir, pool, c } = await newPool('during');
  const m = new Model();
  await fill(c, m, 60, 10);
  await c.snapshot('before');
  const before = m.clone();
  const victim = targetsOf(c, 'obj-0', 'EC_4P2G1')[0]!;
  await pool.exclude(victim);
  // The objects being rebuilt are the ones written to (the victim holds shards of obj-0).
  await randomWrites(c, m, new Rng(61), 10);
  await c.snapshot('mid');
  const mid = m.clone();
  await randomWrites(c, m, new Rng(62), 10);
  await pool.waitForRebuild();
  assert.is(stateOf(pool, victim), 'DOWNOUT');
  await verify(c, m);
  await verify(c, before, { snapshot: 'before' });
  await verify(c, mid, { snapshot: 'mid' });
  // Redundancy of the new versions is real: fail two more of obj-0's targets.
  await pool.exclude(targetsOf(c, 'obj-0', 'EC_4P2G1').slice(1, 3));
  await verify(c, m);
  await verify(c, mid, { snapshot: 'mid' });
  await pool.waitForRebuild();
  ({ pool, c } = await reopen(pool, dir));
  await verify(c, m);
  await verify(c, before, { snapshot: 'before' });
  await verify(c, mid, { snapshot: 'mid' });
  await pool.close();
});

t('large values: array extents longer than one migration step are rebuilt (EC decode) and drained (copy) in pieces', async () => {
  const { pool, c } = await newPool('large');
  const rng = new Rng(70);
  const big = async (name: string, oclass: string, bytes: number) => {
    // One 32 MiB chunk per dkey, so one shard's extent exceeds MIGRATE_CHUNK (4 MiB).
    const arr = c.array(name, { oclass, chunkSize: 32 << 20 });
    const data = rng.bytes(bytes);
    await arr.write(0, data);
    const patch = rng.bytes(300_001);
    await arr.write(5_000_003, patch);
    data.set(patch, 5_000_003);
    return { arr, data };
  };
  const ec = await big('big-ec', 'EC_4P2G1', 24 << 20);
  const rp = await big('big-rp', 'RP_3G1', 9 << 20);
  const check = async () => {
    for (const { arr, data } of [ec, rp]) {
      const got = await arr.read(0, data.length);
      assert.ok(Buffer.compare(Buffer.from(got), Buffer.from(data)) === 0, `${arr.object.oid.toString(16)}: wrong bytes`);
    }
  };
  const layout = (name: string, oclass: string) => containerPort(c).layout(c.object(name, { oclass }).oid).groups.flat();
  const ecT = layout('big-ec', 'EC_4P2G1');
  const rpT = layout('big-rp', 'RP_3G1');
  const shared = ecT.find((x) => rpT.includes(x)) ?? ecT[0]!;
  await pool.exclude(shared);
  await pool.waitForRebuild();
  assert.ok(pool.rebuildStatus().bytes >= (5 << 20), `rebuilt ${pool.rebuildStatus().bytes} bytes`);
  await check();
  const drained = layout('big-rp', 'RP_3G1').find((x) => layout('big-ec', 'EC_4P2G1').includes(x)) ?? layout('big-rp', 'RP_3G1')[0]!;
  await pool.drain(drained);
  await check();
  await pool.waitForRebuild();
  assert.is(stateOf(pool, drained), 'DOWNOUT');
  await check();
  // Both moved shards carry their data: fail two more targets of each object.
  await pool.exclude([...new Set([...layout('big-ec', 'EC_4P2G1').slice(0, 2)])]);
  await check();
  await pool.waitForRebuild();
  await check();
  await pool.close();
});

/** Seeded random writes over a fixed set of objects: new keys, overwrites, punches, array spans. */
async function randomWrites(c: Cont, m: Model, rng: Rng, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const o = rng.int(6);
    const oclass = o % 2 === 0 ? 'EC_4P2G1' : 'RP_3G1';
    const roll = rng.float();
    if (roll < 0.6) await m.put(c, `obj-${o}`, oclass, `d${rng.int(10)}`, rng.pick(['a', 'b', 'c']), rng.bytes(1 + rng.int(16 * 1024)));
    else if (roll < 0.75) await m.punch(c, `obj-${o}`, oclass, `d${rng.int(10)}`, rng.pick(['a', 'b', 'c']));
    else {
      const name = rng.pick(['arr-ec', 'arr-rp']);
      await m.writeArray(c, name, name === 'arr-ec' ? 'EC_4P2G1' : 'RP_3G1', rng.int(200 * 1024), rng.bytes(1 + rng.int(40 * 1024)));
    }
  }
}

/** Fixed seed; override with CAIRN_REBUILD_SEED to explore other sequences. */
const PROPERTY_SEED = Number(process.env.CAIRN_REBUILD_SEED ?? 20261124);
const PROPERTY_STEPS = 16;

t(`property (seed ${PROPERTY_SEED}, ${PROPERTY_STEPS} steps): exclude / reintegrate / drain / extend / waitForRebuild with concurrent writes; read-back matches the model`, async () => {
  let { dir, pool, c } = await newPool('property');
  const rng = new Rng(PROPERTY_SEED);
  const m = new Model();
  await fill(c, m, 40, 6, 128 * 1024);
  const history: string[] = [];
  let extended = 0;
  const states = () => pool.query().targets.map((x) => x.state);
  for (let step = 0; step < PROPERTY_STEPS; step++) {
    const st = states();
    const ids = (want: string[]) => st.map((s, i) => (want.includes(s) ? i : -1)).filter((i) => i >= 0);
    // Shards unreadable right now: DOWN targets and reintegrating (UP) ones, whose data is not
    // back yet. Keep them within the redundancy factor (2) at every moment.
    const unreadable = ids(['DOWN', 'UP']).length;
    const inService = ids(['UPIN', 'NEW', 'UP']).length;
    const actions: string[] = ['wait'];
    if (unreadable <= 1 && inService > 10) actions.push('exclude', 'exclude');
    if (unreadable <= 1 && ids(['DOWNOUT']).length > 0) actions.push('reintegrate', 'reintegrate');
    if (inService > 10 && ids(['UPIN']).length > 10) actions.push('drain');
    if (extended < 2) actions.push('extend');
    const action = rng.pick(actions);
    // Writes run concurrently with the map change and the migration it starts.
    const startWrites = () => randomWrites(c, m, new Rng(PROPERTY_SEED + step), 6).then(() => undefined, (err: Error) => err);
    let writes: Promise<Error | undefined> | undefined = startWrites();
    let what = action;
    switch (action) {
      case 'exclude': {
        const x = rng.pick(ids(['UPIN', 'NEW', 'DRAIN'])); what += ` ${x}`;
        // (a DRAIN target's migration may end before the exclusion runs: it is then DOWNOUT,
        // which exclude refuses; seed 31 met it)
        const drained = st[x] === 'DRAIN';
        try { await pool.exclude(x); } catch (err) {
          if (!(drained && (err as { code?: string }).code === 'INVALID_ARGUMENT' && states()[x] === 'DOWNOUT')) throw err;
          what += ' (drained meanwhile)';
        }
        break;
      }
      case 'reintegrate': { const x = rng.pick(ids(['DOWNOUT'])); what += ` ${x}`; await pool.reintegrate(x); break; }
      case 'drain': { const x = rng.pick(ids(['UPIN'])); what += ` ${x}`; await pool.drain(x); break; }
      case 'extend': { extended++; what += ` -> ${(await pool.extend({ nodes: 1 })).join(',')}`; break; }
      case 'wait': await pool.waitForRebuild(); break;
    }
    history.push(what);
    const ctx = `after [${history.join('; ')}]`;
    writes ??= startWrites();
    const failed = await writes;
    if (failed) throw new Error(`${ctx}: a write concurrent with '${what}' failed: ${(failed as { code?: string }).code} ${failed.message}`);
    try {
      await verify(c, m); // possibly while a migration runs
    } catch (err) {
      throw new Error(`${ctx}: ${(err as Error).message}`);
    }
    assert.ok(pool.rebuildStatus().state !== 'failed', `${ctx}: rebuild failed: ${pool.rebuildStatus().error}`);
  }
  await Promise.all([pool.waitForRebuild(), randomWrites(c, m, new Rng(PROPERTY_SEED - 1), 6)]);
  await pool.waitForRebuild();
  const ctx = `after [${history.join('; ')}]`;
  assert.ok(['idle', 'blocked'].includes(pool.rebuildStatus().state), `${ctx}: ${pool.rebuildStatus().state}`);
  assert.equal(pool.rebuildStatus().lost, [], ctx);
  const withCtx = async (when: string) => {
    try { await verify(c, m); } catch (err) { throw new Error(`${ctx}, ${when}: ${(err as Error).message}`); }
  };
  await withCtx('at the end');
  ({ pool, c } = await reopen(pool, dir));
  await pool.waitForRebuild();
  await withCtx('after reopen');
  await pool.close();
});

t('writes concurrent with pool.extend() succeed and read back', async () => {
  const { pool, c } = await newPool('extend-writes');
  const m = new Model();
  await fill(c, m, 50, 6, 64 * 1024);
  // Regression: extend() must create the new targets' directories before it switches layouts,
  // or a write planned in between fails with MISSING_FILE.
  const writes = randomWrites(c, m, new Rng(51), 12).then(() => undefined, (err: Error) => err);
  await pool.extend({ nodes: 1 });
  const failed = await writes;
  assert.ok(!failed, `a write concurrent with extend failed: ${(failed as { code?: string } | undefined)?.code} ${failed?.message}`);
  await pool.waitForRebuild();
  await verify(c, m);
  await pool.close();
});

t('a write concurrent with pool.reintegrate() survives close and reopen', async () => {
  let { dir, pool, c } = await newPool('reintegrate-write');
  const m = new Model();
  await m.put(c, 'obj-1', 'RP_3G1', 'd', 'a', new TextEncoder().encode('v1'));
  const x = targetsOf(c, 'obj-1', 'RP_3G1')[0]!;
  await pool.exclude(x);
  await pool.waitForRebuild();
  // Regression: reintegrate() must wipe the stale target before it becomes writable; otherwise a
  // write in between lands in files that are then unlinked (gone after reopen).
  const w = m.put(c, 'obj-1', 'RP_3G1', 'd', 'a', new TextEncoder().encode('v2, written during reintegrate'));
  await pool.reintegrate(x);
  await w;
  await pool.waitForRebuild();
  await verify(c, m);
  ({ pool, c } = await reopen(pool, dir));
  assert.ok(pool.query().targets[x]!.spaceUsed > 0, 'the reintegrated target keeps its data across reopen');
  await verify(c, m);
  await pool.close();
});

t("'rebuild' events report progress (objects, bytes, ETA, declustering) and end idle", async () => {
  const { pool, c } = await newPool('events');
  const m = new Model();
  await fill(c, m, 6, 12);
  const victim = targetsOf(c, 'obj-0', 'EC_4P2G1')[0]!;
  const rec = recordEvents(pool);
  await pool.exclude(victim);
  assert.ok(['running', 'idle'].includes(pool.query().rebuild.state));
  await pool.waitForRebuild();
  rec.stop();
  const ev = rec.events;
  assert.ok(ev.length >= 3, `got ${ev.length} events`);
  const running = ev.filter((e) => e.state === 'running');
  assert.ok(running.length >= 2);
  // The first event comes once the listing has counted every object (objects already move while it lists).
  const total = running[0]!.objectsTotal;
  assert.is(total, await c.countObjects(), 'objectsTotal counts every object of the pool');
  assert.ok(running[0]!.objectsDone <= total);
  for (let i = 1; i < running.length; i++) {
    assert.ok(running[i]!.objectsDone >= running[i - 1]!.objectsDone, 'objectsDone never goes back');
    assert.ok(running[i]!.bytes >= running[i - 1]!.bytes, 'bytes never go back');
  }
  const last = ev[ev.length - 1]!;
  assert.is(last.state, 'idle');
  assert.is(last.objectsDone, last.objectsTotal);
  assert.is(last.objectsTotal, total);
  assert.ok(last.bytes > 0);
  assert.ok(running.slice(1).every((e) => typeof e.etaSeconds === 'number' && e.etaSeconds >= 0), 'progress events carry an ETA');
  // Declustered: many targets read, the rebuilt shards spread over more than one target.
  assert.ok((last.sources ?? 0) >= 4, `sources ${last.sources}`);
  assert.ok((last.destinations ?? 0) >= 2, `destinations ${last.destinations}`);
  assert.equal(pool.query().rebuild, pool.rebuildStatus());
  assert.is(pool.query().rebuild.state, 'idle');
  await verify(c, m);
  await pool.close();
});

t.run();
