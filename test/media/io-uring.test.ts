import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadNative, URING_QUEUE_DEPTH } from '../../src/media/index.js';

const t = suite('media/io-uring addon');
const addon = loadNative().addon;

if (!addon) {
  t('native addon not built: nothing to test here', () => { assert.ok(loadNative().reason.length > 0); });
} else {
  t('bad arguments throw instead of crashing; a closed ring refuses work', () => {
    const ring = addon.ringCreate(8, new Int32Array(32), () => {});
    const bad = (f: () => unknown) => assert.throws(f);
    bad(() => addon.ringCreate(0, new Int32Array(4), () => {}));
    bad(() => addon.ringCreate(8, new Float64Array(4) as unknown as Int32Array, () => {}));
    bad(() => addon.ringCreate(8, new Int32Array(4), 5 as unknown as () => void));
    bad(() => addon.ringPrepRw({} as object, 1, 0, new Uint8Array(8), 0, 0));
    bad(() => addon.ringPrepRw(ring, 3 as 1, 0, new Uint8Array(8), 0, 0));
    bad(() => addon.ringPrepRw(ring, 1, -1, new Uint8Array(8), 0, 0));
    bad(() => addon.ringPrepRw(ring, 1, 0, [1, 2] as unknown as Uint8Array, 0, 0));
    bad(() => addon.ringPrepRw(ring, 1, 0, new Uint8Array(8), -5, 0));
    bad(() => addon.ringPrepFsync(ring, -1, 0));
    bad(() => addon.alignmentOf('x' as unknown as Uint8Array, 4096));
    bad(() => addon.allocAligned(0, 4096));
    bad(() => addon.allocAligned(4096, 3000));
    addon.ringClose(ring);
    bad(() => addon.ringSubmit(ring, true));
    bad(() => addon.ringPrepFsync(ring, 0, 0));
    addon.ringClose(ring); // idempotent
  });

  t('allocAligned/alignmentOf report real addresses', () => {
    const ab = addon.allocAligned(3 * 4096, 4096);
    assert.is(ab.byteLength, 3 * 4096);
    assert.is(addon.alignmentOf(new Uint8Array(ab), 4096), 0);
    assert.is(addon.alignmentOf(new Uint8Array(ab, 8), 4096), 8);
    assert.ok(new Uint8Array(ab).every((x) => x === 0));
  });

  t('allocTable maps zeros of the size asked, page-aligned and writable; bad sizes throw', () => {
    assert.ok(addon.allocTable, 'this build has allocTable');
    const bytes = 4 * 1024 * 1024 + 128;
    const ab = addon.allocTable!(bytes);
    assert.is(ab.byteLength, bytes);
    assert.is(addon.alignmentOf(new Uint8Array(ab), 4096), 0);
    const u = new BigUint64Array(ab, 0, bytes / 8);
    assert.ok(new Uint8Array(ab).every((x) => x === 0), 'a new table is all zeros');
    u[0] = 7n; u[u.length - 1] = (1n << 64n) - 1n;
    assert.is(new BigUint64Array(ab)[0], 7n);
    assert.is(new BigUint64Array(ab, 0, bytes / 8)[bytes / 8 - 1], (1n << 64n) - 1n);
    for (const bad of [0, -1, Number.NaN, 2 ** 32]) assert.throws(() => addon.allocTable!(bad), RangeError, `allocTable(${bad})`);
  });

  t('raw ring: a batch of writes and an fdatasync complete through the event loop with their slots', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-uring-'));
    const fd = fs.openSync(path.join(dir, 'raw'), 'w+');
    const completions = new Int32Array(URING_QUEUE_DEPTH * 2);
    const seen = new Map<number, number>();
    let done!: () => void;
    const all = new Promise<void>((r) => (done = r));
    const ring = addon.ringCreate(URING_QUEUE_DEPTH / 2, completions, (n) => {
      for (let i = 0; i < n; i++) seen.set(completions[2 * i]!, completions[2 * i + 1]!);
      if (seen.size === 17) done();
    });
    const bufs = Array.from({ length: 16 }, (_, i) => new Uint8Array(4096).fill(i + 1));
    bufs.forEach((b, i) => addon.ringPrepRw(ring, 1, fd, b, i * 4096, 100 + i));
    addon.ringPrepFsync(ring, fd, 7);
    const inline = addon.ringSubmit(ring, true);
    for (let i = 0; i < inline; i++) seen.set(completions[2 * i]!, completions[2 * i + 1]!);
    if (seen.size < 17) await all;
    for (let i = 0; i < 16; i++) assert.is(seen.get(100 + i), 4096, `slot ${100 + i}`);
    assert.is(seen.get(7), 0);
    const back = fs.readFileSync(path.join(dir, 'raw'));
    for (let i = 0; i < 16; i++) assert.ok(back.subarray(i * 4096, (i + 1) * 4096).every((x) => x === i + 1));
    addon.ringClose(ring);
    fs.closeSync(fd);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  t('errors come back as negative errno in the completion', async () => {
    const completions = new Int32Array(8);
    let res: number | undefined;
    const ring = addon.ringCreate(2, completions, (n) => { if (n > 0) res = completions[1]; });
    const fd = fs.openSync(os.tmpdir(), 'r'); // a directory: write fails
    addon.ringPrepRw(ring, 1, fd, new Uint8Array(4096), 0, 1);
    if (addon.ringSubmit(ring, true) > 0) res = completions[1];
    for (let i = 0; i < 200 && res === undefined; i++) await new Promise((r) => setTimeout(r, 5));
    assert.ok(res !== undefined && res < 0, `result ${res}`);
    addon.ringClose(ring);
    fs.closeSync(fd);
  });
}

t.run();
