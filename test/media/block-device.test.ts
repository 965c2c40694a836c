import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { Rng } from '../../core/rng.js';
import { initXxhash, xxh64 } from '../../core/xxhash.js';
import { FaultInjector } from '../../src/media/fault.js';
import {
  BLOCK_SIZE, IO_CHUNK_BYTES, openBlockDevice, allocAligned, isAligned, loadNative, MediaError, type BlockDevice,
} from '../../src/media/index.js';
import { MAPPED_READS_ENV } from '../../src/media/block-device.js';
import { copyBytes } from '../../src/media/copy.js';
import { diskTmpDir, inMemoryFs } from '../helpers/tmp.js';

const tmp = diskTmpDir('cairn-media-');
const nativeOk = loadNative().addon !== undefined;
const engines: ('pread' | 'io_uring')[] = nativeOk ? ['pread', 'io_uring'] : ['pread'];
let fileNo = 0;
const fresh = () => path.join(tmp, `dev-${fileNo++}.dat`);

async function rejects(p: Promise<unknown>, code: string): Promise<MediaError> {
  try { await p; } catch (e) {
    assert.instance(e, MediaError, `expected MediaError ${code}, got ${String(e)}`);
    assert.is((e as MediaError).code, code);
    return e as MediaError;
  }
  assert.unreachable(`expected ${code}`);
  throw new Error('unreachable');
}

const t = suite('media/block-device');

t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

t('allocAligned gives zeroed aligned buffers of the requested length', () => {
  for (const n of [0, 1, 4096, 5000, 1 << 20]) {
    const b = allocAligned(n);
    assert.is(b.length, n);
    assert.ok(isAligned(b));
    assert.ok(b.every((x) => x === 0));
  }
  assert.throws(() => allocAligned(-1), (e: MediaError) => e.code === 'INVALID_ARGUMENT');
});

