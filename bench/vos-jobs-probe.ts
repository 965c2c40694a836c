/**
 * The store's background jobs alone, on data shaped like new-object puts (one object-table entry
 * and one 100-byte single per object, random object ids): CPU per entry written, the median of
 * the replays after a JIT warm-up.
 * - `merge`: a merge job (`runMergeJob`, kind 'plain', as a merge worker runs it) of 8 runs (or
 *   `runs`) of 2,600 objects each, in a real file: ~41.6k entries out.
 * - `flush`: a flush's direct path (`logFlushSteps` into a `RunWriter` in memory) over a log
 *   region of 2,600 updates: ~5.2k entries out.
 *
 *   node --import tsx --import ./bench/lib/compiled.mjs bench/vos-jobs-probe.ts [merge|flush] [replays] [runs]
 *
 * (The compiled-package import measures dist/, as `npm run bench` does.)
 */
import fs from 'node:fs';
import path from 'node:path';
import { Rng } from '../core/rng.js';
import { initXxhash, xxh64 } from '../core/xxhash.js';
import { ExtentList } from '../src/vos/allocator.js';
import { CSUM_SEED } from '../src/vos/constants.js';
import { akeyPrefix, objectTableKey, stampKey, TAG_SINGLE } from '../src/vos/keys.js';
import { logFlushSteps } from '../src/vos/log-flush.js';
import { VERSION_VALUE_BYTES } from '../src/vos/merge.js';
import { runMergeJob, type MergeJob } from '../src/vos/merge-job.js';
import { RunWriter, type RunMeta } from '../src/vos/run.js';
import { REGION_HEADER, WalEncoder, type WalType, type Where } from '../src/vos/wal.js';
import { tempDir, removeTempDir } from './lib/cleanup.js';

const CHUNK = 256 * 1024;
const OBJECTS = 2600;
const CONT = 3;
const NAME = new TextEncoder().encode('v');
// (the log's record type and value place are const enums, which the compiled package does not export)
const UPDATE_SINGLE = 1 as WalType.UpdateSingle;
const IN_LOG = 0 as Where.Wal;

/** A run space and chunk source in memory, chunks handed out in turn (and again from the start once all are used). */
function memory(bytes: number) {
  const buf = new Uint8Array(bytes);
  let next = 0;
  return {
    buf, chunkBytes: CHUNK,
    allocChunk(): number { if (next + CHUNK > bytes) next = 0; const at = next; next += CHUNK; return at; },
    pread: (off: number, len: number) => buf.slice(off, off + len),
    pwrite: (off: number, data: Uint8Array) => { buf.set(data, off); },
  };
}

const oidOf = (rng: Rng, r: number) => (BigInt(rng.int(0x7fffffff)) << 96n) | (BigInt(rng.int(0x7fffffff)) << 32n) | BigInt(r);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const cpuUs = () => { const u = process.cpuUsage(); return u.user + u.system; };

function merge(replays: number, inputs: number): void {
  const rng = new Rng(42);
  const space = memory(Math.max(64, 4 * inputs) * 1024 * 1024);
  const metas: RunMeta[] = [];
  for (let r = 0; r < inputs; r++) {
    const oids = Array.from({ length: OBJECTS }, () => oidOf(rng, r));
    const entries: Array<[Uint8Array, Uint8Array, number]> = [];
    for (const oid of oids) entries.push([objectTableKey(CONT, oid), new Uint8Array(0), 0]);
    oids.forEach((oid, i) => entries.push([stampKey(akeyPrefix(CONT, oid, NAME, NAME), TAG_SINGLE, BigInt(100 + r), r * OBJECTS + i + 1), rng.bytes(VERSION_VALUE_BYTES + 100), r * OBJECTS + i + 1]));
    entries.sort((a, b) => Buffer.compare(a[0], b[0]));
    const w = new RunWriter(space, space, r + 1, 0);
    for (const [k, v, seq] of entries) w.add(k, v, seq, []);
    metas.push(w.finish()!);
  }
  const used = Math.max(...metas.flatMap((m) => m.chunks)) + CHUNK;
  const dir = tempDir('vos-jobs-');
  try {
    const file = path.join(dir, 'vos.scm');
    fs.writeFileSync(file, space.buf.subarray(0, used));
    const job: MergeJob = {
      path: file, chunkBytes: CHUNK, chunks: Array.from({ length: 4 * inputs + 16 }, (_, i) => used + i * CHUNK), inputs: metas,
      runId: 100, level: 1, kind: 'plain', rules: [], sync: false, abort: new Int32Array(new SharedArrayBuffer(4)),
    };
    const per: number[] = [];
    let entries = 0;
    for (let i = 0; i < replays; i++) {
      const t = cpuUs();
      const res = runMergeJob(job);
      const us = cpuUs() - t;
      entries = res.meta!.head.entries;
      if (i >= Math.min(10, replays >> 1)) per.push((us * 1000) / entries);
    }
    console.log(`merge job, ${inputs} runs, ${entries} entries out: ${median(per).toFixed(0)} ns of CPU per entry (median of ${per.length} replays)`);
  } finally { removeTempDir(dir); }
}

function flush(replays: number): void {
  const rng = new Rng(43);
  const enc = new WalEncoder();
  const base = 1 << 20, gen = 7;
  const parts: Uint8Array[] = [new Uint8Array(REGION_HEADER)];
  for (let i = 0; i < OBJECTS; i++) {
    const oid = new Uint8Array(24); oid.set(rng.bytes(16));
    const value = rng.bytes(100);
    parts.push(enc.update(UPDATE_SINGLE, gen, 100n, CONT, oid, NAME, NAME, xxh64(value, CSUM_SEED), 0, 0, 0, value.length, IN_LOG, 0, 0, value).slice());
  }
  const view = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) { view.set(p, at); at += p.length; }
  const f = { base, end: base + view.length, gen, startSeq: 1000, records: OBJECTS };
  const space = memory(16 * 1024 * 1024);
  const per: number[] = [];
  let entries = 0;
  for (let i = 0; i < replays; i++) {
    const t = cpuUs();
    const w = new RunWriter(space, space, 1, 0);
    const steps = logFlushSteps(view, f, w, () => undefined, new ExtentList(), () => { throw new Error('replay failed'); });
    if (!steps) throw new Error('the region should take the direct path');
    let r: IteratorResult<void, number>;
    while (!(r = steps.next()).done);
    const meta = w.finish()!;
    const us = cpuUs() - t;
    entries = r.value;
    if (meta.entries !== entries) throw new Error('entries written and counted differ');
    if (i >= Math.min(50, replays >> 1)) per.push((us * 1000) / entries);
  }
  console.log(`flush (direct path), ${OBJECTS} updates, ${entries} entries out: ${median(per).toFixed(0)} ns of CPU per entry (median of ${per.length} replays)`);
}

await initXxhash();
const [what = 'merge', n, runs] = process.argv.slice(2);
if (what === 'merge') merge(Number(n ?? 40), Number(runs ?? 8));
else if (what === 'flush') flush(Number(n ?? 400));
else { console.error('usage: vos-jobs-probe.ts [merge|flush] [replays] [runs]'); process.exit(2); }
