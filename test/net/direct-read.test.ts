/**
 * Located reads (src/net/direct-read.ts): an engine on the client's host answers a whole-extent
 * array read with where the extent lies in its data file; the client reads and checks it there.
 * The engine here is `serveFetchInto` over a store whose extents lie in a real file; an oracle map
 * holds every value. Checked: bytes equal the oracle's, the bytes skip the socket, an answer that
 * does not check out (wrong checksum, another place, a file that is gone) is read again through the
 * engine, malformed references are refused, and `CAIRN_RPC_DIRECT=0` asks for nothing.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { openSync, writeSync, closeSync, rmSync } from 'node:fs';
import { initXxhash, xxh64 } from '../../core/xxhash.js';
import { Rng } from '../../core/rng.js';
import { RpcServer, RpcClient, rawReadStats } from '../../src/net/rpc.js';
import { RemoteShardStore, serveFetchInto } from '../../src/net/shard-rpc.js';
import { readDirect, readDirectRefs, directRefOf, closeDirectFiles, directMapStats, DIRECT_MAX_OPEN_FILES, type DirectRef } from '../../src/net/direct-read.js';
import { CSUM_SEED } from '../../src/vos/constants.js';
import { nativeAddon } from '../../src/media/io-uring.js';
import { PreadEngine } from '../../src/media/pread.js';
import type { Recx } from '../../src/io/shard-store.js';
import { tmpDir } from '../helpers/tmp.js';
import { locatedStore } from './located-store.js';

const t = suite('direct-read');
/**
 * Whether this process can read located extents (direct-read.ts needs the addon's hashed reads:
 * without it, CAIRN_NO_NATIVE=1, every read goes through the engine and must still be right).
 */
const LOCATED = new PreadEngine().readvHash !== undefined;
const SECRET = 's3cret-s3cret';
const KB = 1024;
const enc = (s: string) => new TextEncoder().encode(s);

async function setup(values: Uint8Array[]) {
  await initXxhash();
  const dir = tmpDir('cairn-direct-');
  const f = locatedStore(join(dir, 't0'), values);
  const seen: Array<Record<string, unknown>> = [];
  const server = await RpcServer.listen({
    secret: SECRET, localPath: join(dir, 'engine.sock'),
    handler: (req) => {
      seen.push(req.header);
      const r = serveFetchInto(f.store, req.header, f.path);
      if (r === undefined) throw new Error(`unexpected ${req.method}`);
      return r;
    },
  });
  const client = new RpcClient({ address: `127.0.0.1:${server.port}`, secret: SECRET, localPath: server.localPath!, transport: 'raw' });
  const remote = new RemoteShardStore(client, () => ({ target: 0, cont: 'c-uuid', mapVersion: 1 }));
  const read = async (i: number, recx: Recx, parts = 2): Promise<Buffer> => {
    const n = recx.count, cut = Math.floor(n / parts);
    const into = parts === 1 ? [new Uint8Array(n)] : [new Uint8Array(cut), new Uint8Array(n - cut)];
    await remote.fetchArrayInto!(9n, 3n, enc('d'), enc(`a${i}`), recx, into);
    return Buffer.concat(into);
  };
  return { ...f, dir, seen, client, read, async close() { await client.close(); await server.close(); closeDirectFiles(); rmSync(dir, { recursive: true, force: true }); } };
}

const randomValues = (seed: number, sizes: number[]) => { const rng = new Rng(seed); return sizes.map((n) => { const b = new Uint8Array(n); for (let i = 0; i < n; i++) b[i] = rng.int(256); return b; }); };

