/**
 * core/typed: the typed-array methods called as functions do what the methods do, on plain
 * arrays, Buffers and views at an offset into a larger buffer, short and long ranges alike;
 * a copy past the end throws as `set` does and changes nothing.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../../core/rng.js';
import { copyInto, zeroRange } from '../../core/typed.js';

const rng = new Rng(43);

/** A view of `n` random bytes at offset `off` of a larger buffer (bytes around it random too). */
function viewAt(off: number, n: number): Uint8Array {
  const whole = rng.bytes(off + n + 16);
  return whole.subarray(off, off + n);
}

test('copyInto equals set for sources of 0..300 bytes at every kind of destination offset', () => {
  for (const n of [0, 1, 7, 8, 24, 63, 64, 65, 100, 300]) {
    for (const at of [0, 1, 5, 64]) {
      for (const dstKind of ['plain', 'view', 'buffer'] as const) {
        const base = dstKind === 'view' ? viewAt(11, 512) : dstKind === 'buffer' ? Buffer.from(rng.bytes(512)) : rng.bytes(512);
        const a = Uint8Array.from(base), b = dstKind === 'buffer' ? Buffer.from(base) : dstKind === 'view' ? viewAt(3, 512) : new Uint8Array(512);
        b.set(base);
        const src = viewAt(7, n);
        a.set(src, at);
        copyInto(b, src, at);
        assert.equal(Array.from(b), Array.from(a), `n ${n} at ${at} ${dstKind}`);
      }
    }
  }
});

test('copyInto past the end throws a RangeError and writes nothing', () => {
  const dst = rng.bytes(32), before = Uint8Array.from(dst);
  assert.throws(() => copyInto(dst, rng.bytes(10), 30), (e: unknown) => e instanceof RangeError);
  assert.equal(Array.from(dst), Array.from(before));
});

test('zeroRange zeroes exactly [from, to), short (loop) and long (fill) ranges, on views', () => {
  for (const [from, to] of [[0, 0], [3, 3], [0, 1], [5, 13], [1, 65], [0, 64], [7, 200], [0, 300]] as const) {
    const v = viewAt(9, 300), want = Uint8Array.from(v);
    const whole = new Uint8Array(v.buffer), wholeBefore = Uint8Array.from(whole);
    want.fill(0, from, to);
    zeroRange(v, from, to);
    assert.equal(Array.from(v), Array.from(want), `[${from}, ${to})`);
    // the bytes of the larger buffer around the view are untouched
    assert.equal(Array.from(whole.subarray(0, 9)), Array.from(wholeBefore.subarray(0, 9)));
    assert.equal(Array.from(whole.subarray(309)), Array.from(wholeBefore.subarray(309)));
  }
});

test.run();
