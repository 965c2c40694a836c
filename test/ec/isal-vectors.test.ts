import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { createCodec, type EcImpl } from '../../ec/index.js';
import { Rng } from '../../core/rng.js';
import { randomSubset } from './helpers.js';

/**
 * `matrix: 'cauchy'` parity equals Intel ISA-L's (gf_gen_cauchy1_matrix + ec_encode_data).
 * Vectors: test/vectors/isal-cauchy.txt from tools/isal/gen-cauchy-vectors.c.
 */
const test = suite('ec/isal-vectors');

interface Vector { k: number; p: number; len: number; seed: number; parity: Uint8Array }

const vectors: Vector[] = readFileSync(new URL('../vectors/isal-cauchy.txt', import.meta.url), 'utf8')
  .split('\n').filter((l) => l && !l.startsWith('#')).map((l) => {
    const [k, p, len, seed, hexParity] = l.split(' ');
    return { k: +k!, p: +p!, len: +len!, seed: +seed!, parity: Uint8Array.from(Buffer.from(hexParity!, 'hex')) };
  });

/** The generator's data: xorshift32 from `seed`, shard-major, low byte of the state after each step. */
function isalData(k: number, len: number, seed: number): Uint8Array[] {
  let x = seed >>> 0;
  return Array.from({ length: k }, () => {
    const b = new Uint8Array(len);
    for (let i = 0; i < len; i++) { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; b[i] = x & 255; }
    return b;
  });
}

test('vector file is well-formed and covers the shapes', () => {
  assert.ok(vectors.length >= 250, `${vectors.length} vectors`);
  for (const v of vectors) assert.is(v.parity.length, v.p * v.len);
  assert.ok(vectors.some((v) => v.k + v.p === 256));
  assert.ok(vectors.some((v) => v.len === 1));
});

for (const impl of ['wasm-simd', 'wasm-scalar', 'scalar'] as EcImpl[]) {
  test(`${impl}: cauchy parity equals ISA-L on every vector, and decodes`, () => {
    const rng = new Rng(0x15a1);
    for (const v of vectors) {
      const c = createCodec({ dataShards: v.k, parityShards: v.p, impl, matrix: 'cauchy' });
      const data = isalData(v.k, v.len, v.seed);
      const shards = [...data, ...Array.from({ length: v.p }, () => new Uint8Array(v.len))];
      c.encode(shards);
      for (let r = 0; r < v.p; r++) {
        const want = v.parity.subarray(r * v.len, (r + 1) * v.len);
        if (!Buffer.from(shards[v.k + r]!).equals(Buffer.from(want))) assert.unreachable(`${impl} ${v.k}+${v.p} len ${v.len} parity ${r}`);
      }
      assert.ok(c.verify(shards));
      const lost = randomSubset(rng, v.k + v.p, rng.range(1, v.p));
      const damaged: (Uint8Array | null)[] = shards.map((s, i) => (lost.includes(i) ? null : s));
      c.reconstruct(damaged);
      for (const i of lost) assert.ok(Buffer.from(damaged[i]!).equals(Buffer.from(shards[i]!)), `${v.k}+${v.p} lost ${lost}`);
      c.dispose();
    }
  });
}

test.run();
