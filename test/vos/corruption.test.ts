/**
 * Corruption test: flip bytes in the real pmem and data files (targeted and seeded-random);
 * fetch reports CHECKSUM_MISMATCH naming object, keys, extent and epoch, scrub reports every
 * bad record, nothing crashes and no wrong bytes are ever returned. Also injected bit flips on
 * read (FaultInjector) and destroyed superblocks.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Rng } from '../../core/rng.js';
import { FaultInjector } from '../../src/media/fault.js';
import { VosTarget, VosError, MAX_EPOCH } from '../../src/vos/index.js';
import { safe } from './safe.js';

const test = suite('vos corruption');
const enc = (s: string) => new TextEncoder().encode(s);
const OPTS = { scmBytes: 256 * 1024, dataBytes: 8 * 1024 * 1024, io: 'pread' as const };
let dir = '';
test.before.each(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-vos-corrupt-')); });
test.after.each(() => { fs.rmSync(dir, { recursive: true, force: true }); });

interface Written { kind: 'single' | 'array'; oid: bigint; dkey: string; akey: string; value: Uint8Array }

/** Write a mix of inline/block singles and arrays, each at its own key. */
async function populate(t: VosTarget, rng: Rng, n: number): Promise<Written[]> {
  const out: Written[] = [];
  for (let i = 0; i < n; i++) {
    const big = i % 3 === 0;
    const value = rng.bytes(big ? 5000 + rng.int(6000) : 20 + rng.int(300));
    const w: Written = { kind: i % 2 ? 'array' : 'single', oid: BigInt(1 + (i % 4)), dkey: `dkey-${i}`, akey: `akey-${i}`, value };
    if (w.kind === 'single') await t.updateSingle(BigInt(i + 1), w.oid, enc(w.dkey), enc(w.akey), value);
    else await t.updateArray(BigInt(i + 1), w.oid, enc(w.dkey), enc(w.akey), { index: 0, count: value.length }, value);
    out.push(w);
  }
  return out;
}

type Outcome = 'ok' | 'absent' | 'mismatch';
/** Fetch one write; returns what happened and fails the test on wrong bytes or untyped errors. */
async function check(t: VosTarget, w: Written): Promise<Outcome> {
  try {
    if (w.kind === 'single') {
      const got = await t.fetchSingle(MAX_EPOCH, w.oid, enc(w.dkey), enc(w.akey));
      if (!got) return 'absent';
      assert.ok(Buffer.from(got).equals(Buffer.from(w.value)), `wrong bytes returned for ${w.dkey}`);
    } else {
      const got = await t.fetchArray(MAX_EPOCH, w.oid, enc(w.dkey), enc(w.akey), { index: 0, count: w.value.length });
      if (!got.present.length) return 'absent';
      assert.equal(got.present, [{ index: 0, count: w.value.length }]);
      assert.ok(Buffer.from(got.data).equals(Buffer.from(w.value)), `wrong bytes returned for ${w.dkey}`);
    }
    return 'ok';
  } catch (e) {
    assert.instance(e, VosError, `typed error for ${w.dkey}: ${String(e)}`);
    const ve = e as VosError;
    assert.is(ve.code, 'CHECKSUM_MISMATCH');
    assert.is(ve.info!.oid, w.oid.toString());
    assert.is(ve.info!.dkey, Buffer.from(w.dkey).toString('hex'));
    assert.is(ve.info!.akey, Buffer.from(w.akey).toString('hex'));
    assert.ok(typeof ve.info!.epoch === 'string');
    if (w.kind === 'array') assert.equal(ve.info!.recx, { index: 0, count: w.value.length });
    assert.not.ok(JSON.stringify(ve.info).includes(Buffer.from(w.value.subarray(0, 8)).toString('hex')), 'never the bytes');
    return 'mismatch';
  }
}

function flip(file: string, offset: number, mask = 0x10): void {
  const fd = fs.openSync(file, 'r+');
  const b = Buffer.alloc(1);
  fs.readSync(fd, b, 0, 1, offset);
  b[0] = b[0]! ^ mask;
  fs.writeSync(fd, b, 0, 1, offset);
  fs.closeSync(fd);
}

