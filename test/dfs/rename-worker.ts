/**
 * Child process of test/dfs/crash.test.ts: mounts the namespace of the pool in argv[2], makes
 * /x/f0..f{N-1} on first run, prints `ready`, then renames random files between /x and /y (and
 * whole directories /x/d <-> /y/d) until it is killed.
 */
import { Pool, Dfs } from '../../index.js';
import { Rng } from '../../core/rng.js';

const [poolDir, nArg] = process.argv.slice(2);
const n = Number(nArg);
const pool = await Pool.open(poolDir!);
const fs = await Dfs.mount(await pool.openContainer('fs'));
await fs.mkdir('/x', { recursive: true });
await fs.mkdir('/y', { recursive: true });
const where = new Map<string, string>();
for (const d of ['/x', '/y']) for (const name of await fs.readdir(d)) where.set(name, d);
for (let i = 0; i < n; i++) {
  if (!where.has(`f${i}`)) { await fs.writeFile(`/x/f${i}`, `file ${i}`); where.set(`f${i}`, '/x'); }
}
if (!where.has('d')) { await fs.mkdir('/x/d/sub', { recursive: true }); await fs.writeFile('/x/d/sub/inner', 'inner'); where.set('d', '/x'); }
process.stdout.write('ready\n');
const rng = new Rng(Number(process.env.SEED ?? 1));
let count = 0;
for (;;) {
  const name = rng.int(10) === 0 ? 'd' : `f${rng.int(n)}`;
  const from = where.get(name)!;
  const to = from === '/x' ? '/y' : '/x';
  await fs.rename(`${from}/${name}`, `${to}/${name}`);
  where.set(name, to);
  if (++count % 50 === 0) process.stdout.write(`renamed ${count}\n`);
}
