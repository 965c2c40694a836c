/**
 * Recovery after a crash writes what the log held as runs. A log of single values held in the log
 * itself (small values) and container records is written straight from its regions, as a flush job
 * writes a frozen region (`openReport.recovered === 'log'`); anything else (a punch, a value in the
 * data file, a container rule such as a discard over the log) goes through a memtable
 * (`'memtable'`). Either way the reopened target reads what a plain model of the acknowledged
 * writes holds, at every epoch written, lists the same objects, and takes more writes, flushes
 * and a clean reopen after it.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { VosTarget, type VosOptions } from '../../src/vos/index.js';
import { ContainerStore } from '../../src/vos/container-store.js';
import { Rng } from '../../core/rng.js';
import { collect, crashImage, enc, tmpDir } from './helpers.js';

const test = suite('vos recovery of the log after a crash');
const KiB = 1024; const MiB = 1024 * KiB;
const BASE: VosOptions = { scmBytes: 32 * MiB, dataBytes: 8 * MiB, walBytes: 256 * KiB, io: 'pread' };
let dir = '';
test.before.each(() => { dir = tmpDir('recover-log'); });
test.after.each(() => { fs.rmSync(dir, { recursive: true, force: true }); });

const OTHER = '11111111-2222-3333-4444-555555555555';

/** Every acknowledged single: "cont/oid/dkey/akey" -> [epoch, value] in write order. */
class Model {
  readonly writes = new Map<string, Array<[bigint, Uint8Array | undefined]>>();
  put(c: number, oid: bigint, d: string, a: string, epoch: bigint, v: Uint8Array | undefined): void {
    const k = `${c}/${oid}/${d}/${a}`;
    let l = this.writes.get(k);
    if (!l) this.writes.set(k, l = []);
    l.push([epoch, v]);
  }
  /** The value a read at `epoch` sees: the last write at the highest epoch up to it. */
  at(k: string, epoch: bigint): Uint8Array | undefined {
    let best: [bigint, Uint8Array | undefined] | undefined;
    for (const w of this.writes.get(k) ?? []) if (w[0] <= epoch && (!best || w[0] >= best[0])) best = w;
    return best?.[1];
  }
  oids(c: number): bigint[] {
    const s = new Set<bigint>();
    for (const [k, ws] of this.writes) { const [kc, oid] = k.split('/'); if (Number(kc) === c && ws.length > 0) s.add(BigInt(oid!)); } // (an object whose every write was discarded is gone)
    return [...s].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
  }
}

/** Check every key of the model at every epoch it was written at, and at the newest. */
async function check(stores: ContainerStore[], m: Model, what: string, listings = true): Promise<void> {
  for (const [k, ws] of m.writes) {
    const [c, oid, d, a] = k.split('/');
    const s = stores[Number(c)]!;
    for (const e of new Set([...ws.map((w) => w[0]), 1n << 40n])) {
      const got = await s.fetchSingle(e, BigInt(oid!), enc(d!), enc(a!));
      assert.equal(got, m.at(k, e), `${what}: ${k} at epoch ${e}`);
    }
  }
  for (let c = 0; listings && c < stores.length; c++) {
    const listed = (await collect(stores[c]!.listObjects(1n << 40n))).sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
    assert.equal(listed, m.oids(c), `${what}: container ${c} lists the objects written`);
  }
}

/** A target with two containers, small singles written to both (later epochs and the same epoch again). */
async function writeSmall(t: VosTarget, m: Model, rng: Rng, n: number): Promise<ContainerStore[]> {
  const other = new ContainerStore(t.target, t.target.byUuid.get(OTHER) ?? await t.target.createContainer(OTHER));
  const stores = [t as ContainerStore, other];
  for (let i = 0; i < n; i++) {
    const c = rng.int(2); const oid = BigInt(1 + rng.int(40)); const d = `d${rng.int(6)}`; const a = `a${rng.int(3)}`;
    const epoch = BigInt(1 + rng.int(20)); // (many keys written again at an epoch they hold already)
    const v = rng.bytes(1 + rng.int(96));
    await stores[c]!.updateSingle(epoch, oid, enc(d), enc(a), v);
    m.put(c, oid, d, a, epoch, v);
  }
  return stores;
}

