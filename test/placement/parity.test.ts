import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { initXxhash, xxh64 } from '../../core/xxhash.js';
import {
  parityRotation, parityRotationOfHalves, dkeyParityRotation, positionOfRole, roleOfPosition, rolePositions,
  dkeyGroup, DKEY_HASH_SEED, PlacementError,
} from '../../placement/index.js';
import { Rng } from '../../core/rng.js';

await initXxhash();
const t = suite('parity-rotation');

function code(f: () => unknown): string {
  try { f(); } catch (e) { assert.instance(e, PlacementError); return (e as PlacementError).code; }
  assert.unreachable('should throw');
  return '';
}

t('rotation is in range, deterministic and spreads parity over every shard of the group', () => {
  const r = new Rng(3);
  for (const gs of [3, 6, 10, 18]) {
    const parityOn = new Array(gs).fill(0);
    const n = 20000, k = gs - 2;
    for (let i = 0; i < n; i++) {
      const h = r.u64();
      const rot = parityRotation(h, gs);
      assert.ok(Number.isInteger(rot) && rot >= 0 && rot < gs);
      assert.is(parityRotation(h, gs), rot);
      assert.is(parityRotationOfHalves(Number(h >> 32n), Number(h & 0xffffffffn), gs), rot);
      for (let j = 0; j < 2; j++) parityOn[positionOfRole(k + j, rot, gs)]++;
    }
    const mean = (2 * n) / gs;
    for (const c of parityOn) assert.ok(Math.abs(c / mean - 1) < 0.08, `gs ${gs}: parity share ${c / mean}`);
  }
});

t('roles and positions are inverse permutations; rotation 0 is the fixed layout', () => {
  for (const gs of [1, 3, 10, 18]) {
    for (let rot = 0; rot < gs; rot++) {
      const pos = rolePositions(rot, gs);
      assert.equal([...pos].sort((a, b) => a - b), Array.from({ length: gs }, (_, i) => i));
      for (let role = 0; role < gs; role++) {
        assert.is(pos[role], positionOfRole(role, rot, gs));
        assert.is(roleOfPosition(pos[role]!, rot, gs), role);
      }
    }
    assert.equal(Array.from(rolePositions(0, gs)), Array.from({ length: gs }, (_, i) => i));
  }
});

t('rotation of a dkey is independent of its group', () => {
  const enc = new TextEncoder();
  const table = Array.from({ length: 4 }, () => new Array(10).fill(0));
  for (let i = 0; i < 40000; i++) {
    const dkey = enc.encode(`dkey-${i}`);
    assert.is(dkeyParityRotation(dkey, 10), parityRotation(xxh64(dkey, DKEY_HASH_SEED), 10));
    table[dkeyGroup(dkey, 4)]![dkeyParityRotation(dkey, 10)]++;
  }
  for (const row of table) for (const c of row) assert.ok(Math.abs(c - 1000) < 150, `cell ${c}`);
});

t('bad arguments: INVALID_ARGUMENT', () => {
  assert.is(code(() => parityRotation(-1n, 10)), 'INVALID_ARGUMENT');
  assert.is(code(() => parityRotation(1n << 64n, 10)), 'INVALID_ARGUMENT');
  assert.is(code(() => parityRotation(5n, 0)), 'INVALID_ARGUMENT');
  assert.is(code(() => parityRotation(5n, 19)), 'INVALID_ARGUMENT');
  assert.is(code(() => positionOfRole(10, 0, 10)), 'INVALID_ARGUMENT');
  assert.is(code(() => roleOfPosition(0, 10, 10)), 'INVALID_ARGUMENT');
  assert.is(code(() => rolePositions(-1, 10)), 'INVALID_ARGUMENT');
  assert.is(code(() => dkeyParityRotation('x' as unknown as Uint8Array, 10)), 'INVALID_ARGUMENT');
});

t.run();
