/**
 * Prepared epochs (the store side of an engine's prepared transactions): a write marked prepared
 * puts a Prepare record (WAL record version 4) in the log before it, once per (container, epoch);
 * `TargetStore.preparedEpochs()` names every such epoch until `settlePrepared` (a Settle record)
 * or a discard covering it; the set survives a reopen from the log, and from the manifest
 * (version 2) once flushes dropped the log regions; a log without these records is the bytes it
 * was. A child process SIGKILLed while it prepares, settles, discards and flushes leaves a target
 * whose prepared epochs are exactly the acknowledged unsettled ones (plus at most the one in
 * flight), each with its value readable.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { VosTarget, type VosOptions } from '../../src/vos/index.js';
import { decodeManifest, encodeManifest, type Manifest } from '../../src/vos/manifest.js';
import { WAL_VERSION, WAL_VERSION_PREPARED, WalEncoder, WalType, decodeWalRecord, walRecordLength } from '../../src/vos/wal.js';
import { Rng } from '../../core/rng.js';
import { crashValue, CRASH_OPTS } from './crash-common.js';
import { crashImage, enc, tmpDir } from './helpers.js';

const test = suite('vos prepared epochs');
const MiB = 1024 * 1024;
let dir = '';
test.before.each(() => { dir = tmpDir('prepared'); });
test.after.each(() => { fs.rmSync(dir, { recursive: true, force: true }); });

const D = enc('d'), A = enc('a');
const OPTS: VosOptions = { scmBytes: 64 * MiB, dataBytes: 16 * MiB, walBytes: 256 * 1024 };
const epochsOf = (t: VosTarget) => t.target.preparedEpochs().filter((p) => p.cont === t.uuid).map((p) => p.epoch).sort((a, b) => (a < b ? -1 : 1));

test('prepare, settle (idempotent), discard; reopen from the log and from the manifest', async () => {
  let t = await VosTarget.open(dir, OPTS);
  try {
    for (let e = 10n; e <= 15n; e++) { const p = t.updateSingleNow(e, e, D, A, enc(`v${e}`), undefined, true); if (p) await p; }
    assert.is(t.markPrepared(12n), undefined, 'a second mark of an epoch appends nothing');
    await t.updateArray(16n, 99n, D, enc('arr'), { index: 0, count: 4 }, enc('abcd'), { prepared: true });
    await t.updateSingle(17n, 17n, D, A, enc('plain')); // not prepared
    assert.equal(epochsOf(t), [10n, 11n, 12n, 13n, 14n, 15n, 16n]);
    await t.target.settlePrepared(t.uuid, [11n, 11n, 40n]);
    await t.target.settlePrepared(t.uuid, [11n]); // again: nothing
    await t.discard(12n, 13n); // settles 13
    assert.equal(epochsOf(t), [10n, 12n, 14n, 15n, 16n]);
    await t.target.settlePrepared('no-such-container', [10n]);
    await t.close();
    t = await VosTarget.open(dir, OPTS); // replayed from the log (recovery then commits a manifest holding them)
    assert.equal(epochsOf(t), [10n, 12n, 14n, 15n, 16n], 'after a reopen');
    assert.equal(await t.fetchSingle(100n, 10n, D, A), enc('v10'), 'prepared data reads as data');
    assert.is(await t.fetchSingle(100n, 13n, D, A), undefined, 'the discarded epoch is gone');
    await t.target.settlePrepared(t.uuid, [14n]);
    const p = t.updateSingleNow(20n, 20n, D, A, enc('v20'), undefined, true); if (p) await p;
    await t.target.flushAll();
    await t.close();
    t = await VosTarget.open(dir, OPTS);
    assert.equal(epochsOf(t), [10n, 12n, 15n, 16n, 20n], 'after a flush and a reopen (the manifest)');
    await t.target.settlePrepared(t.uuid, [10n, 12n, 15n, 16n, 20n]);
    assert.equal(epochsOf(t), []);
    await t.target.flushAll();
    await t.close();
    t = await VosTarget.open(dir, OPTS);
    assert.equal(epochsOf(t), [], 'all settled');
  } finally {
    await t.close();
  }
});

test('many epochs settled at once (several Settle records); a destroyed container names none', async () => {
  const t = await VosTarget.open(dir, OPTS);
  try {
    const all: bigint[] = [];
    for (let e = 1n; e <= 2500n; e++) { const p = t.markPrepared(e); if (p) await p; all.push(e); }
    assert.is(epochsOf(t).length, 2500);
    await t.target.settlePrepared(t.uuid, all.slice(0, 2400));
    assert.equal(epochsOf(t), all.slice(2400));
    const other = await t.target.createContainer('other-container');
    void other;
    await t.target.destroyContainer(t.uuid);
    assert.equal(t.target.preparedEpochs(), [], 'none once destroyed');
  } finally {
    await t.close();
  }
});

test('formats: Prepare and Settle records are version 4, others keep version 3; the manifest is version 2 only with prepared epochs', () => {
  const w = new WalEncoder();
  const check = (rec: Uint8Array, version: number, type: WalType) => {
    const copy = rec.slice();
    const dv = new DataView(copy.buffer);
    assert.is(copy[4], version); assert.is(copy[5], type);
    assert.is(walRecordLength(copy, dv, 0, 0, copy.length, 7), copy.length);
    copy[4] = version === WAL_VERSION ? WAL_VERSION_PREPARED : WAL_VERSION; // the other version: not a valid record
    assert.is(walRecordLength(copy, new DataView(copy.buffer), 0, 0, copy.length, 7), 0);
  };
  check(w.prepare(7, 3, 42n), WAL_VERSION_PREPARED, WalType.Prepare);
  const settle = w.settle(7, 3, [5n, 6n, 7n]).slice();
  check(settle, WAL_VERSION_PREPARED, WalType.Settle);
  assert.equal(decodeWalRecord(settle, new DataView(settle.buffer), 0, 0, settle.length, 7)?.epochs, [5n, 6n, 7n]);
  check(w.discard(7, 3, 1n, 2n), WAL_VERSION, WalType.Discard);
  // an update that notes its epoch prepared: version 4 with its flag; a plain one: version 3 without
  const oid = new Uint8Array(24); oid[0] = 9;
  const flagged = w.update(WalType.UpdateSingle, 7, 42n, 3, oid, D, A, 5n, 0, 0, 0, 3, 0, 0, 0, enc('abc'), true).slice();
  check(flagged, WAL_VERSION_PREPARED, WalType.UpdateSingle);
  assert.is(decodeWalRecord(flagged, new DataView(flagged.buffer), 0, 0, flagged.length, 7)?.prepared, true);
  const plain = w.update(WalType.UpdateSingle, 7, 42n, 3, oid, D, A, 5n, 0, 0, 0, 3, 0, 0, 0, enc('abc')).slice();
  check(plain, WAL_VERSION, WalType.UpdateSingle);
  assert.is(decodeWalRecord(plain, new DataView(plain.buffer), 0, 0, plain.length, 7)?.prepared, undefined);
  const m: Manifest = { version: 1, nextSeq: 1, nextRunId: 1, nextContIdx: 2, walFlushedGen: 0, containers: [{ idx: 1, uuid: 'u', maxEpoch: '0', tombs: [] }], runs: [], data: { total: 0, free: [] } };
  const one = encodeManifest(m);
  assert.is(decodeManifest(one.blob, one.csum).version, 1);
  const two = encodeManifest({ ...m, version: 2, containers: [{ ...m.containers[0]!, prepared: ['5', '18446744073709551615'] }] });
  assert.equal(decodeManifest(two.blob, two.csum).containers[0]!.prepared, ['5', '18446744073709551615']);
  const bad = encodeManifest({ ...m, version: 2, containers: [{ ...m.containers[0]!, prepared: ['x'] }] });
  assert.throws(() => decodeManifest(bad.blob, bad.csum));
  const three = encodeManifest({ ...m, version: 3 as 2 });
  assert.throws(() => decodeManifest(three.blob, three.csum));
});

test('the first prepared write of an epoch appended in the call notes the epoch in its own record (one record, not two); replayed after a crash image', async () => {
  const t = await VosTarget.open(dir, OPTS);
  const seq = () => (t.target as unknown as { nextSeq: number }).nextSeq;
  let s0 = seq();
  assert.is(t.updateSingleNow(30n, 1n, D, A, enc('p30'), undefined, true), undefined);
  assert.is(seq(), s0 + 1, 'one record for the first prepared write of epoch 30');
  assert.is(t.updateSingleNow(30n, 2n, D, A, enc('p30b'), undefined, true), undefined);
  assert.is(seq(), s0 + 2, 'a second write of the epoch: one plain record');
  assert.equal(epochsOf(t), [30n]);
  assert.is(t.markPrepared(31n), undefined);
  s0 = seq();
  assert.is(t.updateSingleNow(31n, 3n, D, A, enc('p31'), undefined, true), undefined);
  assert.is(seq(), s0 + 1, 'marked before: the write is plain');
  assert.is(t.updateSingleNow(32n, 4n, D, A, enc('plain32')), undefined);
  assert.equal(epochsOf(t), [30n, 31n]);
  const image = path.join(dir, 'image');
  crashImage(dir, image);
  await t.close();
  const back = await VosTarget.open(image, OPTS);
  try {
    assert.equal(epochsOf(back), [30n, 31n], 'the flagged record and the Prepare record replay alike');
    assert.is(Buffer.from((await back.fetchSingle(30n, 1n, D, A))!).toString(), 'p30');
    await back.target.settlePrepared(back.uuid, [30n, 31n]);
    assert.equal(epochsOf(back), []);
  } finally { await back.close(); }
});

test('a manifest without prepared epochs stays version 1', async () => {
  const t = await VosTarget.open(dir, OPTS);
  try {
    await t.updateSingle(5n, 5n, D, A, enc('x'));
    await t.target.flushAll();
    const p = t.markPrepared(6n); if (p) await p;
    await t.target.settlePrepared(t.uuid, [6n]);
    await t.target.flushAll();
  } finally {
    await t.close();
  }
  // the newest manifest copy, found through the state the store keeps (written by the flush)
  const t2 = await VosTarget.open(dir, { ...OPTS, readOnly: true });
  try {
    const m = (t2.target as unknown as { readManifest(sb: unknown): Manifest; sb: unknown }).readManifest((t2.target as unknown as { sb: unknown }).sb);
    assert.is(m.version, 1);
    assert.is(m.containers.every((c) => c.prepared === undefined), true);
  } finally {
    await t2.close();
  }
});

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'prepared-child.ts');

/** Run the child until `killAfter` lines (after a FLUSHING line when `inFlush`), then SIGKILL it; its ledger lines. */
async function runAndKill(ledger: string, killAfter: number, inFlush: boolean, durable: boolean): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, ledger, durable ? '1' : '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let lines = 0; let buf = ''; let err = ''; let killed = false;
    p.stderr.on('data', (b) => { err += b; });
    p.stdout.on('data', (b) => {
      buf += b;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i); buf = buf.slice(i + 1);
        lines++;
        if (!killed && lines >= killAfter && (!inFlush || line === 'FLUSHING')) { killed = true; p.kill('SIGKILL'); }
      }
    });
    p.on('exit', (code, sig) => (sig === 'SIGKILL' ? resolve() : reject(new Error(`child exited ${code} ${sig}: ${err}`))));
  });
}

