import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createCodec, relaxedSimdStatus, EcError, PORTABLE_SIMD_ENV, type RelaxedSimdStatus } from '../../ec/index.js';
import { Rng } from '../../core/rng.js';
import { randomStripe, cloneShards } from './helpers.js';

/**
 * Relaxed SIMD: ec/ turns it on itself (v8.setFlagsFromString) unless CAIRN_EC_PORTABLE_SIMD=1,
 * reports why, and the relaxed build gives the reference's bytes. This file runs green both with
 * and without CAIRN_EC_PORTABLE_SIMD=1 in the environment (the assertions follow the setting).
 */
const test = suite('ec/relaxed-simd');
const portableForced = process.env[PORTABLE_SIMD_ENV] === '1';
const childPath = fileURLToPath(new URL('./relaxed-child.ts', import.meta.url));

interface ChildResult { kernel: string; reason: string; cases: number; mismatches: number; status: RelaxedSimdStatus; relaxedRequest: string }
function runChild(env: Record<string, string>, nodeFlags: string[] = []): ChildResult {
  const out = execFileSync(process.execPath, [...nodeFlags, '--import', 'tsx', childPath], {
    encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000,
  });
  return JSON.parse(out.trim().split('\n').pop()!) as ChildResult;
}

test('default process picks a kernel and says why', () => {
  const st = relaxedSimdStatus();
  const c = createCodec({ dataShards: 4, parityShards: 2 });
  assert.is(c.kernelName, st.enabled ? 'wasm-simd-relaxed' : 'wasm-simd');
  assert.is(c.kernelReason, st.reason);
  if (portableForced) {
    assert.is(st.enabled, false);
    assert.is(st.flagSet, false);
    assert.match(st.reason, PORTABLE_SIMD_ENV);
  } else {
    // Node 20 needs the flag (set by ec/), Node >= 22 has relaxed SIMD already: either way it is on.
    assert.is(st.enabled, true, st.reason);
    assert.match(st.reason, /relaxed SIMD/);
  }
  c.dispose();
  const sc = createCodec({ dataShards: 4, parityShards: 2, impl: 'wasm-scalar' });
  assert.is(sc.kernelName, 'wasm-scalar');
  assert.match(sc.kernelReason, 'wasm-scalar');
  assert.is(createCodec({ dataShards: 4, parityShards: 2, impl: 'scalar' }).kernelName, 'ts-scalar');
  assert.match(createCodec({ dataShards: 4, parityShards: 2, impl: 'reed-solomon-erasure' }).kernelReason, 'reed-solomon-erasure');
});

test('simd: portable and simd: relaxed in one process give the same bytes as the reference', () => {
  const rng = new Rng(0x5eed);
  const portable = createCodec({ dataShards: 8, parityShards: 2, simd: 'portable' });
  assert.is(portable.kernelName, 'wasm-simd');
  let relaxed;
  try {
    relaxed = createCodec({ dataShards: 8, parityShards: 2, simd: 'relaxed' });
    assert.ok(!portableForced, 'simd: relaxed must be refused under CAIRN_EC_PORTABLE_SIMD=1');
    assert.is(relaxed.kernelName, 'wasm-simd-relaxed');
  } catch (e) {
    if (!portableForced) throw e;
    assert.instance(e, EcError);
    assert.is((e as EcError).code, 'UNSUPPORTED');
  }
  const ref = createCodec({ dataShards: 8, parityShards: 2, impl: 'scalar' });
  for (const len of [1, 16, 31, 1000, 16384, 16385, 70000]) {
    const a = randomStripe(rng, 8, 2, len), b = cloneShards(a), c = cloneShards(a);
    portable.encode(a); ref.encode(b);
    for (let r = 8; r < 10; r++) assert.ok(Buffer.from(a[r]!).equals(Buffer.from(b[r]!)), `portable len ${len} parity ${r}`);
    if (relaxed) {
      relaxed.encode(c);
      for (let r = 8; r < 10; r++) assert.ok(Buffer.from(c[r]!).equals(Buffer.from(b[r]!)), `relaxed len ${len} parity ${r}`);
    }
  }
  portable.dispose(); relaxed?.dispose(); ref.dispose();
});

test('simd option is validated', () => {
  assert.throws(() => createCodec({ dataShards: 4, parityShards: 2, simd: 'fast' as never }), (e: EcError) => e.code === 'INVALID_ARGUMENT');
  assert.throws(() => createCodec({ dataShards: 4, parityShards: 2, impl: 'scalar', simd: 'portable' }), (e: EcError) => e.code === 'INVALID_ARGUMENT');
  assert.is(createCodec({ dataShards: 4, parityShards: 2, impl: 'scalar', simd: 'auto' }).kernelName, 'ts-scalar');
});

test('a process started without flags turns relaxed SIMD on itself; the relaxed kernel equals the reference', () => {
  const res = runChild({ [PORTABLE_SIMD_ENV]: '' });
  assert.is(res.kernel, 'wasm-simd-relaxed', res.reason);
  assert.is(res.status.enabled, true);
  assert.is(res.cases, 120);
  assert.is(res.mismatches, 0);
  assert.is(res.relaxedRequest, 'ok');
});

test('with --experimental-wasm-relaxed-simd on the command line no flag is set and the result is the same', () => {
  const res = runChild({ [PORTABLE_SIMD_ENV]: '' }, ['--experimental-wasm-relaxed-simd']);
  assert.is(res.kernel, 'wasm-simd-relaxed');
  assert.is(res.status.flagSet, false);
  assert.match(res.reason, 'accepts relaxed SIMD as started');
  assert.is(res.mismatches, 0);
});

test('CAIRN_EC_PORTABLE_SIMD=1 keeps the portable kernel, sets no flag, refuses simd: relaxed', () => {
  const res = runChild({ [PORTABLE_SIMD_ENV]: '1' });
  assert.is(res.kernel, 'wasm-simd');
  assert.is(res.status.enabled, false);
  assert.is(res.status.flagSet, false);
  assert.match(res.reason, PORTABLE_SIMD_ENV);
  assert.is(res.mismatches, 0);
  assert.is(res.relaxedRequest, 'UNSUPPORTED');
});

test.run();
