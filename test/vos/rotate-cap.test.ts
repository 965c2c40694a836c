/**
 * A log rotation reuses the region of generation activeGen - 1. The fallback superblock slot (the
 * one read when the newest is damaged) must not need that region any more; when it may (the first
 * rotation after an open, or a commit whose second slot write failed), the rotation first commits
 * the manifest to both slots (TargetStore.rotate). These tests check, at every rotation, that the
 * fallback no longer needs the region being reused, when that commit cannot be made:
 * - no space for its manifest copies (ENOSPC injected on their writes: the metadata file at its
 *   cap or the filesystem full), the write that needs the room gets a typed NO_SPACE and the log
 *   is not rotated (before: the failure was swallowed and the region reused under the fallback
 *   slot's feet);
 * - with a durable commit in flight (its syncs held back), the write waits for it, then rotates
 *   (before: the rotation went on at once, its commit queued behind).
 * Afterwards every acknowledged write reads back after a reopen, and scrub is clean.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import { CairnError } from '../../core/errors.js';
import { MediaError } from '../../src/media/errors.js';
import { VosTarget, type VosOptions } from '../../src/vos/index.js';
import { safe } from './safe.js';
import { code, enc, tmpDir } from './helpers.js';

const test = suite('vos log rotation at the cap');

const MiB = 1024 * 1024;
const OPTS: VosOptions = { scmBytes: 16 * MiB, dataBytes: 8 * MiB, walBytes: 256 * 1024, io: 'pread', mergeWorker: false };
const val = (i: number) => { const v = new Uint8Array(200).fill(i & 0xff); new DataView(v.buffer).setUint32(0, i, true); return v; };
const put = (t: VosTarget, i: number) => code(t.updateSingle(1n, BigInt(1 + (i % 50)), enc(`d${i}`), enc('a'), val(i)));

/** The store's internals these tests reach (private in TargetStore). */
interface Inside {
  wal: { activeGen: number; rotate(nextSeq: number): number };
  prevWalFlushedGen: number;
  space: { pwrite(off: number, data: Uint8Array): void; persistAsync(): Promise<void> };
  sb: { walFlushedGen: number };
  commitManifest(add: unknown[], remove: unknown[], walFlushedGen: number): Promise<void> | undefined;
  commitInFlight: number;
}

/** Record, at every rotation of `s`'s log, whether the fallback slot still needed the region reused. */
function watchRotations(s: Inside): { rotations: number; unsafe: number } {
  const seen = { rotations: 0, unsafe: 0 };
  const real = s.wal.rotate.bind(s.wal);
  s.wal.rotate = (nextSeq: number) => {
    seen.rotations++;
    if (s.prevWalFlushedGen < s.wal.activeGen - 1) seen.unsafe++;
    return real(nextSeq);
  };
  return seen;
}

/** Write from `from` on until the log has rotated at least `n` times; returns the next index. */
async function writeRotations(t: VosTarget, s: Inside, from: number, n: number): Promise<number> {
  const gen = s.wal.activeGen;
  let i = from;
  while (s.wal.activeGen < gen + n) { assert.is(await put(t, i), undefined, `put ${i}`); i++; assert.ok(i - from < 100000, 'the log rotates'); }
  return i;
}

async function checkAll(dir: string, opts: VosOptions, n: number, skip: Set<number>): Promise<void> {
  const r = await VosTarget.open(dir, opts);
  try {
    for (let i = 0; i < n; i++) {
      if (skip.has(i)) continue;
      const got = await r.fetchSingle(2n, BigInt(1 + (i % 50)), enc(`d${i}`), enc('a'));
      assert.ok(got && Buffer.from(got).equals(Buffer.from(val(i))), `value ${i} after reopen`);
    }
    assert.equal((await r.scrub()).bad, []);
  } finally {
    await r.close();
  }
}

