/**
 * The POSIX namespace: files of 4 KiB and 64 MiB written and read through `Dfs` and through a
 * `cairn mount` FUSE mount (a real child process), beside the local file system in the same run;
 * and an mdtest-like create / stat / remove of 10,000 empty files (1,000 with CAIRN_BENCH_QUICK=1)
 * the same three ways. Pool: 3 nodes x 2 ranks x 1 target, container class EC_4P1G1.
 * Local-filesystem reads of a file just written come from the page cache (as they would for a
 * user); mount reads are not cached across opens (data consistency), so they reach Cairn.
 */
import { join } from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, readFileSync, closeSync, openSync } from 'node:fs';
import * as lfs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { Pool, Dfs } from '../index.js';
import { fuseUnavailableReason } from '../src/dfs/fuse.js';
import type { BenchContext, BenchRow, BenchSuite } from './harness.js';

const SMALL_BYTES = 4096;
const LARGE_BYTES = 64 * 1024 * 1024;
/** Longest the mount may take to come up or go away (ms). */
const MOUNT_DEADLINE_MS = 60_000;

/** The file operations a row runs: Dfs, the mount (node:fs on it) and the local fs look alike. */
interface Target {
  name: 'dfs' | 'mount' | 'local-fs';
  writeFile(p: string, d: Uint8Array): Promise<unknown>;
  readFile(p: string): Promise<unknown>;
  stat(p: string): Promise<unknown>;
  unlink(p: string): Promise<unknown>;
  mkdir(p: string): Promise<unknown>;
  rmTree(p: string): Promise<unknown>;
}

function nodeTarget(name: 'mount' | 'local-fs', base: string): Target {
  const at = (p: string) => join(base, p);
  return {
    name,
    writeFile: (p, d) => lfs.writeFile(at(p), d),
    readFile: (p) => lfs.readFile(at(p)),
    stat: (p) => lfs.stat(at(p)),
    unlink: (p) => lfs.unlink(at(p)),
    mkdir: (p) => lfs.mkdir(at(p), { recursive: true }),
    rmTree: (p) => lfs.rm(at(p), { recursive: true, force: true }),
  };
}

function dfsTarget(fs: Dfs): Target {
  return {
    name: 'dfs',
    writeFile: (p, d) => fs.writeFile(p, d),
    readFile: (p) => fs.readFile(p),
    stat: (p) => fs.stat(p),
    unlink: (p) => fs.unlink(p),
    mkdir: (p) => fs.mkdir(p, { recursive: true }),
    rmTree: (p) => fs.rm(p, { recursive: true, force: true }),
  };
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** Rows of one target: 4 KiB and 64 MiB files written and read, then create/stat/remove. */
async function measure(t: Target, ctx: BenchContext): Promise<Array<{ op: string; bytesPerSecond?: number; opsPerSecond: number }>> {
  const out: Array<{ op: string; bytesPerSecond?: number; opsPerSecond: number }> = [];
  const small = new Uint8Array(SMALL_BYTES).map((_, i) => i * 31);
  const large = new Uint8Array(LARGE_BYTES).map((_, i) => (i * 131) >>> 3);
  const nSmall = ctx.quick ? 100 : 500;
  const nLarge = ctx.quick ? 1 : 3;
  const nMeta = ctx.quick ? 1000 : 10_000;
  await t.mkdir('/bench/small');
  ctx.progress(`dfs ${t.name} 4KiB files`);
  let s = await timed(async () => { for (let i = 0; i < nSmall; i++) await t.writeFile(`/bench/small/f${i}`, small); });
  out.push({ op: 'write 4KiB files', bytesPerSecond: (nSmall * SMALL_BYTES) / s, opsPerSecond: nSmall / s });
  s = await timed(async () => { for (let i = 0; i < nSmall; i++) await t.readFile(`/bench/small/f${i}`); });
  out.push({ op: 'read 4KiB files', bytesPerSecond: (nSmall * SMALL_BYTES) / s, opsPerSecond: nSmall / s });
  ctx.progress(`dfs ${t.name} 64MiB files`);
  s = await timed(async () => { for (let i = 0; i < nLarge; i++) await t.writeFile(`/bench/large${i}`, large); });
  out.push({ op: 'write 64MiB file', bytesPerSecond: (nLarge * LARGE_BYTES) / s, opsPerSecond: nLarge / s });
  s = await timed(async () => { for (let i = 0; i < nLarge; i++) await t.readFile(`/bench/large${i}`); });
  out.push({ op: 'read 64MiB file', bytesPerSecond: (nLarge * LARGE_BYTES) / s, opsPerSecond: nLarge / s });
  await t.mkdir('/bench/md');
  ctx.progress(`dfs ${t.name} mdtest ${nMeta}`);
  const empty = new Uint8Array(0);
  s = await timed(async () => { for (let i = 0; i < nMeta; i++) await t.writeFile(`/bench/md/file.${i}`, empty); });
  out.push({ op: `mdtest create ${nMeta} files`, opsPerSecond: nMeta / s });
  s = await timed(async () => { for (let i = 0; i < nMeta; i++) await t.stat(`/bench/md/file.${i}`); });
  out.push({ op: `mdtest stat ${nMeta} files`, opsPerSecond: nMeta / s });
  s = await timed(async () => { for (let i = 0; i < nMeta; i++) await t.unlink(`/bench/md/file.${i}`); });
  out.push({ op: `mdtest remove ${nMeta} files`, opsPerSecond: nMeta / s });
  await t.rmTree('/bench');
  return out;
}

function fuseProblem(): string | undefined {
  try { closeSync(openSync('/dev/fuse', 'r+')); } catch (err) { return `/dev/fuse: ${(err as Error).message}`; }
  if (spawnSync('which', ['fusermount']).status !== 0) return 'no fusermount';
  return fuseUnavailableReason();
}

function startMount(poolDir: string, mnt: string): Promise<ChildProcess> {
  const entry = new URL('../test/helpers/cairn-cli.ts', import.meta.url).pathname;
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, ['--import', 'tsx', entry, 'mount', 'bench', mnt, '--pool', poolDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    const timer = setTimeout(() => { c.kill('SIGKILL'); reject(new Error(`mount did not come up: ${err}`)); }, MOUNT_DEADLINE_MS);
    c.stderr!.on('data', (d) => { err += d; });
    c.stdout!.on('data', (d) => { if (String(d).includes('mounted')) { clearTimeout(timer); resolve(c); } });
    c.on('exit', (code) => { clearTimeout(timer); reject(new Error(`mount exited ${code}: ${err}`)); });
  });
}

