/**
 * Issue 14's data-path shapes, each beside what users would pick instead, in the same run, on an
 * embedded pool of 16 targets (4 nodes x 2 ranks x 2 targets), public API only:
 *
 * - 100-byte puts of new objects (RP_2G1, one KV object per put, 32 in flight) vs classic-level
 *   puts (32 in flight; target >= 1.0x) and lmdb-js puts (32 in flight);
 * - 100-byte random gets of those objects (32 in flight) vs lmdb-js gets (synchronous `get`, the
 *   way lmdb-js is used; target >= 0.5x) and classic-level gets (32 in flight);
 * - 1 MiB sequential EC_4P2G1 array writes and reads (8 in flight) vs fs.promises positional
 *   writes / reads of the same bytes in one file (8 in flight; target >= 0.7x); both read into
 *   reused caller buffers (`read(..., { into })`, `fh.read(buf)`); a row beside them reads with a
 *   new buffer per read (`read()` returning one). Steady state, as a user rewriting a data set
 *   would run: every round overwrites the same array and the same file (one of each), after
 *   untimed rounds that write and read them first (`EC_SETTLE_MIB`). Same durability on both
 *   sides: neither syncs (the pool is not `durable`; the file gets no fsync): the bytes are in the
 *   page cache when a write resolves. Cairn keeps every version until aggregation, so before each
 *   round the container is aggregated (`aggregate()`, what DAOS does in the background), timed
 *   apart and reported beside the write row (`aggregateMs`, `aggregateCpuMs`, and
 *   `withAggregate`: the write rate in MB/s counting it); the file is overwritten in place. Why:
 *   on this VM (a PVM guest) a write into page cache the guest has not used before costs ~10x a
 *   rewrite (1-2.4 ms CPU per MiB against 0.1-0.2), and writing a fresh file per round let each
 *   round's luck (which pages it got) decide the ratio (peer rounds of 6 GB/s, then 0.2-0.4 GB/s).
 *   Each round's rate and CPU per MiB print in the rows (`rounds` in MB/s, `cpuUsPerMiB`);
 * - `durable: true` small puts vs lmdb-js puts with its default synced commits, timed in the same
 *   rounds (target >= 1.0x), and classic-level puts with `sync: true`. lmdb-js resolves a put once
 *   its transaction is committed, before that commit is flushed (`overlappingSync`, its default on
 *   Linux), whereas a durable Cairn put resolves once it is synced: a row beside them awaits each
 *   lmdb-js put's `flushed` promise (`separateFlushed`), the like-for-like durable acknowledgement.
 * - 4 KiB writes to new arrays (RP_2G1, one array object per write, 32 in flight), a cost that must
 *   not grow with the objects written: the rate over the last `arrayObjects / 4` of them against
 *   the first (target >= 0.5x; every shard write looks its akey's record size up in a per-container
 *   cache, whose slot hash took only the shard index until session 66: 12.6k -> 1.8k writes/s over
 *   40k objects), and beside the first the same number of new 4 KiB files written with
 *   fs.promises `writeFile` (32 in flight), what users would pick instead.
 *
 * Rows also carry `cpuRate` (operations, or bytes for the 1 MiB rows, per CPU second of the
 * process, every thread) and the Cairn rows `cpuRatio` against their peer's: on a shared, loaded
 * machine wall-clock ratios swing with the load, CPU ratios much less.
 *
 * Every case runs `rounds` times (quick 1, full 3), the systems interleaved within a round; a row
 * reports the median round and `extra.rounds`. Small puts write fresh keys each round; the 1 MiB
 * rows rewrite one array and one file (above).
 *
 * CAIRN_BENCH_IO=<cases> runs some cases only (comma-separated: `puts`, `gets` (which writes its
 * objects with the puts), `ec`, `durable`, `arrays`); the rows of the others are left out.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Pool, relaxedSimdStatus, type Container } from '../index.js';
import { Rng } from '../core/rng.js';
import { inFlight, median, seconds, type BenchContext, type BenchRow } from './harness.js';
import { tempDir, removeTempDir } from './lib/cleanup.js';
import { openPeer, type PeerStore } from './lib/kv-peers.js';
import { open as lmdbOpen } from 'lmdb';

/** lmdb-js whose puts resolve once flushed to disk (`separateFlushed`, awaiting each put's `flushed`): durable acknowledgements. */
function openLmdbFlushed(dir: string): PeerStore {
  const db = lmdbOpen<Uint8Array, string>({ path: dir, encoding: 'binary', separateFlushed: true });
  return {
    kind: 'lmdb',
    put: (k, v) => (db.put(k, v) as Promise<boolean> & { flushed?: Promise<boolean> }).flushed ?? db.flushed,
    get: (k) => db.get(k),
    namespace: () => { throw new Error('not used by the io suite'); },
    close: () => db.close(),
  };
}

