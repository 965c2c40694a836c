/**
 * The record sizes a container keeps in memory for its array akeys (`ContState.recordSizes`, so an
 * array update does not look the akey up in the runs each time) answer exactly as the stored
 * extents do: after flushes and aggregations, after a punch and an aggregation that may remove an
 * akey's every extent, after a discard. Model: the same store reopened (nothing kept in memory)
 * must accept and refuse the same updates as the store that kept them.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import { VosTarget, type VosOptions } from '../../src/vos/index.js';
import { enc, tmpDir } from './helpers.js';

const test = suite('vos record-size cache');
const MiB = 1024 * 1024;
const OPTS: VosOptions = { scmBytes: 32 * MiB, dataBytes: 32 * MiB, walBytes: 256 * 1024, io: 'pread' };
let dir = '';
test.before.each(() => { dir = tmpDir('rs-cache'); });
test.after.each(() => { fs.rmSync(dir, { recursive: true, force: true }); });

const outcome = (p: Promise<unknown>) => p.then(() => 'ok', (e: { code?: string }) => e.code ?? String(e));
const d = enc('d');
const rec = (rs: number, n = 2) => new Uint8Array(rs * n).fill(rs);

/** Try record size `rs` on akey `a` at `epoch` in a store that kept its record sizes and in the same store reopened; both must agree. */
async function agree(t: VosTarget, epoch: bigint, a: string, rs: number, what: string): Promise<{ t: VosTarget; got: string }> {
  // a probe at an epoch nobody reads, discarded at once, on both sides: it must not change what follows
  const warm = await outcome(t.updateArray(epoch, 1n, d, enc(a), { index: 0, count: 2 }, rec(rs), { recordSize: rs }));
  if (warm === 'ok') await t.discard(epoch - 1n, epoch);
  await t.close();
  const cold = await VosTarget.open(dir, OPTS);
  const got = await outcome(cold.updateArray(epoch, 1n, d, enc(a), { index: 0, count: 2 }, rec(rs), { recordSize: rs }));
  if (got === 'ok') await cold.discard(epoch - 1n, epoch);
  assert.is(warm, got, `${what}: the store that kept record sizes answers as the reopened one (${warm} vs ${got})`);
  return { t: cold, got };
}

test('a kept record size answers as the extents do: flush, aggregation, punch + aggregation, discard', async () => {
  let t = await VosTarget.open(dir, OPTS);
  await t.updateArray(10n, 1n, d, enc('a'), { index: 0, count: 2 }, rec(4), { recordSize: 4 });
  await t.updateArray(11n, 1n, d, enc('b'), { index: 0, count: 2 }, rec(4), { recordSize: 4 });
  await t.updateArray(12n, 1n, d, enc('c'), { index: 0, count: 2 }, rec(4), { recordSize: 4 });
  // kept: another size is refused, the same accepted, in the memtable and after a flush and aggregation
  let r = await agree(t, 1001n, 'a', 8, 'memtable'); t = r.t; assert.is(r.got, 'INVALID_ARGUMENT');
  await t.updateArray(13n, 1n, d, enc('a'), { index: 2, count: 2 }, rec(4), { recordSize: 4 }); // warms the kept size again
  await t.target.flushAll(); await t.aggregate(13n);
  r = await agree(t, 1003n, 'a', 8, 'after a flush and an aggregation'); t = r.t; assert.is(r.got, 'INVALID_ARGUMENT');
  // punch b, aggregate past the punch: b's extents may all go, and its record size with them
  await t.updateArray(14n, 1n, d, enc('b'), { index: 2, count: 2 }, rec(4), { recordSize: 4 }); // kept again
  await t.punchAkey(20n, 1n, d, enc('b'));
  await t.updateArray(15n, 1n, d, enc('b'), { index: 4, count: 2 }, rec(4), { recordSize: 4 }); // below the punch: kept again, gone with the aggregation
  await t.updateArray(21n, 1n, d, enc('a'), { index: 4, count: 2 }, rec(4), { recordSize: 4 });
  await t.target.flushAll(); await t.aggregate(30n);
  r = await agree(t, 1005n, 'b', 8, 'after a punch and an aggregation past it'); t = r.t;
  assert.is(r.got, 'ok', 'an akey punched and aggregated past the punch takes a new record size');
  // discard c's only extents: its record size is free again in both
  await t.updateArray(40n, 1n, d, enc('e'), { index: 0, count: 2 }, rec(4), { recordSize: 4 });
  await t.updateArray(41n, 1n, d, enc('e'), { index: 2, count: 2 }, rec(4), { recordSize: 4 });
  await t.discard(39n, 41n);
  r = await agree(t, 1007n, 'e', 8, 'after a discard of every extent'); t = r.t;
  assert.is(r.got, 'ok', 'a discarded akey takes a new record size');
  await t.close();
});

test('the record size is kept under the keys the update was given, though the caller reuses its buffers meanwhile', async () => {
  const t = await VosTarget.open(dir, OPTS);
  const dk = enc('d1'), ak = enc('a');
  const pending = t.updateArray(10n, 1n, dk, ak, { index: 0, count: 2 }, rec(4), { recordSize: 4 });
  dk.set(enc('d2')); // (the caller's buffer now names another dkey, before the update settled)
  await pending;
  assert.is(await outcome(t.updateArray(11n, 1n, enc('d2'), ak, { index: 0, count: 2 }, rec(8), { recordSize: 8 })), 'ok', 'd2 has no extents: any record size');
  assert.is(await outcome(t.updateArray(12n, 1n, enc('d1'), ak, { index: 2, count: 2 }, rec(8), { recordSize: 8 })), 'INVALID_ARGUMENT', 'd1 holds record size 4');
  await t.close();
});

test.run();