/** Reopen a crash image of `t` (taken now), check it against the model, and again after more writes and a clean reopen. */
async function reopenImage(t: VosTarget, m: Model, rng: Rng, want: 'log' | 'memtable'): Promise<void> {
  const image = path.join(dir, 'image');
  crashImage(dir, image);
  await t.close();
  let back = await VosTarget.open(image, BASE);
  assert.ok(back.openReport.records > 0, 'the image holds log records');
  assert.is(back.openReport.recovered, want);
  assert.is(back.openReport.damage, undefined);
  let stores = [back as ContainerStore, new ContainerStore(back.target, back.target.byUuid.get(OTHER)!)];
  await check(stores, m, `recovered (${want})`);
  stores = await writeSmall(back, m, rng, 400);
  await back.target.flushAll();
  await check(stores, m, 'more writes after the recovery');
  await back.close();
  back = await VosTarget.open(image, BASE);
  assert.is(back.openReport.recovered, undefined, 'a clean reopen replays nothing');
  await check([back, new ContainerStore(back.target, back.target.byUuid.get(OTHER)!)], m, 'clean reopen');
  await back.close();
}

test('a log of small single values is written as runs straight from it', async () => {
  for (const seed of [1, 2, 3]) {
    fs.rmSync(dir, { recursive: true, force: true }); fs.mkdirSync(dir);
    const rng = new Rng(seed); const m = new Model();
    const t = await VosTarget.open(dir, BASE);
    await writeSmall(t, m, rng, 3000); // (several log regions' worth: flushes ran, their runs read beside the recovered ones)
    await reopenImage(t, m, rng, 'log');
  }
});

test('a crash while a flush runs: the frozen region and the active one are each written as a run', async () => {
  const rng = new Rng(7); const m = new Model();
  const t = await VosTarget.open(dir, BASE);
  await writeSmall(t, m, rng, 200);
  const flushing = t.target.flushAll(); // (the log rotates now: the writes above are in the frozen region)
  // writes acknowledged at once (no await: the flush cannot end before the image is taken)
  let acked = 0;
  const pending: Array<Promise<void>> = [];
  for (let i = 0; i < 100; i++) {
    const oid = BigInt(1000 + i), v = rng.bytes(1 + rng.int(60));
    const p = t.updateSingleNow(25n, oid, enc('d'), enc('a'), v);
    if (p === undefined) { acked++; m.put(0, oid, 'd', 'a', 25n, v); } else pending.push(p); // (not acknowledged when the image is taken: not checked)
  }
  assert.ok(acked > 50, `most writes were acknowledged at once (${acked})`);
  const image = path.join(dir, 'image');
  crashImage(dir, image);
  await Promise.all(pending); await flushing; await t.close();
  let back = await VosTarget.open(image, BASE);
  assert.is(back.openReport.recovered, 'log');
  assert.ok(back.openReport.records >= 200 + acked, `both regions replayed (${back.openReport.records} records)`);
  await check([back, new ContainerStore(back.target, back.target.byUuid.get(OTHER)!)], m, 'two regions recovered', false);
  await writeSmall(back, m, rng, 200);
  await back.target.flushAll();
  await back.close();
  back = await VosTarget.open(image, BASE);
  await check([back, new ContainerStore(back.target, back.target.byUuid.get(OTHER)!)], m, 'clean reopen after it', false);
  await back.close();
});

/** Small singles, then `last` (a record the direct path cannot take, applied to the model too), then a crash image reopened through the memtable. */
async function memtableCase(seed: number, last: (t: VosTarget, m: Model, rng: Rng) => Promise<void>): Promise<void> {
  const rng = new Rng(seed); const m = new Model();
  const t = await VosTarget.open(dir, BASE);
  await writeSmall(t, m, rng, 300);
  await last(t, m, rng);
  await reopenImage(t, m, rng, 'memtable');
}

test('a punch in the log takes the memtable path', () => memtableCase(4, async (t, m) => {
  await t.punchAkey(30n, 1n, enc('d0'), enc('a0'));
  m.put(0, 1n, 'd0', 'a0', 30n, undefined);
}));

test('a value in the data file takes the memtable path', () => memtableCase(5, async (t, m, rng) => {
  const big = rng.bytes(64 * KiB);
  assert.ok(big.length > t.inlineThreshold);
  await t.updateSingle(7n, 2n, enc('d1'), enc('a1'), big);
  m.put(0, 2n, 'd1', 'a1', 7n, big);
}));

test('a discard over the log takes the memtable path, and holds', () => memtableCase(6, async (t, m) => {
  await t.discard(10n);
  // (the default container's writes above epoch 10 are gone; the other container's stay)
  for (const [k, ws] of m.writes) if (k.startsWith('0/')) m.writes.set(k, ws.filter((w) => w[0] <= 10n));
}));

test.run();
