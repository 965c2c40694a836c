import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { gfMul, gfInv, gfPow, GF_POLY } from '../../ec/gf.js';
import { matInvert, matMul, vandermondeMatrix, cauchyMatrix, MATRIX_IDS, matrixKindOfId } from '../../ec/matrix.js';
import { instantiate } from '../../core/wasm.js';
import { Rng } from '../../core/rng.js';

const test = suite('ec/gf');

/** Carry-less multiply with reduction by 0x11d: the definition, independent of the tables. */
function slowMul(a: number, b: number): number {
  let r = 0;
  while (b) {
    if (b & 1) r ^= a;
    a <<= 1;
    if (a & 0x100) a ^= GF_POLY;
    b >>= 1;
  }
  return r;
}

test('table multiply equals carry-less multiply mod 0x11d for all pairs', () => {
  for (let a = 0; a < 256; a++) for (let b = 0; b < 256; b++) {
    if (gfMul(a, b) !== slowMul(a, b)) assert.unreachable(`${a}*${b}`);
  }
});

test('inverse and power', () => {
  for (let a = 1; a < 256; a++) assert.is(gfMul(a, gfInv(a)), 1);
  assert.throws(() => gfInv(0));
  assert.is(gfPow(0, 0), 1);
  assert.is(gfPow(0, 3), 0);
  for (let a = 0; a < 256; a++) {
    let x = 1;
    for (let n = 0; n < 10; n++) { assert.is(gfPow(a, n), x); x = slowMul(x, a); }
  }
});

test('wasm core multiply equals the TypeScript field', () => {
  const memory = new WebAssembly.Memory({ initial: 16, maximum: 65536, shared: true });
  const ex = instantiate('ec', { env: { memory } }).exports as unknown as { init(): void; mul(a: number, b: number): number };
  ex.init();
  for (let a = 0; a < 256; a++) for (let b = 0; b < 256; b++) {
    if (ex.mul(a, b) !== gfMul(a, b)) assert.unreachable(`${a}*${b}`);
  }
});

test('matrix inverse times matrix is the identity; singular gives null', () => {
  const rng = new Rng(7);
  for (let t = 0; t < 50; t++) {
    const n = rng.range(1, 12);
    const a = rng.bytes(n * n);
    const inv = matInvert(a, n);
    if (!inv) continue;
    const id = matMul(a, n, n, inv, n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) assert.is(id[i * n + j], i === j ? 1 : 0);
  }
  assert.is(matInvert(new Uint8Array([1, 2, 2, 4]), 2), null);
});

test('encoding matrices are systematic and every k x k row subset is invertible (small shapes)', () => {
  for (const make of [vandermondeMatrix, cauchyMatrix]) {
    for (const [k, p] of [[2, 2], [3, 3], [4, 2], [5, 3]] as const) {
      const m = make(k, p);
      for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) assert.is(m[i * k + j], i === j ? 1 : 0);
      const n = k + p;
      for (let mask = 0; mask < 1 << n; mask++) {
        const rows = [...Array(n).keys()].filter((i) => mask & (1 << i));
        if (rows.length !== k) continue;
        const sub = new Uint8Array(k * k);
        rows.forEach((r, i) => sub.set(m.subarray(r * k, r * k + k), i * k));
        assert.ok(matInvert(sub, k), `${make.name} ${k}+${p} rows ${rows}`);
      }
    }
  }
});

test('cauchy rows are 1/(i xor j) as in ISA-L gf_gen_cauchy1_matrix', () => {
  const m = cauchyMatrix(4, 2);
  assert.is(m[4 * 4 + 0], gfInv(4 ^ 0));
  assert.is(m[5 * 4 + 3], gfInv(5 ^ 3));
});

test('vandermonde known answer: klauspost/Backblaze 4+2 parity rows', () => {
  // parity rows of the (6 x 4) matrix, from the reed-solomon-erasure crate / klauspost tests
  const m = vandermondeMatrix(4, 2);
  assert.equal([...m.subarray(16)], [0x1b, 0x1c, 0x12, 0x14, 0x1c, 0x1b, 0x14, 0x12]);
});

test('matrix ids are stable', () => {
  assert.is(MATRIX_IDS.vandermonde, 1);
  assert.is(MATRIX_IDS.cauchy, 2);
  assert.is(matrixKindOfId(2), 'cauchy');
  assert.throws(() => matrixKindOfId(9), (e: { code?: string }) => e.code === 'INVALID_ARGUMENT');
});

test.run();