test('a flipped byte in a block value: fetch names it, scrub reports exactly it', safe(async () => {
  let t = await VosTarget.open(dir, OPTS);
  const value = new Uint8Array(9000).fill(0x5a);
  await t.updateSingle(3n, 77n, enc('dk'), enc('ak'), value);
  await t.updateSingle(4n, 77n, enc('dk'), enc('small'), enc('fine'));
  await t.close();
  flip(path.join(dir, 'vos.data'), 1234); // first allocation of a fresh target is at offset 0
  t = await VosTarget.open(dir, OPTS);
  try {
    const err = await t.fetchSingle(5n, 77n, enc('dk'), enc('ak')).then(() => undefined, (e: unknown) => e);
    assert.instance(err, VosError);
    assert.is((err as VosError).code, 'CHECKSUM_MISMATCH');
    assert.equal((err as VosError).info, { oid: '77', dkey: Buffer.from('dk').toString('hex'), akey: Buffer.from('ak').toString('hex'), epoch: '3', where: 'data' });
    assert.equal(await t.fetchSingle(5n, 77n, enc('dk'), enc('small')), enc('fine'));
    const report = await t.scrub();
    assert.is(report.checked, 2);
    assert.is(report.bad.length, 1);
    assert.is(report.bad[0]!.where, 'data');
    assert.is(report.bad[0]!.oid, 77n);
    assert.is(report.bad[0]!.epoch, 3n);
  } finally { await t.close(); }
}));

test('a flipped byte in an inline value and in an array extent', safe(async () => {
  let t = await VosTarget.open(dir, OPTS);
  const marker = enc('MARKER-0123456789-MARKER');
  await t.updateSingle(1n, 1n, enc('d'), enc('inline'), marker);
  const arr = new Uint8Array(8000).fill(0x33);
  await t.updateArray(2n, 1n, enc('d'), enc('arr'), { index: 100, count: 2000 }, arr, { recordSize: 4 });
  await t.close();
  const scm = fs.readFileSync(path.join(dir, 'vos.scm'));
  const at = scm.indexOf(Buffer.from(marker));
  assert.ok(at > 0, 'inline value found in the pmem file');
  flip(path.join(dir, 'vos.scm'), at + 5);
  flip(path.join(dir, 'vos.data'), 4000);
  t = await VosTarget.open(dir, OPTS);
  try {
    assert.equal(t.openReport.corruptSpans, [], 'a value flip does not break the log');
    const e1 = await t.fetchSingle(1n, 1n, enc('d'), enc('inline')).catch((e: unknown) => e) as VosError;
    assert.is(e1.code, 'CHECKSUM_MISMATCH');
    assert.is(e1.info!.where, 'scm');
    const e2 = await t.fetchArray(2n, 1n, enc('d'), enc('arr'), { index: 150, count: 10 }).catch((e: unknown) => e) as VosError;
    assert.is(e2.code, 'CHECKSUM_MISMATCH');
    assert.equal(e2.info!.recx, { index: 100, count: 2000 });
    // a range the corrupt extent does not cover is still readable
    const ok = await t.fetchArray(2n, 1n, enc('d'), enc('arr'), { index: 0, count: 50 });
    assert.equal(ok.present, []);
    const report = await t.scrub();
    assert.equal(report.bad.map((b) => b.where).sort(), ['data', 'scm']);
  } finally { await t.close(); }
}));

test('a flipped byte in record metadata: the record is skipped and reported, the rest kept', safe(async () => {
  let t = await VosTarget.open(dir, OPTS);
  const written = await populate(t, new Rng(5), 30);
  await t.close();
  const scm = fs.readFileSync(path.join(dir, 'vos.scm'));
  const at = scm.indexOf(Buffer.from('dkey-12'));
  assert.ok(at > 0);
  flip(path.join(dir, 'vos.scm'), at + 2);
  t = await VosTarget.open(dir, OPTS);
  try {
    assert.is(t.openReport.corruptSpans.length, 1);
    const outcomes = await Promise.all(written.map((w) => check(t, w)));
    assert.is(outcomes[12], 'absent');
    assert.is(outcomes.filter((o) => o === 'ok').length, 29);
    const report = await t.scrub();
    assert.is(report.bad.length, 1);
    assert.is(report.bad[0]!.where, 'scm-log');
  } finally { await t.close(); }
}));