for (const io of engines) {
  for (const direct of [true, false]) {
    const tag = `${io} ${direct ? 'O_DIRECT' : 'buffered'}`;

    t(`${tag}: random writes and reads match an in-memory model (unwritten reads are zeros)`, async () => {
      const size = 8 << 20;
      const dev = await openBlockDevice(fresh(), { size, io, direct });
      assert.is(dev.engine, io);
      assert.is(dev.direct, direct);
      const model = new Uint8Array(size);
      const rng = new Rng(1234);
      for (let i = 0; i < 120; i++) {
        const blocks = rng.chance(0.2) ? rng.range(1, 160) : rng.range(1, 8);
        const off = rng.int(size / BLOCK_SIZE - blocks + 1) * BLOCK_SIZE;
        if (rng.chance(0.6)) {
          // half the writes from aligned memory, half from an odd offset of a plain buffer
          const data = rng.chance(0.5) ? dev.allocAligned(blocks * BLOCK_SIZE) : new Uint8Array(blocks * BLOCK_SIZE + 3).subarray(3);
          rng.fill(data);
          await dev.write(off, data);
          model.set(data, off);
        } else {
          const into = rng.chance(0.5) ? undefined : new Uint8Array(blocks * BLOCK_SIZE + 1).subarray(1);
          const got = await dev.read(off, blocks * BLOCK_SIZE, into);
          assert.is(got.length, blocks * BLOCK_SIZE);
          if (into) assert.is(got.buffer, into.buffer);
          assert.ok(Buffer.from(got).equals(model.subarray(off, off + got.length)), `read mismatch at ${off}+${got.length}`);
        }
      }
      const all = await dev.read(0, size);
      assert.ok(Buffer.from(all).equals(model), 'whole device equals model');
      await dev.close();
    });

    t(`${tag}: many concurrent writes then concurrent reads`, async () => {
      const n = 300, size = n * 2 * BLOCK_SIZE;
      const dev = await openBlockDevice(fresh(), { size, io, direct });
      const rng = new Rng(99);
      const datas = Array.from({ length: n }, () => rng.bytes(2 * BLOCK_SIZE));
      await Promise.all(datas.map((d, i) => dev.write(i * 2 * BLOCK_SIZE, d)));
      const reads = await Promise.all(datas.map((_, i) => dev.read(i * 2 * BLOCK_SIZE, 2 * BLOCK_SIZE)));
      reads.forEach((r, i) => assert.ok(Buffer.from(r).equals(datas[i]!), `block ${i}`));
      await dev.sync();
      await dev.close();
    });
  }

  t(`${io}: large writes are split into chunks and survive close, sync and reopen`, async () => {
    const p = fresh(), size = 16 << 20;
    const dev = await openBlockDevice(p, { size, io });
    const big = new Rng(5).bytes(IO_CHUNK_BYTES * 5 + BLOCK_SIZE * 3);
    await dev.write(BLOCK_SIZE, big);
    await dev.sync();
    await dev.close();
    assert.is(fs.statSync(p).size, size);
    const again = await openBlockDevice(p, { size, io, create: false });
    const got = await again.read(BLOCK_SIZE, big.length);
    assert.ok(Buffer.from(got).equals(big));
    assert.ok((await again.read(0, BLOCK_SIZE)).every((x) => x === 0));
    await again.close();
  });

  t(`${io}: a read-only device reads what was written, refuses every write with READ_ONLY, and neither creates nor extends its file`, async () => {
    const p = fresh(), size = 64 * BLOCK_SIZE;
    fs.writeFileSync(p, new Uint8Array(2 * BLOCK_SIZE).fill(9)); // shorter than the device: read-only leaves it so
    const dev = await openBlockDevice(p, { size, io, readOnly: true });
    assert.ok((await dev.read(0, 2 * BLOCK_SIZE)).every((x) => x === 9));
    assert.ok((await dev.read(2 * BLOCK_SIZE, BLOCK_SIZE)).every((x) => x === 0), 'past the end of the file: zeros');
    const blk = new Uint8Array(BLOCK_SIZE).fill(1);
    await rejects(dev.write(0, blk), 'READ_ONLY');
    await rejects(dev.writeFrom(0, BLOCK_SIZE, [blk]), 'READ_ONLY');
    await rejects(dev.writeFromHashed(0, BLOCK_SIZE, [blk], 0n), 'READ_ONLY');
    assert.throws(() => dev.writeFromSync(0, BLOCK_SIZE, [blk]), (e: unknown) => (e as MediaError).code === 'READ_ONLY');
    assert.is(dev.hashedWriteNow?.(0, BLOCK_SIZE, [blk], 0n), undefined);
    await dev.close();
    assert.is(fs.statSync(p).size, 2 * BLOCK_SIZE);
    assert.ok(fs.readFileSync(p).every((x) => x === 9));
    await rejects(openBlockDevice(path.join(tmp, 'missing-ro.dat'), { size, io, readOnly: true }), 'MISSING_FILE');
    assert.not.ok(fs.existsSync(path.join(tmp, 'missing-ro.dat')));
  });

  t(`${io}: bad arguments give typed errors`, async () => {
    const size = 64 * BLOCK_SIZE;
    const dev = await openBlockDevice(fresh(), { size, io });
    const blk = new Uint8Array(BLOCK_SIZE);
    await rejects(dev.write(size, blk), 'NO_SPACE');
    await rejects(dev.write(size - BLOCK_SIZE, new Uint8Array(2 * BLOCK_SIZE)), 'NO_SPACE');
    await rejects(dev.read(size - BLOCK_SIZE, 2 * BLOCK_SIZE), 'NO_SPACE');
    await rejects(dev.write(100, blk), 'INVALID_ARGUMENT');
    await rejects(dev.write(0, new Uint8Array(100)), 'INVALID_ARGUMENT');
    await rejects(dev.write(-BLOCK_SIZE, blk), 'INVALID_ARGUMENT');
    await rejects(dev.write(0, 'abc' as unknown as Uint8Array), 'INVALID_ARGUMENT');
    await rejects(dev.read(0, 4097), 'INVALID_ARGUMENT');
    await rejects(dev.read(0, BLOCK_SIZE, new Uint8Array(10)), 'INVALID_ARGUMENT');
    await rejects(dev.read(Number.NaN, BLOCK_SIZE), 'INVALID_ARGUMENT');
    await dev.write(0, new Uint8Array(0)); // empty write is a no-op
    await dev.close();
    await rejects(dev.write(0, blk), 'CLOSED');
    await rejects(dev.read(0, BLOCK_SIZE), 'CLOSED');
    await rejects(dev.sync(), 'CLOSED');
    await dev.close(); // idempotent
    await rejects(openBlockDevice(path.join(tmp, 'missing.dat'), { size, io, create: false }), 'MISSING_FILE');
    await rejects(openBlockDevice(fresh(), { size: 1000, io }), 'INVALID_ARGUMENT');
    await rejects(openBlockDevice(fresh(), { size: 0, io }), 'INVALID_ARGUMENT');
    await rejects(openBlockDevice(fresh(), { size, io: 'spdk' as 'pread' }), 'INVALID_ARGUMENT');
    await rejects(openBlockDevice(tmp, { size, io }), 'IO_ERROR'); // a directory: EISDIR
  });

  t(`${io}: the event loop keeps ticking during a long batch of I/O`, async () => {
    const size = 64 << 20;
    const dev = await openBlockDevice(fresh(), { size, io });
    const chunk = dev.allocAligned(1 << 20);
    new Rng(3).fill(chunk);
    let ticks = 0, maxGap = 0, last = performance.now();
    const timer = setInterval(() => { const now = performance.now(); maxGap = Math.max(maxGap, now - last); last = now; ticks++; }, 2);
    const started = performance.now();
    for (let round = 0; round < 2; round++) {
      await Promise.all(Array.from({ length: size >> 20 }, (_, i) => dev.write(i << 20, chunk)));
    }
    await dev.sync();
    const elapsed = performance.now() - started;
    clearInterval(timer);
    await dev.close();
    assert.ok(ticks >= 3, `interval ticked ${ticks} times in ${elapsed.toFixed(0)} ms`);
    // A loop blocked by the batch shows one gap as long as the batch; a slow machine only stretches
    // every gap a little: the bound follows the batch's length (at least 250 ms).
    assert.ok(maxGap < Math.max(250, elapsed / 3), `longest gap between ticks ${maxGap.toFixed(0)} ms of ${elapsed.toFixed(0)} ms`);
  });
}

