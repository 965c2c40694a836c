/**
 * `npm run bench [suite...]`: runs the benchmark suites (all by default), prints one table per
 * suite — every row with a peer shows `ratio=` and the peer's figure beside it — then a summary of
 * all peer comparisons, and writes bench/results/latest.json (rows carry `peer` and `ratio`).
 * Suites live in bench/<name>.bench.ts and export a BenchSuite. CAIRN_BENCH_QUICK=1: short runs;
 * CAIRN_BENCH_OUT=<file>: write the JSON there instead. A suite that throws is reported and
 * recorded under `failures`, the others still run, and the exit code is 1.
 * `npm run bench` measures the compiled package (dist/, rebuilt first when stale), as users run it;
 * CAIRN_BENCH_SOURCE=1 measures the sources under tsx (see bench/lib/compiled.mjs).
 */
import { readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import os from 'node:os';
import type { BenchRow, BenchSuite } from './harness.js';
import { fmtBytes, fmtRate, fmtSeconds } from './harness.js';
import { applyPeers, comparisonText, figure, fmtRatio } from './peers.js';
import { relaxedSimdStatus } from '../index.js';

const dir = new URL('.', import.meta.url).pathname;
const wanted = process.argv.slice(2);
const all = readdirSync(dir).filter((f) => f.endsWith('.bench.ts')).map((f) => f.replace(/\.bench\.ts$/, '')).sort();
const suites = wanted.length ? all.filter((s) => wanted.includes(s)) : all;
if (wanted.length && suites.length !== wanted.length) {
  console.error(`unknown suite(s): ${wanted.filter((w) => !all.includes(w)).join(', ')}; have: ${all.join(', ')}`);
  process.exit(2);
}
const tty = process.stderr.isTTY === true;
const quick = process.env.CAIRN_BENCH_QUICK === '1';
const progress = (m: string) => { if (tty) process.stderr.write(`\r\x1b[2K  running ${m}`.slice(0, (process.stderr.columns || 120) + 7)); };

function fmtExtra(extra: Record<string, unknown> | undefined): string {
  if (!extra) return '';
  return Object.entries(extra).map(([k, v]) => `${k}=${typeof v === 'number' ? +v.toFixed(3) : typeof v === 'object' ? JSON.stringify(v) : v}`).join(' ');
}

function printSuite(name: string, got: BenchRow[], byName: ReadonlyMap<string, BenchRow>): void {
  const w = Math.max(...got.map((r) => r.name.length), 10);
  console.log(`\n## ${name}`);
  for (const r of got) {
    const cols = [fmtRate(r.bytesPerSecond, 'B').padStart(11), fmtRate(r.opsPerSecond, 'ops').padStart(10)];
    if (r.seconds !== undefined || r.rssBytes !== undefined) cols.push(`${fmtSeconds(r.seconds)} ${fmtBytes(r.rssBytes)}`);
    const cmp = comparisonText(r, byName);
    const extra = fmtExtra(r.extra);
    console.log(`${r.name.padEnd(w)}  ${cols.join('  ')}${cmp ? `  ${cmp}` : ''}${extra ? `  | ${extra}` : ''}`);
  }
}

/** Every row with a peer: row figure, peer figure, ratio, target. */
function printSummary(rows: BenchRow[], byName: ReadonlyMap<string, BenchRow>): void {
  const withPeer = rows.filter((r) => r.peer !== undefined);
  if (!withPeer.length) return;
  console.log('\n## peer comparison (ratio > 1: better than the peer)');
  const w = Math.max(...withPeer.map((r) => r.name.length));
  for (const r of withPeer) {
    const peer = byName.get(r.peer!);
    const ratio = r.ratio !== undefined ? fmtRatio(r.ratio) : r.aborted ? 'aborted' : '-';
    const target = r.targetRatio !== undefined && r.ratio !== undefined ? ` (target ${r.targetRatio}x: ${r.ratio >= r.targetRatio ? 'met' : 'MISSED'})` : '';
    console.log(`${r.name.padEnd(w)}  ${figure(r, r.ratioBasis).padStart(10)}  vs ${(peer ? figure(peer, r.ratioBasis) : 'missing').padStart(10)}  ${ratio.padStart(7)}${target}  ${r.peer}`);
  }
}

const rows: BenchRow[] = [];
/** Suites that threw: reported, recorded in latest.json, and the exit code is 1; the others still run. */
const failures: Array<{ suite: string; error: string }> = [];
/** Wall seconds per suite. */
const suiteSeconds: Record<string, number> = {};
const started = performance.now();
/** Machine load when the run starts: figures from a loaded machine are noisy (ratios less so: peers run in the same run). */
const loadAtStart = os.loadavg()[0]!;
/** Which code is measured: the compiled package (dist/, as users run it; bench/lib/compiled.mjs) or the TypeScript sources under tsx. */
const library = import.meta.resolve('../index.js').includes('/dist/') ? 'dist (compiled package)' : 'sources (tsx)';
console.log(`library measured: ${library}`);
if (loadAtStart > os.cpus().length) console.log(`note: load average ${loadAtStart.toFixed(1)} on ${os.cpus().length} CPUs: absolute figures will be noisy`);
for (const s of suites) {
  let got: BenchRow[];
  const suiteStart = performance.now();
  try {
    const mod = (await import(pathToFileURL(join(dir, `${s}.bench.ts`)).href)) as { default: BenchSuite };
    got = await mod.default({ quick, progress });
  } catch (e) {
    if (tty) process.stderr.write('\r\x1b[2K');
    const error = e instanceof Error ? `${e.name}${(e as { code?: string }).code ? ` ${(e as { code?: string }).code}` : ''}: ${e.message}` : String(e);
    failures.push({ suite: s, error });
    console.log(`\n## ${s}\nFAILED: ${error}`);
    suiteSeconds[s] = (performance.now() - suiteStart) / 1000;
    continue;
  }
  suiteSeconds[s] = (performance.now() - suiteStart) / 1000;
  if (tty) process.stderr.write('\r\x1b[2K');
  rows.push(...got);
  applyPeers(rows);
  printSuite(s, got, new Map(rows.map((r) => [r.name, r])));
  console.log(`(${s}: ${suiteSeconds[s]!.toFixed(0)} s)`);
}
applyPeers(rows);
const byName = new Map(rows.map((r) => [r.name, r]));
printSummary(rows, byName);
/** Where the JSON goes: CAIRN_BENCH_OUT, default bench/results/latest.json. */
const outFile = process.env.CAIRN_BENCH_OUT || join(dir, 'results', 'latest.json');
mkdirSync(dirname(outFile), { recursive: true });
const ec = relaxedSimdStatus();
const out = {
  date: new Date().toISOString(), node: process.version, cpu: os.cpus()[0]?.model, cpus: os.cpus().length,
  memoryBytes: os.totalmem(), quick, suites, seconds: (performance.now() - started) / 1000,
  loadAverage: { start: loadAtStart, end: os.loadavg()[0] }, suiteSeconds,
  ecKernel: { relaxedSimd: ec.enabled, reason: ec.reason }, library,
  failures,
  rows,
};
writeFileSync(outFile, JSON.stringify(out, null, 2) + '\n');
console.log(`\nwrote ${process.env.CAIRN_BENCH_OUT ? outFile : 'bench/results/latest.json'} (${rows.length} cases, ${out.seconds.toFixed(0)} s)${failures.length ? `; FAILED suites: ${failures.map((f) => f.suite).join(', ')}` : ''}`);
if (failures.length) process.exitCode = 1;
