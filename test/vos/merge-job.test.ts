/**
 * A merge job as a merge worker runs it (`runMergeJob`, kind 'plain'): eight runs in a real file,
 * read with the job's read-ahead windows (blocks served as views of 32 KiB reads, clamped to
 * their chunk and to the file's end) and merged without copying keys, must give exactly the
 * k-way merge a plain model gives: every entry in key order, one of identical keys (the first
 * run's), a single hidden at its own epoch by a newer one dropped. A damaged input block is still
 * `CORRUPTED`, never merged; a file cut short inside an input run is `IO_ERROR`.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Run, RunWriter, VerifiedBlocks, type RunMeta, type RunSpace } from '../../src/vos/run.js';
import { runMergeJob, unpackRunMeta, JOB_READ_AHEAD_BYTES, type MergeJob } from '../../src/vos/merge-job.js';
import { akeyPrefix, objectTableKey, stampKey, TAG_SINGLE } from '../../src/vos/keys.js';
import { VERSION_VALUE_BYTES } from '../../src/vos/merge.js';
import { Rng } from '../../core/rng.js';
import { initXxhash } from '../../core/xxhash.js';
import { memSpace } from './helpers.js';

const test = suite('vos merge job');
test.before(async () => { await initXxhash(); });

const CHUNK = 256 * 1024;
const RUNS = 8;

interface Entry { key: Uint8Array; value: Uint8Array; run: number }

function cmp(a: Uint8Array, b: Uint8Array): number { return Buffer.compare(a, b); }
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** A version entry's value (the merge copies it; only its length and first byte matter to a drop). */
function value(rng: Rng, inline: number): Uint8Array {
  const v = rng.bytes(VERSION_VALUE_BYTES + inline);
  v[0] = 1; // (not a data-file block: a dropped version frees nothing)
  return v;
}

/**
 * Eight runs over one container: new objects (an object-table entry and one single each), objects
 * written again in later runs at newer epochs, identical entries in two runs (a replayed log), and
 * singles at the epoch of a newer one in the same run set (hidden at their own epoch).
 */
function makeRuns(rng: Rng): Entry[][] {
  const runs: Entry[][] = Array.from({ length: RUNS }, () => []);
  const cont = 3;
  const dkey = new TextEncoder().encode('d');
  const akey = new TextEncoder().encode('v');
  const shared: bigint[] = [];
  for (let r = 0; r < RUNS; r++) {
    for (let i = 0; i < 900; i++) {
      const oid = (BigInt(rng.int(0x7fffffff)) << 96n) | (BigInt(rng.int(0x7fffffff)) << 32n) | BigInt(r);
      if (i % 7 === 0) shared.push(oid);
      runs[r]!.push({ key: objectTableKey(cont, oid), value: new Uint8Array(0), run: r });
      runs[r]!.push({ key: stampKey(akeyPrefix(cont, oid, dkey, akey), TAG_SINGLE, BigInt(100 + r), r * 10_000 + i + 1), value: value(rng, 100), run: r });
    }
  }
  // an object written in every later run too, at a newer epoch each time
  for (const oid of shared.slice(0, 60)) for (let r = 0; r < RUNS; r++) {
    runs[r]!.push({ key: objectTableKey(cont, oid), value: new Uint8Array(0), run: r });
    runs[r]!.push({ key: stampKey(akeyPrefix(cont, oid, dkey, akey), TAG_SINGLE, BigInt(500 + r), 90_000 + r), value: value(rng, 40), run: r });
  }
  // identical entries in runs 2 and 5 (a log replayed into two flushes): one is kept, run 2's
  for (const e of runs[2]!.slice(0, 200)) runs[5]!.push({ key: e.key, value: value(rng, 8), run: 5 });
  // a single at the epoch of a newer one (higher sequence number: it sorts first), in another run
  for (const e of runs[1]!.filter((x) => x.key[4] === 0x02).slice(0, 50)) {
    const older = e.key.slice();
    // the same akey path and epoch, a lower sequence number (its inverted seq, the last 8 bytes, is higher)
    older[older.length - 1] = (older[older.length - 1]! + 1) & 0xff;
    if (cmp(older, e.key) > 0) runs[6]!.push({ key: older, value: value(rng, 8), run: 6 });
  }
  for (const r of runs) {
    r.sort((a, b) => cmp(a.key, b.key));
    for (let i = r.length - 1; i > 0; i--) if (cmp(r[i]!.key, r[i - 1]!.key) === 0) r.splice(i, 1);
  }
  return runs;
}

