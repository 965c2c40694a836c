import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { initXxhash, xxh64 } from '../../core/xxhash.js';
import { PoolMap, PlacementError, type PoolMapJSON } from '../../placement/index.js';

await initXxhash();
const t = suite('pool-map');

function code(f: () => unknown): string {
  try { f(); } catch (e) { assert.instance(e, PlacementError); return (e as PlacementError).code; }
  assert.unreachable('should throw');
  return '';
}

t('create: shape, ids in pool order, node and rank of each target', () => {
  const pm = PoolMap.create({ nodes: 3, ranksPerNode: 2, targetsPerRank: 4 });
  assert.is(pm.targets.length, 24);
  assert.is(pm.nodeCount, 3);
  assert.is(pm.rankCount, 6);
  assert.is(pm.version, 1);
  const t13 = pm.target(13);
  assert.equal({ id: t13.id, node: t13.node, rank: t13.rank, state: t13.state }, { id: 13, node: 1, rank: 3, state: 'UPIN' });
  assert.equal(t13.path, [1, 3]);
});

t('state transitions bump the version; illegal ones are refused', () => {
  const pm = PoolMap.create({ nodes: 2, ranksPerNode: 2, targetsPerRank: 2 });
  pm.exclude(3); assert.is(pm.target(3).state, 'DOWN'); assert.is(pm.version, 2);
  assert.is(code(() => pm.exclude(3)), 'INVALID_ARGUMENT');
  pm.markDownOut(3); assert.is(pm.target(3).state, 'DOWNOUT');
  pm.reintegrate(3); assert.is(pm.target(3).state, 'UP');
  pm.markUpIn(3); assert.is(pm.target(3).state, 'UPIN');
  pm.drain(4); assert.is(pm.target(4).state, 'DRAIN');
  assert.is(code(() => pm.markUpIn(4)), 'INVALID_ARGUMENT');
  pm.markDownOut(4); assert.is(pm.target(4).state, 'DOWNOUT');
  assert.is(pm.version, 7);
  assert.is(code(() => pm.exclude(8)), 'UNKNOWN_TARGET');
  assert.is(code(() => pm.target(-1)), 'UNKNOWN_TARGET');
  assert.is(code(() => pm.target(null as unknown as number)), 'INVALID_ARGUMENT', 'not a number: bad input, not an unknown target');
  assert.is(code(() => PoolMap.deserialize('map' as unknown as Uint8Array)), 'INVALID_ARGUMENT', 'not bytes: bad input, not corruption');
  pm.excludeRank(1);
  assert.equal([pm.target(2).state, pm.target(3).state], ['DOWN', 'DOWN']);
  assert.is(code(() => pm.excludeRank(4)), 'UNKNOWN_TARGET');
});

t('extend adds NEW targets of the same shape after the existing ids', () => {
  const pm = PoolMap.create({ nodes: 2, ranksPerNode: 3, targetsPerRank: 2 });
  const v = pm.version;
  const ids = pm.extend({ nodes: 2 });
  assert.equal(ids, Array.from({ length: 12 }, (_, i) => 12 + i));
  assert.is(pm.targets.length, 24);
  assert.is(pm.nodeCount, 4);
  assert.is(pm.rankCount, 12);
  assert.is(pm.target(23).state, 'NEW');
  assert.is(pm.target(23).node, 3);
  assert.is(pm.version, v + 1);
  pm.markUpIn(23);
  assert.is(pm.target(23).state, 'UPIN');
  assert.is(code(() => pm.extend({ nodes: 0 })), 'INVALID_ARGUMENT');
});

t('clone is independent; JSON round-trips (any depth)', () => {
  const pm = PoolMap.create({ nodes: 2, ranksPerNode: 2, targetsPerRank: 2 });
  const c = pm.clone();
  c.exclude(0);
  assert.is(pm.target(0).state, 'UPIN');
  const desc: PoolMapJSON = {
    version: 7, levels: ['rack', 'node', 'engine'], faultLevel: 'node',
    domains: [
      { name: 'r0', children: [{ children: [{ targets: [{ id: 0 }, { id: 1, state: 'DOWN' }] }] }, { children: [{ targets: [{ id: 2 }] }, { targets: [{ id: 3, state: 'NEW' }] }] }] },
      { name: 'r1', children: [{ children: [{ targets: [{ id: 4 }, { id: 5, state: 'DRAIN' }] }] }] },
    ],
  };
  const m = PoolMap.fromJSON(desc);
  assert.is(m.targets.length, 6);
  assert.is(m.faultLevelName, 'node');
  assert.is(m.domainCount(1), 3);
  assert.equal(m.target(3).path, [0, 1, 2]);
  assert.equal(PoolMap.fromJSON(m.toJSON()).toJSON(), m.toJSON());
  assert.is(m.toJSON().domains[0]!.targets, undefined);
});

