/**
 * PmemSpace, the growable segment-mapped pmem file: growth by whole segments with earlier views
 * staying valid, the cap (NO_SPACE), real allocation on a small real tmpfs (NO_SPACE, never
 * SIGBUS — shown against a sparse mapping that does die of SIGBUS), a grow cut short by a crash,
 * the residency budget (windows dropped, data intact, resident memory bounded), the pread engine
 * matching the mmap engine op for op, read-only opens following a writer through refresh(), and
 * fault injection (torn stores, bit flips on read copies).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PmemSpace, PMEM_WINDOW_BYTES, type PmemSpaceOptions } from '../../src/media/pmem-space.js';
import { FaultInjector } from '../../src/media/fault.js';
import { CairnError } from '../../core/errors.js';
import { Rng } from '../../core/rng.js';
import { safe } from '../vos/safe.js';
import { diskTmpDir } from '../helpers/tmp.js';

const test = suite('pmem space');
const KiB = 1024; const MiB = 1024 * KiB;
const SEG = 256 * KiB;
const ENGINES = ['mmap', 'pread'] as const;
let dir = '';
test.before.each(() => { dir = diskTmpDir('cairn-pmem-space-'); });
test.after.each(() => { fs.rmSync(dir, { recursive: true, force: true }); });

function code(fn: () => unknown): string | undefined {
  try { fn(); } catch (e) { return (e as CairnError).code ?? String(e); }
  return undefined;
}
const opts = (io: 'mmap' | 'pread', extra: Partial<PmemSpaceOptions> = {}): PmemSpaceOptions => ({ segmentBytes: SEG, initialBytes: SEG, maxBytes: 4 * SEG, io, ...extra });
const pattern = (n: number, seed: number) => new Rng(seed).bytes(n);

test('bad options are INVALID_ARGUMENT, never a crash', safe(() => {
  const p = path.join(dir, 'f');
  assert.is(code(() => PmemSpace.open(p, { ...opts('mmap'), segmentBytes: 300 * KiB })), 'INVALID_ARGUMENT', 'segment not a power of two');
  assert.is(code(() => PmemSpace.open(p, { ...opts('mmap'), segmentBytes: 64 * KiB })), 'INVALID_ARGUMENT', 'segment below 256 KiB');
  assert.is(code(() => PmemSpace.open(p, { ...opts('mmap'), maxBytes: SEG - 1 })), 'INVALID_ARGUMENT', 'cap below a segment');
  assert.is(code(() => PmemSpace.open(p, { ...opts('mmap'), initialBytes: SEG + 1 })), 'INVALID_ARGUMENT', 'initial size not whole segments');
  assert.is(code(() => PmemSpace.open(p, { ...opts('mmap'), initialBytes: 8 * SEG })), 'INVALID_ARGUMENT', 'initial size above the cap');
  assert.is(code(() => PmemSpace.open(p, { ...opts('mmap'), residentBytes: 1000 })), 'INVALID_ARGUMENT', 'budget below one window');
  assert.not.ok(fs.existsSync(p), 'nothing created by a refused open');
  assert.is(code(() => PmemSpace.open(p, { ...opts('pread'), readOnly: true })), 'MISSING_FILE');
}));

for (const io of ENGINES) {
  test(`growth by whole segments keeps earlier views valid; the cap gives NO_SPACE (${io})`, safe(() => {
    const p = path.join(dir, 'f');
    const s = PmemSpace.open(p, opts(io));
    assert.ok(s.created);
    assert.is(s.engine, io);
    assert.is(s.size, SEG);
    assert.is(fs.statSync(p).size, SEG, 'the file is allocated to one segment');
    const head = pattern(4096, 1);
    s.write(SEG - 4096, head);
    const v = s.view(SEG - 4096, 4096);
    s.grow(SEG + 1); // rounds up to whole segments
    assert.is(s.size, 2 * SEG);
    assert.is(fs.statSync(p).size, 2 * SEG);
    assert.ok(Buffer.from(v).equals(Buffer.from(head)), 'a view taken before the grow still reads the same bytes');
    const tail = pattern(8192, 2);
    s.write(2 * SEG - 8192, tail);
    assert.ok(Buffer.from(s.read(2 * SEG - 8192, 8192)).equals(Buffer.from(tail)));
    // a store spanning the segment boundary lands in both mappings
    const across = pattern(1000, 3);
    s.write(SEG - 500, across);
    assert.ok(Buffer.from(s.read(SEG - 500, 1000)).equals(Buffer.from(across)));
    s.grow(3 * SEG); s.grow(2 * SEG); // shrinking is a no-op
    assert.is(s.size, 3 * SEG);
    s.grow(4 * SEG);
    assert.is(s.size, 4 * SEG, 'growing to exactly the cap works');
    assert.is(code(() => s.grow(4 * SEG + 1)), 'NO_SPACE');
    assert.is(s.size, 4 * SEG, 'a refused grow changes nothing');
    assert.is(fs.statSync(p).size, 4 * SEG);
    assert.is(code(() => s.write(4 * SEG - 2, new Uint8Array(4))), 'INVALID_ARGUMENT', 'a store past the end');
    assert.is(code(() => s.read(-1, 2)), 'INVALID_ARGUMENT');
    assert.is(code(() => s.pread(0, -1)), 'INVALID_ARGUMENT', 'a negative length');
    assert.is(code(() => s.pread(0, 2 ** 53)), 'INVALID_ARGUMENT', 'a length past any file');
    assert.is(code(() => s.preadInto(4 * SEG - 2, new Uint8Array(4))), 'INVALID_ARGUMENT', 'a read into a buffer past the end');
    s.zero(SEG - 500, 1000);
    assert.ok(s.read(SEG - 500, 1000).every((x) => x === 0));
    s.persist(0, s.size);
    s.close();
    s.close(); // idempotent
    assert.is(code(() => s.read(0, 1)), 'CLOSED');
    assert.is(code(() => s.grow(8 * SEG)), 'CLOSED');
    // reopen: the file keeps its size and bytes (the cap given now only bounds further growth)
    const r = PmemSpace.open(p, opts(io, { maxBytes: 8 * SEG }));
    assert.not.ok(r.created);
    assert.is(r.size, 4 * SEG);
    assert.ok(Buffer.from(r.read(SEG - 4096, 500)).equals(Buffer.from(head.subarray(0, 500))));
    assert.ok(Buffer.from(r.read(2 * SEG - 8192, 8192)).equals(Buffer.from(tail)));
    r.grow(5 * SEG);
    assert.is(r.size, 5 * SEG);
    r.close();
  }));

  test(`a grow cut short by a crash (partial last segment) is trimmed at open (${io})`, safe(() => {
    const p = path.join(dir, 'f');
    const s = PmemSpace.open(p, opts(io));
    const data = pattern(3000, 4);
    s.write(100, data);
    s.grow(2 * SEG);
    s.write(SEG + 100, data);
    s.close();
    fs.truncateSync(p, 2 * SEG + 12345); // what a SIGKILL inside allocate() leaves
    const ro = PmemSpace.open(p, opts(io, { readOnly: true }));
    assert.is(ro.size, 2 * SEG, 'a read-only open maps the whole segments only');
    ro.close();
    assert.is(fs.statSync(p).size, 2 * SEG + 12345, 'and changes nothing');
    const r = PmemSpace.open(p, opts(io));
    assert.is(r.size, 2 * SEG);
    assert.is(fs.statSync(p).size, 2 * SEG, 'the partial segment is dropped');
    assert.ok(Buffer.from(r.read(100, 3000)).equals(Buffer.from(data)));
    assert.ok(Buffer.from(r.read(SEG + 100, 3000)).equals(Buffer.from(data)));
    r.grow(3 * SEG);
    assert.is(fs.statSync(p).size, 3 * SEG);
    r.close();
    // a crash during the very first allocation: the file is created again
    const q = path.join(dir, 'g');
    fs.writeFileSync(q, new Uint8Array(5000));
    const g = PmemSpace.open(q, opts(io));
    assert.ok(g.created);
    assert.is(g.size, SEG);
    g.close();
  }));
}

test('residency budget: least recently used windows are dropped, the data stays', safe(() => {
  for (const io of ENGINES) {
    const p = path.join(dir, `f-${io}`);
    const budget = 4 * PMEM_WINDOW_BYTES;
    const s = PmemSpace.open(p, { segmentBytes: MiB, initialBytes: 4 * MiB, maxBytes: 4 * MiB, io, residentBytes: budget });
    const windows = s.size / PMEM_WINDOW_BYTES;
    for (let w = 0; w < windows; w++) {
      s.write(w * PMEM_WINDOW_BYTES + 17, pattern(64, w));
      assert.ok(s.residentWindows <= 4, `${io}: ${s.residentWindows} windows resident after touching ${w + 1}`);
    }
    for (let w = 0; w < windows; w++) {
      assert.ok(Buffer.from(s.read(w * PMEM_WINDOW_BYTES + 17, 64)).equals(Buffer.from(pattern(64, w))), `${io}: window ${w} intact after eviction`);
      assert.ok(Buffer.from(s.view(w * PMEM_WINDOW_BYTES + 17, 64)).equals(Buffer.from(pattern(64, w))));
    }
    assert.ok(s.residentWindows <= 4 && s.residentWindows > 0);
    s.dropResidency();
    if (io === 'mmap') assert.is(s.residentWindows, 0);
    s.close();
  }
}));

/** Resident file-backed memory of this process (kB), from /proc. */
function rssFileKb(): number {
  const m = /RssFile:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : NaN;
}

