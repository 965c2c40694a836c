/**
 * Model-based test of the target store: seeded random sequences over several containers on one
 * target — single-value and array updates (inline and in the data file), punches of objects,
 * dkeys and akeys, discards, aggregations with kept epochs, explicit flushes, reopens, and a
 * container destroyed and created again — each checked against the plain model in model.ts by
 * fetches, akey kinds, extent lists and every listing (with key ranges) at random epochs the
 * model still guarantees. Small log regions and inline threshold, so flushes, merges and the
 * data-file path all run. Two seeds, both pmem engines (mmap and pread); `CAIRN_VOS_MODEL_SEEDS`
 * (`5`, `5,9` or `20-29`) runs others instead, for sweeps.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import { Rng } from '../../core/rng.js';
import { TargetStore, ContainerStore, VosError, MAX_EPOCH, type KeyRange, type TargetOptions } from '../../src/vos/index.js';
import { ContainerModel, bytes, k } from './model.js';
import { safe } from './safe.js';
import { collect, tmpDir } from './helpers.js';

const test = suite('vos model');
const STEPS = Number(process.env.CAIRN_VOS_MODEL_STEPS ?? 3000);
/** The seeds of the random runs: `CAIRN_VOS_MODEL_SEEDS` as `a,b,c` or `a-b`, else 42 and 7. */
const SEEDS = ((spec) => {
  if (!spec) return [42, 7];
  const range = /^(\d+)-(\d+)$/.exec(spec);
  if (range) return Array.from({ length: Number(range[2]) - Number(range[1]) + 1 }, (_, i) => Number(range[1]) + i);
  return spec.split(',').map(Number);
})(process.env.CAIRN_VOS_MODEL_SEEDS);
const UUIDS = ['c-one', 'c-two', 'c-three'];
const OIDS = [1n, 2n, 3n, 1n << 130n];
const SINGLE_AKEYS = ['s0', 's\u0000'];
const ARRAY_AKEYS: Record<string, number> = { x0: 1, x1: 4 }; // record size per akey
const ARRAY_SPAN = 300;

function dkeyPool(rng: Rng): string[] {
  const out = new Set<string>(['d', 'd\u0000', 'd\u0000\u0000', 'e', '\u00ff', '\u0000']);
  while (out.size < 9) out.add(k(rng.bytes(1 + rng.int(3)).map((b) => (b < 40 ? 0 : b > 215 ? 0xff : 0x61 + (b % 5)))));
  return [...out];
}

interface Counts { [op: string]: number }

const ALL_AKEYS = [...SINGLE_AKEYS, ...Object.keys(ARRAY_AKEYS)];

/** Compare one akey (its value or whole array span, and its kind) at `e` with the model. */
async function checkAkeyAt(s: ContainerStore, m: ContainerModel, e: bigint, oid: bigint, dkey: string, akey: string, where: string): Promise<void> {
  const rs = ARRAY_AKEYS[akey];
  if (rs === undefined) {
    const got = await s.fetchSingle(e, oid, bytes(dkey), bytes(akey));
    const want = m.fetchSingle(e, oid, dkey, akey);
    assert.equal(got && Array.from(got), want && Array.from(want), `${where}: fetchSingle ${oid}/${JSON.stringify(dkey)}/${JSON.stringify(akey)} @${e}`);
  } else {
    const got = await s.fetchArray(e, oid, bytes(dkey), bytes(akey), { index: 0, count: ARRAY_SPAN }, { recordSize: rs });
    const want = m.fetchArray(e, oid, dkey, akey, 0, ARRAY_SPAN, rs);
    assert.equal(got.present, want.present, `${where}: fetchArray ${oid}/${JSON.stringify(dkey)}/${akey} present @${e}`);
    assert.ok(Buffer.from(got.data).equals(Buffer.from(want.data)), `${where}: fetchArray data @${e}`);
  }
  assert.is(await s.akeyKind(e, oid, bytes(dkey), bytes(akey)), m.akeyKind(e, oid, dkey, akey), `${where}: akeyKind @${e}`);
}

/** Right after a write or punch at `e0`: the path read at e0 - 1, e0 and e0 + 1 (where the model still guarantees reads). */
async function checkAround(s: ContainerStore, m: ContainerModel, e0: bigint, oid: bigint, dkey: string, akey: string, where: string): Promise<void> {
  for (const e of [e0 - 1n, e0, e0 + 1n]) if (m.protectedView(e)) await checkAkeyAt(s, m, e, oid, dkey, akey, `${where} (right after, @${e})`);
}