test('superblocks: one destroyed is survived, both destroyed is CORRUPTED', safe(async () => {
  let t = await VosTarget.open(dir, OPTS);
  await t.updateSingle(1n, 1n, enc('d'), enc('a'), enc('v'));
  await t.close();
  const scmPath = path.join(dir, 'vos.scm');
  flip(scmPath, 10);
  t = await VosTarget.open(dir, OPTS);
  assert.equal(await t.fetchSingle(1n, 1n, enc('d'), enc('a')), enc('v'));
  assert.ok(t.openReport.superblockDamaged);
  assert.ok((await t.scrub()).bad.some((b) => b.where === 'scm-log' && b.offset === 0), 'scrub reports the damaged slot');
  await t.close();
  flip(scmPath, 4096 + 10);
  const err = await VosTarget.open(dir, OPTS).catch((e: unknown) => e);
  assert.instance(err, VosError);
  assert.is((err as VosError).code, 'CORRUPTED');
}));

test('seeded random byte flips in both files: no crash, no wrong bytes, scrub covers every mismatch', safe(async () => {
  const rng = new Rng(31337);
  let t = await VosTarget.open(dir, OPTS);
  const written = await populate(t, rng, 40);
  await t.close();
  const scmPath = path.join(dir, 'vos.scm'); const dataPath = path.join(dir, 'vos.data');
  const scmBytes = fs.readFileSync(scmPath);
  let scmUsed = scmBytes.length - 1;
  while (scmUsed > 8192 && scmBytes[scmUsed] === 0) scmUsed--;
  let mismatches = 0; let absent = 0;
  for (let round = 0; round < 12; round++) {
    for (let k = 0; k < 3; k++) flip(scmPath, rng.range(8192, scmUsed), 1 << rng.int(8));
    for (let k = 0; k < 3; k++) flip(dataPath, rng.int(200 * 1024), 1 << rng.int(8));
    let opened: VosTarget;
    try {
      opened = await VosTarget.open(dir, OPTS);
    } catch (e) {
      assert.instance(e, VosError);
      continue;
    }
    t = opened;
    try {
      const outcomes: Outcome[] = [];
      for (const w of written) outcomes.push(await check(t, w));
      const report = await t.scrub();
      const bad = new Set(report.bad.filter((b) => b.dkey).map((b) => new TextDecoder().decode(b.dkey)));
      written.forEach((w, i) => { if (outcomes[i] === 'mismatch') assert.ok(bad.has(w.dkey), `scrub reports ${w.dkey}`); });
      mismatches += outcomes.filter((o) => o === 'mismatch').length;
      absent += outcomes.filter((o) => o === 'absent').length;
    } finally { await t.close(); }
  }
  assert.ok(mismatches > 0, 'flips were detected');
  assert.ok(absent >= 0);
}));

test('injected bit flips on read are caught as CHECKSUM_MISMATCH (block and inline)', safe(async () => {
  let t = await VosTarget.open(dir, OPTS);
  await t.updateSingle(1n, 1n, enc('d'), enc('big'), new Uint8Array(3 * 4096).fill(1)); // whole blocks: every flipped bit is in the value
  await t.updateSingle(1n, 1n, enc('d'), enc('small'), new Uint8Array(100).fill(2));
  await t.close();
  const fault = new FaultInjector({ seed: 4, bitFlipOnRead: 1 });
  t = await VosTarget.open(dir, { ...OPTS, fault });
  try {
    for (const ak of ['big', 'small']) {
      const e = await t.fetchSingle(1n, 1n, enc('d'), enc(ak)).catch((x: unknown) => x) as VosError;
      assert.is(e.code, 'CHECKSUM_MISMATCH', ak);
    }
    assert.ok(fault.stats.bitFlips >= 2);
  } finally { await t.close(); }
}));

test.run();
