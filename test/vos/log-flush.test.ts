/**
 * A flush job writes a log region of single-value updates straight into a run (log-flush.ts):
 * for any such region it must write exactly what the memtable path writes (the region replayed
 * into a memtable, then `flushMemtable`): the same keys, values, sequence numbers and bloom
 * probes, in the same order. Seeded regions with many containers, objects, short and long keys
 * with 0x00 and 0xff bytes, values inline and in the data file, several singles at one epoch, and
 * container records between the updates. Regions it must not take (punches, arrays, container
 * rules in force) go to the memtable path; a damaged record or a wrong record count is a replay
 * failure, never a run.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../../core/rng.js';
import { initXxhash } from '../../core/xxhash.js';
import { ExtentList } from '../../src/vos/allocator.js';
import { logFlushSteps } from '../../src/vos/log-flush.js';
import { Memtable, addLogged } from '../../src/vos/memtable.js';
import { OidKey } from '../../src/vos/oid-table.js';
import { flushMemtable, type ContainerRules } from '../../src/vos/merge.js';
import type { BloomProbe, RunWriter } from '../../src/vos/run.js';
import { REGION_HEADER, WalEncoder, WalType, Where, decodeRegion, type FrozenRegion } from '../../src/vos/wal.js';

/** An id's 24 record bytes (`WalEncoder.update` copies them at once). */
const oidKey = new OidKey();
const oidBytes = (oid: bigint): Uint8Array => oidKey.of(oid).bytes;

const test = suite('vos log flush');
test.before(async () => { await initXxhash(); });

const BASE = 1 << 20; // the region's absolute offset in its file
const GEN = 7;
const START_SEQ = 1000;

interface Written { key: string; value: string; seq: number; probes: string }

/** A run writer that records what it is given (and checks the order a run needs). */
function recorder(): { w: RunWriter; out: Written[]; unchanged(): void } {
  const out: Written[] = [];
  const views: Uint8Array[] = [];
  let last = '';
  const w = {
    add(key: Uint8Array, value: Uint8Array, seq: number, probes: readonly BloomProbe[]) {
      const k = Buffer.from(key).toString('hex');
      assert.ok(Buffer.compare(Buffer.from(last, 'hex'), Buffer.from(key)) < 0 || last === '', 'keys strictly ascending');
      last = k;
      views.push(key);
      out.push({ key: k, value: Buffer.from(value).toString('hex'), seq, probes: probes.map((p) => `${p.h1}:${p.h2}`).join(',') });
    },
  } as unknown as RunWriter;
  // a run writer keeps the keys it is given (its first and last, its index's): none may change before the run is written
  const unchanged = () => { for (let i = 0; i < views.length; i++) assert.is(Buffer.from(views[i]!).toString('hex'), out[i]!.key, `key ${i} unchanged`); };
  return { w, out, unchanged };
}

interface Region { view: Uint8Array; f: FrozenRegion & { records: number } }

/** A region of `n` records from `rng`: single-value updates, and container records when `withOthers`. */
function region(rng: Rng, n: number, opts: { withOthers?: boolean; extra?: 'punch' | 'array'; oneContainer?: boolean; objects?: number } = {}): Region {
  const enc = new WalEncoder();
  const parts: Uint8Array[] = [new Uint8Array(REGION_HEADER)];
  let records = 0;
  const keys = [new Uint8Array(0), Uint8Array.of(0), Uint8Array.of(0, 0), Uint8Array.of(0xff), Uint8Array.of(1, 0, 2), new TextEncoder().encode('dkey'), new TextEncoder().encode('dkey-long-'.repeat(8))];
  const key = () => (rng.int(3) === 0 ? rng.bytes(1 + rng.int(40)) : keys[rng.int(keys.length)]!);
  const oids = Array.from({ length: opts.objects ?? 6 }, (_, i) => (BigInt(i % 3) << 150n) | (BigInt(rng.int(1000)) << 64n) | BigInt(i));
  for (let i = 0; i < n; i++) {
    if (opts.withOthers && rng.int(10) === 0) {
      parts.push(rng.int(2) === 0
        ? enc.container(WalType.ContCreate, GEN, 1 + rng.int(3), `uuid-${i}`).slice()
        : enc.discard(GEN, 1 + rng.int(3), 0n, 5n).slice());
      continue;
    }
    if (opts.extra && i === n >> 1) {
      parts.push(opts.extra === 'punch'
        ? enc.punch(GEN, 3n, 1, { oid: oids[0]!, level: 1, dkey: keys[5]!, akey: new Uint8Array(0) }).slice()
        : enc.update(WalType.UpdateArray, GEN, 3n, 1, oidBytes(oids[0]!), keys[5]!, keys[3]!, 0x1234n, 0, 8, 1, 8, Where.Wal, 0, 0, rng.bytes(8)).slice());
      records++;
      continue;
    }
    const inline = rng.int(2) === 0;
    const value = rng.bytes(inline ? rng.int(300) : 4096);
    const epoch = BigInt(1 + rng.int(6)); // few epochs: several singles at one epoch
    parts.push(enc.update(WalType.UpdateSingle, GEN, epoch, opts.oneContainer ? 2 : 1 + rng.int(3), oidBytes(oids[rng.int(oids.length)]!), key(), key(), BigInt(rng.int(1 << 30)) * 12345n,
      0, 0, 0, value.length, inline ? Where.Wal : Where.Block, inline ? 0 : 4096 * (1 + rng.int(10_000)), inline ? 0 : 4096, inline ? value : undefined).slice());
    records++;
  }
  const len = parts.reduce((s, p) => s + p.length, 0);
  const view = new Uint8Array(len);
  let at = 0;
  for (const p of parts) { view.set(p, at); at += p.length; }
  return { view, f: { base: BASE, end: BASE + len, gen: GEN, startSeq: START_SEQ, records } };
}

