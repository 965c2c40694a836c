/**
 * murmur3's fmix32, the one finaliser the store's slot checksum, the seeded generator and the
 * engine's write-epoch hashes share: the reference's values (computed apart, in Python, from the
 * MurmurHash3 source), an unsigned result for signed input, and every input bit reaching the output.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { fmix32 } from '../../core/mix.js';

const t = suite('core/mix');

t('matches the reference finaliser', () => {
  assert.is(fmix32(0), 0);
  assert.is(fmix32(1), 0x514e28b7);
  assert.is(fmix32(0xdeadbeef), 0x0de5c6a9);
  assert.is(fmix32(0xffffffff), 0x81f16f39);
  assert.is(fmix32(-1), 0x81f16f39, 'a signed 32-bit input is the same bits');
});

t('every input bit changes about half of the output bits', () => {
  for (let bit = 0; bit < 32; bit++) {
    let flips = 0;
    for (let v = 1; v <= 64; v++) {
      const x = Math.imul(v, 0x9e3779b1) >>> 0;
      const d = (fmix32(x) ^ fmix32((x ^ (1 << bit)) >>> 0)) >>> 0;
      for (let b = 0; b < 32; b++) flips += (d >>> b) & 1;
    }
    const mean = flips / 64;
    assert.ok(mean > 12 && mean < 20, `bit ${bit}: ${mean} output bits flip on average`);
  }
});

t.run();