/** The open flags of the fd this process holds on `file` (from /proc/self/fdinfo), or undefined. */
/** Open flags of the descriptors this process holds on `file` (an O_DIRECT device also keeps a buffered one). */
function openFlags(file: string): number[] {
  const out: number[] = [];
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`) !== file) continue;
      const m = /flags:\s+([0-7]+)/.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
      if (m) out.push(parseInt(m[1]!, 8));
    } catch { /* fd closed meanwhile */ }
  }
  return out;
}

for (const io of engines) {
  t(`${io}: a loop of awaited small buffered writes does not starve timers`, async () => {
    const dev = await openBlockDevice(fresh(), { size: 1 << 20, io, direct: false });
    const blk = new Uint8Array(BLOCK_SIZE).fill(1);
    let fired = 0;
    const timer = setInterval(() => fired++, 1);
    const t0 = performance.now();
    let n = 0;
    while (performance.now() - t0 < 150) await dev.write((n++ % 256) * BLOCK_SIZE, blk);
    clearInterval(timer);
    await dev.close();
    // A starved loop runs thousands of writes with the interval never firing. On a loaded machine
    // a write may take milliseconds, so the bound follows the writes done (load ~40: 17 writes).
    assert.ok(n > 0 && fired >= Math.min(10, Math.floor(n / 4)), `interval fired ${fired} times during ${n} awaited writes`);
  });
}

t('auto picks an engine and says why; O_DIRECT on a real filesystem', async () => {
  const file = fresh();
  const dev = await openBlockDevice(file, { size: 1 << 20 });
  assert.is(dev.engine, nativeOk ? 'io_uring' : 'pread');
  assert.ok(dev.engineReason.length > 0);
  if (!nativeOk) assert.match(dev.engineReason, /pread fallback/);
  if (!inMemoryFs(tmp)) {
    assert.ok(dev.direct, `O_DIRECT expected on ${tmp}: ${dev.directReason}`);
    const flags = openFlags(file);
    assert.ok(flags.some((f) => (f & fs.constants.O_DIRECT) !== 0), `fd flags ${flags.map((f) => f.toString(8))} lack O_DIRECT`);
    assert.is(flags.length, 2, 'and one buffered descriptor for small synchronous I/O');
    const d = new Uint8Array(BLOCK_SIZE + 1).subarray(1).fill(7); // unaligned source: bounce copy
    await dev.write(0, d);
    assert.ok((await dev.read(0, BLOCK_SIZE)).every((x) => x === 7));
  }
  await dev.close();
});

t('tmpfs (/dev/shm) falls back to buffered I/O under direct: auto', async () => {
  if (!inMemoryFs('/dev/shm')) return;
  const dir = fs.mkdtempSync('/dev/shm/cairn-media-');
  try {
    const dev = await openBlockDevice(path.join(dir, 'd.dat'), { size: 1 << 20 });
    assert.is(dev.direct, false);
    assert.match(dev.directReason, /tmpfs/);
    const flags = openFlags(path.join(dir, 'd.dat'));
    assert.ok(flags.length === 1 && (flags[0]! & fs.constants.O_DIRECT) === 0, 'one buffered fd on tmpfs');
    const d = new Rng(8).bytes(8 * BLOCK_SIZE);
    await dev.write(4 * BLOCK_SIZE, d);
    assert.ok(Buffer.from(await dev.read(4 * BLOCK_SIZE, d.length)).equals(d));
    await dev.close();
  } finally { fs.rmSync(dir, { recursive: true, force: true }); }
});

t('without the native addon: auto falls back to pread and says why; io_uring requested is a typed error', () => {
  const script = `
    import { openBlockDevice } from './src/media/index.js';
    const p = ${JSON.stringify(path.join(tmp, 'nonative.dat'))};
    const dev = await openBlockDevice(p, { size: 65536 });
    // O_DIRECT without the addon: aligned buffers come from wasm memory slabs, others bounce.
    const a = dev.allocAligned(8192).fill(5);
    const u = new Uint8Array(4097).subarray(1).fill(6);
    await dev.write(0, a); await dev.write(8192, u);
    const back = await dev.read(0, 12288);
    const ok = back.subarray(0, 8192).every((x) => x === 5) && back.subarray(8192).every((x) => x === 6);
    let code = 'none';
    try { await openBlockDevice(p, { size: 65536, io: 'io_uring' }); } catch (e) { code = e.code; }
    console.log(JSON.stringify({ engine: dev.engine, reason: dev.engineReason, code, direct: dev.direct, ok }));
    await dev.close();`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: path.resolve(import.meta.dirname, '../..'), env: { ...process.env, CAIRN_NO_NATIVE: '1' }, encoding: 'utf8',
  });
  assert.is(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.is(out.engine, 'pread');
  assert.match(out.reason, /pread fallback.*CAIRN_NO_NATIVE/);
  assert.is(out.code, 'UNSUPPORTED');
  assert.ok(out.ok, 'round trip without the addon');
  if (!inMemoryFs(tmp)) assert.ok(out.direct, 'O_DIRECT without the addon');
});

t('buffers stay alive until their requests complete (GC during O_DIRECT I/O in flight)', async () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  for (const io of engines) {
    const n = 200, size = n * 4 * BLOCK_SIZE;
    const dev = await openBlockDevice(fresh(), { size, io });
    const writes: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      // an unaligned, unreferenced source: O_DIRECT writes go through a bounce buffer only the device holds
      writes.push(dev.write(i * 4 * BLOCK_SIZE, new Rng(i).fill(new Uint8Array(4 * BLOCK_SIZE + 8).subarray(8))));
      if (i % 20 === 0) gc();
    }
    gc();
    await Promise.all(writes);
    for (let i = 0; i < n; i++) {
      const want = new Rng(i).fill(new Uint8Array(4 * BLOCK_SIZE));
      assert.ok(Buffer.from(await dev.read(i * 4 * BLOCK_SIZE, 4 * BLOCK_SIZE)).equals(want), `${io} write ${i}`);
    }
    await dev.close();
  }
});

t('hashed I/O: writeFromHashed / readIntoHashed move the bytes and return the xxhash64 of exactly the value (thread-pool hashing and the fallbacks agree)', async () => {
  await initXxhash();
  const seed = 0x5643_4149_524e_0001n;
  // pread with the addon hashes on the thread-pool; a fault injector (no faults) and O_DIRECT force the JS fallback.
  // (with the addon, 'pread' reads with preadv, then hashes; 'pread, mapped' reads out of the
  // file's mapping, copying and hashing in one pass)
  // ('pread, reread' is the default: a range read before goes through the mapping)
  const setups: Array<{ name: string; opts: Partial<Parameters<typeof openBlockDevice>[1]>; mapped?: '0' | '1' }> = [
    { name: 'pread', opts: { io: 'pread', direct: false }, mapped: '0' },
    { name: 'pread, mapped', opts: { io: 'pread', direct: false }, mapped: '1' },
    { name: 'pread, reread', opts: { io: 'pread', direct: false } },
    { name: 'pread+injector', opts: { io: 'pread', direct: false, fault: new FaultInjector({ seed: 1 }) } },
    { name: 'auto', opts: {} },
  ];
  const rng = new Rng(77);
  for (const { name, opts, mapped } of setups) {
    const size = 64 * BLOCK_SIZE;
    if (mapped) process.env[MAPPED_READS_ENV] = mapped; else delete process.env[MAPPED_READS_ENV];
    const dev = await openBlockDevice(fresh(), { size, ...opts });
    for (const len of [1, 100, BLOCK_SIZE, 3 * BLOCK_SIZE + 17, 20 * BLOCK_SIZE]) {
      const value = rng.fill(new Uint8Array(len));
      const length = Math.ceil(len / BLOCK_SIZE) * BLOCK_SIZE;
      const off = 8 * BLOCK_SIZE;
      // the value in two gather pieces
      const cut = Math.floor(len / 3);
      const h = await dev.writeFromHashed(off, length, [value.subarray(0, cut), value.subarray(cut)], seed);
      assert.is(h, xxh64(value, seed), `${name} write hash, ${len} bytes`);
      // read back scattered into three pieces (exactly the value, not its block padding)
      const a = new Uint8Array(Math.floor(len / 2)), b = new Uint8Array(len - a.length - Math.floor(len / 4)), c = new Uint8Array(len - a.length - b.length);
      const r = await dev.readIntoHashed(off, length, [a, b, c], seed);
      assert.is(r, h, `${name} read hash, ${len} bytes`);
      assert.ok(Buffer.concat([a, b, c]).equals(value), `${name} bytes, ${len}`);
      // read again (with 'reread', now through the mapping)
      a.fill(0xee); b.fill(0xee); c.fill(0xee);
      assert.is(await dev.readIntoHashed(off, length, [a, b, c], seed), h, `${name} read hash again, ${len} bytes`);
      assert.ok(Buffer.concat([a, b, c]).equals(value), `${name} bytes again, ${len}`);
      // the padding after the value is zeros on the device
      const whole = await dev.read(off, length);
      assert.ok(whole.subarray(len).every((x) => x === 0), `${name} zero tail, ${len}`);
    }
    // a changed byte on the device changes the hash of the read
    const value = rng.fill(new Uint8Array(2 * BLOCK_SIZE));
    const h = await dev.writeFromHashed(0, 2 * BLOCK_SIZE, [value], seed);
    const bad = value.slice(); bad[4097] ^= 0x10;
    await dev.write(0, bad);
    assert.is.not(await dev.readIntoHashed(0, 2 * BLOCK_SIZE, [new Uint8Array(2 * BLOCK_SIZE)], seed), h, `${name} corruption changes the hash`);
    // bad arguments are typed errors, as for readInto / writeFrom
    await rejects(dev.readIntoHashed(1, BLOCK_SIZE, [new Uint8Array(10)], seed), 'INVALID_ARGUMENT');
    await rejects(dev.readIntoHashed(0, BLOCK_SIZE, [new Uint8Array(BLOCK_SIZE + 1)], seed), 'INVALID_ARGUMENT');
    await rejects(dev.writeFromHashed(0, BLOCK_SIZE, [new Uint8Array(BLOCK_SIZE + 1)], seed), 'INVALID_ARGUMENT');
    await rejects(dev.writeFromHashed(size, BLOCK_SIZE, [new Uint8Array(1)], seed), 'NO_SPACE');
    await dev.close();
    await rejects(dev.readIntoHashed(0, BLOCK_SIZE, [new Uint8Array(1)], seed), 'CLOSED');
  }
  delete process.env[MAPPED_READS_ENV];
});

t('hashed reads out of the mapping of a file cut short while open: the cut range reads as zeros (as preadv answers), the rest as written, and the process lives', async () => {
  await initXxhash();
  const seed = 11n, file = fresh();
  process.env[MAPPED_READS_ENV] = '1'; // (the device maps at its first hashed read)
  const dev = await openBlockDevice(file, { size: 64 * BLOCK_SIZE, io: 'pread', direct: false });
  const rng = new Rng(31);
  const low = rng.bytes(4 * BLOCK_SIZE), high = rng.bytes(8 * BLOCK_SIZE);
  await dev.writeFromHashed(0, low.length, [low], seed);
  await dev.writeFromHashed(40 * BLOCK_SIZE, high.length, [high], seed);
  const back = new Uint8Array(high.length);
  assert.is(await dev.readIntoHashed(40 * BLOCK_SIZE, high.length, [back], seed), xxh64(high, seed), 'read before the cut');
  assert.ok(Buffer.from(back).equals(Buffer.from(high)));
  // Cut behind the device's back: pages of the mapping past the end now fault (SIGBUS).
  fs.truncateSync(file, 16 * BLOCK_SIZE);
  const zeros = new Uint8Array(high.length);
  // several reads in one batch, some across the cut (42 blocks: past it; 14 blocks + 4: straddling)
  const intos = [0, 1, 2, 3].map(() => new Uint8Array(high.length).fill(0xee));
  const straddle = new Uint8Array(4 * BLOCK_SIZE).fill(0xee);
  const [h0, h1, h2, h3, hs, hl] = await Promise.all([
    ...intos.map((b, i) => dev.readIntoHashed((40 + i) * BLOCK_SIZE, b.length, [b.subarray(0, 5), b.subarray(5)], seed)),
    dev.readIntoHashed(14 * BLOCK_SIZE, straddle.length, [straddle], seed),
    dev.readIntoHashed(0, low.length, [new Uint8Array(low.length)], seed),
  ]);
  for (const [i, h] of [h0, h1, h2, h3].entries()) {
    assert.is(h, xxh64(zeros, seed), `read ${i} past the cut: the hash of zeros`);
    assert.ok(intos[i]!.every((x) => x === 0), `read ${i} past the cut: zeros`);
  }
  const want = new Uint8Array(4 * BLOCK_SIZE); // blocks 14..15 were never written: zeros either way
  assert.is(hs, xxh64(want, seed));
  assert.ok(straddle.every((x) => x === 0), 'a read across the cut: zeros');
  assert.is(hl, xxh64(low, seed), 'bytes before the cut read as written');
  await dev.close();
  delete process.env[MAPPED_READS_ENV];
});

t('reads through the mapping keep RSS bounded: after 160 MiB read, the mapped file pages added to RSS stay under 96 MiB (entries dropped every 64 MiB)', async () => {
  if (!loadNative().addon?.mapFile) return; // no addon: no mapping
  const rssFile = () => Number(/RssFile:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN) * 1024;
  if (!Number.isFinite(rssFile())) return; // no /proc here
  const MIB = 1 << 20, total = 160 * MIB, chunk = 4 * MIB;
  process.env[MAPPED_READS_ENV] = '1';
  const dev = await openBlockDevice(fresh(), { size: total, io: 'pread', direct: false });
  const v = new Rng(51).bytes(chunk);
  for (let o = 0; o < total; o += chunk) await dev.writeFromHashed(o, chunk, [v], 1n);
  const into = new Uint8Array(chunk), want = xxh64(v, 1n);
  await dev.readIntoHashed(0, chunk, [into], 1n); // (the mapping is made)
  const before = rssFile();
  for (let o = 0; o < total; o += chunk) assert.is(await dev.readIntoHashed(o, chunk, [into], 1n), want);
  const grew = rssFile() - before;
  assert.ok(grew < 96 * MIB, `RssFile grew ${(grew / MIB).toFixed(1)} MiB reading 160 MiB`);
  await dev.close();
  delete process.env[MAPPED_READS_ENV];
});

t('a working set read again and again within the 64 MiB budget keeps its mapped pages (the budget counts pages first mapped, not bytes read)', async () => {
  if (!loadNative().addon?.mapFile) return; // no addon: no mapping
  if ((loadNative().addon as { mapBudgetByChunks?: boolean }).mapBudgetByChunks !== true) { console.log('  (addon built before chunk budgets: skipped; rebuild it)'); return; }
  const rssFile = () => Number(/RssFile:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN) * 1024;
  if (!Number.isFinite(rssFile())) return; // no /proc here
  const MIB = 1 << 20, set = 32 * MIB, chunk = 4 * MIB;
  process.env[MAPPED_READS_ENV] = '1';
  const dev = await openBlockDevice(fresh(), { size: 4 * set, io: 'pread', direct: false });
  const v = new Rng(53).bytes(chunk), want = xxh64(v, 1n);
  for (let o = 0; o < set; o += chunk) await dev.writeFromHashed(o, chunk, [v], 1n);
  const into = new Uint8Array(chunk);
  await dev.readIntoHashed(set, chunk, [into], 1n); // (the mapping is made)
  const before = rssFile();
  // 4 passes over 32 MiB: 128 MiB read (counting bytes read, the entries were dropped after 64 and 128)
  for (let pass = 0; pass < 4; pass++) for (let o = 0; o < set; o += chunk) assert.is(await dev.readIntoHashed(o, chunk, [into], 1n), want);
  const kept = rssFile() - before;
  assert.ok(kept >= 24 * MIB, `after 4 passes over a 32 MiB working set, ${(kept / MIB).toFixed(1)} MiB of it stay mapped`);
  await dev.close();
  delete process.env[MAPPED_READS_ENV];
});

t('by default a hashed read goes through the mapping only for ranges read before: a first read adds no mapped pages to RSS, a second maps them, and the bytes and hashes are the same either way', async () => {
  if (!loadNative().addon?.mapFile) return; // no addon: no mapping
  const rssFile = () => Number(/RssFile:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN) * 1024;
  if (!Number.isFinite(rssFile())) return; // no /proc here
  const MIB = 1 << 20, total = 16 * MIB, chunk = MIB;
  delete process.env[MAPPED_READS_ENV];
  const dev = await openBlockDevice(fresh(), { size: 2 * total, io: 'pread', direct: false });
  const v = new Rng(52).bytes(chunk), want = xxh64(v, 3n);
  // (plain pwrites: a hashed write may go through the huge bulk mapping, whose entries reads then take)
  for (let o = 0; o < total; o += chunk) await dev.writeFrom(o, chunk, [v]);
  const into = new Uint8Array(chunk);
  const pass = async (what: string) => {
    for (let o = 0; o < total; o += chunk) {
      into.fill(0xee);
      assert.is(await dev.readIntoHashed(o, chunk, [into.subarray(0, 100), into.subarray(100)], 3n), want, `${what} hash at ${o}`);
      assert.ok(Buffer.from(into).equals(Buffer.from(v)), `${what} bytes at ${o}`);
    }
  };
  let before = rssFile();
  await pass('first read');
  const first = rssFile() - before;
  assert.ok(first < 4 * MIB, `a first read of 16 MiB added ${(first / MIB).toFixed(1)} MiB of mapped pages (preadv adds none)`);
  before = rssFile();
  await pass('second read');
  const second = rssFile() - before;
  assert.ok(second >= 12 * MIB, `a second read of 16 MiB added ${(second / MIB).toFixed(1)} MiB of mapped pages (the mapping maps them)`);
  // a range only partly read before (half its chunks) is read with preadv, and then is read before
  before = rssFile();
  const half = new Uint8Array(2 * chunk);
  await dev.readIntoHashed(total - chunk, 2 * chunk, [half], 3n);
  assert.ok(Buffer.from(half.subarray(0, chunk)).equals(Buffer.from(v)) && half.subarray(chunk).every((x) => x === 0));
  assert.ok(rssFile() - before < 1 * MIB, 'a range not all read before is read with preadv');
  await dev.close();
});

t('a SIGBUS that is not a mapped read\'s still ends the process (the addon\'s handler passes it on)', () => {
  if (!loadNative().addon?.mapFile) return; // no addon: no handler installed
  const script = `
    import { openBlockDevice } from './src/media/index.js';
    const dev = await openBlockDevice(${JSON.stringify(fresh())}, { size: 65536, io: 'pread', direct: false });
    await dev.writeFromHashed(0, 4096, [new Uint8Array(4096).fill(1)], 0n);
    await dev.readIntoHashed(0, 4096, [new Uint8Array(4096)], 0n); // maps the file: the handler is installed
    process.kill(process.pid, 'SIGBUS');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20_000); // (the signal ends the process meanwhile)
    console.log('survived');`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: path.resolve(import.meta.dirname, '../..'), encoding: 'utf8',
  });
  assert.is(r.signal, 'SIGBUS', `ended by SIGBUS (status ${r.status}, stdout ${r.stdout}, stderr ${r.stderr.slice(0, 500)})`);
  assert.not.match(r.stdout, /survived/);
});

t('mapFile / unmapFile: hashedBatch reads through a map answer as preadv does (odd views, hash prefix), a map unmapped while a batch uses it stays until the batch completes, later requests ignore it', async () => {
  const addon = loadNative().addon;
  if (!addon?.mapFile || !addon.hashedBatch) return; // no addon: devices read with preadv (tested above)
  await initXxhash();
  const file = fresh();
  const v = new Rng(41).bytes(300_001);
  fs.writeFileSync(file, v);
  const fd = fs.openSync(file, 'r');
  try {
    assert.throws(() => addon.mapFile!(-1, 10), /mapFile/);
    assert.throws(() => addon.unmapFile!({} as never), /unmapFile/);
    const map = addon.mapFile(fd, 1 << 20)!; // longer than the file: the tail faults, read with preadv
    assert.ok(map, 'a mapping');
    const parts = () => [new Uint8Array(7), new Uint8Array(40_000), new Uint8Array(33), new Uint8Array(100_000)];
    const a = parts(), b = parts(), c = parts();
    const [ha, hb, hc, hz] = await addon.hashedBatch([
      [0, fd, a, 1000, 140_040, 5n, map],         // all of it hashed
      [0, fd, b, 1000, 40_019, 5n, map],          // a prefix hashed
      [0, fd, c, 250_000, 140_040, 5n, map],      // past the end of the file: zeros after it
      [0, fd, [new Uint8Array(64)], 900_000, 64, 5n, map], // wholly past the end
    ]);
    const joined = (xs: Uint8Array[]) => Buffer.concat(xs);
    assert.ok(joined(a).equals(Buffer.from(v.subarray(1000, 1000 + 140_040))));
    assert.is(ha, xxh64(v.subarray(1000, 1000 + 140_040), 5n));
    assert.ok(joined(b).equals(Buffer.from(v.subarray(1000, 1000 + 140_040))));
    assert.is(hb, xxh64(v.subarray(1000, 1000 + 40_019), 5n));
    const tail = new Uint8Array(140_040); tail.set(v.subarray(250_000));
    assert.ok(joined(c).equals(Buffer.from(tail)), 'past the end of the file: zeros');
    assert.is(hc, xxh64(tail, 5n));
    assert.is(hz, xxh64(new Uint8Array(64), 5n));
    // unmapped while a batch holding it runs: that batch still reads through it
    const d = new Uint8Array(200_000);
    const pending = addon.hashedBatch([[0, fd, [d], 50_000, d.length, 6n, map]]);
    addon.unmapFile!(map);
    assert.equal(await pending, [xxh64(v.subarray(50_000, 250_000), 6n)]);
    assert.ok(Buffer.from(d).equals(Buffer.from(v.subarray(50_000, 250_000))));
    // afterwards the map is ignored (preadv)
    const e = new Uint8Array(1000);
    assert.equal(await addon.hashedBatch([[0, fd, [e], 7, e.length, 6n, map]]), [xxh64(v.subarray(7, 1007), 6n)]);
    addon.unmapFile!(map); // twice: nothing more to do
  } finally {
    fs.closeSync(fd);
  }
});

t('the native XXH64 matches xxhash-wasm for every length class and split', async () => {
  const addon = loadNative().addon;
  if (!addon?.xxh64Parts) return; // no addon here: the fallback is the xxhash-wasm path itself
  await initXxhash();
  const rng = new Rng(5);
  for (const n of [0, 1, 3, 4, 7, 8, 9, 31, 32, 33, 63, 64, 100, 4095, 4096, 65537]) {
    for (const seed of [0n, 1n, 0xffff_ffff_ffff_ffffn]) {
      const b = rng.fill(new Uint8Array(n));
      const want = xxh64(b, seed);
      assert.is(addon.xxh64Parts([b], seed), want, `len ${n} seed ${seed}`);
      const i = rng.int(n + 1), j = i + rng.int(n - i + 1);
      assert.is(addon.xxh64Parts([b.subarray(0, i), b.subarray(i, j), b.subarray(j)], seed), want, `len ${n} split ${i}/${j}`);
    }
  }
});


t('hashed reads and writes issued together on several devices (one native batch) each get their own hash, bytes and errors', async () => {
  await initXxhash();
  const rng = new Rng(21);
  const devs = await Promise.all([0, 1, 2].map(() => openBlockDevice(fresh(), { size: 4 << 20, io: 'pread', direct: false })));
  // one synchronous run issues 3 x 4 writes (gathered by the batcher where the addon has it)
  const values = devs.map(() => [0, 1, 2, 3].map((i) => rng.bytes(100_000 + i * 3)));
  const wrote = await Promise.all(devs.flatMap((d, di) => values[di]!.map((v, i) => d.writeFromHashed(i * (128 << 10), 128 << 10, [v.subarray(0, 7), v.subarray(7)], 9n))));
  wrote.forEach((h, j) => assert.is(h, xxh64(values[Math.floor(j / 4)]![j % 4]!, 9n), `write ${j} answers its own hash`));
  const into = devs.map(() => [0, 1, 2, 3].map((i) => new Uint8Array(100_000 + i * 3)));
  const read = await Promise.all(devs.flatMap((d, di) => into[di]!.map((b, i) => d.readIntoHashed(i * (128 << 10), 128 << 10, [b.subarray(0, 50_000), b.subarray(50_000)], 9n))));
  read.forEach((h, j) => {
    const di = Math.floor(j / 4), i = j % 4;
    assert.is(h, xxh64(values[di]![i]!, 9n), `read ${j}: the hash of exactly the value`);
    assert.ok(Buffer.from(into[di]![i]!).equals(Buffer.from(values[di]![i]!)), `read ${j}: the bytes land in the caller's buffers`);
  });
  // a failing request gathered with good ones fails alone, with a typed error
  await devs[2]!.close();
  const mixed = await Promise.allSettled([
    devs[0]!.readIntoHashed(0, 128 << 10, [new Uint8Array(100_000)], 9n),
    devs[2]!.readIntoHashed(0, 128 << 10, [new Uint8Array(100_000)], 9n),
    devs[1]!.readIntoHashed(128 << 10, 128 << 10, [new Uint8Array(100_003)], 9n),
  ]);
  assert.is(mixed[0]!.status, 'fulfilled');
  assert.is((mixed[0] as PromiseFulfilledResult<bigint>).value, xxh64(values[0]![0]!, 9n));
  assert.is(mixed[1]!.status, 'rejected');
  assert.is(((mixed[1] as PromiseRejectedResult).reason as MediaError).code, 'CLOSED');
  assert.is((mixed[2] as PromiseFulfilledResult<bigint>).value, xxh64(values[1]![1]!, 9n));
  await devs[0]!.close(); await devs[1]!.close();
});

