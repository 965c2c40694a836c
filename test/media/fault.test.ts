import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rng } from '../../core/rng.js';
import { BLOCK_SIZE, FaultInjector, MediaError, openBlockDevice, loadNative } from '../../src/media/index.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-fault-'));
const engines: ('pread' | 'io_uring')[] = loadNative().addon ? ['pread', 'io_uring'] : ['pread'];
let fileNo = 0;
const fresh = () => path.join(tmp, `f-${fileNo++}.dat`);

const t = suite('media/fault');
t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Drive an injector through a fixed call sequence and record every outcome. */
function trace(seed: number): string[] {
  const f = new FaultInjector({ seed, tornWrite: 0.1, crashAfterTornWrite: false, writeError: 0.05, readError: 0.05, bitFlipOnRead: 0.2 });
  const out: string[] = [];
  const data = new Uint8Array(16 * BLOCK_SIZE);
  for (let i = 0; i < 400; i++) {
    if (i % 2 === 0) {
      const w = f.onWrite(i * BLOCK_SIZE, data, BLOCK_SIZE);
      out.push(`w ${w.truncateTo ?? '-'} ${w.error?.code ?? '-'}`);
    } else {
      const r = f.beforeRead(0, 4 * BLOCK_SIZE);
      out.push(`r ${r.flipBit ?? '-'} ${r.error?.code ?? '-'}`);
    }
  }
  return out;
}

t('same seed gives the same faults; another seed gives different ones', () => {
  const a = trace(7), b = trace(7), c = trace(8);
  assert.equal(a, b);
  assert.not.equal(a, c);
  const torn = a.filter((s) => s.startsWith('w') && !s.includes(' - ')).length;
  assert.ok(torn > 0 && a.some((s) => s.startsWith('r') && !s.startsWith('r -')), 'faults of several kinds were injected');
});

t('options are validated', () => {
  for (const bad of [{ seed: 1.5 }, { seed: 1, tornWrite: 2 }, { seed: 1, bitFlipOnRead: -0.1 }, { seed: 1, enospcAfterBytes: -1 }]) {
    assert.throws(() => new FaultInjector(bad as { seed: number }), (e: MediaError) => e.code === 'INVALID_ARGUMENT');
  }
});

for (const io of engines) {
  t(`${io}: torn writes really tear: a block prefix reaches the file, the rest does not; then the device is "crashed"`, async () => {
    let tornSeen = 0;
    for (let seed = 1; seed <= 6; seed++) {
      const p = fresh(), size = 64 * BLOCK_SIZE;
      const fault = new FaultInjector({ seed, tornWrite: 1 });
      const dev = await openBlockDevice(p, { size, io, fault });
      const data = new Rng(seed).bytes(32 * BLOCK_SIZE);
      let err: MediaError | undefined;
      try { await dev.write(8 * BLOCK_SIZE, data); } catch (e) { err = e as MediaError; }
      assert.ok(err, 'torn write must fail');
      assert.is(err!.code, 'IO_ERROR');
      assert.ok(err!.info?.torn);
      const written = err!.info!.written as number;
      assert.ok(written % BLOCK_SIZE === 0 && written < data.length, `written ${written}`);
      assert.ok(fault.crashed);
      try { await dev.read(0, BLOCK_SIZE); assert.unreachable('read after crash'); } catch (e) { assert.is((e as MediaError).code, 'IO_ERROR'); }
      await dev.close();
      // Reopen without faults and look at what is on the medium.
      const check = await openBlockDevice(p, { size, io, create: false });
      const got = await check.read(8 * BLOCK_SIZE, data.length);
      assert.ok(Buffer.from(got.subarray(0, written)).equals(data.subarray(0, written)), 'prefix written');
      assert.ok(got.subarray(written).every((x) => x === 0), 'suffix not written');
      await check.close();
      if (written > 0) tornSeen++;
    }
    assert.ok(tornSeen > 0, 'some torn write kept a non-empty prefix');
  });

  t(`${io}: bit flips change exactly one bit of the returned data, not the stored data`, async () => {
    const fault = new FaultInjector({ seed: 3, bitFlipOnRead: 1 });
    const dev = await openBlockDevice(fresh(), { size: 16 * BLOCK_SIZE, io, fault });
    const data = new Rng(1).bytes(4 * BLOCK_SIZE);
    await dev.write(0, data);
    for (let i = 0; i < 5; i++) {
      const got = await dev.read(0, data.length);
      let diffBits = 0;
      for (let j = 0; j < data.length; j++) { let x = got[j]! ^ data[j]!; while (x) { diffBits += x & 1; x >>= 1; } }
      assert.is(diffBits, 1);
    }
    assert.is(fault.stats.bitFlips, 5);
    await dev.close();
  });

  t(`${io}: enospcAfterBytes gives NO_SPACE once the budget is spent; failOpen refuses the open`, async () => {
    const fault = new FaultInjector({ seed: 1, enospcAfterBytes: 10 * BLOCK_SIZE });
    const dev = await openBlockDevice(fresh(), { size: 64 * BLOCK_SIZE, io, fault });
    const blk = new Uint8Array(4 * BLOCK_SIZE);
    await dev.write(0, blk);
    await dev.write(4 * BLOCK_SIZE, blk);
    try { await dev.write(8 * BLOCK_SIZE, blk); assert.unreachable(); } catch (e) { assert.is((e as MediaError).code, 'NO_SPACE'); }
    await dev.write(8 * BLOCK_SIZE, blk.subarray(0, 2 * BLOCK_SIZE)); // still fits
    await dev.close();
    try { await openBlockDevice(fresh(), { size: 65536, io, fault: new FaultInjector({ seed: 1, failOpen: true }) }); assert.unreachable(); }
    catch (e) { assert.is((e as MediaError).code, 'IO_ERROR'); }
  });

  t(`${io}: a faulty device replays the same failures from the same seed`, async () => {
    const run = async () => {
      const fault = new FaultInjector({ seed: 42, writeError: 0.2, readError: 0.2, bitFlipOnRead: 0.3 });
      const dev = await openBlockDevice(fresh(), { size: 256 * BLOCK_SIZE, io, fault });
      const rng = new Rng(42);
      const ops = Array.from({ length: 120 }, (_, i) => {
        const off = rng.int(250) * BLOCK_SIZE;
        const p = i % 3 === 0 ? dev.read(off, BLOCK_SIZE).then((b) => `r ${Buffer.from(b).toString('hex').replace(/0/g, '').length}`)
          : dev.write(off, rng.bytes(BLOCK_SIZE)).then(() => 'w ok');
        return p.catch((e: MediaError) => e.code);
      });
      const out = await Promise.all(ops); // concurrent: faults follow issue order, not completion order
      await dev.close();
      return out;
    };
    const a = await run(), b = await run();
    assert.ok(a.some((x) => x === 'IO_ERROR'));
    assert.equal(a.map((x) => x.startsWith('r') ? 'r' : x), b.map((x) => x.startsWith('r') ? 'r' : x));
  });
}

t.run();
