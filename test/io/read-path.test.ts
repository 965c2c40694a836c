/**
 * The EC read path's cached lookups (issue 14) answer what a fresh computation would:
 *
 * - `roleShards` keeps its role lists per layout (groups array): the same (group, rotation) gives
 *   the same members as computing them anew, a rotation or group gives its own, and a group edited
 *   in place is recomputed, never answered from the old list;
 * - the store keeps, per run, the array versions of the last akey read (record size and visible
 *   extents share one seek) and the last akey's probes: reads that alternate akeys, objects and
 *   epochs over several runs, after a discard (a tombstone not yet merged) and across a reopen,
 *   return the version each epoch sees, never the one the previous read saw.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { VosTarget } from '../../src/vos/target.js';
import { groupShards, roleShards } from '../../src/io/io.js';
import { rolePositions } from '../../placement/index.js';
import { initXxhash } from '../../core/xxhash.js';
import { Rng } from '../../core/rng.js';
import { tmpDir } from '../helpers/tmp.js';

const t = suite('EC read path caches');
const enc = (s: string) => new TextEncoder().encode(s);

/** Role order computed from scratch (what `roleShards` must return). */
function rolesFresh(groups: number[][], g: number, rotation: number): Array<{ shard: number; target: number }> {
  const members = groupShards(groups, g);
  if (rotation === 0) return members;
  const pos = rolePositions(rotation, members.length);
  return members.map((_, role) => members[pos[role]!]!);
}

t('roleShards: cached per layout, equal to a fresh computation for every group and rotation, recomputed when a group changes', () => {
  const groups = [[10, 11, 12, 13, 14, 15], [20, 21, 22, 23, 24, 25]];
  for (let g = 0; g < groups.length; g++) {
    for (let r = 0; r < 6; r++) {
      const a = roleShards(groups, g, r);
      assert.equal(a.map((x) => ({ ...x })), rolesFresh(groups, g, r), `group ${g} rotation ${r}`);
      assert.ok(roleShards(groups, g, r) === a, 'the second call is answered from the cache');
    }
  }
  assert.not.equal(roleShards(groups, 0, 1).map((x) => x.target), roleShards(groups, 0, 2).map((x) => x.target));
  assert.not.equal(roleShards(groups, 0, 1).map((x) => x.target), roleShards(groups, 1, 1).map((x) => x.target));
  // A group edited in place is not answered from the list cached for its old members.
  const before = roleShards(groups, 1, 3);
  groups[1]![2] = 99;
  const after = roleShards(groups, 1, 3);
  assert.ok(after !== before);
  assert.equal(after.map((x) => ({ ...x })), rolesFresh(groups, 1, 3));
  assert.ok(after.some((x) => x.target === 99));
  // Another layout with the same numbers has its own entry and the same answer.
  const copy = groups.map((x) => [...x]);
  assert.equal(roleShards(copy, 1, 3).map((x) => ({ ...x })), after.map((x) => ({ ...x })));
  // Cached lists cannot be changed by a caller.
  assert.ok(Object.isFrozen(after) && Object.isFrozen(after[0]));
});

t('store reads across runs: alternating akeys, objects and epochs, a discard and a reopen see the right version', async () => {
  await initXxhash();
  const root = tmpDir('cairn-readpath-vos-');
  const opts = { dataBytes: 16 << 20, scmBytes: 16 << 20 };
  const n = 8192;
  const rng = new Rng(14);
  const v1 = rng.bytes(n), v2 = rng.bytes(n), v3 = rng.bytes(n), b1 = rng.bytes(n), o1 = rng.bytes(n);
  try {
    const dir = join(root, 'vos');
    let v = await VosTarget.open(dir, opts);
    const d = enc('chunk-0');
    // run 1: akey a v1 @1, akey b @1, object 8 akey a @1
    await v.updateArray(1n, 7n, d, enc('a'), { index: 0, count: n }, v1);
    await v.updateArray(1n, 7n, d, enc('b'), { index: 0, count: n }, b1);
    await v.updateArray(1n, 8n, d, enc('a'), { index: 0, count: n }, o1);
    await v.close();
    v = await VosTarget.open(dir, opts); // clean close flushed: one run
    // run 2: akey a v2 @3
    await v.updateArray(3n, 7n, d, enc('a'), { index: 0, count: n }, v2);
    await v.close();
    v = await VosTarget.open(dir, opts);
    // memtable: akey a v3 @5
    await v.updateArray(5n, 7n, d, enc('a'), { index: 0, count: n }, v3);
    const read = async (epoch: bigint, oid: bigint, akey: string): Promise<Uint8Array> => {
      const into = new Uint8Array(n).fill(0xee);
      await v.fetchArrayInto(epoch, oid, d, enc(akey), { index: 0, count: n }, [into]);
      return into;
    };
    const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
    // Alternate epochs, akeys and objects so every read follows one that cached something else.
    const plan: Array<[bigint, bigint, string, Uint8Array]> = [
      [1n, 7n, 'a', v1], [1n, 7n, 'b', b1], [2n, 7n, 'a', v1], [3n, 7n, 'a', v2], [1n, 8n, 'a', o1],
      [4n, 7n, 'a', v2], [3n, 7n, 'b', b1], [5n, 7n, 'a', v3], [1n, 7n, 'a', v1], [9n, 8n, 'a', o1], [9n, 7n, 'a', v3],
    ];
    for (const [epoch, oid, akey, want] of plan) assert.ok(same(await read(epoch, oid, akey), want), `epoch ${epoch} oid ${oid} akey ${akey}`);
    // fetchArray agrees (it shares the cached run answers).
    assert.ok(same((await v.fetchArray(4n, 7n, d, enc('a'), { index: 0, count: n })).data, v2));
    // Discard epochs 2..5 (a tombstone over runs that are cached): a then reads v1 at every epoch.
    await v.discard(1n, 5n);
    for (const e of [1n, 3n, 5n, 9n]) assert.ok(same(await read(e, 7n, 'a'), v1), `after discard, epoch ${e}`);
    assert.ok(same(await read(9n, 7n, 'b'), b1));
    await v.close();
    v = await VosTarget.open(dir, opts);
    for (const e of [1n, 5n]) assert.ok(same(await read(e, 7n, 'a'), v1), `after reopen, epoch ${e}`);
    assert.ok(same(await read(5n, 8n, 'a'), o1));
    await v.close();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

t.run();
