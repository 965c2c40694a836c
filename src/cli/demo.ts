/**
 * `cairn demo`: the main job on an embedded default pool. Writes a data set with an EC class,
 * excludes targets up to the container's redundancy factor, reads everything back degraded,
 * verifies every byte, and prints a short summary. Exit code 1 if anything fails to verify.
 */
import type { Command } from 'commander';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from '../pool/pool.js';
import { Rng } from '../../core/rng.js';
import { xxh64, initXxhash } from '../../core/xxhash.js';
import { intOpt, progressBar, fmtBytes, withScratchDir } from './util.js';
import { UsageError } from './errors.js';
import { CairnError } from '../../core/errors.js';
import { toObjectClass } from '../../placement/index.js';
import { failuresTolerated } from '../container/container.js';

/** Summary of a demo run (also printed as JSON with --json). */
export interface DemoSummary {
  dir: string; oclass: string; redundancyFactor: number; targets: number;
  arrays: number; kvEntries: number; bytes: number;
  excluded: number[]; verified: number; mismatches: number;
  rebuild: { state: string; objects: number; bytes: number; sources: number; destinations: number; seconds: number };
  verifiedAfterRebuild: number;
  writeMBps: number; degradedReadMBps: number; seconds: number;
}

/** Shape of the demo pool: 4 nodes x 2 ranks x 2 targets. */
const DEMO_SHAPE = { nodes: 4, ranksPerNode: 2, targetsPerRank: 2 } as const;
const DEMO_TARGETS = DEMO_SHAPE.nodes * DEMO_SHAPE.ranksPerNode * DEMO_SHAPE.targetsPerRank;
/** Most array objects (up to 2 MiB each) and KV entries (up to 8 KiB each) a demo writes. */
export const MAX_DEMO_OBJECTS = 10_000;
export const MAX_DEMO_KV = 1_000_000;

/** Run the demo (exported for tests). */
export async function runDemo(o: { dir?: string; objects?: number; kv?: number; oclass?: string; seed?: number; maxSize?: number; quiet?: boolean }): Promise<DemoSummary> {
  await initXxhash();
  const started = performance.now();
  const oclass = o.oclass ?? 'EC_4P2GX';
  const cls = toObjectClass(oclass);
  const rf = failuresTolerated(cls);
  // refused before the pool is created (with --dir it would be left behind)
  if (cls.groupSize > DEMO_TARGETS) throw new UsageError(`--oclass ${cls.name} needs ${cls.groupSize} targets, the demo pool has ${DEMO_TARGETS}`);
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'cairn-demo-'));
  const rng = new Rng(o.seed ?? 2026);
  const pool = await Pool.create(join(dir, 'pool'), { ...DEMO_SHAPE, scmBytes: 64 << 20, dataBytes: 1 << 30 });
  try {
    const cont = await pool.createContainer('demo', { oclass: cls.name, redundancyFactor: rf, cellSize: 64 * 1024 });
    const arrays = o.objects ?? 48, kvEntries = o.kv ?? 400, maxSize = o.maxSize ?? 2 * 1024 * 1024;
    const sums: Array<{ name: string; size: number; sum: bigint }> = [];
    let bytes = 0;
    const bar = o.quiet ? { update() {}, stop() {} } : progressBar(arrays + kvEntries, 'write');
    let t0 = performance.now();
    for (let i = 0; i < arrays; i++) {
      const size = 1 + rng.int(maxSize);
      const data = rng.bytes(size);
      await cont.array(`file-${i}`).write(0, data);
      sums.push({ name: `file-${i}`, size, sum: xxh64(data) });
      bytes += size;
      bar.update(i + 1);
    }
    const kv = cont.kv('demo-kv');
    const kvSums = new Map<string, bigint>();
    for (let i = 0; i < kvEntries; i++) {
      const v = rng.bytes(1 + rng.int(8192));
      await kv.put(`key-${i}`, v);
      kvSums.set(`key-${i}`, xxh64(v));
      bytes += v.length;
      bar.update(arrays + i + 1);
    }
    bar.stop();
    const writeSecs = (performance.now() - t0) / 1000;
    // Exclude one target in each of `rf` distinct ranks (fault domains).
    const excluded: number[] = [];
    const usedRanks = new Set<number>();
    for (const t of pool.query().targets) {
      if (excluded.length >= rf) break;
      if (usedRanks.has(t.rank) || t.id % 3 !== 1) continue;
      usedRanks.add(t.rank);
      excluded.push(t.id);
    }
    for (const t of excluded) await pool.exclude(t);
    const bar2 = o.quiet ? { update() {}, stop() {} } : progressBar(arrays + kvEntries, 'verify (degraded)');
    t0 = performance.now();
    let verified = 0, mismatches = 0;
    for (const [i, s] of sums.entries()) {
      const back = await cont.array(s.name).read(0, s.size);
      if (xxh64(back) === s.sum) verified++; else mismatches++;
      bar2.update(i + 1);
    }
    let j = 0;
    for (const [k, sum] of kvSums) {
      const v = await kv.get(k);
      if (v && xxh64(v) === sum) verified++; else mismatches++;
      bar2.update(arrays + ++j);
    }
    bar2.stop();
    const readSecs = (performance.now() - t0) / 1000;
    // The declustered rebuild has been running meanwhile; let it finish and verify once more.
    const r0 = performance.now();
    await pool.waitForRebuild();
    const rb = pool.rebuildStatus();
    const rebuildSecs = (performance.now() - r0) / 1000;
    let verifiedAfterRebuild = 0;
    for (const s of sums) if (xxh64(await cont.array(s.name).read(0, s.size)) === s.sum) verifiedAfterRebuild++; else mismatches++;
    for (const [k, sum] of kvSums) { const v = await kv.get(k); if (v && xxh64(v) === sum) verifiedAfterRebuild++; else mismatches++; }
    return {
      rebuild: { state: rb.state, objects: rb.objectsDone, bytes: rb.bytes, sources: rb.sources ?? 0, destinations: rb.destinations ?? 0, seconds: rebuildSecs },
      verifiedAfterRebuild,
      dir, oclass: cls.name, redundancyFactor: rf, targets: pool.query().targets.length, arrays, kvEntries, bytes,
      excluded, verified, mismatches,
      writeMBps: bytes / 1e6 / writeSecs, degradedReadMBps: bytes / 1e6 / readSecs, seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await pool.close();
    if (!o.dir) rmSync(dir, { recursive: true, force: true });
  }
}

