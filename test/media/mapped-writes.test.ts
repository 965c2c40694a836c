/**
 * Small synchronous value writes (`writeHashedSync`) of a buffered data file go through a writable
 * shared mapping of the file (native `mapWriteHashSync`) instead of one pwrite each. Specification:
 * the file's bytes and the returned checksums are exactly pwrite's; a write is in the page cache
 * when the call returns (a SIGKILLed process loses none); a fault in the mapping (the file cut short
 * behind the device's back) is caught and the write done with pwrite; resident memory stays bounded.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Rng } from '../../core/rng.js';
import { initXxhash, xxh64 } from '../../core/xxhash.js';
import { BLOCK_SIZE, openBlockDevice, loadNative } from '../../src/media/index.js';
import { MAPPED_WRITES_ENV } from '../../src/media/block-device.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-mapped-writes-'));
const mapped = loadNative().addon?.mapWriteHashSync !== undefined;
let fileNo = 0;
const fresh = () => path.join(tmp, `dev-${fileNo++}.dat`);
const t = suite('media: mapped small writes');

/** Open a buffered device with mapped writes on or off (the switch is read when the first write maps the file). */
async function open(file: string, size: number, on: boolean) {
  if (on) delete process.env[MAPPED_WRITES_ENV]; else process.env[MAPPED_WRITES_ENV] = '0';
  try {
    const dev = await openBlockDevice(file, { size, io: 'pread', direct: false });
    dev.writeHashedSync(0, BLOCK_SIZE, new Uint8Array(0), 0n); // (maps the file now, under this switch)
    return dev;
  } finally { delete process.env[MAPPED_WRITES_ENV]; }
}

t.before(async () => { await initXxhash(); });
t.after(() => { fs.rmSync(tmp, { recursive: true, force: true }); });

t('the same writes through the mapping and through pwrite leave byte-identical files and the same checksums; padding over old bytes is zeroed', async () => {
  const size = 256 * BLOCK_SIZE, seed = 7n;
  const files = [fresh(), fresh()];
  const garbage = new Rng(1).bytes(size);
  for (const f of files) fs.writeFileSync(f, garbage); // old bytes everywhere: the padding must overwrite them
  const devs = [await open(files[0]!, size, true), await open(files[1]!, size, false)];
  const rng = new Rng(2);
  for (let i = 0; i < 400; i++) {
    const len = rng.int(4) === 0 ? rng.int(201) : rng.range(1, 12 * BLOCK_SIZE);
    const blocks = Math.max(1, Math.ceil(len / BLOCK_SIZE)) + rng.int(3); // up to 2 blocks of zero padding
    const at = rng.int(257 - blocks) * BLOCK_SIZE;
    const v = rng.bytes(len);
    const want = xxh64(v, seed);
    for (const d of devs) assert.is(d.writeHashedSync(at, blocks * BLOCK_SIZE, v, seed), want, `write ${i}: checksum of the value`);
    const back = devs[0]!.readSync(at, blocks * BLOCK_SIZE);
    assert.ok(Buffer.from(back.subarray(0, len)).equals(Buffer.from(v)), `write ${i}: read back through the page cache`);
    assert.ok(back.subarray(len).every((x) => x === 0), `write ${i}: padding is zeros`);
  }
  const viaRead = await devs[0]!.read(0, size);
  for (const d of devs) await d.close();
  const [a, b] = files.map((f) => fs.readFileSync(f));
  assert.ok(a!.equals(b!), 'mapped and pwrite files are byte-identical');
  assert.ok(Buffer.from(viaRead).equals(a!), 'an ordinary read sees the mapped writes');
});

t('a write is in the page cache when the call returns: a process SIGKILLed right after its writes loses none', () => {
  const file = fresh(), ledger = `${file}.ledger`;
  const script = `
    import fs from 'node:fs';
    import { openBlockDevice } from './src/media/index.js';
    import { Rng } from './core/rng.js';
    import { initXxhash } from './core/xxhash.js';
    await initXxhash();
    const dev = await openBlockDevice(${JSON.stringify(file)}, { size: 512 * 4096, io: 'pread', direct: false });
    const rng = new Rng(9);
    for (let i = 0; i < 512; i++) {
      dev.writeHashedSync(i * 4096, 4096, rng.bytes(4096), 0n);
      fs.writeFileSync(${JSON.stringify(ledger)}, String(i + 1)); // synchronous: what was acknowledged
    }
    process.kill(process.pid, 'SIGKILL');`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: path.resolve(import.meta.dirname, '../..'), encoding: 'utf8' });
  assert.is(r.signal, 'SIGKILL', r.stderr);
  const acked = Number(fs.readFileSync(ledger, 'utf8'));
  assert.is(acked, 512, 'every write acknowledged before the kill');
  const bytes = fs.readFileSync(file);
  const rng = new Rng(9);
  for (let i = 0; i < acked; i++) assert.ok(bytes.subarray(i * 4096, (i + 1) * 4096).equals(Buffer.from(rng.bytes(4096))), `value ${i} survived the kill`);
});

