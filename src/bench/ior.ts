/**
 * IOR-like and mdtest-like workloads on an embedded pool, shared by `cairn bench` and
 * `npm run bench` (bench/object.bench.ts, bench/engines.bench.ts). Each result states its shape in
 * its name; the IOR results name their peer — raw `fs` writes / reads of the same bytes, as many in
 * flight, measured in the same run — in `peer`. Uses the public API only.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { open as fsOpen } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from '../index.js';

/** One workload result. */
export interface WorkloadResult {
  name: string;
  bytesPerSecond?: number;
  opsPerSecond?: number;
  /** Name of the result this one is compared with (the fs baseline of the same bytes). */
  peer?: string;
  extra?: Record<string, number | string>;
}

/** Options of the IOR-like run. */
export interface IorOptions {
  /** Total bytes written and read per class (default 256 MiB). */
  bytes?: number;
  /** Transfer size (default 1 MiB). */
  transfer?: number;
  /** Object classes (default EC_4P2G1 and RP_3G1). */
  classes?: string[];
  /** KV operations of the mdtest-like run (default 20,000). */
  kvOps?: number;
  /** Where the pool lives (default a temporary directory, removed afterwards). */
  dir?: string;
  /** Requests in flight (default 8). */
  queueDepth?: number;
  progress?: (msg: string) => void;
  /** Run against this pool instead of a fresh embedded one (e.g. a connected pool); not closed. */
  pool?: Pool;
  /** Suffix of every result name (e.g. `4 engines`). */
  label?: string;
  /** Skip the fs baseline and compare with these figures instead. */
  baseline?: { fsWrite: number; fsRead: number };
}

/** Run the workloads on an 8-target pool (4 nodes x 2 ranks x 1 target, so RP_3 and EC 4+2 fit across ranks). */
export async function runIor(opts: IorOptions = {}): Promise<WorkloadResult[]> {
  const bytes = opts.bytes ?? 256 * 1024 * 1024;
  const transfer = opts.transfer ?? 1024 * 1024;
  const qd = opts.queueDepth ?? 8;
  const n = Math.max(1, Math.floor(bytes / transfer));
  const root = opts.dir ?? mkdtempSync(join(tmpdir(), 'cairn-ior-'));
  const out: WorkloadResult[] = [];
  const buf = new Uint8Array(transfer);
  for (let i = 0; i < buf.length; i++) buf[i] = (i * 2654435761) >>> 24;
  try {
    let fsWrite: number, fsRead: number;
    let t0: number;
    if (opts.baseline) ({ fsWrite, fsRead } = opts.baseline);
    else {
    // Baseline: the same bytes with plain fs writes to one file.
    opts.progress?.('fs baseline');
    const fh = await fsOpen(join(root, 'baseline.bin'), 'w+');
    t0 = performance.now();
    await inFlight(n, qd, (i) => fh.write(buf, 0, transfer, i * transfer).then(() => undefined));
    fsWrite = (n * transfer) / ((performance.now() - t0) / 1000);
    t0 = performance.now();
    const rbs = Array.from({ length: qd }, () => Buffer.alloc(transfer));
    let slot = 0;
    await inFlight(n, qd, (i) => fh.read(rbs[slot++ % qd]!, 0, transfer, i * transfer).then(() => undefined));
    fsRead = (n * transfer) / ((performance.now() - t0) / 1000);
    await fh.close();
    out.push({ name: `fs write ${mib(transfer)} baseline`, bytesPerSecond: fsWrite });
    out.push({ name: `fs read ${mib(transfer)} baseline`, bytesPerSecond: fsRead });
    }
    const sfx = opts.label ? ` ${opts.label}` : '';

    const pool = opts.pool ?? await Pool.create(join(root, 'pool'), { nodes: 4, ranksPerNode: 2, targetsPerRank: 1, scmBytes: 256 << 20, dataBytes: Math.max(1 << 30, Math.ceil((bytes * 2) / 8)) });
    try {
      for (const oclass of opts.classes ?? ['EC_4P2G1', 'RP_3G1']) {
        opts.progress?.(`ior ${oclass}`);
        const cont = await pool.createContainer(`ior-${oclass}`, { oclass });
        await cont.openTargets();
        const arr = cont.array('ior-file', { chunkSize: transfer });
        t0 = performance.now();
        await inFlight(n, qd, (i) => arr.write(i * transfer, buf));
        const w = (n * transfer) / ((performance.now() - t0) / 1000);
        t0 = performance.now();
        let bad = 0;
        await inFlight(n, qd, async (i) => { const d = await arr.read(i * transfer, transfer); if (d[7] !== buf[7] || d[transfer - 1] !== buf[transfer - 1]) bad++; });
        const r = (n * transfer) / ((performance.now() - t0) / 1000);
        if (bad) throw new Error(`ior ${oclass}: ${bad} transfers read back wrong`);
        out.push({ name: `ior write ${mib(transfer)} seq ${oclass}${sfx}`, bytesPerSecond: w, peer: `fs write ${mib(transfer)} baseline`, extra: { vsFsWrite: w / fsWrite } });
        out.push({ name: `ior read ${mib(transfer)} seq ${oclass}${sfx}`, bytesPerSecond: r, peer: `fs read ${mib(transfer)} baseline`, extra: { vsFsRead: r / fsRead } });
        await cont.close();
      }
      opts.progress?.('mdtest kv');
      const cont = await pool.createContainer('mdtest', { oclass: 'RP_3G1' });
      await cont.openTargets();
      const kv = cont.kv('mdtest');
      const v = new Uint8Array(4096).fill(7);
      const ops = opts.kvOps ?? 20_000;
      t0 = performance.now();
      await inFlight(ops, 32, (i) => kv.put(`key-${i}`, v).then(() => undefined));
      const puts = ops / ((performance.now() - t0) / 1000);
      t0 = performance.now();
      await inFlight(ops, 32, async (i) => { const g = await kv.get(`key-${i}`); if (!g || g.length !== 4096) throw new Error('mdtest: bad value'); });
      const gets = ops / ((performance.now() - t0) / 1000);
      out.push({ name: `mdtest kv put 4KiB RP_3G1${sfx}`, opsPerSecond: puts });
      out.push({ name: `mdtest kv get 4KiB RP_3G1${sfx}`, opsPerSecond: gets });
      await cont.close();
    } finally {
      if (!opts.pool) await pool.close();
    }
  } finally {
    if (!opts.dir) rmSync(root, { recursive: true, force: true });
  }
  return out;
}

function mib(n: number): string { return n % (1024 * 1024) === 0 ? `${n / 1024 / 1024}MiB` : `${n / 1024}KiB`; }

/** Run `fn(0..n-1)` with at most `depth` in flight. */
async function inFlight(n: number, depth: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(depth, n) }, async () => {
    while (next < n) await fn(next++);
  }));
}
