/**
 * Run by readonly-mount.test.ts (as root on a read-only mount, as `nobody` on directories it may
 * not write): `node --import tsx readonly-mount-child.ts POOL NEW EMPTY` opens the pool in POOL
 * read-only and reads what the test wrote (and tries one write), opens it read-write, creates a
 * pool in the missing directory NEW and in the existing empty directory EMPTY, and prints one JSON
 * line of what each step gave: `{ value }` or `{ code, message }`.
 */
import { Pool } from '../../index.js';
import { text } from '../helpers/tmp.js';

/** The pools the child tries to create: the smallest there is (they must not come to exist). */
const NEW_POOL = { nodes: 1, ranksPerNode: 1, targetsPerRank: 1, scmBytes: 1 << 20, dataBytes: 1 << 20 };

/** What `f` gave: its value, or the code and message of what it threw. */
async function outcome(f: () => Promise<unknown>): Promise<{ value?: unknown; code?: string; message?: string }> {
  try { return { value: await f() }; } catch (err) { return { code: (err as { code?: string }).code, message: (err as Error).message }; }
}

const [poolDir, newDir, emptyDir] = process.argv.slice(2) as [string, string, string];
const read = await outcome(async () => {
  const p = await Pool.open(poolDir, { readOnly: true });
  try {
    const c = await p.openContainer('c'), e = await p.openContainer('e');
    const array = await e.array('big').read(0, await e.array('big').getSize());
    return {
      single: text(await c.object('o').fetch('d', 'a')),
      array: { length: array.length, bytes: [...new Set(array)] },
      kv: text(await e.kv('k').get('x')),
      containers: (await p.listContainers()).map((x) => x.label).sort(),
      targets: p.query().targets.length,
      write: await outcome(() => c.object('o').update('d', 'a', 'refused')),
    };
  } finally {
    await p.close();
  }
});
const readWrite = await outcome(() => Pool.open(poolDir).then((p) => p.close()));
const create = await outcome(() => Pool.create(newDir, NEW_POOL).then((p) => p.close()));
const createInEmpty = await outcome(() => Pool.create(emptyDir, NEW_POOL).then((p) => p.close()));
console.log(JSON.stringify({ read, readWrite, create, createInEmpty }));
