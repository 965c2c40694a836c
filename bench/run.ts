/**
 * `npm run bench [suite...]`: runs the benchmark suites (all by default), prints one table and
 * writes bench/results/latest.json. Suites live in bench/<name>.bench.ts and export a BenchSuite.
 */
import { readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import os from 'node:os';
import type { BenchRow, BenchSuite } from './harness.js';
import { fmtRate } from './harness.js';

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
const progress = (m: string) => { if (tty) process.stderr.write(`\r\x1b[2K  running ${m}`); };

const rows: BenchRow[] = [];
for (const s of suites) {
  const mod = (await import(pathToFileURL(join(dir, `${s}.bench.ts`)).href)) as { default: BenchSuite };
  const got = await mod.default({ quick, progress });
  if (tty) process.stderr.write('\r\x1b[2K');
  rows.push(...got);
  const w = Math.max(...got.map((r) => r.name.length), 10);
  console.log(`\n## ${s}`);
  for (const r of got) {
    const extra = r.extra ? Object.entries(r.extra).map(([k, v]) => `${k}=${typeof v === 'number' ? +v.toFixed(3) : v}`).join(' ') : '';
    console.log(`${r.name.padEnd(w)}  ${fmtRate(r.bytesPerSecond, 'B').padStart(12)}  ${fmtRate(r.opsPerSecond, 'ops').padStart(11)}  ${extra}`);
  }
}
mkdirSync(join(dir, 'results'), { recursive: true });
const out = {
  date: new Date().toISOString(), node: process.version, cpu: os.cpus()[0]?.model, quick, suites,
  rows,
};
writeFileSync(join(dir, 'results', 'latest.json'), JSON.stringify(out, null, 2) + '\n');
console.log(`\nwrote bench/results/latest.json (${rows.length} cases)`);