t('a located read lands in the caller\'s buffers from the engine\'s data file, byte for byte, without crossing the socket', async () => {
  const values = randomValues(1, [64 * KB, 200 * KB + 3, 512 * KB, 1024 * KB]);
  const s = await setup(values);
  try {
    const d0 = rawReadStats.directBytes, sock0 = rawReadStats.inPlaceBytes + rawReadStats.bufferedBytes, m0 = rawReadStats.directMisses;
    let asked = 0;
    for (let round = 0; round < 3; round++) {
      await Promise.all(values.map(async (v, i) => {
        const got = await s.read(i, { index: 0, count: v.length }, 1 + (round % 2));
        asked += v.length;
        assert.ok(got.equals(Buffer.from(v)), `a${i} whole`);
      }));
    }
    if (!LOCATED) { assert.is(rawReadStats.directBytes - d0, 0, 'no hashed reads here: nothing read from the data file'); return; }
    assert.is(rawReadStats.directBytes - d0, asked, 'every byte was read by the client from the data file');
    assert.is(rawReadStats.directMisses - m0, 0);
    assert.ok(rawReadStats.inPlaceBytes + rawReadStats.bufferedBytes - sock0 < asked / 100, 'replies carry no payload');
    assert.ok(s.seen.every((h) => h.direct === true), 'each read asked for a located answer');
    // A part of an extent is not located: the engine reads it (the slot or the socket), still right.
    const part = await s.read(3, { index: 1000, count: 300 * KB });
    assert.ok(part.equals(Buffer.from(values[3]!.subarray(1000, 1000 + 300 * KB))), 'a part of an extent');
    assert.is(rawReadStats.directBytes - d0, asked, 'not through the file');
  } finally { await s.close(); }
});

t('an answer that does not check out (wrong checksum, another place, a file that is gone) is read again through the engine', async () => {
  const values = randomValues(2, [128 * KB, 256 * KB, 512 * KB]);
  const s = await setup(values);
  try {
    const cases: Array<[string, (i: number, x: { position: number; length: number; csum: bigint }) => { position: number; length: number; csum: bigint }]> = [
      ['a wrong checksum', (_, x) => ({ ...x, csum: x.csum ^ 1n })],
      ['another place (blocks reused)', (_, x) => ({ ...x, position: x.position + 4096 })],
      ['past the end of the file', (_, x) => ({ ...x, position: x.position + (1 << 30) })],
    ];
    for (const [what, lie] of cases) {
      s.setLie(lie);
      const m0 = rawReadStats.directMisses, n0 = s.seen.length;
      for (const [i, v] of values.entries()) assert.ok((await s.read(i, { index: 0, count: v.length })).equals(Buffer.from(v)), `${what}: a${i}`);
      assert.is(rawReadStats.directMisses - m0, values.length, `${what}: every read missed`);
      const again = s.seen.slice(n0).filter((h) => h.direct === undefined).length;
      assert.is(again, values.length, `${what}: each was asked again without direct`);
    }
    s.setLie((_, x) => x);
    rmSync(s.path);
    closeDirectFiles(); // (an open descriptor would still read the unlinked file, which is right)
    const m0 = rawReadStats.directMisses;
    assert.ok((await s.read(0, { index: 0, count: values[0]!.length })).equals(Buffer.from(values[0]!)), 'a file that is gone');
    assert.is(rawReadStats.directMisses - m0, 1);
  } finally { await s.close(); }
});

t('readDirect refuses malformed references and buffers of another length', async () => {
  await initXxhash();
  const dir = tmpDir('cairn-direct-ref-');
  try {
    const [v] = randomValues(3, [64 * KB]);
    const f = locatedStore(join(dir, 't'), [v!]);
    const at = f.store as unknown as { locateArrayExtent(...a: unknown[]): { position: number; length: number; csum: bigint } };
    const x = at.locateArrayExtent(0n, 0n, enc('d'), enc('a0'), { index: 0, count: v!.length });
    const good = { path: f.path, at: x.position, len: x.length, csum: String(x.csum) };
    const into = new Uint8Array(v!.length);
    if (!LOCATED) { assert.not.ok(await readDirect(good, [into]), 'no hashed reads here: never claims bytes it did not check'); return; }
    assert.ok(await readDirect(good, [into]), 'the good reference');
    assert.ok(Buffer.from(into).equals(Buffer.from(v!)));
    const bad: Array<[string, unknown, number]> = [
      ['a relative path', { ...good, path: 't/vos.data' }, v!.length],
      ['a file that is not a data file', { ...good, path: join(dir, 't', 'other') }, v!.length],
      ['a negative position', { ...good, at: -1 }, v!.length],
      ['a length of 0', { ...good, len: 0 }, 0],
      ['a checksum that is not a number', { ...good, csum: '12ab' }, v!.length],
      ['a checksum longer than a u64', { ...good, csum: '1'.repeat(21) }, v!.length],
      ['not an object', 'x', v!.length],
      ['buffers of another length', good, v!.length - 1],
    ];
    for (const [what, ref, n] of bad) assert.not.ok(await readDirect(ref, [new Uint8Array(n)]), what);
    assert.is(directRefOf({ ...good, path: `${f.path}\0x` }), undefined, 'a NUL in the path');
  } finally { closeDirectFiles(); rmSync(dir, { recursive: true, force: true }); }
});

