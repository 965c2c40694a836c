/**
 * Where read-only readers register (src/container/readers.ts): the writer makes a container's
 * `readers/` directory (at its create and at every read-write open); a read-only open only writes
 * its registration there and creates no directory. In a container without `readers/` (one no
 * read-write open of this release made it in) a reader reads, unregistered, and leaves the pool's
 * files and directories exactly as they were; the writer's next open makes the directory, and
 * readers register again (the writer's aggregation sees them).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { READERS_DIR, readerEpochsBeforeAggregate } from '../../src/container/readers.js';
import { Pool } from '../../index.js';
import { text, tmpDir } from '../helpers/tmp.js';

const SHAPE = { nodes: 1, ranksPerNode: 2, targetsPerRank: 1, scmBytes: 8 << 20, dataBytes: 16 << 20 };

/** Every path under `dir` (directories end in "/"), sorted. */
function paths(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d).sort()) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) { out.push(`${rel}${e}/`); walk(p, `${rel}${e}/`); } else out.push(rel + e);
    }
  };
  walk(dir, '');
  return out;
}

const t = suite('container readers');

t('the writer makes readers/ at create; a read-only open registers there and removes its entry on close', async () => {
  const d = join(tmpDir(), 'pool');
  const w = await Pool.create(d, SHAPE);
  try {
    const wc = await w.createContainer('c', { oclass: 'RP_2G1' });
    const readers = join(d, 'containers', wc.uuid, READERS_DIR);
    assert.ok(existsSync(readers), 'created with the container');
    await wc.kv('k').put('x', 'v');
    const r = await Pool.open(d, { readOnly: true });
    try {
      const rc = await r.openContainer('c');
      assert.is(text(await rc.kv('k').get('x')), 'v');
      assert.is(readdirSync(readers).length, 1, 'the reader registered');
      const epochs = await readerEpochsBeforeAggregate(join(d, 'containers', wc.uuid), 0n);
      assert.equal(epochs, [rc.readEpoch()], 'the writer sees the reader\'s epoch');
    } finally { await r.close(); }
    assert.equal(readdirSync(readers), []);
  } finally { await w.close(); }
});

t('a container without readers/: a read-only open reads, unregistered, and creates nothing; the writer\'s next open makes readers/ again', async () => {
  const d = join(tmpDir(), 'pool');
  const w = await Pool.create(d, SHAPE);
  const wc = await w.createContainer('c', { oclass: 'RP_2G1' });
  await wc.kv('k').put('x', 'v');
  const cdir = join(d, 'containers', wc.uuid);
  await w.close();
  rmSync(join(cdir, READERS_DIR), { recursive: true, force: true }); // (as in a container of a release before)
  const before = paths(d);
  const r = await Pool.open(d, { readOnly: true });
  try {
    const rc = await r.openContainer('c');
    assert.is(text(await rc.kv('k').get('x')), 'v');
    assert.equal(paths(d), before, 'the read-only open created nothing (before: readers/ and its entry)');
  } finally { await r.close(); }
  assert.equal(paths(d), before);
  // a writer that opens the container makes readers/; readers register in it again
  const w2 = await Pool.open(d);
  try {
    await w2.openContainer('c');
    assert.equal(readdirSync(join(cdir, READERS_DIR)), []);
    const r2 = await Pool.open(d, { readOnly: true });
    try {
      await r2.openContainer('c');
      assert.is(readdirSync(join(cdir, READERS_DIR)).length, 1);
    } finally { await r2.close(); }
  } finally { await w2.close(); }
});

t.run();
