/**
 * Dfs against a plain model: node:fs on a real temporary directory doing the same operations is
 * the oracle for POSIX semantics. Seeded random sequences (the seed is printed on failure; rerun
 * one with CAIRN_SEED=n): file data (writes at any offset, sparse regions, reads past EOF,
 * truncates up and down, many calls in flight on one handle without awaiting) and the namespace
 * (mkdir, writeFile, rename over files and directories and into subdirectories, unlink, rmdir,
 * trailing slashes), comparing bytes, sizes, error codes and the final tree.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import * as nfs from 'node:fs/promises';
import { Pool, Dfs, type Container } from '../../index.js';
import { Rng } from '../../core/rng.js';
import { dfsPool } from './fixture.js';
import { tmpDir } from '../helpers/tmp.js';

const t = suite('dfs model');
const dir = tmpDir();
let pool: Pool;
let cont: Container;
let fs: Dfs;
/** A second namespace on the container with a small write-back buffer (the direct commit path). */
let small: Dfs;

const CHUNK = 4096;
const seeds = (n: number, base: number): number[] => (process.env.CAIRN_SEED ? [Number(process.env.CAIRN_SEED)] : Array.from({ length: n }, (_, i) => base + i));

t.before(async () => {
  ({ pool, cont } = await dfsPool(dir));
  fs = await Dfs.mount(cont, { chunkSize: CHUNK });
  small = await Dfs.mount(cont, { writeBackBytes: 6000 });
  await nfs.mkdir(join(dir, 'model'));
});
t.after(async () => { await small?.close(); await fs?.close(); await pool?.close(); });

async function withSeed(seed: number, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    (err as Error).message = `[seed ${seed}; rerun with CAIRN_SEED=${seed}] ${(err as Error).message}`;
    throw err;
  }
}

const codeOf = async (p: Promise<unknown>): Promise<string> => p.then(() => 'ok', (err: { code?: string }) => err.code ?? `raw ${String(err)}`);

t('concurrent writes at the current position on one handle all land, one after another (none overwrites another)', async () => {
  const h = await fs.open('/seq', 'w+');
  await Promise.all([h.write(Buffer.from('aaaa')), h.write(Buffer.from('bbbb')), h.write('cccc')]);
  const r = await Promise.all([h.read(Buffer.alloc(4), 0, 4, 0), h.read(Buffer.alloc(4), 0, 4, 4)]);
  assert.is(r.map((x) => x.buffer.toString()).join(''), 'aaaabbbb');
  await h.close();
  assert.is((await fs.readFile('/seq')).toString(), 'aaaabbbbcccc');
  // reads at the current position in flight together read consecutive ranges, as read(2) does
  const g = await fs.open('/seq', 'r');
  const parts = await Promise.all([g.read(Buffer.alloc(5), 0, 5, null), g.read(Buffer.alloc(5), 0, 5, null), g.read(Buffer.alloc(5), 0, 5, null)]);
  assert.equal(parts.map((p) => p.buffer.subarray(0, p.bytesRead).toString()), ['aaaab', 'bbbcc', 'cc']);
  await g.close();
});

