/**
 * The addon's synchronous mapped read over a list of views (`mapReadHashSync(map, views, position,
 * seed)`, native/hashio.c) and a read-only mapping's own drop budget (`mapFile(fd, length, false,
 * zapBytes)`): what a client needs to copy a located read (an EC cell: its stripes' pieces, each
 * in its own place of the caller's buffer) out of a read-only mapping of another process's data
 * file, on its own thread.
 * Specification: the bytes at `position` go across the views in order, and the answer is the
 * XXH64 (`seed`) of them all, the same as one view of their concatenation (checked against
 * xxhash-wasm, the reference, and the file read back), for any number of views from 1 to 64 and any
 * split (32-byte multiples or not, empty views too); a range past the mapping, a closed mapping and
 * a fault (the file cut short behind the mapping) answer -1 and leave the process alive; anything
 * but 1 to 64 Uint8Arrays is a TypeError. With `zapBytes` 0 a read-only mapping keeps the
 * page-table entries of everything read through it (its resident share, /proc/self/smaps, grows to
 * the bytes read), with a small budget they are dropped (it stays near the budget); a writable
 * mapping takes no budget (TypeError).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rng } from '../../core/rng.js';
import { initXxhash, xxh64 } from '../../core/xxhash.js';
import { loadNative } from '../../src/media/index.js';
import type { FileMap } from '../../src/media/io-engine.js';

/** The two calls under test, as this addon has them (the list form and the budget are newer than io-uring.ts's declarations). */
interface MappedReads {
  mapFile(fd: number, length: number, writable?: boolean, zapBytes?: number): FileMap | undefined;
  mapReadHashSync(map: FileMap, views: Uint8Array | readonly Uint8Array[], position: number, seed: bigint): bigint | number;
  unmapFile(map: FileMap): void;
}

const addon = loadNative().addon as unknown as Partial<MappedReads> | undefined;
const has = addon?.mapFile !== undefined && addon.mapReadHashSync !== undefined;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-mapped-read-views-'));
const t = suite('media: mapped synchronous reads over views');
t.before(async () => { await initXxhash(); });
t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const MiB = 1 << 20;

/** Views of `len` bytes in all, `n` of them (the last takes the rest), cut at random places (some empty). */
function cut(rng: Rng, len: number, n: number, stripes: boolean): Uint8Array[] {
  const marks: number[] = [];
  for (let i = 1; i < n; i++) marks.push(stripes ? Math.floor(rng.int(len + 1) / 32) * 32 : rng.int(len + 1));
  marks.sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let at = 0;
  for (const m of [...marks, len]) { out.push(new Uint8Array(m - at).fill(0xee)); at = m; }
  return out;
}

t('one XXH64 across 1 to 64 views, the bytes in order: as one view of their concatenation and the reference', () => {
  if (!has) return;
  const size = 4 * MiB;
  const file = path.join(tmp, 'views.dat');
  const bytes = new Rng(7).bytes(size);
  fs.writeFileSync(file, bytes);
  const fd = fs.openSync(file, 'r');
  const m = addon!.mapFile!(fd, size)!;
  try {
    assert.ok(m !== undefined, 'mapped');
    const rng = new Rng(8);
    for (let round = 0; round < 200; round++) {
      const len = round % 5 === 0 ? rng.int(100) : rng.range(1, 600 * 1024);
      const at = rng.int(size - len + 1);
      const n = round < 64 ? round + 1 : rng.range(1, 64);
      const seed = BigInt(rng.int(1 << 30)) * 7919n;
      const views = cut(rng, len, n, round % 2 === 0);
      const want = bytes.subarray(at, at + len);
      const h = addon!.mapReadHashSync!(m, views, at, seed);
      assert.is(h, xxh64(want, seed), `round ${round}: ${n} views, ${len} bytes at ${at}: the reference's hash`);
      const one = new Uint8Array(len);
      assert.is(addon!.mapReadHashSync!(m, one, at, seed), h, `round ${round}: as one view`);
      assert.ok(Buffer.from(one).equals(want), `round ${round}: one view's bytes`);
      let off = 0;
      for (const v of views) { assert.ok(Buffer.from(v).equals(want.subarray(off, off + v.length)), `round ${round}: view bytes at ${off}`); off += v.length; }
      assert.is(off, len);
    }
  } finally {
    addon!.unmapFile!(m);
    fs.closeSync(fd);
  }
});