t('invalid maps are refused with INVALID_ARGUMENT', () => {
  const base = (): PoolMapJSON => ({ version: 1, levels: ['node', 'rank'], domains: [{ children: [{ targets: [{ id: 0 }, { id: 1 }] }] }] });
  assert.ok(PoolMap.fromJSON(base()));
  const dup = base(); dup.domains[0]!.children![0]!.targets![1]!.id = 0;
  assert.is(code(() => PoolMap.fromJSON(dup)), 'INVALID_ARGUMENT');
  const gap = base(); gap.domains[0]!.children![0]!.targets![1]!.id = 5;
  assert.is(code(() => PoolMap.fromJSON(gap)), 'INVALID_ARGUMENT');
  const emptyRank = base(); emptyRank.domains[0]!.children!.push({ targets: [] });
  assert.is(code(() => PoolMap.fromJSON(emptyRank)), 'INVALID_ARGUMENT');
  const emptyNode = base(); emptyNode.domains.push({ children: [] });
  assert.is(code(() => PoolMap.fromJSON(emptyNode)), 'INVALID_ARGUMENT');
  const state = base(); (state.domains[0]!.children![0]!.targets![0] as { state: string }).state = 'SLEEPY';
  assert.is(code(() => PoolMap.fromJSON(state)), 'INVALID_ARGUMENT');
  assert.is(code(() => PoolMap.fromJSON({ ...base(), domains: [] })), 'INVALID_ARGUMENT');
  assert.is(code(() => PoolMap.fromJSON({ ...base(), faultLevel: 'rack' })), 'INVALID_ARGUMENT');
  assert.is(code(() => PoolMap.fromJSON({ ...base(), levels: [] })), 'INVALID_ARGUMENT');
  assert.is(code(() => PoolMap.fromJSON({ ...base(), version: -1 })), 'INVALID_ARGUMENT');
  assert.is(code(() => PoolMap.fromJSON(null as unknown as PoolMapJSON)), 'INVALID_ARGUMENT');
  const deep = base(); (deep.domains[0]! as { targets: unknown }).targets = [{ id: 9 }];
  assert.is(code(() => PoolMap.fromJSON(deep)), 'INVALID_ARGUMENT');
  assert.is(code(() => PoolMap.create({ nodes: 0, ranksPerNode: 1, targetsPerRank: 1 })), 'INVALID_ARGUMENT');
});

t('serialize round-trips; every single bit flip is detected as CORRUPTED', () => {
  const pm = PoolMap.create({ nodes: 2, ranksPerNode: 2, targetsPerRank: 3 });
  pm.exclude(4); pm.drain(7);
  const bytes = pm.serialize();
  assert.is(new TextDecoder().decode(bytes.subarray(0, 4)), 'CPMP');
  const back = PoolMap.deserialize(bytes);
  assert.equal(back.toJSON(), pm.toJSON());
  assert.is(back.version, pm.version);
  for (let bit = 0; bit < bytes.length * 8; bit++) {
    const b = bytes.slice();
    b[bit >> 3]! ^= 1 << (bit & 7);
    assert.is(code(() => PoolMap.deserialize(b)), 'CORRUPTED', `bit ${bit}`);
  }
  assert.is(code(() => PoolMap.deserialize(bytes.subarray(0, bytes.length - 1))), 'CORRUPTED');
  assert.is(code(() => PoolMap.deserialize(new Uint8Array(3))), 'CORRUPTED');
});

