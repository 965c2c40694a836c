/**
 * The pieces of a point read's seek key built without BigInt arithmetic (src/vos/keys.ts):
 * `KeyBuilder.inv64` writes 2^64-1-v big-endian (as the BigInt subtraction did) for every epoch
 * width, and `KeyBuilder.oidWords` of an `OidKey`'s words writes the same 24 bytes as
 * `KeyBuilder.oid` of the id, for ids of every width a store meets (unit oids reach 160 bits).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { KeyBuilder, OID_BYTES } from '../../src/vos/keys.js';
import { OidKey } from '../../src/vos/oid-table.js';
import { Rng } from '../../core/rng.js';

const test = suite('vos point keys');
const U64 = (1n << 64n) - 1n;

/** The reference: `bytes` big-endian digits of `v` (a non-negative bigint below 2^(8 bytes)). */
function be(v: bigint, bytes: number): number[] {
  const out = new Array<number>(bytes);
  for (let i = bytes - 1; i >= 0; i--) { out[i] = Number(v & 0xffn); v >>= 8n; }
  return out;
}

/** A random bigint of up to `bits` bits (some of them with long runs of zero or one bits). */
function randomBig(rng: Rng, bits: number): bigint {
  let v = 0n;
  for (let b = 0; b < bits; b += 16) v = (v << 16n) | BigInt(rng.int(1 << 16));
  v &= (1n << BigInt(bits)) - 1n;
  if (rng.int(4) === 0) v |= ((1n << BigInt(rng.int(bits))) - 1n); // a run of ones
  return v;
}

test('inv64 writes 2^64-1-epoch big-endian, after and before other bytes', () => {
  const rng = new Rng(0x1164);
  const edges = [0n, 1n, 2n, 0xffn, 0x100n, 0xffffffffn, 0x100000000n, 0x1_0000_0001n, (1n << 63n) - 1n, 1n << 63n, U64 - 1n, U64];
  const epochs = [...edges, ...Array.from({ length: 2000 }, () => randomBig(rng, 1 + rng.int(64)))];
  const kb = new KeyBuilder();
  for (const e of epochs) {
    const pre = rng.int(300); // a prefix that makes the builder grow past its first buffer now and then
    kb.reset();
    for (let i = 0; i < pre; i++) kb.u8(i & 0xff);
    kb.inv64(e).u8(0xab);
    const got = Array.from(kb.view());
    assert.is(got.length, pre + 9, `length for epoch ${e}`);
    assert.equal(got.slice(pre, pre + 8), be(U64 - e, 8), `~epoch ${e.toString(16)}`);
    assert.is(got[pre + 8], 0xab, 'the next byte follows the 8');
    for (let i = 0; i < pre; i++) if (got[i] !== (i & 0xff)) assert.unreachable(`prefix byte ${i} changed (epoch ${e})`);
  }
});

test('oidWords of an OidKey writes the bytes oid writes, for ids of every width', () => {
  const rng = new Rng(0x01d5);
  const widths = [1, 31, 32, 33, 63, 64, 65, 96, 127, 128, 129, 150, 160, 191, 192];
  const ids: bigint[] = [0n, 1n, U64, 1n << 64n, (1n << 128n) - 1n, 1n << 128n, (1n << 160n) - 1n, (1n << 192n) - 1n];
  for (const w of widths) for (let i = 0; i < 200; i++) ids.push(randomBig(rng, w));
  const a = new KeyBuilder(), b = new KeyBuilder(), k = new OidKey();
  for (const id of ids) {
    a.reset().u32(7).u8(2).oid(id).u8(9);
    b.reset().u32(7).u8(2).oidWords(k.of(id).words).u8(9);
    assert.is(b.length, 4 + 1 + OID_BYTES + 1);
    assert.equal(Array.from(b.view()), Array.from(a.view()), `id ${id.toString(16)}`);
    assert.equal(Array.from(b.view().subarray(5, 5 + OID_BYTES)), be(id, OID_BYTES), `id ${id.toString(16)} big-endian`);
  }
});

test.run();