t('past the mapping, closed, faulted: -1 and nothing else; bad views: TypeError', () => {
  if (!has) return;
  const size = MiB;
  const file = path.join(tmp, 'edges.dat');
  fs.writeFileSync(file, new Rng(9).bytes(size));
  const fd = fs.openSync(file, 'r');
  const m = addon!.mapFile!(fd, size)!;
  const v = () => [new Uint8Array(1000), new Uint8Array(24)];
  assert.is(addon!.mapReadHashSync!(m, v(), size - 1024, 1n) !== -1, true, 'the last 1024 bytes');
  assert.is(addon!.mapReadHashSync!(m, v(), size - 1023, 1n), -1, 'one byte past the mapping');
  for (const bad of [[], Array.from({ length: 65 }, () => new Uint8Array(1)), [new Uint8Array(4), 'x'], [new Uint16Array(4)], [new Uint8Array(4), undefined]]) {
    assert.throws(() => addon!.mapReadHashSync!(m, bad as never, 0, 1n), (e: Error) => e instanceof TypeError, `views ${String((bad as unknown[]).length)} entries`);
  }
  // the file cut short behind the mapping: the pages past its end fault (SIGBUS), caught
  fs.truncateSync(file, 64 * 1024);
  const into = [new Uint8Array(64 * 1024), new Uint8Array(64 * 1024)];
  assert.is(addon!.mapReadHashSync!(m, into, 0, 1n), -1, 'a read into the cut part faults: -1');
  assert.ok(addon!.mapReadHashSync!(m, [new Uint8Array(4096)], 4096, 1n) !== -1, 'the mapping still reads what is there');
  addon!.unmapFile!(m);
  assert.is(addon!.mapReadHashSync!(m, v(), 0, 1n), -1, 'closed');
  fs.closeSync(fd);
});

/** The resident bytes of `file`'s mappings in this process (/proc/self/smaps), or undefined where there is none. */
function mappedResident(file: string): number | undefined {
  let smaps: string;
  try { smaps = fs.readFileSync('/proc/self/smaps', 'utf8'); } catch { return undefined; }
  let inFile = false, kib = 0, found = false;
  for (const line of smaps.split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) { inFile = line.endsWith(file); found ||= inFile; continue; }
    const r = /^Rss:\s+(\d+) kB/.exec(line);
    if (inFile && r) kib += Number(r[1]);
  }
  return found ? kib * 1024 : undefined;
}

t('mapFile zapBytes: 0 keeps every entry of a read-only mapping, a small budget drops them; writable mappings take none', () => {
  if (!has) return;
  const size = 48 * MiB, chunk = MiB;
  const file = path.join(tmp, 'budget.dat');
  fs.writeFileSync(file, new Rng(10).bytes(size));
  const fd = fs.openSync(file, 'r');
  try {
    const rss: number[] = [];
    for (const zap of [0, 8 * MiB]) {
      const m = addon!.mapFile!(fd, size, false, zap)!;
      const into = [new Uint8Array(chunk / 2), new Uint8Array(chunk / 2)];
      for (let at = 0; at < size; at += chunk) assert.ok(addon!.mapReadHashSync!(m, into, at, 0n) !== -1, `read at ${at}`);
      const r = mappedResident(file);
      addon!.unmapFile!(m);
      if (r === undefined) return; // (no /proc here: the budget is not observable)
      rss.push(r);
    }
    assert.ok(rss[0]! >= size * 0.9, `zapBytes 0: the entries of all ${size} bytes read stay (${rss[0]})`);
    assert.ok(rss[1]! <= 16 * MiB, `zapBytes 8 MiB: entries dropped as reads go on (${rss[1]})`);
    const wfd = fs.openSync(file, 'r+');
    try {
      assert.throws(() => addon!.mapFile!(wfd, size, true, MiB), (e: Error) => e instanceof TypeError, 'a writable mapping takes no budget');
    } finally { fs.closeSync(wfd); }
    for (const bad of [-1, 1.5, Number.NaN]) assert.throws(() => addon!.mapFile!(fd, size, false, bad), (e: Error) => e instanceof TypeError, `zapBytes ${bad}`);
  } finally {
    fs.closeSync(fd);
  }
});

t.run();
