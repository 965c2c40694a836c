/**
 * Child of relaxed.test.ts: checks the `wasm-simd` codec of a process started without any V8 flag
 * (so ec/ has to turn relaxed SIMD on itself, unless CAIRN_EC_PORTABLE_SIMD=1) against the
 * TypeScript reference, and prints one JSON line with the kernel, its reason and the outcome.
 */
import { createCodec, relaxedSimdStatus, type MatrixKind } from '../../ec/index.js';
import { Rng } from '../../core/rng.js';
import { randomStripe, cloneShards, randomSubset } from './helpers.js';

const rng = new Rng(0x7e1a);
let cases = 0, mismatches = 0;
let kernel = '', reason = '';
for (let t = 0; t < 120; t++) {
  const k = rng.range(1, 20), p = rng.range(1, 6), len = rng.pick([1, 15, 16, 17, 33, 100, 1000, 16385, 40000]);
  const matrix: MatrixKind = rng.chance(0.5) ? 'cauchy' : 'vandermonde';
  const fast = createCodec({ dataShards: k, parityShards: p, matrix });
  const ref = createCodec({ dataShards: k, parityShards: p, matrix, impl: 'scalar' });
  kernel = fast.kernelName; reason = fast.kernelReason;
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
let relaxedRequest = 'ok';
try { createCodec({ dataShards: 2, parityShards: 1, simd: 'relaxed' }).dispose(); } catch (e) { relaxedRequest = (e as { code?: string }).code ?? String(e); }
console.log(JSON.stringify({ kernel, reason, cases, mismatches, status: relaxedSimdStatus(), relaxedRequest }));