t('file data: random writes, sparse regions, truncates and reads past EOF agree with node:fs (many calls in flight per step)', async () => {
  for (const seed of seeds(12, 100)) {
    await withSeed(seed, async () => {
      const rng = new Rng(seed);
      const dfs = seed % 2 ? fs : small;
      const name = `data-${seed}`;
      const h = await dfs.open('/' + name, 'w+', { chunkSize: CHUNK });
      const m = await nfs.open(join(dir, 'model', name), 'w+');
      let size = 0;
      for (let step = 0; step < 30; step++) {
        const batch = rng.range(1, 6);
        const mine: Promise<unknown>[] = [];
        const desc: string[] = [];
        for (let i = 0; i < batch; i++) {
          const kind = rng.int(10);
          if (kind < 6) {
            const len = rng.chance(0.2) ? rng.range(CHUNK, 3 * CHUNK + 17) : rng.range(1, 700);
            const pos = rng.chance(0.15) ? null : rng.chance(0.1) ? size + rng.range(0, 5 * CHUNK) : rng.range(0, size + 100);
            const buf = Buffer.from(rng.bytes(len));
            desc.push(`write(${len} @ ${pos})`);
            mine.push(h.write(buf, 0, len, pos));
            await m.write(buf, 0, len, pos);
            size = pos === null ? size : Math.max(size, pos + len);
          } else if (kind < 8) {
            const len = rng.chance(0.5) ? rng.range(0, size) : rng.range(size, size + 3 * CHUNK);
            desc.push(`truncate(${len})`);
            mine.push(h.truncate(len));
            await m.truncate(len);
          } else {
            const s = rng.range(1, 3 * CHUNK);
            desc.push(`write('${s}' chars)`);
            const str = 'x'.repeat(s);
            mine.push(h.write(str, null));
            await m.write(str, null);
          }
          size = (await m.stat()).size;
        }
        await Promise.all(mine);
        const st = await h.stat();
        assert.is(st.size, size, `size after step ${step}: ${desc.join(', ')}`);
        for (let k = 0; k < 3; k++) {
          const pos = rng.range(0, size + CHUNK);
          const len = rng.range(0, 2 * CHUNK);
          const a = Buffer.alloc(len, 0xee), b = Buffer.alloc(len, 0xee);
          const ra = await h.read(a, 0, len, pos);
          const rb = await m.read(b, 0, len, pos);
          assert.is(ra.bytesRead, rb.bytesRead, `bytes read at ${pos} (+${len}) after step ${step}: ${desc.join(', ')}`);
          assert.ok(a.equals(b), `bytes at ${pos} (+${len}) after step ${step}: ${desc.join(', ')}`);
        }
      }
      await h.close();
      await m.close();
      const whole = (await dfs.readFile('/' + name)) as Buffer;
      assert.ok(whole.equals(await nfs.readFile(join(dir, 'model', name))), 'whole file after close');
    });
  }
});

t('a rename that restarts after another client moved a directory resolves its paths again (no cycle cut off from the root)', async () => {
  // Client 2 begins its rename of /b into /a/in-a; client 1 moves /a into /b/in-b and commits
  // before client 2 does, so client 2's commit restarts. Its retry must not reuse the paths it
  // resolved before: /a is no longer at the root, and moving /b under it would make a and b hold
  // each other, reachable from nowhere.
  await fs.mkdir('/cyc/a/in-a', { recursive: true });
  await fs.mkdir('/cyc/b/in-b', { recursive: true });
  let gate: Promise<unknown> | undefined;
  const held = new Proxy(cont, {
    get(target, prop) {
      if (prop !== 'beginTx') {
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      }
      return () => {
        const tx = target.beginTx();
        const commit = tx.commit.bind(tx);
        tx.commit = async (...args: Parameters<typeof tx.commit>) => {
          const g = gate;
          gate = undefined;
          if (g) await g;
          return commit(...args);
        };
        return tx;
      };
    },
  });
  const other = await Dfs.mount(held);
  try {
    let release!: () => void;
    gate = new Promise<void>((r) => (release = r)).then(() => fs.rename('/cyc/a', '/cyc/b/in-b/a'));
    const second = codeOf(other.rename('/cyc/b', '/cyc/a/in-a/b'));
    release();
    assert.is(await second, 'ENOENT', 'the retried rename finds /cyc/a gone');
    assert.equal(await fs.readdir('/cyc'), ['b']);
    assert.equal(await fs.readdir('/cyc/b/in-b/a'), ['in-a']);
  } finally {
    await other.close();
  }
});

t('two clients moving two directories into each other at the same moment: never both (no cycle cut off from the root)', async () => {
  const other = await Dfs.mount(cont);
  try {
    for (let r = 0; r < 20; r++) {
      await fs.mkdir(`/race${r}`); await fs.mkdir(`/race${r}/x`); await fs.mkdir(`/race${r}/y`);
      const res = await Promise.allSettled([fs.rename(`/race${r}/x`, `/race${r}/y/x`), other.rename(`/race${r}/y`, `/race${r}/x/y`)]);
      assert.ok(res.some((x) => x.status === 'rejected'), `round ${r}: both renames committed`);
      // what is left is reachable from the root: exactly one of the two moves
      const top = await fs.readdir(`/race${r}`);
      assert.equal(top.length, 1, `round ${r}: ${JSON.stringify(top)}`);
      assert.equal(await fs.readdir(`/race${r}/${top[0]}`), [top[0] === 'x' ? 'y' : 'x']);
    }
  } finally {
    await other.close();
  }
});