test('residency budget bounds resident memory: touching 64 MiB of mapping with a 1 MiB budget', safe(() => {
  const p = path.join(dir, 'big');
  const size = 64 * MiB;
  const s = PmemSpace.open(p, { segmentBytes: 16 * MiB, initialBytes: size, maxBytes: size, io: 'mmap', residentBytes: MiB });
  const before = rssFileKb();
  const page = new Uint8Array(4096).fill(0xa5);
  for (let off = 0; off < size; off += 4096) s.write(off, page);
  const grown = rssFileKb() - before;
  assert.ok(grown < 16 * 1024, `resident file memory grew by ${grown} kB for 64 MiB touched (budget 1 MiB)`);
  for (let off = 0; off < size; off += 1024 * 1024 + 4096) assert.is(s.read(off, 1)[0], 0xa5);
  s.close();
}));

/** Whether this kernel has MADV_POPULATE_WRITE (Linux 5.14). */
function kernelPopulates(): boolean {
  const [maj, min] = os.release().split('.').map(Number);
  return maj! > 5 || (maj === 5 && min! >= 14);
}

test('prefault maps a range writable in one call: resident at once, bytes unchanged, clipped to its segment; nothing in pread or read-only mode', safe(() => {
  const p = path.join(dir, 'pre');
  const size = 8 * MiB;
  const s = PmemSpace.open(p, { segmentBytes: 4 * MiB, initialBytes: size, maxBytes: size, io: 'mmap', residentBytes: size });
  const data = pattern(3 * 4096, 7);
  s.pwrite(MiB + 100, data); // (pwrite: maps nothing in)
  const before = rssFileKb();
  const did = s.prefault(MiB, 2 * MiB);
  assert.is(did, kernelPopulates(), `prefault on kernel ${os.release()}`);
  if (did) {
    const grown = rssFileKb() - before;
    assert.ok(grown >= 1900, `2 MiB made resident by one call (${grown} kB)`);
    assert.is(s.residentWindows, (2 * MiB) / PMEM_WINDOW_BYTES, 'counted by the residency clock');
  }
  assert.ok(Buffer.from(s.read(MiB + 100, data.length)).equals(Buffer.from(data)), 'the bytes are what they were');
  s.write(MiB + 50_000, pattern(100, 8));
  // clipped to the segment and the file: a range past the segment's end is not an error
  assert.is(s.prefault(4 * MiB - 4096, 2 * MiB), kernelPopulates());
  assert.is(code(() => s.prefault(size - 4096, 8192)), 'INVALID_ARGUMENT', 'past the end of the file');
  assert.is(s.prefault(0, 0), false, 'an empty range does nothing');
  // a sync moves the count a writer checks before trusting an earlier prefault
  const n0 = s.syncs;
  s.persistAll();
  assert.ok(s.syncs > n0, 'persistAll counted');
  s.close();
  const raw = fs.readFileSync(p);
  assert.ok(raw.subarray(MiB + 100, MiB + 100 + data.length).equals(Buffer.from(data)), 'on disk: the pwritten bytes');
  assert.ok(raw.subarray(MiB + 50_000, MiB + 50_100).equals(Buffer.from(pattern(100, 8))), 'on disk: the stored bytes');
  assert.ok(raw.subarray(MiB, MiB + 100).every((x) => x === 0) && raw.subarray(2 * MiB, 3 * MiB).every((x) => x === 0), 'the rest of the range still zeros');
  const r = PmemSpace.open(p, { segmentBytes: 4 * MiB, initialBytes: size, maxBytes: size, io: 'pread' });
  assert.is(r.prefault(0, MiB), false, 'pread mode: nothing to map');
  r.close();
  const ro = PmemSpace.open(p, { segmentBytes: 4 * MiB, initialBytes: size, maxBytes: size, io: 'mmap', readOnly: true });
  assert.is(ro.prefault(0, MiB), false, 'read-only: never made writable');
  ro.close();
}));

