/**
 * Linked io_uring requests (`IoUringEngine.writesThenDatasync`, the addon's SQE flags): several
 * writes and an fdatasync ordered after them, in one submission. Specification: every write lands
 * at its position and the promise resolves once the sync completed; without the sync the writes
 * still land; a failing write rejects the chain with its typed error (the linked sync is cancelled,
 * not reported) and every request slot comes back; a chain needing more slots than are free is
 * OVERLOADED with nothing submitted; the addon takes IOSQE_IO_LINK as the only flag (others are a
 * TypeError).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rng } from '../../core/rng.js';
import { loadNative, URING_QUEUE_DEPTH } from '../../src/media/index.js';
import { IoUringEngine, URING_LINK } from '../../src/media/io-uring.js';
import { MediaError } from '../../src/media/errors.js';

const t = suite('media: linked io_uring writes and sync');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-uring-linked-'));
t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A ring, or undefined where io_uring cannot be used (the tests then have nothing to check). */
function engine(): IoUringEngine | undefined {
  if (loadNative().addon?.sqeFlags !== true) { console.log('  (no addon, or one built before SQE flags: skipped)'); return undefined; }
  try { return IoUringEngine.create(); } catch { console.log('  (io_uring unavailable here: skipped)'); return undefined; }
}

t('two writes 64 KiB apart and an fdatasync in one chain: both land, the promise resolves after the sync; without the sync too', async () => {
  const e = engine();
  if (!e) return;
  const file = path.join(tmp, 'a');
  const fd = fs.openSync(file, 'w+');
  try {
    const rng = new Rng(71);
    const a = rng.bytes(4096 + 17), b = rng.bytes(100);
    await e.writesThenDatasync(fd, [[a, 0], [b, 65536]]);
    let bytes = fs.readFileSync(file);
    assert.ok(bytes.subarray(0, a.length).equals(a) && bytes.subarray(65536, 65536 + b.length).equals(b), 'both writes landed');
    const c = rng.bytes(8192), d = rng.bytes(3);
    await e.writesThenDatasync(fd, [[c, 4096], [d, 200_000]], fd, { sync: false });
    bytes = fs.readFileSync(file);
    assert.ok(bytes.subarray(4096, 4096 + c.length).equals(c) && bytes.subarray(200_000, 200_003).equals(d), 'unsynced chain landed');
    await e.writesThenDatasync(fd, []); // (a sync alone)
    assert.is(e.freeRequestSlots, URING_QUEUE_DEPTH, 'every slot back');
  } finally { fs.closeSync(fd); e.close(); }
});

t('a failing write rejects the chain with its typed error; the linked sync is cancelled; slots come back and the ring goes on', async () => {
  const e = engine();
  if (!e) return;
  const file = path.join(tmp, 'b');
  const fd = fs.openSync(file, 'w+');
  const ro = fs.openSync(file, 'r'); // writes through it fail (EBADF)
  try {
    const v = new Rng(72).bytes(4096);
    const err = await e.writesThenDatasync(ro, [[v, 0], [v, 8192]], fd).then(() => undefined, (x: unknown) => x);
    assert.ok(err instanceof MediaError, `a typed error: ${String(err)}`);
    assert.is((err as MediaError).code, 'IO_ERROR');
    assert.match(String((err as Error).message), /write/, 'the first failing request (a write) is reported, not the cancelled sync');
    assert.is(e.freeRequestSlots, URING_QUEUE_DEPTH, 'every slot back');
    await e.writesThenDatasync(fd, [[v, 0]]);
    assert.ok(fs.readFileSync(file).subarray(0, 4096).equals(v), 'the ring still works');
  } finally { fs.closeSync(ro); fs.closeSync(fd); e.close(); }
});

t('a chain longer than the free slots is OVERLOADED and nothing is submitted; bad parts are INVALID_ARGUMENT', async () => {
  const e = engine();
  if (!e) return;
  const fd = fs.openSync(path.join(tmp, 'c'), 'w+');
  try {
    const v = new Uint8Array(10).fill(9);
    const parts = Array.from({ length: URING_QUEUE_DEPTH }, (_, i) => [v, i * 10] as const);
    const err = await e.writesThenDatasync(fd, parts).then(() => undefined, (x: unknown) => x);
    assert.is((err as MediaError)?.code, 'OVERLOADED');
    assert.is(fs.fstatSync(fd).size, 0, 'nothing written');
    assert.is(e.freeRequestSlots, URING_QUEUE_DEPTH);
    const bad = await e.writesThenDatasync(fd, [[v, -1]]).then(() => undefined, (x: unknown) => x);
    assert.is((bad as MediaError)?.code, 'INVALID_ARGUMENT');
  } finally { fs.closeSync(fd); e.close(); }
});

t('the addon takes IOSQE_IO_LINK as an SQE flag and refuses any other', () => {
  const addon = loadNative().addon;
  if (addon?.sqeFlags !== true) return;
  const ring = addon.ringCreate(8, new Int32Array(32), () => {});
  try {
    assert.throws(() => addon.ringPrepRw(ring, 1, 0, new Uint8Array(8), 0, 0, 1), /IO_LINK/);
    assert.throws(() => addon.ringPrepRw(ring, 1, 0, new Uint8Array(8), 0, 0, URING_LINK | 8), /IO_LINK/);
    assert.throws(() => addon.ringPrepFsync(ring, 0, 0, 2), /IO_LINK/);
  } finally { addon.ringClose(ring); }
});

t.run();
