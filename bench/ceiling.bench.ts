/**
 * The ceiling of erasure-coded bulk I/O on this machine, with no Cairn code: what the 1 MiB
 * EC_4P2G1 rows of the `io` suite (issue 14 asks >= 0.7x of plain file I/O) could reach at best.
 * Each 1 MiB operation, 8 in flight, done the way any EC store with end-to-end checksums must:
 * - writes: the data cut into 4 shards of 256 KiB, 2 parity shards encoded (Cairn's wasm codec),
 *   every shard hashed (xxh64) and written to its own file (one file per target);
 * - reads: the 4 data shards read from their files into one 1 MiB buffer and verified (xxh64);
 * beside the same work without encode and hashing, and beside the peer of the `io` suite: one
 * 1 MiB positional write or read of a plain file. Contenders run in turn in each round; the
 * median round counts. Rows give wall and CPU rates (`cpuRate`: bytes per CPU second of the whole
 * process, every thread) and both ratios against the plain file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createCodec } from '../ec/index.js';
import { initXxhash, xxh64 } from '../core/xxhash.js';
import type { BenchContext, BenchRow } from './harness.js';
import { tempDir, removeTempDir } from './lib/cleanup.js';

const MIB = 1024 * 1024;
const K = 4;
const P = 2;
const SHARD = MIB / K;
/** Operations in flight (as the io suite's EC rows). */
const DEPTH = 8;

type Op = (i: number, slot: number) => Promise<void>;
interface Sample { wall: number; cpu: number }

export default async function ceilingBench(ctx: BenchContext): Promise<BenchRow[]> {
  await initXxhash();
  const ops = ctx.quick ? 192 : 512;
  const rounds = ctx.quick ? 1 : 3;
  const root = tempDir('cairn-ceiling-bench-');
  const codec = createCodec({ dataShards: K, parityShards: P });
  const src = new Uint8Array(MIB);
  for (let i = 0; i < MIB; i++) src[i] = (Math.imul(i, 2654435761) >>> 24) & 0xff;
  const samples = new Map<string, Sample[]>();
  const timed = async (name: string, op: Op): Promise<void> => {
    ctx.progress(`ceiling: ${name}`);
    let next = 0;
    const run = (to: number) => Promise.all(Array.from({ length: DEPTH }, async (_, slot) => { while (next < to) { const i = next++; await op(i, slot); } }));
    await run(ops / 4); // warm-up (code, thread pool, the file's first pages), not timed
    const from = next;
    const c0 = process.cpuUsage(); const t0 = performance.now();
    await run(from + ops);
    const cu = process.cpuUsage(c0); const s = (performance.now() - t0) / 1000;
    const list = samples.get(name) ?? [];
    list.push({ wall: (ops * MIB) / s, cpu: (ops * MIB) / ((cu.user + cu.system) / 1e6) });
    samples.set(name, list);
  };
  const names = {
    pw: 'ceiling plain file write 1MiB 8 in flight',
    sw: 'ceiling EC 4+2 write 1MiB, 6 shard files, copy only',
    ew: 'ceiling EC 4+2 write 1MiB, 6 shard files + encode + xxh64',
    pr: 'ceiling plain file read 1MiB 8 in flight',
    sr: 'ceiling EC 4+2 read 1MiB, 4 shard files, copy only',
    er: 'ceiling EC 4+2 read 1MiB, 4 shard files + xxh64',
  };
  try {
    for (let r = 0; r < rounds; r++) {
      const dir = path.join(root, `round-${r}`);
      fs.mkdirSync(dir);
      const plain = await fs.promises.open(path.join(dir, 'plain'), 'w+');
      const copyFiles = await Promise.all(Array.from({ length: K + P }, (_, s) => fs.promises.open(path.join(dir, `copy-${s}`), 'w+')));
      const ecFiles = await Promise.all(Array.from({ length: K + P }, (_, s) => fs.promises.open(path.join(dir, `ec-${s}`), 'w+')));
      const shards = Array.from({ length: DEPTH }, () => Array.from({ length: K + P }, () => new Uint8Array(SHARD)));
      const out = Array.from({ length: DEPTH }, () => new Uint8Array(MIB));
      const cut = (slot: number): Uint8Array[] => { const sh = shards[slot]!; for (let k = 0; k < K; k++) sh[k]!.set(src.subarray(k * SHARD, (k + 1) * SHARD)); return sh; };
      try {
        await timed(names.pw, async (i) => { await plain.write(src, 0, MIB, i * MIB); });
        await timed(names.sw, async (i, slot) => { const sh = cut(slot); await Promise.all(sh.map((b, s) => copyFiles[s]!.write(b, 0, SHARD, i * SHARD))); });
        await timed(names.ew, async (i, slot) => {
          const sh = cut(slot);
          codec.encode(sh);
          for (const b of sh) xxh64(b);
          await Promise.all(sh.map((b, s) => ecFiles[s]!.write(b, 0, SHARD, i * SHARD)));
        });
        await timed(names.pr, async (i, slot) => { await plain.read(out[slot]!, 0, MIB, i * MIB); });
        await timed(names.sr, async (i, slot) => { const o = out[slot]!; await Promise.all(Array.from({ length: K }, (_, k) => copyFiles[k]!.read(o, k * SHARD, SHARD, i * SHARD))); });
        await timed(names.er, async (i, slot) => {
          const o = out[slot]!;
          await Promise.all(Array.from({ length: K }, (_, k) => ecFiles[k]!.read(o, k * SHARD, SHARD, i * SHARD)));
          for (let k = 0; k < K; k++) xxh64(o.subarray(k * SHARD, (k + 1) * SHARD));
        });
      } finally {
        for (const f of [plain, ...copyFiles, ...ecFiles]) await f.close();
      }
    }
  } finally {
    removeTempDir(root);
  }
  const median = (xs: number[]): number => xs.slice().sort((a, b) => a - b)[xs.length >> 1]!;
  const figure = (name: string): Sample => { const s = samples.get(name)!; return { wall: median(s.map((x) => x.wall)), cpu: median(s.map((x) => x.cpu)) }; };
  return Object.entries(names).map(([k, name]) => {
    const f = figure(name);
    const peer = k.endsWith('w') ? names.pw : names.pr;
    const row: BenchRow = { name, suite: 'ceiling', bytesPerSecond: f.wall, opsPerSecond: f.wall / MIB, extra: { cpuRate: Math.round(f.cpu), rounds } };
    if (name !== peer) { row.peer = peer; row.extra!.cpuRatio = +(f.cpu / figure(peer).cpu).toFixed(3); }
    return row;
  });
}