/** What the memtable path writes for region `r`. */
function viaMemtable(r: Region, rules: (c: number) => ContainerRules | undefined): Written[] {
  const got = decodeRegion(r.view, r.f.base, r.f, r.f.end);
  assert.is(got.damage, undefined);
  const mt = new Memtable(GEN);
  for (const rec of got.records) addLogged(mt, rec);
  assert.is(mt.records, r.f.records);
  const { w, out } = recorder();
  const steps = flushMemtable(mt, w, rules, (loc, len) => r.view.subarray(loc - r.f.base, loc - r.f.base + len), new ExtentList());
  while (!steps.next().done);
  return out;
}

/** What the direct path writes for region `r` (undefined: it leaves the region to the memtable path). */
function direct(r: Region, rules: (c: number) => ContainerRules | undefined = () => undefined): Written[] | undefined {
  const { w, out, unchanged } = recorder();
  const freed = new ExtentList();
  const steps = logFlushSteps(r.view, r.f, w, rules, freed, () => { throw new Error('replay'); });
  if (!steps) return undefined;
  let n = 0;
  for (let s = steps.next(); !s.done; s = steps.next()) n++;
  assert.is(freed.length, 0, 'a flush of singles frees nothing (the memtable freed what a later single replaced)');
  unchanged();
  return out;
}

test('seeded regions: the same entries as the memtable path, in the same order', () => {
  for (let seed = 1; seed <= 40; seed++) {
    const rng = new Rng(seed);
    const r = region(rng, 1 + rng.int(seed < 20 ? 60 : 2000), { withOthers: seed % 2 === 0 });
    const want = viaMemtable(r, () => undefined);
    const got = direct(r);
    assert.ok(got, `seed ${seed}: taken`);
    assert.is(got!.length, want.length, `seed ${seed}: entries`);
    for (let i = 0; i < want.length; i++) assert.equal(got![i], want[i], `seed ${seed}: entry ${i}`);
  }
});

test('regions whose keys share long prefixes (one container, one or two objects): the same entries as the memtable path', () => {
  // the sort and the prefix compares start past the bytes every key shares: here the container, the
  // object and sometimes the keys; short keys, keys with 0x00 bytes and keys that are prefixes of others
  for (let seed = 100; seed <= 130; seed++) {
    const rng = new Rng(seed);
    const r = region(rng, 1 + rng.int(400), { oneContainer: true, objects: 1 + (seed % 2) });
    const want = viaMemtable(r, () => undefined);
    const got = direct(r);
    assert.ok(got, `seed ${seed}: taken`);
    assert.is(got!.length, want.length, `seed ${seed}: entries`);
    for (let i = 0; i < want.length; i++) assert.equal(got![i], want[i], `seed ${seed}: entry ${i}`);
  }
});

test('singles at one epoch: only the latest is written', () => {
  const enc = new WalEncoder();
  const parts = [new Uint8Array(REGION_HEADER)];
  for (let i = 0; i < 5; i++) parts.push(enc.update(WalType.UpdateSingle, GEN, 9n, 1, oidBytes(42n), Uint8Array.of(7), Uint8Array.of(8), BigInt(i), 0, 0, 0, 1, Where.Wal, 0, 0, Uint8Array.of(i)).slice());
  const view = Buffer.concat(parts);
  const r: Region = { view, f: { base: BASE, end: BASE + view.length, gen: GEN, startSeq: START_SEQ, records: 5 } };
  const got = direct(r)!;
  assert.is(got.length, 2, 'the object table entry and one version');
  assert.is(got[1]!.seq, START_SEQ + 4);
  assert.equal(got, viaMemtable(r, () => undefined));
});

test('punches, arrays and container rules in force take the memtable path', () => {
  assert.is(direct(region(new Rng(5), 30, { extra: 'punch' })), undefined, 'a punch');
  assert.is(direct(region(new Rng(6), 30, { extra: 'array' })), undefined, 'an array update');
  const r = region(new Rng(7), 50);
  assert.ok(direct(r, () => ({ destroyed: false, tombs: [] })), 'rules with nothing to apply');
  assert.is(direct(r, () => ({ destroyed: true, tombs: [] })), undefined, 'a destroyed container');
  assert.is(direct(r, () => ({ destroyed: false, tombs: [{ after: 0n, upTo: 3n, seq: 5000 }] })), undefined, 'a discard');
  assert.is(direct(r, () => ({ destroyed: false, tombs: [], aggregate: { upTo: 9n, keep: [] } })), undefined, 'an aggregation');
});

test('a damaged record, a short region or a wrong record count is a replay failure', () => {
  const r = region(new Rng(9), 40);
  const flipped = r.view.slice();
  flipped[REGION_HEADER + 40] ^= 0x10;
  assert.throws(() => direct({ view: flipped, f: r.f }), /replay/, 'a flipped bit');
  assert.throws(() => direct({ view: r.view, f: { ...r.f, records: r.f.records + 1 } }), /replay/, 'one record missing');
  assert.throws(() => direct({ view: r.view.subarray(0, r.view.length - 8), f: { ...r.f, end: r.f.end - 8 } }), /replay/, 'a torn last record');
});

test.run();