t('readDirectRefs reads a group of references: each true only when its buffers hold its extent\'s bytes; a bad one does not spoil the others', async () => {
  await initXxhash();
  const dir = tmpDir('cairn-direct-refs-');
  try {
    const vals = randomValues(11, [64 * KB, 96 * KB, 64 * KB, 128 * KB]);
    const f = locatedStore(join(dir, 't'), vals);
    const at = f.store as unknown as { locateArrayExtent(...a: unknown[]): { position: number; length: number; csum: bigint } };
    const refs: DirectRef[] = vals.map((v, i) => { const x = at.locateArrayExtent(0n, 0n, enc('d'), enc(`a${i}`), { index: 0, count: v.length }); return { path: f.path, at: x.position, len: x.length, csum: String(x.csum) }; });
    for (let round = 0; round < 3; round++) {
      // value 1 as two views; value 2 named with another's checksum; value 3 into buffers one byte short
      const intos = vals.map((v, i) => (i === 1 ? [new Uint8Array(1000), new Uint8Array(v.length - 1000)] : [new Uint8Array(i === 3 ? v.length - 1 : v.length)]));
      const group = [refs[0]!, refs[1]!, { ...refs[2]!, csum: refs[0]!.csum }, refs[3]!];
      const oks = await readDirectRefs(group, intos);
      if (!LOCATED) { assert.equal(oks, [false, false, false, false], 'no hashed reads here: never claims bytes it did not check'); return; }
      assert.equal(oks, [true, true, false, false], `round ${round}: which reads checked out`);
      assert.ok(Buffer.concat(intos[0]!).equals(Buffer.from(vals[0]!)), `round ${round}: bytes of value 0`);
      assert.ok(Buffer.concat(intos[1]!).equals(Buffer.from(vals[1]!)), `round ${round}: bytes of value 1 (two views)`);
    }
    assert.equal(await readDirectRefs([], []), [], 'an empty group');
    assert.equal(await readDirectRefs([{ ...refs[0]!, path: join(dir, 'gone', 'vos.data') }, refs[1]!], [[new Uint8Array(vals[0]!.length)], [new Uint8Array(vals[1]!.length)]]), [false, true], 'a file that is not there');
    // more data files than are kept open: each still reads right (the least recently used are closed)
    const copies: DirectRef[] = [];
    for (let i = 0; i < DIRECT_MAX_OPEN_FILES + 3; i++) {
      const g = locatedStore(join(dir, `c${i}`), [vals[i % vals.length]!]);
      const x = (g.store as unknown as typeof at).locateArrayExtent(0n, 0n, enc('d'), enc('a0'), { index: 0, count: vals[i % vals.length]!.length });
      copies.push({ path: g.path, at: x.position, len: x.length, csum: String(x.csum) });
    }
    for (let pass = 0; pass < 2; pass++) {
      const intos = copies.map((r) => [new Uint8Array(r.len)]);
      assert.equal(await readDirectRefs(copies, intos), copies.map(() => true), `pass ${pass}: ${copies.length} files`);
      intos.forEach((b, i) => assert.ok(Buffer.from(b[0]!).equals(Buffer.from(vals[i % vals.length]!)), `pass ${pass}: file ${i}`));
    }
  } finally { closeDirectFiles(); rmSync(dir, { recursive: true, force: true }); }
});