/** What the merge must write: every entry in key order, one of identical keys (the lowest run's), singles hidden at their own epoch dropped. */
function model(runs: Entry[][]): Entry[] {
  const all = runs.flat().sort((a, b) => cmp(a.key, b.key) || a.run - b.run);
  const out: Entry[] = [];
  let lastSingle: Uint8Array | undefined;
  for (const e of all) {
    const prev = out[out.length - 1];
    if (prev && cmp(prev.key, e.key) === 0) continue;
    const k = e.key;
    if (k[4] === 0x02) {
      if (lastSingle && lastSingle.length === k.length && cmp(lastSingle.subarray(0, k.length - 8), k.subarray(0, k.length - 8)) === 0) continue;
      lastSingle = k;
    }
    out.push(e);
  }
  return out;
}

/** Write `runs` through RunWriter into memory, then into `file`, cut `cut` bytes past the last byte written; their descriptors and the first free chunk. */
function writeRuns(runs: Entry[][], file: string): { metas: RunMeta[]; used: number } {
  const space = memSpace(64 * 1024 * 1024);
  const metas = runs.map((es, i) => {
    const w = new RunWriter(space, space, i + 1, 0);
    for (const e of es) w.add(e.key, e.value, 1, []);
    return w.finish()!;
  });
  let end = 0;
  for (const m of metas) for (const c of m.chunks) end = Math.max(end, c + CHUNK);
  // the file ends at the last byte a run wrote (a read-ahead window meets the end of the file)
  let last = end;
  while (last > 0 && space.buf[last - 1] === 0) last--;
  fs.writeFileSync(file, space.buf.subarray(0, last));
  return { metas, used: end };
}

/** Every entry of the run `meta` describes in `file`. */
function readRun(file: string, meta: RunMeta): Array<{ key: Uint8Array; value: Uint8Array }> {
  const bytes = new Uint8Array(fs.readFileSync(file));
  const space: RunSpace = { pread: (off, len) => bytes.slice(off, off + len), pwrite: () => { throw new Error('read only'); } };
  const out: Array<{ key: Uint8Array; value: Uint8Array }> = [];
  for (const c = new Run(space, meta, new VerifiedBlocks(1 << 20)).cursor().seekFirst(); c.valid; c.next()) out.push({ key: c.key().slice(), value: c.value().slice() });
  return out;
}

/** Runs of `seed` written into a file of a fresh temporary folder, handed to `fn`; the folder is removed after. */
function withRuns(seed: number, fn: (f: { runs: Entry[][]; file: string; metas: RunMeta[]; used: number }) => void): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-merge-job-'));
  try {
    const runs = makeRuns(new Rng(seed));
    const file = path.join(dir, 'scm');
    fn({ runs, file, ...writeRuns(runs, file) });
  } finally { fs.rmSync(dir, { recursive: true, force: true }); }
}

function job(file: string, metas: RunMeta[], used: number): MergeJob {
  return {
    path: file, chunkBytes: CHUNK, chunks: Array.from({ length: 64 }, (_, i) => used + i * CHUNK), inputs: metas,
    runId: 100, level: 1, kind: 'plain', rules: [], sync: false, abort: new Int32Array(new SharedArrayBuffer(4)),
  };
}

test('a plain merge job writes exactly the k-way merge of its runs (read ahead, keys not copied)', () => {
  for (const seed of [1, 2]) withRuns(seed, ({ runs, file, metas, used }) => {
    for (const m of metas) assert.ok(m.bytes > 2 * JOB_READ_AHEAD_BYTES, `each input spans several read-ahead windows (${m.bytes} bytes)`);
    const want = model(runs);
    assert.ok(want.length < runs.flat().length - 200, 'the inputs hold entries the merge drops');
    const res = runMergeJob(job(file, metas, used));
    assert.ok(res.meta, 'an output run');
    const meta = unpackRunMeta(res.meta!);
    assert.is(meta.entries, want.length);
    const got = readRun(file, meta);
    assert.is(got.length, want.length);
    for (let i = 0; i < want.length; i++) {
      if (cmp(got[i]!.key, want[i]!.key) !== 0 || cmp(got[i]!.value, want[i]!.value) !== 0) assert.unreachable(`entry ${i}: got ${hex(got[i]!.key)} want ${hex(want[i]!.key)} (run ${want[i]!.run})`);
    }
    assert.is(hex(meta.first), hex(want[0]!.key));
    assert.is(hex(meta.last), hex(want[want.length - 1]!.key));
  });
});

