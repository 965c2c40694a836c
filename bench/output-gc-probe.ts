/**
 * Reads into fresh outputs and V8's collections (a probe, not a suite: no `.bench.ts`).
 * `node --import tsx bench/output-gc-probe.ts [runs] [objects]` (defaults 8 and 256) runs `runs`
 * child processes; each makes an embedded pool of the rebuild bench's shape (32 targets), writes
 * `objects` EC_8P2G1 arrays of 4 MiB, then reads random 1 MiB ranges of them without `into`
 * (8 in flight) for two windows of 2 s, and prints per window: the rate, the full and young
 * collections (count and pause), and the output free list's stats (native `recycleStats`). The
 * parent prints each run's second window and counts the runs whose second window had more than
 * `STORM_FULL_GCS` full collections.
 *
 * Why: a process reading 1 MiB results it does not keep falls, in some runs and not others, into a
 * state of a full collection every ~50 ms that lasts as long as the reads do, at a third of the
 * rate (docs/performance.md, "Session 40": 2 to 7 of 16 runs here; since session 41's results
 * that move to a new buffer when their read completes, 0 of 56). The
 * bench rows that read without `into` (rebuild's client windows, io's fresh-buffer reads) show it
 * as outliers; this shows how often it comes, so that a change meant to end it can be measured.
 * `OUTPUT_GC_NODE_ARGS` passes V8 flags to the children (e.g. `--trace-gc-nvp`, whose
 * `promotion_ratio` and `nodes_promoted` tell the two states apart).
 */
import { spawnSync } from 'node:child_process';
import { PerformanceObserver, constants as perfConstants } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { Pool } from '../index.js';
import { nativeAddon } from '../src/media/io-uring.js';
import { Rng } from '../core/rng.js';
import { tempDir, removeTempDir } from './lib/cleanup.js';
import { wholeArg } from './lib/args.js';
import { compiledImport } from './cluster.js';
import { gcKind } from './lib/gc-kind.js';

const MIB = 1 << 20;
/** A second window with more full collections than this counts as a run in that state. */
const STORM_FULL_GCS = 15;
const OBJECT_BYTES = 4 * MIB;
const DEPTH = 8;
const WINDOW_MS = 2000;
const WINDOWS = 2;

/** One window's figures, as a child prints them (one JSON line each). */
interface Window { gbps: number; fullGcs: number; fullMs: number; youngGcs: number; youngMs: number; recycle?: number[] }

async function child(objects: number): Promise<void> {
  const root = tempDir('cairn-output-gc-');
  const dataBytes = Math.ceil(((objects * OBJECT_BYTES * 10) / 8 / 32) * 2);
  const pool = await Pool.create(join(root, 'pool'), { nodes: 4, ranksPerNode: 2, targetsPerRank: 4, scmBytes: 64 * MIB, dataBytes: Math.max(64 * MIB, dataBytes) });
  const gc = { full: 0, fullMs: 0, young: 0, youngMs: 0 };
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = gcKind(e);
      if (kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) { gc.full++; gc.fullMs += e.duration; } else if (kind === perfConstants.NODE_PERFORMANCE_GC_MINOR) { gc.young++; gc.youngMs += e.duration; }
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  try {
    const cont = await pool.createContainer('probe', { oclass: 'EC_8P2G1', redundancyFactor: 2 });
    const data = new Rng(1).bytes(OBJECT_BYTES);
    let next = 0;
    await Promise.all(Array.from({ length: DEPTH }, async () => {
      while (next < objects) { const i = next++; const own = data.slice(); own[0] = i & 0xff; await cont.array(`obj-${i}`, { chunkSize: MIB }).write(0, own); }
    }));
    const rng = new Rng(7);
    for (let w = 0; w < WINDOWS; w++) {
      const g0 = { ...gc };
      let bytes = 0;
      const t = performance.now(), end = t + WINDOW_MS;
      await Promise.all(Array.from({ length: DEPTH }, async () => {
        while (performance.now() < end) {
          const back = await cont.array(`obj-${rng.int(objects)}`, { chunkSize: MIB }).read(rng.int(OBJECT_BYTES / MIB) * MIB, MIB);
          if (back.length !== MIB) throw new Error('short read');
          bytes += MIB;
        }
      }));
      const seconds = (performance.now() - t) / 1000;
      await new Promise((r) => setImmediate(r)); // (the observer's entries of the window)
      const out: Window = { gbps: +(bytes / seconds / 1e9).toFixed(2), fullGcs: gc.full - g0.full, fullMs: Math.round(gc.fullMs - g0.fullMs), youngGcs: gc.young - g0.young, youngMs: Math.round(gc.youngMs - g0.youngMs), recycle: nativeAddon()?.recycleStats?.() };
      console.log(JSON.stringify(out));
    }
  } finally {
    obs.disconnect();
    await pool.close();
    removeTempDir(root);
  }
}

function parent(runs: number, objects: number): void {
  const nodeArgs = (process.env.OUTPUT_GC_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const self = fileURLToPath(import.meta.url);
  let storms = 0;
  for (let r = 0; r < runs; r++) {
    const res = spawnSync(process.execPath, [...nodeArgs, '--import', 'tsx', ...compiledImport(), self, String(objects)], { env: { ...process.env, OUTPUT_GC_CHILD: '1' }, encoding: 'utf8', maxBuffer: 256 * MIB });
    const windows = res.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Window);
    const last = windows[WINDOWS - 1];
    if (res.status !== 0 || last === undefined) { console.log(`run ${r + 1}: failed (status ${res.status})\n${res.stderr.slice(-2000)}`); process.exitCode = 1; continue; }
    const storm = last.fullGcs > STORM_FULL_GCS;
    if (storm) storms++;
    console.log(`run ${r + 1}: ${windows.map((x) => `${x.gbps} GB/s, ${x.fullGcs} full (${x.fullMs} ms), ${x.youngGcs} young (${x.youngMs} ms)`).join(' | ')}${storm ? '  <- full collections' : ''}`);
  }
  console.log(`runs with more than ${STORM_FULL_GCS} full collections in the second window: ${storms} of ${runs}`);
}

if (process.env.OUTPUT_GC_CHILD === '1') await child(wholeArg(2, 256, 16, 4096, 'objects'));
else parent(wholeArg(2, 8, 1, 1000, 'runs'), wholeArg(3, 256, 16, 4096, 'objects'));
