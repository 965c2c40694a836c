/**
 * Batched located reads (src/net/link.ts `engine.locate`): the whole-range reads one client sends
 * to one engine on its host in one turn are asked where they lie in one request; each located one
 * is read by the client from the data file, every other one goes on its own. The engine here is a
 * server whose `engine.locate` answers through `locateFetch` (as the engine does) and whose single
 * reads go through `serveFetchInto`, over a store whose values lie in a real file; an oracle holds
 * every value. Checked: bytes equal the oracle's, a turn's reads share one request, a read the
 * store does not locate (a part of an extent) and a located answer that does not check out are
 * read on their own and still right, an engine that does not know `engine.locate` serves every
 * read alone, and `CAIRN_RPC_LOCATE_BATCH=0` is not tested here (read at module load).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { initXxhash } from '../../core/xxhash.js';
import { Rng } from '../../core/rng.js';
import { rawReadStats } from '../../src/net/rpc.js';
import { ENGINE_METHODS } from '../../src/net/protocol.js';
import type { Recx } from '../../src/io/shard-store.js';
import { tmpDir } from '../helpers/tmp.js';
import { locatedStore, locatedEngine } from './located-store.js';
import { PreadEngine } from '../../src/media/pread.js';

const t = suite('locate-batch');
/** Whether this build has hashed reads (the native addon): without them (CAIRN_NO_NATIVE=1) a client reads nothing from an engine's data file, so only the bytes are checked (the reads engineer's note, as in direct-read). */
const LOCATED = new PreadEngine().readvHash !== undefined;
const KB = 1024;
const enc = (s: string) => new TextEncoder().encode(s);

async function setup(values: Uint8Array[], opts: { knowsLocate: boolean; badCsum?: number[] }) {
  await initXxhash();
  const dir = tmpDir('cairn-locate-');
  const f = locatedStore(join(dir, 't0'), values);
  const bad = new Set(opts.badCsum ?? []);
  f.setLie((i, x) => (bad.has(i) ? { ...x, csum: x.csum ^ 1n } : x));
  const requests: Array<{ method: string; items: number; direct: boolean }> = [];
  const engine = await locatedEngine(f, dir, { knowsLocate: opts.knowsLocate, seen: (method, h, items) => requests.push({ method, items, direct: method !== ENGINE_METHODS.locate && h.direct === true }) });
  const remote = engine.remote;
  const read = async (i: number, recx: Recx): Promise<Buffer> => {
    const into = [new Uint8Array(recx.count)];
    await remote.fetchArrayInto!(9n, 3n, enc('d'), enc(`a${i}`), recx, into);
    return Buffer.from(into[0]!);
  };
  return { requests, read, close: engine.close };
}

const randomValues = (seed: number, sizes: number[]) => { const rng = new Rng(seed); return sizes.map((n) => { const b = new Uint8Array(n); for (let i = 0; i < n; i++) b[i] = rng.int(256); return b; }); };

t('the reads of one turn are located in one request and read from the data file, byte for byte', async () => {
  const values = randomValues(11, [64 * KB, 128 * KB + 5, 256 * KB, 512 * KB, 1024 * KB]);
  const s = await setup(values, { knowsLocate: true });
  try {
    // The first read connects the pipe: only a connected local pipe may locate in batches.
    assert.ok((await s.read(0, { index: 0, count: values[0]!.length })).equals(Buffer.from(values[0]!)));
    for (let round = 0; round < 3; round++) {
      const n0 = s.requests.length, d0 = rawReadStats.directBytes, m0 = rawReadStats.directMisses;
      const got = await Promise.all(values.map((v, i) => s.read(i, { index: 0, count: v.length })));
      got.forEach((g, i) => assert.ok(g.equals(Buffer.from(values[i]!)), `round ${round}: a${i}`));
      const sent = s.requests.slice(n0);
      if (!LOCATED) { assert.is(rawReadStats.directBytes - d0, 0, 'no hashed reads here: nothing read from the data file'); continue; }
      assert.equal(sent, [{ method: ENGINE_METHODS.locate, items: values.length, direct: false }], `round ${round}: one request for the turn`);
      assert.is(rawReadStats.directBytes - d0, values.reduce((n, v) => n + v.length, 0), 'every byte from the data file');
      assert.is(rawReadStats.directMisses - m0, 0);
    }
  } finally { await s.close(); }
});

t('a read the store does not locate and one that does not check out are read on their own, right', async () => {
  const values = randomValues(12, [128 * KB, 256 * KB, 512 * KB]);
  const s = await setup(values, { knowsLocate: true, badCsum: [2] });
  try {
    await s.read(0, { index: 0, count: values[0]!.length }); // (connects)
    const n0 = s.requests.length, m0 = rawReadStats.directMisses;
    const [a, part, bad] = await Promise.all([
      s.read(0, { index: 0, count: values[0]!.length }),
      s.read(1, { index: 4096, count: 128 * KB }),
      s.read(2, { index: 0, count: values[2]!.length }),
    ]);
    assert.ok(a.equals(Buffer.from(values[0]!)), 'located');
    assert.ok(part.equals(Buffer.from(values[1]!.subarray(4096, 4096 + 128 * KB))), 'a part of an extent');
    assert.ok(bad.equals(Buffer.from(values[2]!)), 'a wrong checksum');
    const sent = s.requests.slice(n0);
    assert.equal(sent[0], { method: ENGINE_METHODS.locate, items: 3, direct: false }, 'the turn asked once');
    assert.ok(sent.filter((r) => r.method === 'shard.fetchArray').length >= 2, 'the other two went on their own');
    assert.ok(rawReadStats.directMisses - m0 >= 1, 'the wrong checksum missed');
  } finally { await s.close(); }
});

t('an engine that does not know engine.locate serves every read on its own', async () => {
  const values = randomValues(13, [64 * KB, 256 * KB, 256 * KB, 512 * KB]);
  const s = await setup(values, { knowsLocate: false });
  try {
    await s.read(0, { index: 0, count: values[0]!.length });
    const n0 = s.requests.length;
    const got = await Promise.all(values.map((v, i) => s.read(i, { index: 0, count: v.length })));
    got.forEach((g, i) => assert.ok(g.equals(Buffer.from(values[i]!)), `a${i}`));
    const sent = s.requests.slice(n0);
    assert.is(sent.filter((r) => r.method === ENGINE_METHODS.locate).length, 1);
    assert.is(sent.filter((r) => r.method === 'shard.fetchArray' && r.direct).length, values.length, 'each read again as a located read of its own');
  } finally { await s.close(); }
});

t.run();