t('heterogeneous pools: blocks of nodes, target weights, domain weights; the first block is the placement base', () => {
  const pm = PoolMap.create([{ nodes: 2, ranksPerNode: 2, targetsPerRank: 4 }, { nodes: 1, ranksPerNode: 2, targetsPerRank: 2, targetWeight: 0.5 }]);
  assert.is(pm.targets.length, 20);
  assert.is(pm.nodeCount, 3);
  assert.equal(Array.from(pm.domainWeights(0)), [8, 8, 2]);
  assert.equal(Array.from(pm.domainWeights(1)), [4, 4, 4, 4, 1, 1]);
  assert.is(pm.targetWeights[19], 0.5);
  assert.is(pm.baseTargets, 16);
  assert.ok(pm.hasPlacementBase);
  const json = pm.toJSON();
  assert.equal(json.placement, { baseTargets: 16, layoutVersion: 4, extents: [16] });
  assert.is(json.domains[2]!.children![0]!.targets![0]!.weight, 0.5);
  assert.is(json.domains[0]!.children![0]!.targets![0]!.weight, undefined, 'weight 1 is not written');
  const back = PoolMap.fromJSON(json);
  assert.equal(back.toJSON(), json);
  assert.equal(PoolMap.deserialize(pm.serialize()).toJSON(), json);
  // format 5 for maps with layout rules 4, 4 for rules 3, 3 for rules 2, 2 for maps with a base or
  // weights (an older release must refuse them), 1 otherwise
  const fmt = (m: PoolMap) => new DataView(m.serialize().buffer).getUint16(4, true);
  assert.is(fmt(pm), 5);
  const plain = PoolMap.create({ nodes: 2, ranksPerNode: 1, targetsPerRank: 2 });
  assert.is(fmt(plain), 1);
  const weighted = PoolMap.fromJSON({ ...plain.toJSON(), domains: [{ children: [{ targets: [{ id: 0, weight: 2 }] }] }] });
  assert.is(fmt(weighted), 2);
  plain.extend({ nodes: 1 });
  assert.is(fmt(plain), 5);
  const v3 = PoolMap.fromJSON({ ...plain.toJSON(), placement: { baseTargets: 4, layoutVersion: 3, extents: [4] } });
  assert.is(fmt(v3), 4, 'a map extended under rules 3 keeps format 4');
  assert.is(PoolMap.deserialize(v3.serialize()).layoutVersion, 3);
  assert.equal(PoolMap.deserialize(v3.serialize()).extents, [4]);
  const v2 = PoolMap.fromJSON({ ...plain.toJSON(), placement: { baseTargets: 4, layoutVersion: 2 } });
  assert.is(fmt(v2), 3, 'a map extended under rules 2 keeps format 3');
  assert.is(PoolMap.deserialize(v2.serialize()).layoutVersion, 2);
  const v1 = PoolMap.fromJSON({ ...plain.toJSON(), placement: { baseTargets: 4 } });
  assert.is(fmt(v1), 2, 'a map extended under the first rules keeps format 2');
  assert.is(PoolMap.deserialize(v1.serialize()).layoutVersion, 1);
});