const MIB = 1024 * 1024;
/** The pool shape issue 14 names: 16 targets. */
export const IO_POOL_SHAPE = { nodes: 4, ranksPerNode: 2, targetsPerRank: 2 } as const;
/** Bytes of each small value. */
export const SMALL_VALUE_BYTES = 100;
/** Small puts and gets in flight. */
export const SMALL_DEPTH = 32;
/** 1 MiB transfers in flight. */
export const EC_DEPTH = 8;
/** Untimed passes of 16 EC writes and 32 EC reads over one array before the first EC round (JIT). */
const EC_WARMUP_PASSES = 4;
/**
 * MiB written (and read) in untimed rounds over the measured array and file before the first timed
 * round, at least two rounds: the first writes them into page cache never used, the second gives
 * Cairn its steady state (two versions of the array's extents, one freed by the aggregation before
 * each round and rewritten by the next), and the optimising compiler needs about this much: the
 * data path's functions run once per MiB (planArray, the commit, the store's update), so V8 marks
 * them hot only after thousands of calls. Session 13 saw them compiled in the 4th round of 256 MiB;
 * session 14 (--trace-opt, rounds of 128 MiB with aggregation between) still saw first TurboFan
 * compiles of planOp, planWrites, commit, checkLayout, allocShards and the journal's writeTo
 * between 0.9 and 2 GiB written, and the write CPU per MiB fell from 500-600 us (rounds 8-13) to
 * 360-450 (rounds 14-24; load 12-16): 3 GiB untimed puts the timed rounds past that.
 */
const EC_SETTLE_MIB = 3072;
/** Untimed operations per system before the first round (JIT, target files, caches). */
const WARMUP_OPS = 1000;
/** Bytes of each write of the many-arrays case (one new array object each). */
const ARRAY_WRITE_BYTES = 4096;

/** The cases of the suite, in the order they run. */
const IO_CASES = ['puts', 'gets', 'ec', 'durable', 'arrays'] as const;
type IoCase = typeof IO_CASES[number];

/** The cases CAIRN_BENCH_IO names (all when unset); an unknown name is an error, not a silent empty run. */
function selectedCases(): Set<IoCase> {
  const v = process.env.CAIRN_BENCH_IO;
  if (!v) return new Set(IO_CASES);
  const names = v.split(',').map((x) => x.trim()).filter(Boolean);
  for (const n of names) if (!(IO_CASES as readonly string[]).includes(n)) throw new Error(`CAIRN_BENCH_IO: unknown case ${n} (cases: ${IO_CASES.join(', ')})`);
  return new Set(names as IoCase[]);
}

/**
 * `putWarmup`: untimed puts every system takes before the small put rounds (their objects are read
 * by the gets too). Cairn's put path runs optimised only after ~30k puts of a process: with 1,000,
 * its first round of 50k was its slowest in every run (40.8-54.5k against 68.8-99.0k puts/s for
 * rounds 2-3, session 49), so the median of three was the slower of the other two. The rows
 * measure the steady state, as the durable and 1 MiB rows do; the warm-up's own rates print as
 * `warmupRates` (each system's first 30k puts, cold).
 *
 * `durableWarmup`: puts every store takes before the durable rounds. A durable put's path is hot only
 * after ~30k puts of a process (round-by-round CPU per put of 10k-put rounds after 1k: 54, 34, 61,
 * then 17-26 us), and a redo checkpoint comes every 20-30k puts: rounds of 10k after a 1k warm-up
 * measured the JIT and whether a checkpoint fell in the round (durable-only runs 0.50-0.54x,
 * full-suite runs, JIT-warm from the other rows, 0.72-1.02x). Every store gets the same warm-up
 * and rounds.
 */