t('the native hashedBatch answers each request in order: hashes, zeros past the end of the file, negative errno for a bad descriptor', async () => {
  const addon = loadNative().addon;
  if (!addon?.hashedBatch) return; // no addon here: devices use the per-request path (tested above)
  await initXxhash();
  const file = fresh();
  const fd = fs.openSync(file, 'w+');
  try {
    const v = new Rng(22).bytes(70_000);
    const [w, hole, bad] = await addon.hashedBatch([[1, fd, [v.subarray(0, 1), v.subarray(1)], 8192, v.length, 3n], [0, fd, [new Uint8Array(100).fill(9)], 1 << 20, 100, 3n], [0, 1 << 30, [new Uint8Array(8)], 0, 8, 3n]]);
    assert.is(w, xxh64(v, 3n));
    assert.is(hole, xxh64(new Uint8Array(100), 3n), 'past the end of the file: zeros');
    assert.type(bad, 'number');
    assert.ok((bad as number) < 0, 'a bad descriptor is a negative errno, and fails alone');
    const back = new Uint8Array(v.length);
    const [r] = await addon.hashedBatch([[0, fd, [back], 8192, v.length, 3n]]);
    assert.is(r, xxh64(v, 3n));
    assert.ok(Buffer.from(back).equals(Buffer.from(v)));
    assert.throws(() => addon.hashedBatch!([[2 as 0, fd, [back], 0, 1, 0n]]), /hashedBatch/, 'a bad op is refused');
    assert.throws(() => addon.hashedBatch!([]), /hashedBatch/, 'an empty batch is refused');
  } finally {
    fs.closeSync(fd);
  }
});

