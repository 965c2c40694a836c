import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { initXxhash } from '../../core/xxhash.js';
import {
  parseObjectClass, formatObjectClass, objectClassById, resolveGroups, OBJECT_CLASS_NAMES, PoolMap, PlacementError,
  makeObjectId, objectClassOf, objectTypeOf, objectGroupsOf, objectUserPart, OID_USER_MAX, dkeyGroup, MAX_GROUP_SIZE,
  OBJECT_CLASS_IDS,
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

/**
 * The class ids of the first release, computed from the code before the id table was written down
 * (nested loops over striped, RP_2..16, EC shapes x groups 1..32, X). Stored object ids carry them:
 * they must never change. A new class appends a line to OBJECT_CLASS_IDS and to this list.
 */
const PINNED_CLASS_IDS = `
  S1=1 S2=2 S4=3 S8=4 S16=5 S32=6 SX=7
  RP_2G1=8 RP_2G2=9 RP_2G4=10 RP_2G8=11 RP_2G16=12 RP_2G32=13 RP_2GX=14
  RP_3G1=15 RP_3G2=16 RP_3G4=17 RP_3G8=18 RP_3G16=19 RP_3G32=20 RP_3GX=21
  RP_4G1=22 RP_4G2=23 RP_4G4=24 RP_4G8=25 RP_4G16=26 RP_4G32=27 RP_4GX=28
  RP_6G1=29 RP_6G2=30 RP_6G4=31 RP_6G8=32 RP_6G16=33 RP_6G32=34 RP_6GX=35
  RP_8G1=36 RP_8G2=37 RP_8G4=38 RP_8G8=39 RP_8G16=40 RP_8G32=41 RP_8GX=42
  RP_12G1=43 RP_12G2=44 RP_12G4=45 RP_12G8=46 RP_12G16=47 RP_12G32=48 RP_12GX=49
  RP_16G1=50 RP_16G2=51 RP_16G4=52 RP_16G8=53 RP_16G16=54 RP_16G32=55 RP_16GX=56
  EC_2P1G1=57 EC_2P1G2=58 EC_2P1G4=59 EC_2P1G8=60 EC_2P1G16=61 EC_2P1G32=62 EC_2P1GX=63
  EC_2P2G1=64 EC_2P2G2=65 EC_2P2G4=66 EC_2P2G8=67 EC_2P2G16=68 EC_2P2G32=69 EC_2P2GX=70
  EC_4P1G1=71 EC_4P1G2=72 EC_4P1G4=73 EC_4P1G8=74 EC_4P1G16=75 EC_4P1G32=76 EC_4P1GX=77
  EC_4P2G1=78 EC_4P2G2=79 EC_4P2G4=80 EC_4P2G8=81 EC_4P2G16=82 EC_4P2G32=83 EC_4P2GX=84
  EC_8P1G1=85 EC_8P1G2=86 EC_8P1G4=87 EC_8P1G8=88 EC_8P1G16=89 EC_8P1G32=90 EC_8P1GX=91
  EC_8P2G1=92 EC_8P2G2=93 EC_8P2G4=94 EC_8P2G8=95 EC_8P2G16=96 EC_8P2G32=97 EC_8P2GX=98
  EC_16P2G1=99 EC_16P2G2=100 EC_16P2G4=101 EC_16P2G8=102 EC_16P2G16=103 EC_16P2G32=104 EC_16P2GX=105
`.trim().split(/\s+/).map((kv) => { const [n, id] = kv.split('='); return [n!, Number(id)] as const; });

t('class ids are pinned: the written-down table equals the first release, line for line', () => {
  assert.is(PINNED_CLASS_IDS.length, 105);
  assert.equal(OBJECT_CLASS_IDS.slice(0, PINNED_CLASS_IDS.length).map(([n, id]) => [n, id]), PINNED_CLASS_IDS.map(([n, id]) => [n, id]));
  for (const [name, id] of PINNED_CLASS_IDS) {
    assert.is(parseObjectClass(name).id, id, name);
    assert.is(objectClassById(id).name, name);
    // the id really is what lands in bits 119..112 of an object id
    assert.is(Number((makeObjectId(5n, name) >> 112n) & 0xffn), id, name);
    assert.is(objectClassOf((BigInt(id) << 112n) | 5n).name, name);
  }
  // appended classes (if any) take fresh ids above the pinned ones, never reuse one
  const ids = OBJECT_CLASS_IDS.map(([, id]) => id);
  assert.is(new Set(ids).size, ids.length);
  for (const [, id] of OBJECT_CLASS_IDS.slice(PINNED_CLASS_IDS.length)) assert.ok(id > 105 && id <= 255);
  assert.equal(OBJECT_CLASS_NAMES, OBJECT_CLASS_IDS.map(([n]) => n));
  assert.ok(Object.isFrozen(OBJECT_CLASS_IDS) && Object.isFrozen(OBJECT_CLASS_IDS[0]));
});

t('class properties follow from the name in the table', () => {
  for (const [name] of OBJECT_CLASS_IDS) {
    const c = parseObjectClass(name);
    assert.is(c.groupSize, c.dataShards + c.parityShards, name);
    const m = /^(?:S(\d+|X)|RP_(\d+)G(\d+|X)|EC_(\d+)P(\d+)G(\d+|X))$/.exec(name)!;
    assert.ok(m, name);
    if (m[1]) assert.equal([c.kind, c.groupSize, String(c.groups)], ['striped', 1, m[1]]);
    if (m[2]) assert.equal([c.kind, c.replicas, c.groupSize, String(c.groups)], ['replicated', Number(m[2]), Number(m[2]), m[3]]);
    if (m[4]) assert.equal([c.kind, c.dataShards, c.parityShards, String(c.groups)], ['ec', Number(m[4]), Number(m[5]), m[6]]);
  }
});

t.run();