interface Sizes { rounds: number; putWarmup: number; puts: number; gets: number; durablePuts: number; durableWarmup: number; ecBytes: number; arrayObjects: number }
const QUICK: Sizes = { rounds: 1, putWarmup: WARMUP_OPS, puts: 10_000, gets: 10_000, durablePuts: 3_000, durableWarmup: 1_000, ecBytes: 64 * MIB, arrayObjects: 8_000 };
const FULL: Sizes = { rounds: 3, putWarmup: 30_000, puts: 50_000, gets: 50_000, durablePuts: 30_000, durableWarmup: 10_000, ecBytes: 256 * MIB, arrayObjects: 40_000 };

/** The 100-byte value of object `i` (its index in the first 4 bytes, so reads can be checked). */
function smallValue(i: number): Uint8Array {
  const v = new Uint8Array(SMALL_VALUE_BYTES).fill(0x5a);
  new DataView(v.buffer).setUint32(0, i, true);
  return v;
}
const objName = (i: number) => `o${i}`;
const indexOf = (v: Uint8Array | undefined) => (v && v.length === SMALL_VALUE_BYTES ? new DataView(v.buffer, v.byteOffset, 4).getUint32(0, true) : -1);

/** Named timing series: one rate per round. */
class Series {
  private readonly m = new Map<string, number[]>();
  add(name: string, v: number): void { (this.m.get(name) ?? this.m.set(name, []).get(name)!).push(v); }
  get(name: string): number[] { return this.m.get(name) ?? []; }
}

/**
 * Run `fn` for `ops` operations; adds the wall-clock rate to series `key` and the rate per CPU
 * second of this process (every thread: classic-level and lmdb-js work on native threads too) to
 * `key + ' cpu'`, which a loaded shared machine distorts far less than wall time.
 */
async function timed(t: Series, key: string, ops: number, fn: () => Promise<unknown> | unknown): Promise<void> {
  const c0 = process.cpuUsage();
  const s = await seconds(fn);
  const c = process.cpuUsage(c0);
  t.add(key, ops / s);
  t.add(`${key} cpu`, ops / Math.max(1e-6, (c.user + c.system) / 1e6));
  t.add(`${key} wall s`, s);
  t.add(`${key} cpu s`, (c.user + c.system) / 1e6);
}

/** Puts of objects [from, to) into a Cairn container, `SMALL_DEPTH` in flight, timed into series `key`. */
async function cairnPuts(cont: Container, from: number, to: number, t?: Series, key = ''): Promise<void> {
  const run = () => inFlight(to - from, SMALL_DEPTH, (j) => cont.kv(objName(from + j)).put('v', smallValue(from + j)));
  if (t) await timed(t, key, to - from, run); else await run();
}

async function peerPuts(db: PeerStore, from: number, to: number, t?: Series, key = ''): Promise<void> {
  const run = () => inFlight(to - from, SMALL_DEPTH, (j) => db.put(objName(from + j), smallValue(from + j)));
  if (t) await timed(t, key, to - from, run); else await run();
}

