import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { initXxhash } from '../../core/xxhash.js';
import {
  parseObjectClass, formatObjectClass, objectClassById, resolveGroups, OBJECT_CLASS_NAMES, PoolMap, PlacementError,
  makeObjectId, objectClassOf, objectTypeOf, objectGroupsOf, objectUserPart, OID_USER_MAX, dkeyGroup, MAX_GROUP_SIZE,
} from '../../placement/index.js';
import { Rng } from '../../core/rng.js';

await initXxhash();
const t = suite('classes-oids');

function code(f: () => unknown): string {
  try { f(); } catch (e) { assert.instance(e, PlacementError); return (e as PlacementError).code; }
  assert.unreachable('should throw');
  return '';
}

t('every required class parses, prints by name and has a unique id', () => {
  const required = ['S1', 'S2', 'S4', 'S8', 'S16', 'S32', 'SX', 'RP_2G1', 'RP_2GX', 'RP_3G1', 'RP_3GX',
    'EC_2P1G1', 'EC_2P2G1', 'EC_4P1G1', 'EC_4P2G1', 'EC_8P1G1', 'EC_8P2G1', 'EC_16P2G1',
    'EC_2P1GX', 'EC_2P2GX', 'EC_4P1GX', 'EC_4P2GX', 'EC_8P1GX', 'EC_8P2GX', 'EC_16P2GX'];
  for (const n of required) {
    const c = parseObjectClass(n);
    assert.is(formatObjectClass(c), n);
    assert.is(objectClassById(c.id), c);
  }
  assert.is(new Set(OBJECT_CLASS_NAMES).size, OBJECT_CLASS_NAMES.length);
  assert.ok(OBJECT_CLASS_NAMES.length <= 255);
  assert.is(parseObjectClass('ec_8p2g1').name, 'EC_8P2G1');
  const ec = parseObjectClass('EC_8P2G1');
  assert.equal({ kind: ec.kind, k: ec.dataShards, p: ec.parityShards, r: ec.replicas, gs: ec.groupSize, g: ec.groups }, { kind: 'ec', k: 8, p: 2, r: 1, gs: 10, g: 1 });
  const rp = parseObjectClass('RP_3GX');
  assert.equal({ kind: rp.kind, k: rp.dataShards, p: rp.parityShards, r: rp.replicas, gs: rp.groupSize, g: rp.groups }, { kind: 'replicated', k: 1, p: 2, r: 3, gs: 3, g: 'X' });
  const s4 = parseObjectClass('S4');
  assert.equal({ kind: s4.kind, gs: s4.groupSize, g: s4.groups }, { kind: 'striped', gs: 1, g: 4 });
  assert.ok(Math.max(...OBJECT_CLASS_NAMES.map((n) => parseObjectClass(n).groupSize)) <= MAX_GROUP_SIZE);
});

t('unknown classes are refused', () => {
  for (const n of ['', 'S3', 'EC_8P3G1', 'RP_1G1', 'EC_8P2', 'XYZ', 'EC_8P2G3']) assert.is(code(() => parseObjectClass(n)), 'UNKNOWN_OBJECT_CLASS', n);
  assert.is(code(() => objectClassById(0)), 'UNKNOWN_OBJECT_CLASS');
  assert.is(code(() => objectClassById(256)), 'UNKNOWN_OBJECT_CLASS');
});

t('resolveGroups: fixed counts, GX = as many whole groups as the pool holds', () => {
  const pm = PoolMap.create({ nodes: 4, ranksPerNode: 4, targetsPerRank: 8 }); // 128 targets
  assert.is(resolveGroups(parseObjectClass('EC_8P2G1'), pm), 1);
  assert.is(resolveGroups(parseObjectClass('S32'), pm), 32);
  assert.is(resolveGroups(parseObjectClass('EC_8P2GX'), pm), 12);
  assert.is(resolveGroups(parseObjectClass('SX'), pm), 128);
  assert.is(resolveGroups(parseObjectClass('RP_3GX'), pm), 42);
  assert.is(code(() => resolveGroups(parseObjectClass('EC_16P2G1'), 17)), 'INSUFFICIENT_TARGETS');
});

t('object ids carry type, class and group count in the high bits', () => {
  const r = new Rng(9);
  for (const name of OBJECT_CLASS_NAMES) {
    const lo = r.u64() | (BigInt(r.u32()) << 64n);
    const oid = makeObjectId(lo, name, { type: 3 });
    assert.is(objectClassOf(oid).name, name);
    assert.is(objectTypeOf(oid), 3);
    assert.is(objectUserPart(oid), lo);
    assert.is(objectGroupsOf(oid), 0);
    assert.ok(oid < 1n << 128n);
  }
  assert.is(objectGroupsOf(makeObjectId(1n, 'EC_4P2GX', { groups: 9 })), 9);
  assert.is(code(() => makeObjectId(-1n, 'S1')), 'INVALID_ARGUMENT');
  assert.is(code(() => makeObjectId(OID_USER_MAX + 1n, 'S1')), 'INVALID_ARGUMENT');
  assert.is(code(() => makeObjectId(1n, 'S1', { type: 256 })), 'INVALID_ARGUMENT');
  assert.is(code(() => makeObjectId(1n, 'EC_4P2G1', { groups: 2 })), 'INVALID_ARGUMENT');
  assert.is(code(() => makeObjectId(1n, 'nope')), 'UNKNOWN_OBJECT_CLASS');
  assert.is(code(() => objectClassOf(1n << 128n)), 'INVALID_ARGUMENT');
  assert.is(code(() => objectClassOf(-5n)), 'INVALID_ARGUMENT');
  assert.is(code(() => objectClassOf(123n)), 'UNKNOWN_OBJECT_CLASS'); // class bits 0
});

t('dkeyGroup: deterministic, in range, spread over groups, minimal movement when groups grow', () => {
  const enc = new TextEncoder();
  const counts = new Array(8).fill(0);
  let moved = 0;
  for (let i = 0; i < 8000; i++) {
    const k = enc.encode(`dkey-${i}`);
    const g = dkeyGroup(k, 8);
    assert.is(dkeyGroup(k, 8), g);
    counts[g]++;
    const g9 = dkeyGroup(k, 9);
    if (g9 !== g) { moved++; assert.is(g9, 8); }
  }
  for (const c of counts) assert.ok(Math.abs(c - 1000) < 150, `count ${c}`);
  assert.ok(moved > 600 && moved < 1200, `moved ${moved}`);
  assert.is(dkeyGroup(enc.encode('x'), 1), 0);
  assert.is(code(() => dkeyGroup(enc.encode('x'), 0)), 'INVALID_ARGUMENT');
  assert.is(code(() => dkeyGroup('x' as unknown as Uint8Array, 2)), 'INVALID_ARGUMENT');
});

t.run();