t('copyBytes copies like Uint8Array.set, into shared (wasm) memory too, and refuses what does not fit', () => {
  const src = new Rng(23).bytes(100_000);
  const mem = new WebAssembly.Memory({ initial: 4, maximum: 4, shared: true });
  const shared = new Uint8Array(mem.buffer);
  copyBytes(shared, src, 1000);
  assert.ok(Buffer.from(shared.subarray(1000, 101_000)).equals(Buffer.from(src)), 'large copy into shared memory');
  assert.is(shared[999], 0); assert.is(shared[101_000], 0);
  const plain = new Uint8Array(200_000);
  copyBytes(plain, shared.subarray(1000, 101_000), 5);
  assert.ok(Buffer.from(plain.subarray(5, 100_005)).equals(Buffer.from(src)), 'large copy out of shared memory');
  copyBytes(plain, src.subarray(0, 10), 0);
  assert.ok(Buffer.from(plain.subarray(0, 10)).equals(Buffer.from(src.subarray(0, 10))), 'small copy');
  assert.throws(() => copyBytes(plain, src, 150_000), RangeError, 'past the end: RangeError, as set');
  if (loadNative().addon?.copyInto) assert.throws(() => loadNative().addon!.copyInto!(plain, 150_000, src), RangeError, 'the native call checks bounds too');
});