export default async function ioBench(ctx: BenchContext): Promise<BenchRow[]> {
  const z = ctx.quick ? QUICK : FULL;
  const cases = selectedCases();
  const root = tempDir('cairn-io-bench-');
  const t = new Series();
  const pool = await Pool.create(path.join(root, 'pool'), { ...IO_POOL_SHAPE, dataBytes: Math.max(256 * MIB, Math.ceil((z.ecBytes * z.rounds * 1.5) / 16) + 64 * MIB) });
  let level: PeerStore | undefined, lmdb: PeerStore | undefined;
  let ioEngine = '';
  try {
    // ------------------------------------------------------------ small puts and gets
    if (cases.has('puts') || cases.has('gets')) {
    const small = await pool.createContainer('small', { oclass: 'RP_2G1' });
    await small.openTargets();
    level = await openPeer('level', path.join(root, 'level'));
    lmdb = await openPeer('lmdb', path.join(root, 'lmdb'));
    ctx.progress('io: warm-up');
    const base = z.putWarmup; // objects [0, putWarmup) are the warm-up
    await cairnPuts(small, 0, base, t, 'cairn put warm-up'); await peerPuts(level, 0, base, t, 'level put warm-up'); await peerPuts(lmdb, 0, base, t, 'lmdb put warm-up');
    for (let r = 0; r < z.rounds; r++) {
      const from = base + r * z.puts, to = from + z.puts;
      ctx.progress(`io: round ${r + 1}/${z.rounds} cairn puts`);
      await cairnPuts(small, from, to, t, 'cairn put');
      ctx.progress(`io: round ${r + 1}/${z.rounds} classic-level puts`);
      await peerPuts(level, from, to, t, 'level put');
      ctx.progress(`io: round ${r + 1}/${z.rounds} lmdb-js puts`);
      await peerPuts(lmdb, from, to, t, 'lmdb put');
    }
    const written = base + z.rounds * z.puts;
    if (cases.has('gets')) {
    // Untimed get warm-up (as for puts and EC), same keys for every system: the first timed round
    // would otherwise pay the optimising compiler for the get path and the first read of every
    // run block and bloom filter (23-37 us CPU per get against 10-16 later, the gets engineer measured).
    ctx.progress('io: get warm-up');
    {
      const lv = level, lm = lmdb;
      await inFlight(WARMUP_OPS, SMALL_DEPTH, (j) => small.kv(objName(j)).get('v'));
      await inFlight(WARMUP_OPS, SMALL_DEPTH, async (j) => { await lv.get(objName(j)); });
      for (let j = 0; j < WARMUP_OPS; j++) lm.get(objName(j));
      // one untimed round of the timed shape (random keys over every object): the first timed round
      // would otherwise pay Cairn's point-index builds and lmdb-js's first page touches
      const wrng = new Rng(0x3a11);
      const wkeys = Array.from({ length: z.gets }, () => wrng.int(written));
      await inFlight(wkeys.length, SMALL_DEPTH, (j) => small.kv(objName(wkeys[j]!)).get('v'));
      for (const k of wkeys) lm.get(objName(k));
      await inFlight(wkeys.length, SMALL_DEPTH, async (j) => { await lv.get(objName(wkeys[j]!)); });
    }
    const rng = new Rng(0x10be);
    for (let r = 0; r < z.rounds; r++) {
      const keys = Array.from({ length: z.gets }, () => rng.int(written));
      let bad = 0;
      ctx.progress(`io: round ${r + 1}/${z.rounds} cairn gets`);
      await timed(t, 'cairn get', keys.length, () => inFlight(keys.length, SMALL_DEPTH, async (j) => { if (indexOf(await small.kv(objName(keys[j]!)).get('v')) !== keys[j]) bad++; }));
      ctx.progress(`io: round ${r + 1}/${z.rounds} lmdb-js gets`);
      const l = lmdb;
      await timed(t, 'lmdb get', keys.length, () => { for (const k of keys) if (indexOf(l.get(objName(k)) as Uint8Array | undefined) !== k) bad++; });
      ctx.progress(`io: round ${r + 1}/${z.rounds} classic-level gets`);
      const lv = level;
      await timed(t, 'level get', keys.length, () => inFlight(keys.length, SMALL_DEPTH, async (j) => { if (indexOf(await lv.get(objName(keys[j]!))) !== keys[j]) bad++; }));
      if (bad) throw new Error(`io bench: ${bad} small gets returned wrong values`);
    }
    }
    await small.close();
    await level.close(); level = undefined;
    await lmdb.close(); lmdb = undefined;
    }

    // ------------------------------------------------------------ 1 MiB EC_4P2G1 arrays vs files
    if (cases.has('ec')) {
    const ec = await pool.createContainer('ec', { oclass: 'EC_4P2G1' });
    await ec.openTargets();
    const buf = new Rng(0x1e0).bytes(MIB);
    const n = Math.max(EC_DEPTH, Math.floor(z.ecBytes / MIB));
    // Warm-up: enough writes and reads for the optimising compiler to be done with the data path
    // (its background threads count in the process CPU time the rows report); the writes
    // overwrite one small array, the reads go over it several times.
    const warm = ec.array('warm', { chunkSize: MIB });
    const warmInto = Array.from({ length: EC_DEPTH }, () => new Uint8Array(MIB));
    for (let pass = 0; pass < EC_WARMUP_PASSES; pass++) {
      await inFlight(EC_DEPTH * 2, EC_DEPTH, (i) => warm.write(i * MIB, buf));
      for (let rd = 0; rd < 2; rd++) await inFlight(EC_DEPTH * 2, EC_DEPTH, async (i) => { const into = warmInto.pop()!; await warm.read(i * MIB, MIB, { into }); warmInto.push(into); });
    }
    await inFlight(EC_DEPTH * 2, EC_DEPTH, (i) => warm.read(i * MIB, MIB));
    // Steady state (see the file comment): one array and one file, each rewritten every round.
    const arr = ec.array('ior', { chunkSize: MIB });
    const file = path.join(root, 'file.bin');
    const fh = await fs.promises.open(file, 'w+');
    try {
      const cairnWrite = () => inFlight(n, EC_DEPTH, (i) => arr.write(i * MIB, buf));
      const fsWrite = () => inFlight(n, EC_DEPTH, (i) => fh.write(buf, 0, MIB, i * MIB));
      const settle = Math.max(2, Math.ceil(EC_SETTLE_MIB / n));
      const free = Array.from({ length: EC_DEPTH }, () => new Uint8Array(MIB));
      const rbufs = Array.from({ length: EC_DEPTH }, () => Buffer.allocUnsafe(MIB));
      const cairnRead = () => inFlight(n, EC_DEPTH, async (i) => { const into = free.pop()!; await arr.read(i * MIB, MIB, { into }); free.push(into); });
      const fsRead = () => { let slot = 0; return inFlight(n, EC_DEPTH, (i) => fh.read(rbufs[slot++ % EC_DEPTH]!, 0, MIB, i * MIB)); };
      for (let r = 0; r < settle; r++) {
        ctx.progress(`io: settling round ${r + 1}/${settle} (untimed): 1MiB writes and reads`);
        if (r > 0) await ec.aggregate();
        await cairnWrite();
        await fsWrite();
        await cairnRead();
        await fsRead();
        // The row reading with a new buffer per read is warmed like the others: its first pass
        // fills the media layer's free list of recycled outputs (src/media allocOutput).
        if (r === settle - 1) await inFlight(n, EC_DEPTH, async (i) => { await arr.read(i * MIB, MIB); });
      }
      for (let r = 0; r < z.rounds; r++) {
        ctx.progress(`io: round ${r + 1}/${z.rounds} aggregate (timed apart)`);
        await timed(t, 'cairn ec aggregate', n * MIB, () => ec.aggregate());
        ctx.progress(`io: round ${r + 1}/${z.rounds} cairn 1MiB EC writes`);
        await timed(t, 'cairn ec write', n * MIB, cairnWrite);
        ctx.progress(`io: round ${r + 1}/${z.rounds} fs.promises 1MiB writes`);
        await timed(t, 'fs write', n * MIB, fsWrite);
        ctx.progress(`io: round ${r + 1}/${z.rounds} cairn 1MiB EC reads`);
        let bad = 0;
        const check = (d: Uint8Array) => { if (d.length !== MIB || d[7] !== buf[7] || d[MIB - 1] !== buf[MIB - 1]) bad++; };
        // One buffer per read in flight, reused (as the fs.promises reads below do).
        await timed(t, 'cairn ec read', n * MIB, () => inFlight(n, EC_DEPTH, async (i) => { const into = free.pop()!; check(await arr.read(i * MIB, MIB, { into })); free.push(into); }));
        if (bad) throw new Error(`io bench: ${bad} EC reads came back wrong`);
        // The peer's reads come right after Cairn's reused-buffer reads, before the new-buffer row,
        // whose dropped results are collected later (a collection inside the peer's timing halved
        // its rate in some rounds).
        ctx.progress(`io: round ${r + 1}/${z.rounds} fs.promises 1MiB reads`);
        await timed(t, 'fs read', n * MIB, fsRead);
        ctx.progress(`io: round ${r + 1}/${z.rounds} cairn 1MiB EC reads, new buffer per read`);
        await timed(t, 'cairn ec read alloc', n * MIB, () => inFlight(n, EC_DEPTH, async (i) => check(await arr.read(i * MIB, MIB))));
        if (bad) throw new Error(`io bench: ${bad} EC reads came back wrong`);
      }
    } finally {
      await fh.close();
      fs.rmSync(file, { force: true });
    }
    ioEngine = pool.query().ioEngine ?? '';
    await ec.close();
    }
  } finally {
    await level?.close(); await lmdb?.close();
    await pool.close();
  }

  // ------------------------------------------------------------ durable small puts
  if (cases.has('durable')) {
  const dpool = await Pool.create(path.join(root, 'pool-durable'), { ...IO_POOL_SHAPE, durable: true });
  let dlevel: PeerStore | undefined, dlmdb: PeerStore | undefined, dlmdbF: PeerStore | undefined;
  try {
    const cont = await dpool.createContainer('small', { oclass: 'RP_2G1' });
    await cont.openTargets();
    dlevel = await openPeer('level', path.join(root, 'level-sync'), { sync: true });
    dlmdb = await openPeer('lmdb', path.join(root, 'lmdb-sync'));
    dlmdbF = openLmdbFlushed(path.join(root, 'lmdb-flushed'));
    // The same warm-up for every store (`Sizes.durableWarmup`: the durable paths' JIT and first checkpoint).
    const w = z.durableWarmup;
    await cairnPuts(cont, 0, w); await peerPuts(dlevel, 0, w); await peerPuts(dlmdb, 0, w); await peerPuts(dlmdbF, 0, w);
    for (let r = 0; r < z.rounds; r++) {
      const from = w + r * z.durablePuts, to = from + z.durablePuts;
      ctx.progress(`io: round ${r + 1}/${z.rounds} cairn durable puts`);
      await cairnPuts(cont, from, to, t, 'cairn durable put');
      ctx.progress(`io: round ${r + 1}/${z.rounds} classic-level sync puts`);
      await peerPuts(dlevel, from, to, t, 'level sync put');
      ctx.progress(`io: round ${r + 1}/${z.rounds} lmdb-js synced puts`);
      await peerPuts(dlmdb, from, to, t, 'lmdb sync put');
      ctx.progress(`io: round ${r + 1}/${z.rounds} lmdb-js puts awaiting flushed`);
      await peerPuts(dlmdbF, from, to, t, 'lmdb flushed put');
    }
    await cont.close();
  } finally {
    await dlevel?.close();
    await dlmdb?.close();
    await dlmdbF?.close();
    await dpool.close();
  }
  }
  // ------------------------------------------------------------ writes to many new arrays
  if (cases.has('arrays')) {
    const apool = await Pool.create(path.join(root, 'pool-arrays'), IO_POOL_SHAPE);
    const dir = path.join(root, 'files');
    fs.mkdirSync(dir);
    try {
      const cont = await apool.createContainer('arrays', { oclass: 'RP_2G1' });
      await cont.openTargets();
      const data = new Rng(0xa77).bytes(ARRAY_WRITE_BYTES);
      const slice = Math.floor(z.arrayObjects / 4);
      const writes = (from: number, count: number) => inFlight(count, SMALL_DEPTH, (j) => cont.array(`w${from + j}`, { chunkSize: MIB }).write(0, data));
      // (untimed: the write path's JIT; objects of their own, not counted in the slices)
      ctx.progress('io: 4KiB new-array writes, warm-up');
      await inFlight(WARMUP_OPS, SMALL_DEPTH, (j) => cont.array(`warm${j}`, { chunkSize: MIB }).write(0, data));
      await inFlight(WARMUP_OPS, SMALL_DEPTH, (j) => fs.promises.writeFile(path.join(dir, `warm${j}`), data));
      for (let q = 0; q < 4; q++) {
        ctx.progress(`io: 4KiB writes to new arrays, objects ${q * slice}-${(q + 1) * slice}`);
        await timed(t, `cairn array writes ${q}`, slice, () => writes(q * slice, slice));
      }
      ctx.progress('io: 4KiB fs.promises writeFile of new files');
      await timed(t, 'fs new files', slice, () => inFlight(slice, SMALL_DEPTH, (j) => fs.promises.writeFile(path.join(dir, `f${j}`), data)));
      // (the last array written reads back what was written)
      const back = await cont.array(`w${4 * slice - 1}`, { chunkSize: MIB }).read(0, ARRAY_WRITE_BYTES);
      if (Buffer.compare(Buffer.from(back), Buffer.from(data)) !== 0) throw new Error('io bench: a new array read back wrong');
      await cont.close();
    } finally {
      await apool.close();
    }
  }
  removeTempDir(root);

  const row = (name: string, key: string, unit: 'ops' | 'B', more: Partial<BenchRow> = {}, extra: Record<string, unknown> = {}): BenchRow => {
    const xs = t.get(key);
    const m = median(xs);
    const cpu = t.get(`${key} cpu`);
    if (cpu.length) extra = { ...extra, cpuRate: Math.round(median(cpu)) };
    // the 1 MiB rows: CPU per MiB of every round, beside its rate
    if (unit === 'B' && cpu.length) extra = { ...extra, cpuUsPerMiB: cpu.map((c) => Math.round((MIB / c) * 1e6)) };
    return {
      name, suite: 'io',
      ...(unit === 'ops' ? { opsPerSecond: m } : { bytesPerSecond: m, opsPerSecond: m / MIB }),
      ...more,
      extra: { ...extra, rounds: xs.map((x) => +(unit === 'B' ? x / 1e6 : x).toFixed(unit === 'B' ? 1 : 0)), ...(xs.length > 1 ? { spread: +((Math.max(...xs) - Math.min(...xs)) / m).toFixed(3) } : {}) },
    };
  };
  const P = `${SMALL_VALUE_BYTES}B`;
  const names = {
    cPut: `cairn put ${P} new objects RP_2G1 16 targets ${SMALL_DEPTH} in flight`,
    lvPut: `classic-level put ${P} ${SMALL_DEPTH} in flight`,
    lmPut: `lmdb-js put ${P} ${SMALL_DEPTH} in flight (default: synced commits)`,
    cGet: `cairn get ${P} random RP_2G1 16 targets ${SMALL_DEPTH} in flight`,
    lmGet: `lmdb-js get ${P} random (synchronous get)`,
    lvGet: `classic-level get ${P} random ${SMALL_DEPTH} in flight`,
    cW: `cairn write 1MiB seq EC_4P2G1 16 targets ${EC_DEPTH} in flight, one array rewritten, no sync`,
    fW: `fs.promises write 1MiB seq one file rewritten ${EC_DEPTH} in flight, no fsync`,
    cR: `cairn read 1MiB seq EC_4P2G1 16 targets ${EC_DEPTH} in flight`,
    cRa: `cairn read 1MiB seq EC_4P2G1 16 targets ${EC_DEPTH} in flight, new buffer per read`,
    fR: `fs.promises read 1MiB seq one file ${EC_DEPTH} in flight`,
    cDur: `cairn put ${P} new objects RP_2G1 16 targets ${SMALL_DEPTH} in flight durable`,
    lvSync: `classic-level put ${P} ${SMALL_DEPTH} in flight sync`,
    lmSync: `lmdb-js put ${P} ${SMALL_DEPTH} in flight (default: synced commits), beside the durable rows`,
    lmFlushed: `lmdb-js put ${P} ${SMALL_DEPTH} in flight awaiting flushed (acknowledged once synced)`,
    cArrLast: `cairn write 4KiB new arrays RP_2G1 16 targets ${SMALL_DEPTH} in flight, last quarter of ${z.arrayObjects} objects`,
    cArrFirst: `cairn write 4KiB new arrays RP_2G1 16 targets ${SMALL_DEPTH} in flight, first quarter of ${z.arrayObjects} objects`,
    fNew: `fs.promises writeFile 4KiB new files ${SMALL_DEPTH} in flight`,
  };
  // Rate per CPU second against the peer's (same run): robust to a loaded machine.
  const cpuRatio = (a: string, b: string) => ({ cpuRatio: +(median(t.get(`${a} cpu`)) / median(t.get(`${b} cpu`))).toFixed(3) });
  // The aggregation before each EC write round (timed apart): its wall ms and CPU ms per round, and
  // the median write rate counting it (bytes / (write + aggregation wall seconds)).
  const aggregation = () => {
    const aw = t.get('cairn ec aggregate wall s'), ac = t.get('cairn ec aggregate cpu s'), ww = t.get('cairn ec write wall s');
    return {
      aggregateMs: aw.map((x) => Math.round(x * 1e3)),
      aggregateCpuMs: ac.map((x) => Math.round(x * 1e3)),
      withAggregate: Math.round(median(ww.map((w, i) => (z.ecBytes / (w + (aw[i] ?? 0))) / 1e6))),
    };
  };
  // The untimed put warm-up's own rates (each system's first `putWarmup` puts of the process, cold).
  const putWarmups = () => ({ warmupPuts: z.putWarmup, warmupRates: { cairn: Math.round(median(t.get('cairn put warm-up'))), level: Math.round(median(t.get('level put warm-up'))), lmdb: Math.round(median(t.get('lmdb put warm-up'))) } });
  const rows: Array<[IoCase, () => BenchRow]> = [
    ['puts', () => row(names.cPut, 'cairn put', 'ops', { peer: names.lvPut, alsoVs: [names.lmPut], targetRatio: 1.0 }, { objects: z.puts, ...cpuRatio('cairn put', 'level put'), ...putWarmups() })],
    ['puts', () => row(names.lvPut, 'level put', 'ops')],
    ['puts', () => row(names.lmPut, 'lmdb put', 'ops')],
    ['gets', () => row(names.cGet, 'cairn get', 'ops', { peer: names.lmGet, alsoVs: [names.lvGet], targetRatio: 0.5 }, { gets: z.gets, ...cpuRatio('cairn get', 'lmdb get') })],
    ['gets', () => row(names.lmGet, 'lmdb get', 'ops')],
    ['gets', () => row(names.lvGet, 'level get', 'ops')],
    ['ec', () => row(names.cW, 'cairn ec write', 'B', { peer: names.fW, targetRatio: 0.7 }, { mib: z.ecBytes / MIB, ioEngine, relaxedSimd: relaxedSimdStatus().enabled, ...cpuRatio('cairn ec write', 'fs write'), ...aggregation() })],
    ['ec', () => row(names.fW, 'fs write', 'B')],
    ['ec', () => row(names.cR, 'cairn ec read', 'B', { peer: names.fR, targetRatio: 0.7 }, { mib: z.ecBytes / MIB, into: true, ...cpuRatio('cairn ec read', 'fs read') })],
    ['ec', () => row(names.cRa, 'cairn ec read alloc', 'B', { peer: names.fR })],
    ['ec', () => row(names.fR, 'fs read', 'B')],
    ['durable', () => row(names.cDur, 'cairn durable put', 'ops', { peer: names.lmSync, alsoVs: [names.lmFlushed, names.lvSync, names.lmPut], targetRatio: 1.0 }, { objects: z.durablePuts, ...cpuRatio('cairn durable put', 'lmdb sync put') })],
    ['durable', () => row(names.lvSync, 'level sync put', 'ops')],
    ['durable', () => row(names.lmSync, 'lmdb sync put', 'ops')],
    ['durable', () => row(names.lmFlushed, 'lmdb flushed put', 'ops')],
    ['arrays', () => row(names.cArrLast, 'cairn array writes 3', 'ops', { peer: names.cArrFirst, targetRatio: 0.5 }, { objects: z.arrayObjects, slices: [0, 1, 2, 3].map((q) => Math.round(median(t.get(`cairn array writes ${q}`)))), cpuUsPerWrite: [0, 1, 2, 3].map((q) => Math.round(1e6 / median(t.get(`cairn array writes ${q} cpu`)))) })],
    ['arrays', () => row(names.cArrFirst, 'cairn array writes 0', 'ops', { peer: names.fNew })],
    ['arrays', () => row(names.fNew, 'fs new files', 'ops')],
  ];
  return rows.filter(([c]) => cases.has(c)).map(([, r]) => r());
}