function stopMount(c: ChildProcess, mnt: string): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => { c.kill('SIGKILL'); spawnSync('fusermount', ['-uz', mnt]); resolve(); }, MOUNT_DEADLINE_MS);
    c.removeAllListeners('exit');
    c.on('exit', () => { clearTimeout(timer); resolve(); });
    c.kill('SIGTERM');
  });
}

const suite: BenchSuite = async (ctx) => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-bench-dfs-'));
  const rows: BenchRow[] = [];
  try {
    const poolDir = join(dir, 'pool');
    const pool = await Pool.create(poolDir, { nodes: 3, ranksPerNode: 2, targetsPerRank: 1, scmBytes: 128 << 20, dataBytes: 2 * 1024 ** 3 });
    const fs = await Dfs.mount(await pool.createContainer('bench', { oclass: 'EC_4P1G1', redundancyFactor: 1 }));
    const results = new Map<string, Array<{ op: string; bytesPerSecond?: number; opsPerSecond: number }>>();
    results.set('dfs', await measure(dfsTarget(fs), ctx));
    await fs.close();
    await pool.close();
    mkdirSync(join(dir, 'local'));
    results.set('local-fs', await measure(nodeTarget('local-fs', join(dir, 'local')), ctx));
    const problem = fuseProblem();
    if (problem) {
      process.stderr.write(`dfs bench: mount rows skipped, FUSE unusable: ${problem}\n`);
    } else {
      const mnt = join(dir, 'mnt');
      mkdirSync(mnt);
      const c = await startMount(poolDir, mnt);
      try {
        results.set('mount', await measure(nodeTarget('mount', mnt), ctx));
      } finally {
        await stopMount(c, mnt);
      }
    }
    const local = results.get('local-fs')!;
    for (const [name, rs] of results) {
      rs.forEach((r, i) => {
        const base = local[i]!;
        rows.push({
          name: `dfs ${r.op} ${name}`, suite: 'dfs', bytesPerSecond: r.bytesPerSecond, opsPerSecond: r.opsPerSecond,
          extra: name === 'local-fs' ? { baseline: 'local-fs' } : { vsLocalFs: r.opsPerSecond / base.opsPerSecond },
        });
      });
    }
  } finally {
    if (readFileSync('/proc/mounts', 'utf8').includes(dir)) spawnSync('fusermount', ['-uz', join(dir, 'mnt')]);
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
};

export default suite;