t('ranges read before are read through the data file\'s mapping: same bytes, a changed or grown file checked', async () => {
  if (!LOCATED || nativeAddon()?.mapFile === undefined) { console.log('  (no native hashed reads or mappings: skipped)'); return; }
  await initXxhash();
  const dir = tmpDir('cairn-direct-map-');
  try {
    const [v, w] = randomValues(5, [192 * KB, 64 * KB]);
    const f = locatedStore(join(dir, 't'), [v!, w!]);
    const at = f.store as unknown as { locateArrayExtent(...a: unknown[]): { position: number; length: number; csum: bigint } };
    const x = at.locateArrayExtent(0n, 0n, enc('d'), enc('a0'), { index: 0, count: v!.length });
    const ref = { path: f.path, at: x.position, len: x.length, csum: String(x.csum) };
    for (const mode of [undefined, '1']) {
      const prev = process.env.CAIRN_MAPPED_READS;
      if (mode === undefined) delete process.env.CAIRN_MAPPED_READS; else process.env.CAIRN_MAPPED_READS = mode;
      try {
        closeDirectFiles();
        // first read (thread pool, or the mapping with '1'), then again (the mapping): one buffer, then three views
        const m0 = directMapStats.mappedReads;
        for (let round = 0; round < 3; round++) {
          const one = new Uint8Array(v!.length);
          assert.ok(await readDirect(ref, [one]), `mode ${mode}: round ${round}, one buffer`);
          assert.ok(Buffer.from(one).equals(Buffer.from(v!)), `mode ${mode}: round ${round}, bytes of one buffer`);
          const views = [new Uint8Array(1000), new Uint8Array(64 * KB), new Uint8Array(v!.length - 1000 - 64 * KB)];
          assert.ok(await readDirect(ref, views), `mode ${mode}: round ${round}, views`);
          assert.ok(Buffer.concat(views).equals(Buffer.from(v!)), `mode ${mode}: round ${round}, bytes of the views`);
        }
        // (no addon, CAIRN_NO_NATIVE=1: no mapping, every read through the thread pool's fallback)
        // (one buffer and lists of views alike: 5 of the 6 reads with 'reread', the first one with preadv)
        if (nativeAddon()?.mapFile !== undefined) assert.ok(directMapStats.mappedReads - m0 >= 5, `mode ${mode}: reads of a range read before went through the mapping (${directMapStats.mappedReads - m0})`);
        // the file grows past the mapping: an extent placed there is read and checked
        const far = 8 * 1024 * KB;
        const fd = openSync(f.path, 'r+');
        try { writeSync(fd, w!, 0, w!.length, far); } finally { closeSync(fd); }
        const farRef = { path: f.path, at: far, len: w!.length, csum: String(xxh64(w!, CSUM_SEED)) };
        for (let round = 0; round < 2; round++) {
          const into = new Uint8Array(w!.length);
          assert.ok(await readDirect(farRef, [into]), `mode ${mode}: the grown file, round ${round}`);
          assert.ok(Buffer.from(into).equals(Buffer.from(w!)));
        }
        // bytes changed under a mapped range: the checksum refuses them (the caller asks the engine)
        const fd2 = openSync(f.path, 'r+');
        try { writeSync(fd2, new Uint8Array([v![7]! ^ 0xff]), 0, 1, x.position + 7); } finally { closeSync(fd2); }
        assert.not.ok(await readDirect(ref, [new Uint8Array(v!.length)]), `mode ${mode}: changed bytes refused`);
        assert.not.ok(await readDirect(ref, [new Uint8Array(v!.length)]), `mode ${mode}: changed bytes refused again (file reopened)`);
        const fd3 = openSync(f.path, 'r+');
        try { writeSync(fd3, v!, 7, 1, x.position + 7); } finally { closeSync(fd3); }
      } finally {
        if (prev === undefined) delete process.env.CAIRN_MAPPED_READS; else process.env.CAIRN_MAPPED_READS = prev;
      }
    }
  } finally { closeDirectFiles(); rmSync(dir, { recursive: true, force: true }); }
});

t('CAIRN_RPC_DIRECT=0: a client asks for no located answer and reads through the engine', async () => {
  const values = randomValues(4, [256 * KB]);
  const prev = process.env.CAIRN_RPC_DIRECT;
  process.env.CAIRN_RPC_DIRECT = '0';
  const s = await setup(values);
  try {
    const d0 = rawReadStats.directBytes;
    assert.ok((await s.read(0, { index: 0, count: values[0]!.length })).equals(Buffer.from(values[0]!)));
    assert.is(rawReadStats.directBytes - d0, 0);
    assert.ok(s.seen.every((h) => h.direct === undefined), 'no request asked');
  } finally {
    if (prev === undefined) delete process.env.CAIRN_RPC_DIRECT; else process.env.CAIRN_RPC_DIRECT = prev;
    await s.close();
  }
});

t.run();
