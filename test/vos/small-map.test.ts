/**
 * The memtable's node map (`SmallMap`): found by a key's string and by its bytes (`getBytes`, no
 * string once it holds BYTE_INDEX_MIN entries: a hash index of the bytes), against a model `Map`,
 * through every size (inline entry, small map, indexed and regrown), with keys that differ only in
 * one byte or in length, empty keys, and values replaced under a key held already.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../../core/rng.js';
import { SmallMap } from '../../src/vos/memtable.js';
import { keyStr } from '../../src/vos/tree.js';

const t = suite('small-map');

interface Node { key: Uint8Array; n: number }

/** A key from a small alphabet, so that many keys share prefixes and lengths. */
function randomKey(rng: Rng): Uint8Array {
  const len = rng.chance(0.05) ? 0 : 1 + rng.int(rng.chance(0.2) ? 40 : 9);
  const k = new Uint8Array(len);
  for (let i = 0; i < len; i++) k[i] = rng.chance(0.7) ? 0x61 + rng.int(3) : rng.int(256);
  return k;
}

for (const seed of [1, 2, 3, 4]) {
  t(`gets by string and by bytes match a model map at every size (seed ${seed})`, () => {
    const rng = new Rng(seed);
    const m = new SmallMap<Node>();
    const model = new Map<string, Node>();
    const sizes = new Set<number>();
    for (let step = 0; step < 6000; step++) {
      const k = randomKey(rng);
      const ks = keyStr(k);
      if (rng.chance(0.5)) {
        const v: Node = { key: k.slice(), n: step }; // (a copy: found by equal bytes, not by identity)
        m.set(ks, v); model.set(ks, v);
      }
      // probe with a fresh copy of the key and with keys one byte off or one byte longer
      for (const probe of [k.slice(), k.length ? Uint8Array.from(k, (b, i) => (i === k.length - 1 ? b ^ 1 : b)) : new Uint8Array(1), Uint8Array.of(...k, 0x61)]) {
        const want = model.get(keyStr(probe));
        assert.is(m.getBytes(probe), want, `step ${step}: by bytes`);
        assert.is(m.get(keyStr(probe)), want, `step ${step}: by string`);
      }
      assert.is(m.size, model.size);
      sizes.add(model.size);
      if (step % 500 === 0) assert.equal([...m.values()], [...model.values()], `step ${step}: insertion order`);
    }
    assert.ok(sizes.has(1) && sizes.has(5) && sizes.has(8) && sizes.has(200), 'every size was met');
  });
}

t('a one-entry map finds its key by bytes and nothing else', () => {
  const m = new SmallMap<Node>();
  assert.is(m.getBytes(new Uint8Array(0)), undefined, 'empty');
  const v = { key: Uint8Array.of(1, 2, 3), n: 0 };
  m.set(keyStr(v.key), v);
  assert.is(m.getBytes(Uint8Array.of(1, 2, 3)), v);
  assert.is(m.getBytes(Uint8Array.of(1, 2)), undefined);
  assert.is(m.getBytes(Uint8Array.of(1, 2, 4)), undefined);
  const w = { key: Uint8Array.of(1, 2, 3), n: 1 };
  m.set(keyStr(w.key), w);
  assert.is(m.getBytes(Uint8Array.of(1, 2, 3)), w, 'replaced');
});

t.run();