export function registerDemo(program: Command): void {
  program.command('demo')
    .description('write a data set with an EC class, fail targets up to the redundancy factor, read it all back degraded and verify')
    .option('--dir <dir>', 'keep the pool in this directory (default: a temporary one, removed afterwards)')
    .option('--oclass <class>', 'object class', 'EC_4P2GX')
    .option('--objects <n>', 'array objects to write', '48')
    .option('--kv <n>', 'KV entries to write', '400')
    .option('--seed <n>', 'data seed', '2026')
    .option('--json', 'print the summary as JSON')
    .action(async (o) => {
      if (o.dir === '') throw new UsageError('--dir must not be empty');
      const objects = intOpt('objects', o.objects, 48, 0, MAX_DEMO_OBJECTS), kv = intOpt('kv', o.kv, 400, 0, MAX_DEMO_KV);
      const seed = intOpt('seed', o.seed, 2026, 0, 0xffffffff);
      const run = (dir: string) => runDemo({ dir, oclass: o.oclass, objects, kv, seed });
      // without --dir: a scratch directory, removed on exit, error and SIGINT/SIGTERM
      const s = o.dir !== undefined ? await run(o.dir) : await withScratchDir(tmpdir(), 'cairn-demo-', run);
      if (o.json) console.log(JSON.stringify(s, null, 2));
      else {
        console.log(`Cairn demo: pool of ${s.targets} targets (4 nodes x 2 ranks x 2 targets), container class ${s.oclass}, redundancy factor ${s.redundancyFactor}`);
        console.log(`  wrote ${s.arrays} arrays and ${s.kvEntries} KV entries, ${fmtBytes(s.bytes)} at ${s.writeMBps.toFixed(1)} MB/s`);
        console.log(`  excluded targets ${s.excluded.join(', ')} (DOWN, one per rank); read everything back degraded at ${s.degradedReadMBps.toFixed(1)} MB/s`);
        console.log(`  verified ${s.verified} values byte for byte while degraded`);
        console.log(`  rebuild ${s.rebuild.state}: ${fmtBytes(s.rebuild.bytes)} reconstructed for ${s.rebuild.objects} objects, read from ${s.rebuild.sources} targets, written to ${s.rebuild.destinations}; excluded targets now ${s.excluded.map(() => 'DOWNOUT').join(', ')}`);
        console.log(`  verified ${s.verifiedAfterRebuild} values again after rebuild${s.mismatches ? `: ${s.mismatches} MISMATCHES` : ': all correct'} (${s.seconds.toFixed(1)} s)`);
      }
      if (s.mismatches) throw new CairnError('CHECKSUM_MISMATCH', `demo: ${s.mismatches} values did not verify`, { mismatches: s.mismatches });
    });
}