t('close-to-open across two clients also while a handle stays open: a new open sees the other client\'s closed writes (it read the stale size and cached bytes)', async () => {
  const other = await Dfs.mount(cont);
  try {
    await fs.writeFile('/cto', 'old contents');
    const keep = await other.open('/cto', 'r');
    assert.is(await other.readFile('/cto', 'utf8'), 'old contents');
    const w = await fs.open('/cto', 'w');
    await w.write('NEW');
    await w.close();
    assert.is(await other.readFile('/cto', 'utf8'), 'NEW');
    assert.is((await other.stat('/cto')).size, 3);
    const a = await other.open('/cto', 'a'); // appends at the size another client committed, not the stale one
    await a.write('+');
    await a.close();
    await keep.close();
    assert.is(await fs.readFile('/cto', 'utf8'), 'NEW+');
  } finally {
    await other.close();
  }
});

const NAMES = ['a', 'b', 'c'];

function randomPath(rng: Rng): string {
  const depth = rng.range(1, 3);
  const parts = Array.from({ length: depth }, () => NAMES[rng.int(NAMES.length)]!);
  return '/' + parts.join('/') + (rng.chance(0.1) ? '/' : '');
}

/** The tree under `path` as sorted "path:type[:content]" lines. */
async function treeOf(list: (p: string) => Promise<string[]>, kind: (p: string) => Promise<'d' | 'f'>, read: (p: string) => Promise<string>, path = ''): Promise<string[]> {
  const out: string[] = [];
  for (const n of (await list(path || '/')).sort()) {
    const p = `${path}/${n}`;
    const k = await kind(p);
    out.push(k === 'd' ? `${p}/` : `${p}=${await read(p)}`);
    if (k === 'd') out.push(...(await treeOf(list, kind, read, p)));
  }
  return out;
}

t('namespace: random mkdir, writeFile, rename, unlink, rmdir, stat agree with node:fs (codes and the final tree)', async () => {
  for (const seed of seeds(15, 500)) {
    await withSeed(seed, async () => {
      const rng = new Rng(seed);
      const root = `/ns-${seed}`;
      const local = join(dir, 'model', `ns-${seed}`);
      await fs.mkdir(root);
      await nfs.mkdir(local);
      const log: string[] = [];
      for (let step = 0; step < 60; step++) {
        const p = randomPath(rng), q = randomPath(rng);
        const op = rng.int(7);
        let mine: Promise<unknown>, theirs: Promise<unknown>, what: string;
        switch (op) {
          case 0: what = `mkdir ${p}`; mine = fs.mkdir(root + p); theirs = nfs.mkdir(local + p); break;
          case 1: { const v = `v${step}`; what = `writeFile ${p}`; mine = fs.writeFile(root + p, v); theirs = nfs.writeFile(local + p, v); break; }
          case 2: case 3: what = `rename ${p} ${q}`; mine = fs.rename(root + p, root + q); theirs = nfs.rename(local + p, local + q); break;
          case 4: what = `unlink ${p}`; mine = fs.unlink(root + p); theirs = nfs.unlink(local + p); break;
          case 5: what = `rmdir ${p}`; mine = fs.rmdir(root + p); theirs = nfs.rmdir(local + p); break;
          default: what = `stat ${p}`; mine = fs.stat(root + p).then((s) => s.isDirectory()); theirs = nfs.stat(local + p).then((s) => s.isDirectory()); break;
        }
        const [a, b] = await Promise.all([codeOf(mine), codeOf(theirs)]);
        log.push(`${what}: ${b}`);
        assert.is(a, b, `step ${step}: ${what}\n${log.join('\n')}`);
      }
      const dfsTree = await treeOf((x) => fs.readdir(root + x), async (x) => ((await fs.stat(root + x)).isDirectory() ? 'd' : 'f'), async (x) => String(await fs.readFile(root + x, 'utf8')));
      const modelTree = await treeOf((x) => nfs.readdir(local + x), async (x) => ((await nfs.stat(local + x)).isDirectory() ? 'd' : 'f'), (x) => nfs.readFile(local + x, 'utf8'));
      assert.equal(dfsTree, modelTree, `final tree\n${log.join('\n')}`);
    });
  }
});

t.run();
