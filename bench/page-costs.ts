/**
 * What the page cache and a shared file mapping's page-table entries cost on this machine, per
 * MiB of process CPU (a probe, not a suite: no `.bench.ts`). `node --import tsx bench/page-costs.ts
 * [MiB]` (default 128) writes a file of that size in a temporary directory and times, in order:
 * pwrite into a new file (page cache never used), pwrite over the same range, the first store of
 * every byte through a new shared mapping of those cached pages, the same stores again, the
 * stores after an fdatasync (which write-protects every entry), the stores after an fdatasync and
 * MADV_POPULATE_WRITE of each MiB first, a copy out of a new mapping, and pread.
 *
 * Why: the data path copies bulk values into a writable mapping of a target's data file and out
 * of it (src/media/block-device.ts `writeMap`, `readMap`); that wins only where making and
 * keeping the entries is cheap. On the paravirtual guests these benchmarks ran on since session 33
 * it is not (docs/performance.md, "Session 35"), and this probe shows by how much on any machine.
 * Needs the optional @riaskov/mmap-io.
 */
import { closeSync, fdatasyncSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { mmapBinding, mmapSupport, PmemFile, MAX_PMEM_BYTES } from '../src/media/pmem.js';
import { tempDir, removeTempDir } from './lib/cleanup.js';
import { wholeArg } from './lib/args.js';

/** Linux madvise advice: fault a range in writable (5.14+). */
const MADV_POPULATE_WRITE = 23;
const MIB = 1 << 20;
/** Largest file the probe writes (MiB): what one mapping of the project's pmem wrapper takes. */
const MAX_MIB = Math.floor(MAX_PMEM_BYTES / MIB);

const mib = wholeArg(2, 128, 1, MAX_MIB, 'MiB');
const support = mmapSupport();
if (!support.available) throw new Error(`bench/page-costs needs mmap: ${support.reason}`);

const bytes = mib * MIB;
const src = Buffer.alloc(MIB, 7);
const dst = Buffer.alloc(MIB);
const dir = tempDir('cairn-page-costs-');
const file = join(dir, 'file');
const fd = openSync(file, 'w+');
const rows: Array<{ step: string; cpuUsPerMiB: number; faultsPerMiB: number }> = [];

/** Run `work`, record its process CPU and minor faults per MiB under `step`. */
function step(name: string, work: () => void): void {
  const r0 = process.resourceUsage(), c0 = process.cpuUsage();
  work();
  const c = process.cpuUsage(c0), r = process.resourceUsage();
  rows.push({ step: name, cpuUsPerMiB: Math.round((c.user + c.system) / mib), faultsPerMiB: +((r.minorPageFault - r0.minorPageFault) / mib).toFixed(1) });
}
const eachMiB = (f: (at: number) => void) => { for (let at = 0; at < bytes; at += MIB) f(at); };
/** A new shared writable mapping of the whole file (the project's pmem wrapper; unmapped when collected). */
const newMap = () => PmemFile.open(file, { size: bytes, create: false }).view;

try {
  ftruncateSync(fd, bytes);
  step('pwrite, new page cache', () => eachMiB((at) => writeSync(fd, src, 0, MIB, at)));
  step('pwrite, same pages again', () => eachMiB((at) => writeSync(fd, src, 0, MIB, at)));
  const m = newMap();
  step('store through a new mapping (cached pages)', () => eachMiB((at) => src.copy(m, at)));
  step('store again (entries made)', () => eachMiB((at) => src.copy(m, at)));
  fdatasyncSync(fd);
  step('store after fdatasync (write-protected)', () => eachMiB((at) => src.copy(m, at)));
  fdatasyncSync(fd);
  let populate = true;
  step('MADV_POPULATE_WRITE + store after fdatasync', () => eachMiB((at) => {
    if (populate) { try { mmapBinding().advise(m, at, MIB, MADV_POPULATE_WRITE); } catch { populate = false; } }
    src.copy(m, at);
  }));
  const r = newMap();
  step('copy out of a new mapping (cached pages)', () => eachMiB((at) => r.copy(dst, 0, at, at + MIB)));
  step('copy out again (entries made)', () => eachMiB((at) => r.copy(dst, 0, at, at + MIB)));
  step('pread', () => eachMiB((at) => readSync(fd, dst, 0, MIB, at)));
  const width = Math.max(...rows.map((x) => x.step.length));
  for (const x of rows) console.log(`${x.step.padEnd(width)}  ${String(x.cpuUsPerMiB).padStart(6)} us CPU per MiB  ${String(x.faultsPerMiB).padStart(6)} faults per MiB`);
  if (!populate) console.log('(MADV_POPULATE_WRITE refused by this kernel: that row is plain stores)');
} finally {
  closeSync(fd);
  removeTempDir(dir);
}