test('keys that share many bytes, hold zeros and end inside the compared head words merge in byte order', () => {
  // Object-section keys of one container whose suffixes come from {0x00, 0x01, 0xff} and are 0-20
  // bytes long: they differ anywhere past the shared prefix (inside the merge's two 6-byte head
  // words, past them, or only in length), and one is often a prefix of another, or equal to it
  // but for zeros at its end
  for (const seed of [5, 6, 7]) {
    const rng = new Rng(seed);
    const alphabet = [0x00, 0x01, 0xff];
    const runs: Entry[][] = Array.from({ length: RUNS }, (_, r) => {
      const es: Entry[] = [];
      for (let i = 0; i < 700; i++) {
        const len = rng.int(21);
        const key = new Uint8Array(5 + len);
        key.set([0, 0, 0, 3, 0x01]);
        // a long run of shared bytes first (most keys), then the alphabet
        const same = rng.int(3) === 0 ? 0 : rng.int(len + 1);
        for (let j = 0; j < len; j++) key[5 + j] = j < same ? 0x01 : alphabet[rng.int(3)]!;
        es.push({ key, value: new Uint8Array(0), run: r });
      }
      es.sort((a, b) => cmp(a.key, b.key));
      for (let i = es.length - 1; i > 0; i--) if (cmp(es[i]!.key, es[i - 1]!.key) === 0) es.splice(i, 1);
      return es;
    });
    const want = model(runs);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-merge-kway-'));
    try {
      const file = path.join(dir, 'scm');
      const { metas, used } = writeRuns(runs, file);
      const res = runMergeJob(job(file, metas, used));
      const got = readRun(file, unpackRunMeta(res.meta!));
      assert.is(got.length, want.length, `seed ${seed}: every distinct key once`);
      for (let i = 0; i < want.length; i++) {
        if (cmp(got[i]!.key, want[i]!.key) !== 0) assert.unreachable(`seed ${seed}, entry ${i}: got ${hex(got[i]!.key)} want ${hex(want[i]!.key)}`);
      }
    } finally { fs.rmSync(dir, { recursive: true, force: true }); }
  }
});

test('a damaged input block makes the job fail CORRUPTED (every block read ahead is still verified)', () => {
  withRuns(3, ({ file, metas, used }) => {
    // a byte of the fifth run, past its first read-ahead window
    const skip = JOB_READ_AHEAD_BYTES + 1000;
    assert.ok(skip < metas[4]!.bytes, 'the byte is one of the run\'s');
    const at = metas[4]!.chunks[0]! + skip;
    const fd = fs.openSync(file, 'r+');
    const b = Buffer.alloc(1); fs.readSync(fd, b, 0, 1, at); b[0] ^= 0x10; fs.writeSync(fd, b, 0, 1, at);
    fs.closeSync(fd);
    assert.throws(() => runMergeJob(job(file, metas, used)), (e: Error & { code?: string }) => e.code === 'CORRUPTED');
  });
});

test('a file cut short inside an input run makes the job fail IO_ERROR (a read-ahead window meets the end before its block)', () => {
  withRuns(4, ({ file, metas, used }) => {
    // the last run (its chunks come last) ends 1,000 bytes into its second read-ahead window
    const last = metas[metas.length - 1]!;
    const keep = JOB_READ_AHEAD_BYTES + 1000;
    assert.ok(keep < last.bytes, 'the cut is inside the run');
    fs.truncateSync(file, last.chunks[0]! + keep);
    assert.throws(() => runMergeJob(job(file, metas, used)), (e: Error & { code?: string }) => e.code === 'IO_ERROR');
  });
});

test.run();