test('SIGKILL while preparing, settling, discarding and flushing: the prepared epochs are the acknowledged unsettled ones, their values readable', async () => {
  const ledger = `${dir}.ledger`;
  const rng = new Rng(0x9e9);
  try {
    for (let round = 0; round < 4; round++) {
      await runAndKill(ledger, 150 + rng.int(900), round % 2 === 1, round === 3);
      const lines = fs.readFileSync(ledger, 'utf8').split('\n').filter((l) => l.length > 0);
      const prepared = new Set<bigint>(); const settled = new Set<bigint>(); const discarded = new Set<bigint>();
      const inFlight = new Set<bigint>(); // a settle or discard begun and not acknowledged: either outcome
      let last = 0n;
      for (const l of lines) {
        const [what, e] = l.split(' ');
        if (what === 'PREP') { prepared.add(BigInt(e!)); last = BigInt(e!); }
        else if (what === 'SETTLING' || what === 'DISCARDING') inFlight.add(BigInt(e!));
        else if (what === 'SETTLED') { settled.add(BigInt(e!)); inFlight.delete(BigInt(e!)); }
        else if (what === 'DISCARDED') { discarded.add(BigInt(e!)); inFlight.delete(BigInt(e!)); }
      }
      assert.ok(prepared.size > 20, `round ${round}: the child prepared (${prepared.size})`);
      const t = await VosTarget.open(dir, CRASH_OPTS);
      try {
        assert.is(t.target.openReport.damage, undefined, `round ${round}: not damaged`);
        const found = new Set(epochsOf(t));
        for (const e of prepared) {
          if (inFlight.has(e) && !settled.has(e) && !discarded.has(e)) {
            const got = await t.fetchSingle(e, e, enc('d'), enc('a'));
            assert.ok(got === undefined || Buffer.from(got).equals(Buffer.from(crashValue('small', 1, e))), `round ${round}: epoch ${e} (settle or discard in flight): its value or none`);
            continue;
          }
          const open = !settled.has(e) && !discarded.has(e);
          if (open) assert.ok(found.has(e), `round ${round}: acknowledged prepared epoch ${e} is named`);
          else assert.ok(!found.has(e), `round ${round}: epoch ${e} was ${settled.has(e) ? 'settled' : 'discarded'} and is not named`);
          const got = await t.fetchSingle(e, e, enc('d'), enc('a'));
          if (discarded.has(e)) assert.is(got, undefined, `round ${round}: discarded epoch ${e} has no value`);
          else assert.equal(got, crashValue('small', 1, e), `round ${round}: the value of epoch ${e}`);
        }
        // beyond the acknowledged ones, at most the epoch in flight when the child died
        for (const e of found) assert.ok(prepared.has(e) || e === last + 1n, `round ${round}: epoch ${e} named but never begun`);
        // settle every open one (as an engine would after reading its log), so later rounds start clean
        await t.target.settlePrepared(t.uuid, [...found]);
        for (const e of found) { if (!prepared.has(e)) continue; settled.add(e); fs.appendFileSync(ledger, `SETTLED ${e}\n`); }
      } finally {
        await t.close();
      }
    }
  } finally {
    fs.rmSync(ledger, { force: true });
  }
});

test.run();