test('pread engine equals the mmap engine on the same operations', safe(() => {
  const spaces = ENGINES.map((io) => PmemSpace.open(path.join(dir, io), { segmentBytes: SEG, initialBytes: SEG, maxBytes: 16 * SEG, io, residentBytes: 2 * PMEM_WINDOW_BYTES }));
  const rng = new Rng(99);
  for (let i = 0; i < 3000; i++) {
    const size = spaces[0]!.size;
    const r = rng.float();
    const off = rng.int(size);
    const len = Math.min(size - off, rng.chance(0.2) ? rng.int(200_000) : rng.int(300));
    if (r < 0.45) { const d = rng.bytes(len); for (const s of spaces) s.write(off, d); }
    else if (r < 0.5) { for (const s of spaces) s.zero(off, len); }
    else if (r < 0.52) { if (size < 16 * SEG) for (const s of spaces) s.grow(size + SEG); }
    else if (r < 0.76) {
      const [a, b] = spaces.map((s) => s.read(off, len));
      assert.ok(Buffer.from(a!).equals(Buffer.from(b!)), `read ${off}+${len} at step ${i}`);
    } else {
      // views must not cross a segment boundary
      const seg = Math.floor(off / SEG);
      const vlen = Math.min(len, (seg + 1) * SEG - off);
      const [a, b] = spaces.map((s) => s.view(off, vlen).slice());
      assert.ok(Buffer.from(a!).equals(Buffer.from(b!)), `view ${off}+${vlen} at step ${i}`);
    }
  }
  assert.is(spaces[0]!.size, spaces[1]!.size);
  for (const s of spaces) s.close();
  assert.ok(fs.readFileSync(path.join(dir, 'mmap')).equals(fs.readFileSync(path.join(dir, 'pread'))), 'the two files are byte-identical');
}));