/** `updatesOnly`: no punches, discards or destroys (then every aggregation folds the memtable into the runs in one pass). */
async function runModel(pmemIo: 'mmap' | 'pread', seed: number, updatesOnly = false): Promise<Counts> {
  const dir = tmpDir('model');
  const opts: TargetOptions = { scmBytes: 32 << 20, dataBytes: 8 << 20, walBytes: 256 << 10, inlineThreshold: 64, io: 'pread', pmemIo };
  const rng = new Rng(seed);
  const DKEYS = dkeyPool(rng);
  const models = new Map(UUIDS.map((u) => [u, new ContainerModel()]));
  let t = await TargetStore.open(dir, opts);
  assert.is(t.space.engine, pmemIo);
  const stores = new Map<string, ContainerStore>();
  const bind = async () => { for (const u of UUIDS) stores.set(u, new ContainerStore(t, await t.createContainer(u))); };
  await bind();
  const c: Counts = { update: 0, punch: 0, fetch: 0, list: 0, aggregate: 0, discard: 0, reopen: 0, flush: 0, destroy: 0, noSpace: 0, skipped: 0, compactions: 0, folds: 0 };
  const randEpoch = () => BigInt(rng.range(1, 80));
  try {
    for (let step = 0; step < STEPS; step++) {
      const uuid = rng.pick(UUIDS);
      const m = models.get(uuid)!; const s = stores.get(uuid)!;
      // half the checks look right where something was written lately, at or next to its epoch
      const focus = rng.chance(0.5) && m.recent.length ? rng.pick(m.recent) : undefined;
      const oid = focus?.oid ?? rng.pick(OIDS); const dkey = focus?.dkey ?? rng.pick(DKEYS);
      const pickAkey = (from: string[]) => (focus?.akey !== undefined && from.includes(focus.akey) ? focus.akey : rng.pick(from));
      const where = `seed ${seed} ${pmemIo} step ${step} (${uuid})`;
      // a read epoch the model still guarantees, or undefined
      const readEpoch = (): bigint | undefined => {
        for (let i = 0; i < 8; i++) {
          const r = rng.float();
          const views = m.keptViews();
          const e = r < 0.1 ? MAX_EPOCH : r < 0.15 && m.maxEpoch > 0n ? m.maxEpoch
            : r < 0.5 && focus ? focus.epoch + BigInt(rng.int(3)) - 1n // at, just below, just above a write
              : r < 0.75 && views.length ? rng.pick(views) : BigInt(rng.range(0, 85));
          if (e < 0n) continue;
          if (m.protectedView(e)) return e;
        }
        return undefined;
      };
      const r0 = rng.float();
      // updates only: punches, discards and destroys become updates
      const r = updatesOnly && ((r0 >= 0.55 && r0 < 0.61) || (r0 >= 0.9 && r0 < 0.93) || r0 >= 0.995) ? r0 * 0.55 : r0;
      try {
        if (r < 0.3) {
          const akey = rng.pick(SINGLE_AKEYS); const epoch = randEpoch();
          const value = rng.bytes(rng.chance(0.3) ? rng.range(65, 300) : rng.range(0, 64));
          await s.updateSingle(epoch, oid, bytes(dkey), bytes(akey), value);
          m.updateSingle(epoch, oid, dkey, akey, value);
          c.update!++;
          if (rng.chance(0.3)) await checkAround(s, m, epoch, oid, dkey, akey, where);
        } else if (r < 0.55) {
          const akey = rng.pick(Object.keys(ARRAY_AKEYS)); const rs = ARRAY_AKEYS[akey]!; const epoch = randEpoch();
          const index = rng.range(0, 200); const count = rng.chance(0.3) ? rng.range(65, 99) : rng.range(1, 40);
          const data = rng.bytes(count * rs);
          await s.updateArray(epoch, oid, bytes(dkey), bytes(akey), { index, count }, data, { recordSize: rs });
          m.updateArray(epoch, oid, dkey, akey, index, count, data, rs);
          c.update!++;
          if (rng.chance(0.3)) await checkAround(s, m, epoch, oid, dkey, akey, where);
        } else if (r < 0.61) {
          const epoch = randEpoch(); const lvl = rng.int(3);
          const akey = rng.pick([...SINGLE_AKEYS, ...Object.keys(ARRAY_AKEYS)]);
          if (lvl === 0) { await s.punchObject(epoch, oid); m.punchObject(epoch, oid); }
          else if (lvl === 1) { await s.punchDkey(epoch, oid, bytes(dkey)); m.punchDkey(epoch, oid, dkey); }
          else { await s.punchAkey(epoch, oid, bytes(dkey), bytes(akey)); m.punchAkey(epoch, oid, dkey, akey); }
          c.punch!++;
          await checkAround(s, m, epoch, oid, lvl === 0 ? rng.pick(DKEYS) : dkey, lvl === 2 ? akey : rng.pick(ALL_AKEYS), where);
        } else if (r < 0.8) {
          const e = readEpoch();
          if (e === undefined) { c.skipped!++; continue; }
          if (focus?.akey !== undefined ? SINGLE_AKEYS.includes(focus.akey) : rng.chance(0.5)) {
            const akey = pickAkey(SINGLE_AKEYS);
            const got = await s.fetchSingle(e, oid, bytes(dkey), bytes(akey));
            const want = m.fetchSingle(e, oid, dkey, akey);
            assert.equal(got && Array.from(got), want && Array.from(want), `${where}: fetchSingle ${oid}/${JSON.stringify(dkey)}/${JSON.stringify(akey)} @${e}`);
          } else {
            const akey = pickAkey(Object.keys(ARRAY_AKEYS));
            const lo = rng.range(0, 150); const hi = lo + rng.range(1, ARRAY_SPAN - lo);
            const got = await s.fetchArray(e, oid, bytes(dkey), bytes(akey), { index: lo, count: hi - lo }, { recordSize: ARRAY_AKEYS[akey] });
            const want = m.fetchArray(e, oid, dkey, akey, lo, hi, ARRAY_AKEYS[akey]);
            assert.equal(got.present, want.present, `${where}: fetchArray present [${lo}, ${hi}) @${e}`);
            assert.ok(Buffer.from(got.data).equals(Buffer.from(want.data)), `${where}: fetchArray data @${e}`);
          }
          const akey = pickAkey([...SINGLE_AKEYS, ...Object.keys(ARRAY_AKEYS)]);
          assert.is(await s.akeyKind(e, oid, bytes(dkey), bytes(akey)), m.akeyKind(e, oid, dkey, akey), `${where}: akeyKind @${e}`);
          c.fetch!++;
        } else if (r < 0.88) {
          const e = readEpoch();
          if (e === undefined) { c.skipped!++; continue; }
          assert.equal(await collect(s.listObjects(e)), m.listObjects(e), `${where}: listObjects @${e}`);
          const range: KeyRange = {};
          if (rng.chance(0.4)) range[rng.chance(0.5) ? 'gt' : 'gte'] = bytes(rng.pick(DKEYS));
          if (rng.chance(0.4)) range[rng.chance(0.5) ? 'lt' : 'lte'] = bytes(rng.pick(DKEYS));
          if (rng.chance(0.4)) range.reverse = true;
          if (rng.chance(0.3)) range.limit = rng.int(6);
          assert.equal((await collect(s.listDkeys(e, oid, range))).map(k), m.listDkeys(e, oid, range), `${where}: listDkeys @${e} ${JSON.stringify(range)}`);
          assert.equal((await collect(s.listAkeys(e, oid, bytes(dkey)))).map(k), m.listAkeys(e, oid, dkey), `${where}: listAkeys @${e}`);
          const akey = pickAkey(Object.keys(ARRAY_AKEYS));
          assert.equal(await collect(s.listRecx(e, oid, bytes(dkey), bytes(akey))), m.listRecx(e, oid, dkey, akey), `${where}: listRecx @${e}`);
          assert.equal(await collect(s.listObjectIds()), m.listObjectIds(), `${where}: listObjectIds`);
          assert.is(s.queryMaxEpoch(), m.maxEpoch, `${where}: queryMaxEpoch`);
          c.list!++;
        } else if (r < 0.9) {
          const upTo = BigInt(rng.range(2, 85));
          const keep = Array.from({ length: rng.int(3) }, () => BigInt(rng.range(1, 80)));
          await s.aggregate(upTo, keep);
          m.aggregate(upTo, keep);
          c.aggregate!++;
          // right at the edges of what it may drop: the kept views and upTo - 1, on paths written lately
          for (const p of m.recent.slice(-6)) {
            for (const e of [...keep, upTo - 1n]) if (e >= 0n && m.protectedView(e)) await checkAkeyAt(s, m, e, p.oid, p.dkey ?? rng.pick(DKEYS), p.akey ?? rng.pick(ALL_AKEYS), `${where} (after aggregate ${upTo} keep ${keep})`);
          }
        } else if (r < 0.93) {
          // discards only above what was aggregated (aggregated history is settled)
          const afterE = (m.aggUpTo > 0n ? m.aggUpTo : 1n) + BigInt(rng.range(0, 80));
          const upTo = rng.chance(0.4) ? afterE + BigInt(rng.range(0, 15)) : MAX_EPOCH;
          await s.discard(afterE, upTo);
          m.discard(afterE, upTo);
          c.discard!++;
        } else if (r < 0.96) {
          await t.flushAll(); // the memtables into runs: more runs, more merges
          c.flush!++;
        } else if (r < 0.995) {
          c.compactions! += t.compactions; c.folds! += t.folds;
          await t.close();
          t = await TargetStore.open(dir, opts);
          assert.is(t.openReport.records, 0, `${where}: a clean close leaves nothing to replay`);
          assert.is(t.openReport.damage, undefined);
          await bind();
          c.reopen!++;
        } else {
          await t.destroyContainer(uuid);
          stores.set(uuid, new ContainerStore(t, await t.createContainer(uuid)));
          models.set(uuid, new ContainerModel());
          c.destroy!++;
        }
      } catch (e) {
        if (e instanceof VosError && e.code === 'NO_SPACE') { c.noSpace!++; continue; }
        throw e;
      }
    }
    // a final reopen and a full check at the newest epoch
    c.compactions! += t.compactions; c.folds! += t.folds;
    await t.close();
    t = await TargetStore.open(dir, opts);
    await bind();
    for (const uuid of UUIDS) {
      const m = models.get(uuid)!; const s = stores.get(uuid)!;
      assert.equal(await collect(s.listObjects(MAX_EPOCH)), m.listObjects(MAX_EPOCH), `final ${uuid}: objects`);
      for (const oid of OIDS) {
        assert.equal((await collect(s.listDkeys(MAX_EPOCH, oid))).map(k), m.listDkeys(MAX_EPOCH, oid), `final ${uuid}: dkeys of ${oid}`);
        for (const d of DKEYS) {
          for (const a of SINGLE_AKEYS) {
            const got = await s.fetchSingle(MAX_EPOCH, oid, bytes(d), bytes(a));
            const want = m.fetchSingle(MAX_EPOCH, oid, d, a);
            assert.equal(got && Array.from(got), want && Array.from(want), `final ${uuid} ${oid}/${JSON.stringify(d)}/${JSON.stringify(a)}`);
          }
          for (const [a, rs] of Object.entries(ARRAY_AKEYS)) {
            const got = await s.fetchArray(MAX_EPOCH, oid, bytes(d), bytes(a), { index: 0, count: ARRAY_SPAN }, { recordSize: rs });
            const want = m.fetchArray(MAX_EPOCH, oid, d, a, 0, ARRAY_SPAN, rs);
            assert.equal(got.present, want.present, `final ${uuid} ${oid}/${JSON.stringify(d)}/${a}`);
            assert.ok(Buffer.from(got.data).equals(Buffer.from(want.data)));
          }
        }
      }
    }
    const scrub = await t.scrub();
    assert.equal(scrub.blocks, [], 'scrub: no damaged block');
    assert.equal(scrub.values, [], 'scrub: no bad value');
    c.compactions! += t.compactions;
    return c;
  } finally {
    await t.close().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

for (const seed of SEEDS) {
  for (const pmemIo of ['mmap', 'pread'] as const) {
    test(`random operations vs the model: seed ${seed}, pmem ${pmemIo}, ${STEPS} steps`, safe(async () => {
      const c = await runModel(pmemIo, seed);
      if (process.env.CAIRN_VOS_MODEL_VERBOSE) console.log(pmemIo, seed, JSON.stringify(c));
      assert.ok(c.update! > STEPS / 3, `enough updates (${JSON.stringify(c)})`);
      assert.ok(c.fetch! > STEPS / 10 && c.list! > STEPS / 30, `enough checks (${JSON.stringify(c)})`);
      assert.ok(c.reopen! >= 10 && c.flush! >= 10 && c.aggregate! >= 5 && c.discard! >= 10, `every maintenance operation ran (${JSON.stringify(c)})`);
      assert.ok(c.compactions! >= 20, `runs were merged (${JSON.stringify(c)})`);
      assert.is(c.noSpace, 0, 'no space trouble at this size');
    }));
  }
}

test(`updates, reads and aggregations only (aggregation folds the memtable and the runs into one run) vs the model: seed 11, ${STEPS} steps`, safe(async () => {
  const c = await runModel('mmap', 11, true);
  assert.ok(c.update! > STEPS / 3 && c.fetch! > STEPS / 10, `enough updates and checks (${JSON.stringify(c)})`);
  assert.is(c.punch! + c.discard! + c.destroy!, 0);
  assert.ok(c.aggregate! >= 20 && c.folds! >= 10, `aggregations folded the memtable in (${JSON.stringify(c)})`);
}));

test.run();
