import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createCodec } from '../../ec/index.js';
import { relaxedSimdUsable } from '../../ec/wasm-kernel.js';

/** The relaxed-SIMD build (used where the engine has relaxed SIMD) gives the reference's bytes. */
const test = suite('ec/relaxed-simd');

test('default process picks the kernel its engine supports', () => {
  const c = createCodec({ dataShards: 4, parityShards: 2 });
  assert.is(c.kernelName, relaxedSimdUsable() ? 'wasm-simd-relaxed' : 'wasm-simd');
  c.dispose();
  assert.is(createCodec({ dataShards: 4, parityShards: 2, impl: 'wasm-scalar' }).kernelName, 'wasm-scalar');
  assert.is(createCodec({ dataShards: 4, parityShards: 2, impl: 'scalar' }).kernelName, 'ts-scalar');
});

test('relaxed-swizzle kernel equals the TypeScript reference (child with --experimental-wasm-relaxed-simd)', () => {
  const child = fileURLToPath(new URL('./relaxed-child.ts', import.meta.url));
  const out = execFileSync(process.execPath, ['--experimental-wasm-relaxed-simd', '--import', 'tsx', child], {
    encoding: 'utf8', env: { ...process.env, CAIRN_EC_PORTABLE_SIMD: '' }, timeout: 120_000,
  });
  const res = JSON.parse(out.trim().split('\n').pop()!) as { kernel: string; cases: number; mismatches: number };
  assert.is(res.kernel, 'wasm-simd-relaxed');
  assert.is(res.cases, 120);
  assert.is(res.mismatches, 0);
});

test('CAIRN_EC_PORTABLE_SIMD=1 keeps the portable kernel even with relaxed SIMD on', () => {
  const out = execFileSync(process.execPath, ['--experimental-wasm-relaxed-simd', '--import', 'tsx', '--input-type=module', '-e',
    `import { createCodec } from ${JSON.stringify(new URL('../../ec/index.ts', import.meta.url).href)}; console.log(createCodec({ dataShards: 2, parityShards: 1 }).kernelName);`], {
    encoding: 'utf8', env: { ...process.env, CAIRN_EC_PORTABLE_SIMD: '1' }, timeout: 60_000,
  });
  assert.is(out.trim(), 'wasm-simd');
});

test.run();