for (const io of ENGINES) {
  test(`a read-only open sees another writer's stores and growth after refresh() (${io})`, safe(() => {
    const p = path.join(dir, 'f');
    const w = PmemSpace.open(p, opts('mmap', { maxBytes: 8 * SEG }));
    w.write(10, new Uint8Array([1, 2, 3]));
    const r = PmemSpace.open(p, opts(io, { readOnly: true }));
    assert.equal(Array.from(r.read(10, 3)), [1, 2, 3]);
    w.write(10, new Uint8Array([7, 8, 9]));
    w.grow(3 * SEG);
    w.write(2 * SEG + 5, new Uint8Array([42]));
    r.refresh();
    assert.equal(Array.from(r.read(10, 3)), [7, 8, 9], 'stores made after the reader cached the window');
    assert.is(r.size, 3 * SEG);
    assert.is(r.read(2 * SEG + 5, 1)[0], 42, 'a segment grown by the writer');
    assert.is(code(() => r.write(0, new Uint8Array(1))), 'READ_ONLY');
    assert.is(code(() => r.zero(0, 1)), 'READ_ONLY');
    assert.is(code(() => r.grow(4 * SEG)), 'READ_ONLY');
    r.close(); w.close();
  }));
}

test('fault injection: a torn store lands whole 8-byte units then fails; bit flips touch read copies only', safe(() => {
  for (const io of ENGINES) {
    const p = path.join(dir, `f-${io}`);
    const fault = new FaultInjector({ seed: 5, tornWrite: 1, crashAfterTornWrite: false });
    const s = PmemSpace.open(p, opts(io, { fault }));
    const data = new Uint8Array(800).fill(0xee);
    assert.is(code(() => s.write(1000, data)), 'IO_ERROR');
    const back = s.read(1000, 800);
    let landed = 0; while (landed < 800 && back[landed] === 0xee) landed++;
    assert.ok(landed % 8 === 0 && landed < 800, `${io}: ${landed} bytes landed`);
    assert.ok(back.subarray(landed).every((x) => x === 0), 'nothing after the tear');
    s.close();
    const flips = new FaultInjector({ seed: 6, bitFlipOnRead: 1 });
    const f = PmemSpace.open(p, opts(io, { fault: flips }));
    const copy = f.read(1000, 64);
    assert.ok(copy.some((x) => x !== 0xee && x !== 0) || landed === 0, 'the copy has a flipped bit');
    assert.ok(Buffer.from(f.view(1000, Math.min(64, landed))).equals(Buffer.alloc(Math.min(64, landed), 0xee)), 'the stored bytes are untouched');
    f.close();
  }
}));

// ------------------------------------------------------------------ a real, small, full filesystem

const spaceModule = fileURLToPath(new URL('../../src/media/pmem-space.ts', import.meta.url));

