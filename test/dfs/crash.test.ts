/**
 * A rename is one transaction: a process killed (SIGKILL) while renaming entries back and forth
 * between two directories never loses or duplicates an entry. The worker is a real child process
 * (test/dfs/rename-worker.ts); after each kill the pool is reopened (its journal rolls back a torn
 * commit) and every name must be in exactly one of the two directories, with its content.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { Pool, Dfs } from '../../index.js';
import { tmpDir } from '../helpers/tmp.js';

const FILES = 40;
const ROUNDS = 3;
/** Renames each round waits for before the kill (the kill lands mid-commit at a random point). */
const RENAMES_BEFORE_KILL = 100;
const WORKER_DEADLINE_MS = 60_000;

const worker = new URL('./rename-worker.ts', import.meta.url).pathname;
const dir = tmpDir();
const poolDir = join(dir, 'pool');

/** Run the worker until it reports `renames` renames, then SIGKILL it after a random delay. */
function runAndKill(seed: number, renames: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, ['--import', 'tsx', worker, poolDir, String(FILES)], { env: { ...process.env, SEED: String(seed) }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    let killed = false;
    const timer = setTimeout(() => { c.kill('SIGKILL'); reject(new Error(`worker made too little progress: ${err}`)); }, WORKER_DEADLINE_MS);
    c.stderr.on('data', (d) => { err += d; });
    c.stdout.on('data', (d: Buffer) => {
      const m = [...d.toString().matchAll(/renamed (\d+)/g)].pop();
      if (!killed && m && Number(m[1]) >= renames) {
        killed = true;
        setTimeout(() => c.kill('SIGKILL'), Math.floor(Math.random() * 20));
      }
    });
    c.on('exit', (code, sig) => {
      clearTimeout(timer);
      if (sig === 'SIGKILL' && killed) resolve();
      else reject(new Error(`worker exited with ${code ?? sig}: ${err}`));
    });
  });
}

test('renames killed mid-flight neither lose nor duplicate entries', async () => {
  const p = await Pool.create(poolDir, { nodes: 3, ranksPerNode: 2, targetsPerRank: 1, scmBytes: 32 << 20, dataBytes: 256 << 20 });
  await p.createContainer('fs', { oclass: 'EC_4P1G1', redundancyFactor: 1 });
  await p.close();
  for (let round = 1; round <= ROUNDS; round++) {
    await runAndKill(round, RENAMES_BEFORE_KILL);
    const pool = await Pool.open(poolDir);
    try {
      const fs = await Dfs.mount(await pool.openContainer('fs'), { create: false });
      const x = await fs.readdir('/x'), y = await fs.readdir('/y');
      const all = [...x, ...y].sort();
      const want = [...Array.from({ length: FILES }, (_, i) => `f${i}`), 'd'].sort();
      assert.equal(all, want, `round ${round}: every entry exactly once (x=${x.length}, y=${y.length})`);
      for (const i of [0, 7, FILES - 1]) {
        const at = x.includes(`f${i}`) ? '/x' : '/y';
        assert.is(await fs.readFile(`${at}/f${i}`, 'utf8'), `file ${i}`);
      }
      const d = x.includes('d') ? '/x/d' : '/y/d';
      assert.is(await fs.readFile(`${d}/sub/inner`, 'utf8'), 'inner', 'the moved directory keeps its tree');
      await fs.close();
    } finally {
      await pool.close();
    }
  }
});

test.run();
