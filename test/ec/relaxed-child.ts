/**
 * Child of relaxed.test.ts, run with --experimental-wasm-relaxed-simd: checks the relaxed-SIMD
 * kernel against the TypeScript reference and prints one JSON line with the outcome.
 */
import { createCodec, type MatrixKind } from '../../ec/index.js';
import { Rng } from '../../core/rng.js';
import { randomStripe, cloneShards, randomSubset } from './helpers.js';

const rng = new Rng(0x7e1a);
let cases = 0, mismatches = 0;
let kernel = '';
for (let t = 0; t < 120; t++) {
  const k = rng.range(1, 20), p = rng.range(1, 6), len = rng.pick([1, 15, 16, 17, 33, 100, 1000, 16385, 40000]);
  const matrix: MatrixKind = rng.chance(0.5) ? 'cauchy' : 'vandermonde';
  const fast = createCodec({ dataShards: k, parityShards: p, matrix });
  const ref = createCodec({ dataShards: k, parityShards: p, matrix, impl: 'scalar' });
  kernel = fast.kernelName;
  const a = randomStripe(rng, k, p, len), b = cloneShards(a);
  fast.encode(a); ref.encode(b);
  for (let r = k; r < k + p; r++) if (!Buffer.from(a[r]!).equals(Buffer.from(b[r]!))) mismatches++;
  const lost = randomSubset(rng, k + p, rng.range(1, p));
  const d: (Uint8Array | null)[] = a.map((s, i) => (lost.includes(i) ? null : s));
  fast.reconstruct(d);
  for (const i of lost) if (!Buffer.from(d[i]!).equals(Buffer.from(b[i]!))) mismatches++;
  cases++;
  fast.dispose(); ref.dispose();
}
console.log(JSON.stringify({ kernel, cases, mismatches }));