test('no space for the commit the first rotation after an open needs (ENOSPC injected on its manifest copies): the write that needs the room gets a typed NO_SPACE and nothing is rotated; with space again it commits, then rotates', safe(async () => {
  const dir = tmpDir('rotate-cap');
  try {
    let t = await VosTarget.open(dir, OPTS);
    let n = await writeRotations(t, t.target as unknown as Inside, 0, 3);
    await t.close();
    t = await VosTarget.open(dir, OPTS);
    const s = t.target as unknown as Inside;
    const seen = watchRotations(s);
    assert.ok(s.prevWalFlushedGen < s.wal.activeGen - 1, 'after an open, the fallback slot may need the next region');
    // the fault: the manifest copies' writes fail with ENOSPC
    let full = true;
    const pwrite = s.space.pwrite.bind(s.space);
    s.space.pwrite = (off: number, data: Uint8Array) => { if (full) throw new MediaError('NO_SPACE', 'injected ENOSPC', { offset: off }); pwrite(off, data); };
    const gen = s.wal.activeGen;
    const failed = new Set<number>();
    let e: CairnError | undefined;
    // (the background rotation at the fill mark fails quietly: the writes go on until the log is full)
    for (; !(e = await t.updateSingle(1n, BigInt(1 + (n % 50)), enc(`d${n}`), enc('a'), val(n)).then(() => undefined, (x: unknown) => x as CairnError)); n++) {
      assert.is(seen.rotations, 0, 'no rotation without its commit');
      assert.ok(n < 100000, 'the log fills');
    }
    failed.add(n++);
    assert.ok(e instanceof CairnError && e.code === 'NO_SPACE', `a typed NO_SPACE: ${String(e)}`);
    assert.ok(/log rotation/.test(e.message), e.message);
    assert.is((e.info as { need?: number } | undefined)?.need, undefined, 'not taken for a data-file NO_SPACE');
    assert.is(s.wal.activeGen, gen, 'the log was not rotated');
    assert.is(seen.rotations, 0);
    // again: the same
    assert.is(await put(t, n), 'NO_SPACE');
    failed.add(n++);
    // space again: the write commits both slots, then rotates
    full = false;
    n = await writeRotations(t, s, n, 2);
    assert.ok(seen.rotations >= 2);
    assert.is(seen.unsafe, 0, 'no region reused while the fallback slot needed it');
    await t.close();
    await checkAll(dir, OPTS, n, failed);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}));

test('the first rotation after an open meets a durable commit in flight: the write that needs the room waits for it, then the log rotates', safe(async () => {
  const dir = tmpDir('rotate-inflight');
  const opts: VosOptions = { ...OPTS, durable: true, deferSync: true };
  try {
    let t = await VosTarget.open(dir, opts);
    let n = await writeRotations(t, t.target as unknown as Inside, 0, 3);
    await t.close();
    t = await VosTarget.open(dir, opts);
    const s = t.target as unknown as Inside;
    const seen = watchRotations(s);
    assert.ok(s.prevWalFlushedGen < s.wal.activeGen - 1, 'after an open, the fallback slot may need the next region');
    // a durable commit in flight, its syncs held back
    let hold = true;
    const held: Array<() => void> = [];
    const real = s.space.persistAsync.bind(s.space);
    s.space.persistAsync = () => (hold ? new Promise<void>((res) => held.push(res)).then(real) : real());
    const commit = s.commitManifest([], [], s.sb.walFlushedGen);
    assert.ok(commit && s.commitInFlight === 1);
    const gen = s.wal.activeGen;
    const turn = () => new Promise<void>((r) => setImmediate(r));
    // writes until one waits for log room
    let waiting: Promise<string | undefined> | undefined;
    for (; !waiting; n++) {
      let done = false;
      const p = put(t, n);
      void p.then(() => { done = true; });
      for (let k = 0; k < 20 && !done; k++) await turn();
      if (!done) { waiting = p; break; }
      assert.is(await p, undefined, `put ${n}`);
      assert.ok(n < 100000, 'the log fills');
    }
    n++;
    for (let k = 0; k < 50; k++) await turn();
    assert.is(s.wal.activeGen, gen, 'not rotated while the commit is in flight');
    assert.is(seen.rotations, 0);
    hold = false;
    for (const r of held.splice(0)) r();
    await commit;
    assert.is(await waiting, undefined, 'the write goes on once the commit is durable');
    assert.ok(s.wal.activeGen > gen, 'then the log rotated');
    n = await writeRotations(t, s, n, 2);
    assert.is(seen.unsafe, 0, 'no region reused while the fallback slot needed it');
    await t.close();
    await checkAll(dir, opts, n, new Set());
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}));

test.run();
