/**
 * Model-based test of VosTarget: seeded random sequences of update / punch / fetch / enumerate
 * / aggregate / discard at random epochs, checked against a plain in-memory model, with reopen
 * between steps. Small pmem and inline threshold so that compaction and the block data path run.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { safe } from './safe.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Rng } from '../../core/rng.js';
import { VosTarget, VosError, MAX_EPOCH } from '../../src/vos/index.js';
import { VosModel } from './model.js';
import { ioEngines } from './engines.js';

const test = suite('vos model');
const STEPS = Number(process.env.CAIRN_VOS_MODEL_STEPS ?? 4000);
const SEED = Number(process.env.CAIRN_VOS_MODEL_SEED ?? 42);
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const OIDS = [1n, 2n, 3n];
const DKEYS = ['d0', 'd1', 'd2'];
const SINGLE_AKEYS = ['s0', 's1'];
const ARRAY_AKEYS = ['x0', 'x1'];
const ARRAY_SPAN = 300;

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> { const out: T[] = []; for await (const x of it) out.push(x); return out; }

async function runModel(io: 'pread' | 'io_uring', seed: number): Promise<Record<string, number>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-vos-model-'));
  const opts = { scmBytes: 256 * 1024, dataBytes: 4 * 1024 * 1024, inlineThreshold: 64, io } as const;
  const rng = new Rng(seed);
  const m = new VosModel();
  let t = await VosTarget.open(dir, opts);
  const counts: Record<string, number> = { update: 0, punch: 0, fetch: 0, enumerate: 0, aggregate: 0, discard: 0, reopen: 0, noSpace: 0, skipped: 0, compactions: 0 };
  const randEpoch = () => BigInt(rng.range(1, 80));
  const candidate = (): bigint => {
    const r = rng.float();
    if (r < 0.1) return MAX_EPOCH;
    if (r < 0.2 && m.maxEpoch > 0n) return m.maxEpoch;
    return BigInt(rng.range(0, 85));
  };
  // a read epoch at which the store must still match the model (few tries, else skip)
  const readEpoch = (): bigint => {
    for (let i = 0; i < 8; i++) { const e = candidate(); if (m.protectedView(e)) return e; }
    return candidate();
  };
  try {
    for (let step = 0; step < STEPS; step++) {
      const r = rng.float();
      const oid = rng.pick(OIDS); const dkey = rng.pick(DKEYS);
      const where = `step ${step}`;
      try {
        if (r < 0.28) {
          const akey = rng.pick(SINGLE_AKEYS); const epoch = randEpoch();
          const value = rng.bytes(rng.chance(0.3) ? rng.range(65, 300) : rng.range(0, 64));
          await t.updateSingle(epoch, oid, enc(dkey), enc(akey), value);
          m.updateSingle(epoch, oid, dkey, akey, value);
          counts.update!++;
        } else if (r < 0.56) {
          const akey = rng.pick(ARRAY_AKEYS); const epoch = randEpoch();
          const index = rng.range(0, 200); const count = rng.chance(0.3) ? rng.range(65, 99) : rng.range(1, 40);
          const data = rng.bytes(count);
          await t.updateArray(epoch, oid, enc(dkey), enc(akey), { index, count }, data);
          m.updateArray(epoch, oid, dkey, akey, index, data);
          counts.update!++;
        } else if (r < 0.62) {
          const epoch = randEpoch(); const lvl = rng.int(3);
          const akey = rng.pick([...SINGLE_AKEYS, ...ARRAY_AKEYS]);
          if (lvl === 0) { await t.punchObject(epoch, oid); m.punch(epoch, oid); }
          else if (lvl === 1) { await t.punchDkey(epoch, oid, enc(dkey)); m.punch(epoch, oid, dkey); }
          else { await t.punchAkey(epoch, oid, enc(dkey), enc(akey)); m.punch(epoch, oid, dkey, akey); }
          counts.punch!++;
        } else if (r < 0.85) {
          const e = readEpoch();
          if (!m.protectedView(e)) { counts.skipped!++; continue; }
          if (rng.chance(0.5)) {
            const akey = rng.pick(SINGLE_AKEYS);
            const got = await t.fetchSingle(e, oid, enc(dkey), enc(akey));
            const want = m.fetchSingle(e, oid, dkey, akey);
            if (process.env.TRACE && (got === undefined) !== (want === undefined)) console.log(dkey, akey, e, got?.length, JSON.stringify(m.history.concat(m.ops.filter((o) => o.oid === oid).map((o) => ({ ...o, value: undefined, data: undefined }))), (_k, v) => typeof v === 'bigint' ? Number(v) : v));
            assert.equal(got === undefined ? undefined : Array.from(got), want === undefined ? undefined : Array.from(want), `${where} fetchSingle @${e}`);
          } else {
            const akey = rng.pick(ARRAY_AKEYS);
            const got = await t.fetchArray(e, oid, enc(dkey), enc(akey), { index: 0, count: ARRAY_SPAN });
            const want = m.fetchArray(e, oid, dkey, akey, 0, ARRAY_SPAN);
            assert.equal(got.present, want.present, `${where} fetchArray present @${e}`);
            assert.ok(Buffer.from(got.data).equals(Buffer.from(want.data)), `${where} fetchArray data @${e}`);
          }
          const akey = rng.pick([...SINGLE_AKEYS, ...ARRAY_AKEYS]);
          assert.is(await t.akeyKind(e, oid, enc(dkey), enc(akey)), m.akeyKind(e, oid, dkey, akey), `${where} akeyKind @${e}`);
          counts.fetch!++;
        } else if (r < 0.92) {
          const e = readEpoch();
          if (!m.protectedView(e)) { counts.skipped!++; continue; }
          assert.equal(await collect(t.listObjects(e)), m.listObjects(e), `${where} listObjects @${e}`);
          assert.equal((await collect(t.listDkeys(e, oid))).map(dec), m.listDkeys(e, oid), `${where} listDkeys @${e}`);
          assert.equal((await collect(t.listAkeys(e, oid, enc(dkey)))).map(dec), m.listAkeys(e, oid, dkey), `${where} listAkeys @${e}`);
          const akey = rng.pick(ARRAY_AKEYS);
          assert.equal(await collect(t.listRecx(e, oid, enc(dkey), enc(akey))), m.listRecx(e, oid, dkey, akey, ARRAY_SPAN), `${where} listRecx @${e}`);
          assert.is(t.queryMaxEpoch(), m.maxEpoch, `${where} queryMaxEpoch`);
          counts.enumerate!++;
        } else if (r < 0.94) {
          const upTo = BigInt(rng.range(2, 85));
          const keep = Array.from({ length: rng.int(3) }, () => BigInt(rng.range(1, 80)));
          await t.aggregate(upTo, keep);
          m.aggregate(upTo, keep);
          counts.aggregate!++;
        } else if (r < 0.975) {
          // discard only above what was aggregated (aggregated history is stable)
          const lo = m.aggUpTo > 0n ? m.aggUpTo : 1n;
          const afterE = lo + BigInt(rng.range(0, 80));
          if (rng.chance(0.4)) {
            const upTo = afterE + BigInt(rng.range(0, 15));
            await t.discard(afterE, upTo);
            m.discard(afterE, upTo);
          } else {
            await t.discard(afterE);
            m.discard(afterE, MAX_EPOCH);
          }
          counts.discard!++;
        } else {
          counts.compactions! += t.compactions;
          await t.close();
          t = await VosTarget.open(dir, opts);
          assert.equal(t.openReport.corruptSpans, [], `${where} no corruption after clean reopen`);
          counts.reopen!++;
        }
      } catch (e) {
        if (e instanceof VosError && e.code === 'NO_SPACE') { counts.noSpace!++; continue; }
        throw e;
      }
    }
    // final full check at the newest epoch after one more reopen
    await t.close();
    t = await VosTarget.open(dir, opts);
    const e = MAX_EPOCH;
    assert.equal(await collect(t.listObjects(e)), m.listObjects(e));
    for (const oid of OIDS) for (const d of DKEYS) {
      for (const a of SINGLE_AKEYS) {
        const got = await t.fetchSingle(e, oid, enc(d), enc(a));
        const want = m.fetchSingle(e, oid, d, a);
        assert.equal(got && Array.from(got), want && Array.from(want), `final ${oid}/${d}/${a}`);
      }
      for (const a of ARRAY_AKEYS) {
        const got = await t.fetchArray(e, oid, enc(d), enc(a), { index: 0, count: ARRAY_SPAN });
        const want = m.fetchArray(e, oid, d, a, 0, ARRAY_SPAN);
        assert.equal(got.present, want.present);
        assert.ok(Buffer.from(got.data).equals(Buffer.from(want.data)));
      }
    }
    const scrub = await t.scrub();
    assert.equal(scrub.bad, [], 'scrub finds nothing on a healthy target');
    counts.compactions! += t.compactions;
    await t.close();
    return counts;
  } finally {
    await t.close().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

for (const io of await ioEngines()) {
  test(`random ops vs model, io=${io}, ${STEPS} steps, seed ${SEED}`, safe(async () => {
    const c = await runModel(io, SEED);
    if (process.env.CAIRN_VOS_MODEL_VERBOSE) console.log(io, JSON.stringify(c));
    assert.ok(c.update! > STEPS / 3, 'enough updates ran');
    assert.ok(c.reopen! >= 10, 'reopened many times');
    assert.ok(c.compactions! >= 1, `log compacted at least once (${JSON.stringify(c)})`);
    assert.ok(c.noSpace! < c.update! / 10, `NO_SPACE rare (${JSON.stringify(c)})`);
  }));
}

test('second seed (pread)', safe(async () => {
  const c = await runModel('pread', 7);
  assert.ok(c.fetch! > 100);
}));

test.run();