t('writeFromSync and readSync: the small-value path (page cache, no thread pool), also on an O_DIRECT device; typed errors and injected faults', async () => {
  await initXxhash();
  const dev = await openBlockDevice(fresh(), { size: 1 << 20, io: 'pread', direct: false });
  const v = new Rng(5).bytes(5000);
  dev.writeFromSync(8192, 8192, [v.subarray(0, 3000), v.subarray(3000)]);
  const back = dev.readSync(8192, 8192);
  assert.ok(Buffer.from(back.subarray(0, 5000)).equals(Buffer.from(v)), 'the gathered buffers, in order');
  assert.ok(back.subarray(5000).every((b) => b === 0), 'then zeros up to the length');
  assert.ok(Buffer.from(await dev.read(8192, 8192)).equals(Buffer.from(back)), 'the async read sees the same bytes');
  // one value hashed with its write: the native call (when built) and the fallback agree with xxh64
  const w = new Rng(6).bytes(4100);
  assert.is(dev.writeHashedSync(16384, 8192, w, 77n), xxh64(w, 77n), 'the hash of the value, not of the padding');
  const wb = dev.readSync(16384, 8192);
  assert.ok(Buffer.from(wb.subarray(0, 4100)).equals(Buffer.from(w)) && wb.subarray(4100).every((b) => b === 0), 'value then zeros');
  assert.throws(() => dev.writeHashedSync(16384, 4096, w, 0n), (e: unknown) => (e as MediaError).code === 'INVALID_ARGUMENT', 'value longer than the length');
  const r2 = dev.readSync(0, 4096);
  assert.ok(r2.every((b) => b === 0), 'unwritten blocks read as zeros (also from a reused slab)');
  assert.throws(() => dev.writeFromSync(100, 4096, [v]), (e: unknown) => (e as MediaError).code === 'INVALID_ARGUMENT', 'unaligned offset');
  assert.throws(() => dev.readSync(1 << 20, 4096), (e: unknown) => (e as MediaError).code === 'NO_SPACE', 'past the end');
  assert.throws(() => dev.writeFromSync(0, 4096, [new Uint8Array(5000)]), (e: unknown) => (e as MediaError).code === 'INVALID_ARGUMENT', 'more bytes than the length');
  await dev.close();
  assert.throws(() => dev.readSync(0, 4096), (e: unknown) => (e as MediaError).code === 'CLOSED', 'closed');
  // injected faults: a torn write lands a prefix and throws; reads may flip a bit
  const fault = new FaultInjector({ seed: 3, tornWrite: 1 });
  const f = await openBlockDevice(fresh(), { size: 1 << 20, io: 'pread', direct: false, fault });
  assert.throws(() => f.writeFromSync(0, 8192, [new Uint8Array(8192).fill(7)]), (e: unknown) => (e as MediaError).code === 'IO_ERROR', 'torn write is an IO_ERROR');
  assert.is(fault.stats.tornWrites, 1);
  assert.throws(() => f.writeHashedSync(0, 4096, new Uint8Array(10), 0n), (e: unknown) => (e as MediaError).code === 'IO_ERROR', 'after a torn write (a simulated crash) every write fails');
  await f.close();
  const flips = new FaultInjector({ seed: 4, bitFlipOnRead: 1 });
  const g = await openBlockDevice(fresh(), { size: 1 << 20, io: 'pread', direct: false, fault: flips });
  g.writeFromSync(0, 4096, [new Uint8Array(4096).fill(9)]);
  const flipped = g.readSync(0, 4096);
  assert.ok(flipped.some((b) => b !== 9), 'a flipped bit shows in the copy');
  await g.close();
  // O_DIRECT where the filesystem has it: small synchronous I/O goes through a buffered
  // descriptor of the same file, coherent with the direct one both ways
  const d = await openBlockDevice(fresh(), { size: 1 << 20, io: 'pread', direct: 'auto' });
  d.writeFromSync(0, 4096, [v.subarray(0, 4096)]);
  assert.ok(Buffer.from((await d.read(0, 4096)).subarray(0, 4096)).equals(Buffer.from(v.subarray(0, 4096))), `a direct read sees the synchronous write (direct: ${d.direct})`);
  const big = allocAligned(8192).fill(0x5a);
  await d.write(4096, big);
  assert.ok(d.readSync(4096, 8192).every((b) => b === 0x5a), 'a synchronous read sees the direct write');
  assert.is(d.writeHashedSync(12288, 4096, v.subarray(0, 100), 9n), xxh64(v.subarray(0, 100), 9n));
  await d.sync();
  await d.close();
});
t.run();
