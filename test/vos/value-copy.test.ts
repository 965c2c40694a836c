/**
 * `copyValue` (src/vos/value-copy.ts): copies equal their source, are independent of it and of
 * each other (across slab turnovers), zero-length and large values work, large ones own their buffer.
 * `readBuffer`: buffers of the asked length that never overlap (across read-slab turnovers).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { copyValue, copyValueFrom, readBuffer, READ_SLAB_BYTES, READ_SLAB_MAX_BYTES, VALUE_SLAB_BYTES, VALUE_SLAB_MAX_BYTES } from '../../src/vos/value-copy.js';

const test = suite('vos value copies');

test('copies are equal and independent, across slab turnovers', () => {
  const kept: Array<{ src: Uint8Array; copy: Uint8Array }> = [];
  for (let i = 0; i < 3 * VALUE_SLAB_BYTES / 50; i++) {
    const n = (i * 37) % 300; // 0..299 bytes, odd lengths included
    const src = new Uint8Array(n).map((_, j) => (i + j * 7) & 0xff);
    const copy = copyValue(src);
    assert.is(copy.length, n);
    assert.equal(copy, src);
    src.fill(0xee); // the source changing later changes no copy
    kept.push({ src: new Uint8Array(n).map((_, j) => (i + j * 7) & 0xff), copy });
  }
  for (const k of kept) k.copy.fill(0); // a write into one copy stays in its own range...
  for (let i = 0; i < kept.length; i++) {
    kept[i]!.copy.set(kept[i]!.src);
  }
  for (const k of kept) assert.equal(k.copy, k.src, '...so every copy still reads its own bytes');
  assert.ok(new Set(kept.map((k) => k.copy.buffer)).size > 1, 'slabs turn over');
});

test('copyValueFrom: a range of a larger buffer, copied equal and independent (short values by bytes, long ones as copyValue)', () => {
  const block = new Uint8Array(5000).map((_, j) => (j * 13 + 1) & 0xff);
  const kept: Array<{ at: number; n: number; copy: Uint8Array }> = [];
  for (let i = 0; i < 3 * VALUE_SLAB_BYTES / 40; i++) {
    const n = (i * 41) % 400; // both sides of the byte-loop limit
    const at = (i * 97) % (block.length - n);
    const copy = copyValueFrom(block, at, n);
    assert.is(copy.length, n);
    assert.equal(copy, block.subarray(at, at + n));
    kept.push({ at, n, copy });
  }
  const before = block.slice();
  block.fill(0); // the source changing changes no copy
  for (const k of kept) assert.equal(k.copy, before.subarray(k.at, k.at + k.n));
  const big = copyValueFrom(before, 1, VALUE_SLAB_MAX_BYTES + 1);
  assert.is(big.buffer.byteLength, VALUE_SLAB_MAX_BYTES + 1, 'large values own their buffer');
});

test('values above the slab limit get their own buffer', () => {
  const big = new Uint8Array(VALUE_SLAB_MAX_BYTES + 1).fill(3);
  const c = copyValue(big);
  assert.equal(c, big);
  assert.is(c.byteOffset, 0);
  assert.is(c.buffer.byteLength, big.length);
  const small = copyValue(new Uint8Array(10).fill(1));
  assert.is(small.buffer.byteLength, VALUE_SLAB_BYTES);
  assert.is(copyValue(new Uint8Array(0)).length, 0);
});

test('read buffers: the asked length, never overlapping one another (across slab turnovers); larger ones their own', () => {
  const got: Uint8Array[] = [];
  for (let i = 0; i < 3 * READ_SLAB_BYTES / 4096; i++) {
    const n = i % 5 === 0 ? (i * 13) % 64 : 4096 + (i % 3) * 1000;
    const b = readBuffer(n);
    assert.is(b.length, n);
    b.fill(i & 0xff);
    got.push(b);
  }
  got.forEach((b, i) => assert.ok(b.every((x) => x === (i & 0xff)), `buffer ${i} kept its bytes: no other buffer overlaps it`));
  assert.ok(new Set(got.map((b) => b.buffer)).size > 2, 'slabs turn over');
  const big = readBuffer(READ_SLAB_MAX_BYTES + 1);
  assert.is(big.buffer.byteLength, READ_SLAB_MAX_BYTES + 1);
  assert.is(readBuffer(READ_SLAB_MAX_BYTES).buffer.byteLength, READ_SLAB_BYTES);
});

test.run();
