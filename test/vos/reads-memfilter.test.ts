/**
 * The memtable's object filter (`MemContainer.mayHold`), which point reads consult before the
 * object map: never "no" for an object the memtable holds (ids of every width, through the
 * filter's rebuilds as it grows), and "no" for most absent wide ids (what makes it worth a probe).
 * Point reads through it are held to a model by the other reads tests (memtable and runs).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MemContainer } from '../../src/vos/memtable.js';
import { OidKey } from '../../src/vos/oid-table.js';
import { Rng } from '../../core/rng.js';

const test = suite('vos memtable object filter');
const key = new OidKey();

/** A unit object id (oid << 32 | shard) of `bits` bits of oid. */
function unitId(rng: Rng, bits: number, shard: number): bigint {
  let oid = 0n;
  for (let b = 0; b < bits; b += 30) oid = (oid << 30n) | BigInt(rng.int(1 << 30));
  return ((oid & ((1n << BigInt(bits)) - 1n)) << 32n) | BigInt(shard);
}

test('no false "absent" for held objects of any width through growth; most absent wide ids are turned away', () => {
  const rng = new Rng(0xf11);
  const c = new MemContainer();
  const held: bigint[] = [];
  const widths = [8, 32, 64, 96, 128];
  for (let n = 0; n < 40_000; n++) {
    const id = unitId(rng, widths[n % widths.length]!, rng.int(6));
    c.tree(id);
    held.push(id);
    if (n % 4999 === 0 || n === 39_999) for (const h of held) assert.ok(c.mayHold(key.of(h)), `held id ${h.toString(16)} after ${n + 1} objects`);
  }
  assert.is(c.objects.size, new Set(held).size);
  let passed = 0;
  const M = 20_000;
  for (let k = 0; k < M; k++) if (c.mayHold(key.of(unitId(rng, 128, rng.int(6))))) passed++;
  assert.ok(passed < M * 0.15, `absent 128-bit ids let through: ${passed} of ${M}`);
});

test.run();
