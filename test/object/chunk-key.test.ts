/**
 * An array chunk's dkey (src/object/array.ts `chunkKey`) is the big-endian u64 of its index, byte
 * for byte what `DataView.setBigUint64(0, BigInt(i), false)` writes (dkeys on disk depend on it),
 * across the 32-bit boundary and up to the largest safe integer.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { chunkKey } from '../../src/object/array.js';

const t = suite('object/chunk-key');

const reference = (i: number): number[] => { const k = new Uint8Array(8); new DataView(k.buffer).setBigUint64(0, BigInt(i), false); return [...k]; };

t('chunkKey is the big-endian u64 of the index', () => {
  const cases = [0, 1, 255, 256, 65535, 65536, 2 ** 24 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 40 + 12345, 2 ** 52 + 3, Number.MAX_SAFE_INTEGER];
  for (let s = 1; s < 2 ** 53; s = s * 3 + 7) cases.push(s);
  for (const i of cases) assert.equal([...chunkKey(i)], reference(i), `index ${i}`);
  assert.equal([...chunkKey(2 ** 32 + 258)], [0, 0, 0, 1, 0, 0, 1, 2]);
});

t.run();