t('a file cut short behind the device\'s back: writes past the cut fault in the mapping, are done with pwrite instead, and read back; the process lives', async () => {
  if (!mapped) return; // no addon: every write is a pwrite (the test above)
  const file = fresh(), seed = 3n;
  const dev = await open(file, 64 * BLOCK_SIZE, true);
  const before = new Rng(4).bytes(BLOCK_SIZE);
  dev.writeHashedSync(2 * BLOCK_SIZE, BLOCK_SIZE, before, seed);
  fs.truncateSync(file, 16 * BLOCK_SIZE); // pages of the mapping past 16 blocks now raise SIGBUS
  const v = new Rng(5).bytes(3 * BLOCK_SIZE - 17);
  // (xxh64 is WebAssembly: it runs after the caught fault, so the thread's memory protection keys were restored)
  assert.is(dev.writeHashedSync(40 * BLOCK_SIZE, 3 * BLOCK_SIZE, v, seed), xxh64(v, seed));
  const back = dev.readSync(40 * BLOCK_SIZE, 3 * BLOCK_SIZE);
  assert.ok(Buffer.from(back.subarray(0, v.length)).equals(Buffer.from(v)), 'written past the cut');
  assert.ok(back.subarray(v.length).every((x) => x === 0));
  assert.ok(Buffer.from(dev.readSync(2 * BLOCK_SIZE, BLOCK_SIZE)).equals(Buffer.from(before)), 'bytes before the cut unchanged');
  const after = new Rng(6).bytes(BLOCK_SIZE);
  assert.is(dev.writeHashedSync(3 * BLOCK_SIZE, BLOCK_SIZE, after, seed), xxh64(after, seed), 'writes before the cut still go through the mapping');
  assert.ok(Buffer.from(dev.readSync(3 * BLOCK_SIZE, BLOCK_SIZE)).equals(Buffer.from(after)));
  await dev.close();
  assert.throws(() => dev.writeHashedSync(0, BLOCK_SIZE, after, seed), (e: Error & { code?: string }) => e.code === 'CLOSED', 'closed: no write reaches the unmapped file');
});

t('writes through the mapping of a file larger than the residency budget keep RSS bounded (384 MiB written, RssFile grows less than 320 MiB)', async () => {
  if (!mapped) return;
  const rssFile = () => Number(/RssFile:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN) * 1024;
  if (!Number.isFinite(rssFile())) return; // no /proc here
  const MIB = 1 << 20, size = 384 * MIB, chunk = 64 * 1024;
  const file = fresh();
  const dev = await open(file, size, true);
  const v = new Rng(8).bytes(chunk);
  const before = rssFile();
  for (let o = 0; o < size; o += chunk) dev.writeHashedSync(o, chunk, v, 1n);
  const grew = rssFile() - before;
  assert.ok(grew < 320 * MIB, `RssFile grew ${(grew / MIB).toFixed(1)} MiB writing 384 MiB`);
  assert.ok(Buffer.from(dev.readSync(size - chunk, chunk)).equals(Buffer.from(v)));
  await dev.close();
  fs.rmSync(file);
});

t('mapPrefault maps a range of a writable mapping ahead of its stores: true inside the file, false outside the mapping or past the file\'s end (no SIGBUS); stores after it land', () => {
  const native = loadNative().addon;
  if (native === undefined) { console.log('  (native addon not built: skipped)'); return; }
  assert.type(native.mapPrefault, 'function', 'an addon built from these sources has mapPrefault (rebuild it: npm run build:native)');
  const file = fresh();
  fs.writeFileSync(file, Buffer.alloc(64 * 1024));
  const fd = fs.openSync(file, 'r+');
  try {
    const m = native!.mapFile!(fd, 1024 * 1024, true)!;
    assert.is(native!.mapPrefault!(m, 4096, 32 * 1024), true, 'inside the file');
    assert.is(native!.mapPrefault!(m, 512 * 1024, 4096), false, 'past the file\'s end: refused, not a SIGBUS');
    assert.is(native!.mapPrefault!(m, 1024 * 1024 - 4096, 8192), false, 'past the mapping');
    const v = new Rng(9).bytes(20_000);
    assert.is(typeof native!.mapWriteHashSync!(m, v, 5000, v.length, 0n), 'bigint', 'a store into the range');
    const back = Buffer.alloc(v.length);
    fs.readSync(fd, back, 0, v.length, 5000);
    assert.ok(back.equals(Buffer.from(v)), 'read back with pread');
    native!.unmapFile!(m);
    assert.is(native!.mapPrefault!(m, 4096, 4096), false, 'an unmapped mapping');
  } finally { fs.closeSync(fd); }
});

t('prefaultBuffer makes the whole pages inside a view present and leaves its bytes as they were: true for a view holding a page, false for one holding none; a TypeError for anything but a typed array', () => {
  const native = loadNative().addon;
  if (native === undefined) { console.log('  (native addon not built: skipped)'); return; }
  assert.type(native.prefaultBuffer, 'function', 'an addon built from these sources has prefaultBuffer (rebuild it: npm run build:native)');
  const fresh = new Uint8Array(1024 * 1024);
  assert.is(native.prefaultBuffer!(fresh), true, 'a fresh 1 MiB buffer');
  assert.ok(fresh.every((b) => b === 0), 'still zeros');
  const v = new Rng(11).bytes(256 * 1024);
  const copy = v.slice();
  assert.is(native.prefaultBuffer!(v.subarray(1000, 200_000)), true, 'a view inside it, at an odd offset');
  assert.equal(v, copy, 'its bytes, and those around the view, unchanged');
  assert.is(native.prefaultBuffer!(new Float64Array(4096)), true, 'any typed array: its bytes, not its elements, count');
  assert.is(native.prefaultBuffer!(new Uint8Array(100)), false, 'no whole page inside');
  assert.throws(() => native.prefaultBuffer!(new DataView(new ArrayBuffer(8192)) as unknown as Uint8Array), /typed array/, 'a DataView');
  assert.throws(() => native.prefaultBuffer!({} as Uint8Array), /typed array/, 'a plain object');
});

t.run();