t('layout rules: recorded at the first extension, kept by later ones; maps extended before the field keep rules 1', () => {
  const fresh = PoolMap.create({ nodes: 2, ranksPerNode: 2, targetsPerRank: 2 });
  assert.is(fresh.layoutVersion, 4, 'a map never extended lays out alike under every rule set');
  assert.equal(fresh.extents, []);
  fresh.extend({ nodes: 1 });
  assert.equal(fresh.toJSON().placement, { baseTargets: 8, layoutVersion: 4, extents: [8] });
  fresh.extend({ nodes: 1 });
  assert.is(fresh.layoutVersion, 4);
  assert.equal(fresh.extents, [8, 12], 'rules 3 and 4 record the size before every extension');
  // a map on rules 3 stays on rules 3 and keeps recording extents
  const three = PoolMap.fromJSON({ ...PoolMap.create({ nodes: 3, ranksPerNode: 2, targetsPerRank: 2 }).toJSON(), placement: { baseTargets: 8, layoutVersion: 3, extents: [8] } });
  three.extend({ nodes: 1 });
  assert.equal(three.toJSON().placement, { baseTargets: 8, layoutVersion: 3, extents: [8, 12] });
  assert.equal(PoolMap.deserialize(fresh.serialize()).extents, [8, 12]);
  // a map on rules 2 stays on rules 2 (no extents recorded: its lifts keep the rules-2 seed)
  const two = PoolMap.fromJSON({ ...PoolMap.create({ nodes: 3, ranksPerNode: 2, targetsPerRank: 2 }).toJSON(), placement: { baseTargets: 8, layoutVersion: 2 } });
  two.extend({ nodes: 2 });
  assert.equal(two.toJSON().placement, { baseTargets: 8, layoutVersion: 2 });
  assert.equal(two.extents, []);
  // extents: only with rules 3, starting at the base, increasing, on node boundaries
  const ok = fresh.toJSON();
  for (const ex of [[4, 12], [8, 8], [8, 6], [8, 13], [8, 20], [], 'x', [8, 12.5]]) {
    assert.is(code(() => PoolMap.fromJSON({ ...ok, placement: { baseTargets: 8, layoutVersion: 3, extents: ex as number[] } })), 'INVALID_ARGUMENT', JSON.stringify(ex));
  }
  assert.is(code(() => PoolMap.fromJSON({ ...ok, placement: { baseTargets: 8, layoutVersion: 2, extents: [8] } })), 'INVALID_ARGUMENT', 'extents need rules 3 or 4');
  assert.equal(PoolMap.fromJSON({ ...ok, placement: { baseTargets: 8, layoutVersion: 3 } }).extents, [8], 'absent extents = the base');
  const old = PoolMap.fromJSON({ ...PoolMap.create({ nodes: 3, ranksPerNode: 2, targetsPerRank: 2 }).toJSON(), placement: { baseTargets: 8 } });
  assert.is(old.layoutVersion, 1);
  old.extend({ nodes: 1 });
  assert.is(old.layoutVersion, 1, 'an extension keeps the rules the pool was laid out with');
  assert.is(old.toJSON().placement?.layoutVersion, undefined);
  assert.is(PoolMap.deserialize(old.serialize()).layoutVersion, 1);
  // a format newer than this build reads is FORMAT_VERSION (checksum valid), not CORRUPTED
  const bytes = fresh.serialize();
  new DataView(bytes.buffer).setUint16(4, 6, true);
  const len = bytes.length - 8;
  new DataView(bytes.buffer).setBigUint64(len, xxh64(bytes.subarray(0, len)), true);
  assert.is(code(() => PoolMap.deserialize(bytes)), 'FORMAT_VERSION');
  for (const v of [0, 5, 1.5, '2']) {
    assert.is(code(() => PoolMap.fromJSON({ ...old.toJSON(), placement: { baseTargets: 8, layoutVersion: v as number } })), 'INVALID_ARGUMENT', String(v));
  }
});

t('a map never extended has no placement base (all base, as maps written before it existed); the first extension records it', () => {
  const pm = PoolMap.create({ nodes: 2, ranksPerNode: 2, targetsPerRank: 2 });
  assert.not.ok(pm.hasPlacementBase);
  assert.is(pm.baseTargets, 8);
  assert.is(pm.toJSON().placement, undefined);
  pm.extend({ nodes: 1 });
  assert.is(pm.baseTargets, 8);
  assert.equal(pm.toJSON().placement, { baseTargets: 8, layoutVersion: 4, extents: [8] });
  pm.extend({ nodes: 2, ranksPerNode: 1, targetsPerRank: 3, targetWeight: 2 });
  assert.is(pm.baseTargets, 8, 'later extensions keep the base');
  assert.is(pm.targets.length, 18);
  assert.is(pm.targetWeights[17], 2);
  // a copy of the last node keeps its weight
  pm.extend({ nodes: 1 });
  assert.is(pm.targetWeights[20], 2);
});

t('bad weights and bases are refused with INVALID_ARGUMENT', () => {
  const base = (): PoolMapJSON => ({ version: 1, levels: ['node', 'rank'], domains: [{ children: [{ targets: [{ id: 0 }, { id: 1 }] }] }, { children: [{ targets: [{ id: 2 }] }] }] });
  for (const w of [0, -1, Infinity, NaN, 1e7, '2']) {
    const d = base(); (d.domains[0]!.children![0]!.targets![0] as { weight: unknown }).weight = w;
    assert.is(code(() => PoolMap.fromJSON(d)), 'INVALID_ARGUMENT', String(w));
  }
  for (const b of [0, 4, 1.5, -2, null]) assert.is(code(() => PoolMap.fromJSON({ ...base(), placement: { baseTargets: b as number } })), 'INVALID_ARGUMENT', String(b));
  assert.is(code(() => PoolMap.fromJSON({ ...base(), placement: { baseTargets: 1 } })), 'INVALID_ARGUMENT', 'a base must end on a node boundary');
  assert.ok(PoolMap.fromJSON({ ...base(), placement: { baseTargets: 2 } }));
  assert.is(code(() => PoolMap.create([])), 'INVALID_ARGUMENT');
  assert.is(code(() => PoolMap.create({ nodes: 2, ranksPerNode: 1, targetsPerRank: 1 }).extend({ nodes: 1, targetWeight: 0 })), 'INVALID_ARGUMENT');
});

t.run();
