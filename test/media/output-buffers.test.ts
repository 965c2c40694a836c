import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { allocOutput, RECYCLED_OUTPUT_MIN_BYTES, loadNative, BLOCK_SIZE } from '../../src/media/index.js';

const t = suite('media/output-buffers');
const native = loadNative().addon;
const MIB = 1 << 20;

/** The free list's bound in native/cairn_uring.c (RECYCLE_MAX_BYTES). */
const RECYCLE_MAX_BYTES = 128 * MIB;

t('allocOutput returns exactly the bytes asked for; recycled sizes are page-aligned', () => {
  for (const n of [0, 1, 4095, RECYCLED_OUTPUT_MIN_BYTES - 1, RECYCLED_OUTPUT_MIN_BYTES, MIB, MIB + 1, 3 * MIB + 5]) {
    const b = allocOutput(n);
    assert.instance(b, Uint8Array);
    assert.is(b.length, n, `length ${n}`);
    assert.is(b.byteOffset, 0);
    b.fill(0xab);
    assert.ok(n === 0 || (b[0] === 0xab && b[n - 1] === 0xab));
    if (native && n >= RECYCLED_OUTPUT_MIN_BYTES) assert.is(native.alignmentOf(b, BLOCK_SIZE), 0, `aligned ${n}`);
  }
});

t('recycled outputs: a buffer still referenced is never handed out again, freed ones are (GC churn)', async () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const stats0 = native?.recycleStats?.();
  // Live buffers of the sizes churned below, each filled with its own pattern.
  const sizes = [MIB, MIB + 100, RECYCLED_OUTPUT_MIN_BYTES, 2 * MIB - 7];
  const held = Array.from({ length: 16 }, (_, i) => allocOutput(sizes[i % sizes.length]!).fill(i + 1));
  for (let round = 0; round < 20; round++) {
    for (let i = 0; i < 24; i++) {
      const b = allocOutput(sizes[(round + i) % sizes.length]!);
      b.fill(0xee); // a live buffer handed out again would be overwritten here
    }
    gc();
    await new Promise((res) => setImmediate(res)); // finalizers run after the collection
    await new Promise((res) => setImmediate(res));
  }
  held.forEach((b, i) => {
    assert.is(b.length, sizes[i % sizes.length]);
    assert.ok(b.every((x) => x === i + 1), `held buffer ${i} kept its bytes`);
  });
  if (native?.recycleStats && stats0) {
    const [count, bytes, hits] = native.recycleStats();
    assert.ok(hits - stats0[2] > 100, `outputs served from the free list: ${hits - stats0[2]}`);
    assert.ok(bytes <= RECYCLE_MAX_BYTES && count <= 512, `the free list is bounded: ${count} buffers, ${bytes} bytes`);
  }
});

t.run();