/** Run `body` (module code with `PmemSpace`, `fs`, `path`, `mnt` in scope) in a child process, so a SIGBUS kills only the child. */
function child(mnt: string, body: string): { status: number | null; signal: string | null; out: string } {
  const src = `import fs from 'node:fs'; import path from 'node:path';
import { PmemSpace } from ${JSON.stringify(spaceModule)};
const mnt = ${JSON.stringify(mnt)};
${body}`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', src], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, signal: r.signal, out: `${r.stdout}${r.stderr}` };
}

test('a real 16 MiB tmpfs: growing beyond its free space gives NO_SPACE, never SIGBUS', safe(() => {
  const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-tmpfs-'));
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', mnt], { encoding: 'utf8' });
  if (m.status !== 0) {
    console.log(`SKIPPED (tmpfs NO_SPACE test): cannot mount a tmpfs here (${(m.stderr || m.error?.message || '').trim()}); needs root with CAP_SYS_ADMIN`);
    fs.rmSync(mnt, { recursive: true, force: true });
    return;
  }
  try {
    // control: a sparse file mapped on the full filesystem dies of SIGBUS on its first store into a hole
    const ctl = child(mnt, `
      const mm = (await import('node:module')).createRequire(import.meta.url)('@riaskov/mmap-io');
      try { fs.writeFileSync(path.join(mnt, 'filler'), new Uint8Array(16 * 1024 * 1024)); } catch { /* full: what fitted stays */ }
      const fd = fs.openSync(path.join(mnt, 'sparse'), 'w+');
      fs.ftruncateSync(fd, 8 * 1024 * 1024);
      const b = mm.map(8 * 1024 * 1024, mm.PROT_READ | mm.PROT_WRITE, mm.MAP_SHARED, fd, 0);
      for (let off = 0; off < b.length; off += 4096) b[off] = 1;
      console.log('SURVIVED');
    `);
    assert.is(ctl.signal, 'SIGBUS', `control: a sparse mapping on a full tmpfs must die of SIGBUS (got ${ctl.signal ?? ctl.status}: ${ctl.out.slice(0, 300)})`);
    for (const f of fs.readdirSync(mnt)) fs.rmSync(path.join(mnt, f));

    const r = child(mnt, `
      const code = (fn) => { try { fn(); return 'ok'; } catch (e) { return e.code ?? String(e); } };
      const out = {};
      // opening with more than the filesystem holds
      out.tooBig = code(() => PmemSpace.open(path.join(mnt, 'too-big'), { segmentBytes: 4 << 20, initialBytes: 32 << 20, maxBytes: 64 << 20 }));
      out.tooBigLeft = fs.existsSync(path.join(mnt, 'too-big')) ? fs.statSync(path.join(mnt, 'too-big')).size : -1;
      // growing until the filesystem is full
      const s = PmemSpace.open(path.join(mnt, 'space'), { segmentBytes: 1 << 20, initialBytes: 1 << 20, maxBytes: 64 << 20 });
      let grow = 'ok';
      while (grow === 'ok') grow = code(() => s.grow(s.size + (1 << 20)));
      out.grow = grow; out.size = s.size; out.fileSize = fs.statSync(path.join(mnt, 'space')).size;
      // every byte of the space is backed: stores into all of it succeed (a hole would SIGBUS here)
      const page = new Uint8Array(4096).fill(0x5c);
      for (let off = 0; off < s.size; off += 4096) s.write(off, page);
      let ok = true;
      for (let off = 0; off < s.size; off += 4096) if (s.read(off + 4095, 1)[0] !== 0x5c) ok = false;
      out.allWritten = ok;
      s.close();
      console.log('RESULT ' + JSON.stringify(out));
    `);
    assert.is(r.signal, null, `no signal (got ${r.signal}): ${r.out.slice(0, 500)}`);
    const line = r.out.split('\n').find((l) => l.startsWith('RESULT '));
    assert.ok(line, r.out.slice(0, 1000));
    const res = JSON.parse(line!.slice(7));
    assert.is(res.tooBig, 'NO_SPACE', 'an open needing more than the filesystem has');
    assert.ok(res.tooBigLeft <= 0, 'and it leaves no half-allocated file behind');
    assert.is(res.grow, 'NO_SPACE', 'growth stops with NO_SPACE');
    assert.ok(res.size >= 8 << 20 && res.size <= 16 << 20, `grew to ${res.size} bytes of a 16 MiB filesystem`);
    assert.is(res.size % (1 << 20), 0, 'whole segments');
    assert.is(res.fileSize, res.size, 'the failed grow left the file at whole segments');
    assert.ok(res.allWritten, 'every mapped byte is allocated');
  } finally {
    spawnSync('umount', [mnt]);
    fs.rmSync(mnt, { recursive: true, force: true });
  }
}));

test.run();
