/**
 * Small EC single values stored whole, through a real pool (issue 14/15): single values below and
 * above EC_WHOLE_SINGLE_MAX_BYTES in EC_4P2G1 and EC_2P1G1 containers (parity rotation per dkey and
 * fixed roles) list, read, survive two targets of a group lost at once, and are rebuilt: every
 * position of the group is excluded in turn (two at a time for 4+2) and rebuilt, after which
 * only rebuilt shards hold the values, and every value reads back and lists. A history across the
 * threshold (whole, striped, punched) with a snapshot reads right, now and at the snapshot, after two
 * targets of the group are drained (their shards copied, not decoded) and two more excluded.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { Pool } from '../../src/pool/pool.js';
import { containerPort } from '../../src/container/container.js';
import { EC_WHOLE_SINGLE_MAX_BYTES } from '../../src/io/io.js';
import { Rng } from '../../core/rng.js';
import { tmpDir } from '../helpers/tmp.js';

const t = suite('io/ec-single-whole-pool');
const SHAPE = { nodes: 4, ranksPerNode: 2, targetsPerRank: 2, scmBytes: 16 << 20, dataBytes: 64 << 20 };
const dec = new TextDecoder();

for (const [oclass, p, rotation] of [['EC_4P2G1', 2, 'per-dkey'], ['EC_2P1G1', 1, undefined]] as const) {
  t(`${oclass} (rotation ${rotation ?? 'none'}): small and large singles list, read, and are rebuilt position by position`, async () => {
    const root = tmpDir('cairn-ec-whole-pool-');
    const pool = await Pool.create(join(root, 'pool'), SHAPE);
    try {
      const c = await pool.createContainer('c', { oclass, redundancyFactor: p, ...(rotation ? { parityRotation: rotation } : {}) });
      const o = c.object('obj');
      const rng = new Rng(oclass.length * 7 + p);
      const model = new Map<string, Uint8Array>();
      const sizes = [0, 1, 100, EC_WHOLE_SINGLE_MAX_BYTES, EC_WHOLE_SINGLE_MAX_BYTES + 1, 20_000];
      for (let d = 0; d < 12; d++) {
        for (const [i, n] of sizes.entries()) {
          if ((d + i) % 2 === 1) continue;
          const v = rng.bytes(n);
          await o.update(`d${d}`, `a${i}`, v);
          model.set(`d${d}/a${i}`, v);
        }
      }
      // overwrites across the threshold both ways
      for (let d = 0; d < 12; d += 3) {
        for (const [i, n] of [[0, 30_000], [4, 10]] as const) {
          const v = rng.bytes(n);
          await o.update(`d${d}`, `a${i}`, v);
          model.set(`d${d}/a${i}`, v);
        }
      }
      const check = async (what: string) => {
        for (const [k, want] of model) {
          const [d, a] = k.split('/') as [string, string];
          const got = await o.fetch(d, a);
          assert.ok(got instanceof Uint8Array && Buffer.from(got).equals(Buffer.from(want)), `${what}: ${k} (${want.length} B) reads back (${(got as Uint8Array | undefined)?.length} B)`);
        }
        const dkeys: string[] = [];
        for await (const d of o.listDkeys()) dkeys.push(dec.decode(d));
        assert.equal(dkeys.sort(), [...new Set([...model.keys()].map((k) => k.split('/')[0]!))].sort(), `${what}: dkeys list`);
        for (const d of ['d0', 'd3']) {
          const akeys: string[] = [];
          for await (const a of o.listAkeys(d)) akeys.push(dec.decode(a));
          assert.equal(akeys.sort(), [...model.keys()].filter((k) => k.startsWith(`${d}/`)).map((k) => k.split('/')[1]!).sort(), `${what}: akeys of ${d} list`);
        }
      };
      await check('healthy');
      const size = containerPort(c).layout(o.oid).groups[0]!.length;
      for (let pos = 0; pos < size; pos += p) {
        const group = containerPort(c).layout(o.oid).groups[0]!;
        const out = group.slice(pos, pos + p);
        await pool.exclude(out);
        await check(`positions ${pos}..${pos + p - 1} excluded, before their rebuild`);
        await pool.waitForRebuild();
        assert.equal(pool.rebuildStatus().lost, [], 'nothing lost');
        await check(`positions ${pos}..${pos + p - 1} rebuilt`);
      }
      await c.close();
    } finally {
      await pool.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
}

t('EC_4P2G1: a history across the threshold (whole, striped, punched) reads right now and at a snapshot after two targets are drained and two excluded', async () => {
  const root = tmpDir('cairn-ec-whole-drain-');
  const pool = await Pool.create(join(root, 'pool'), SHAPE);
  try {
    const c = await pool.createContainer('c', { oclass: 'EC_4P2G1', redundancyFactor: 2, parityRotation: 'per-dkey' });
    const o = c.object('hist');
    const rng = new Rng(77);
    const snap = new Map<string, Uint8Array | undefined>(), now = new Map<string, Uint8Array | undefined>();
    const put = async (k: string, n: number) => { const v = rng.bytes(n); await o.update(k, 'v', v); now.set(k, v); };
    for (let d = 0; d < 10; d++) await put(`d${d}`, d % 2 ? 200 : 9000);
    await c.snapshot('S');
    for (const [k, v] of now) snap.set(k, v);
    for (let d = 0; d < 10; d++) {
      if (d % 3 === 0) { await o.punchAkey(`d${d}`, 'v'); now.set(`d${d}`, undefined); } else await put(`d${d}`, d % 2 ? 9000 : 50);
    }
    const check = async (what: string) => {
      for (const [label, m, opts] of [['now', now, {}], ['snapshot', snap, { snapshot: 'S' }]] as const) {
        for (const [k, want] of m) {
          const got = await o.fetch(k, 'v', opts);
          if (want === undefined) assert.is(got, undefined, `${what} ${label}: ${k} punched`);
          else assert.ok(got instanceof Uint8Array && Buffer.from(got).equals(Buffer.from(want)), `${what} ${label}: ${k} (${want.length} B)`);
        }
      }
    };
    await check('healthy');
    const group = containerPort(c).layout(o.oid).groups[0]!;
    for (const t of group.slice(0, 2)) {
      await pool.drain(t);
      await pool.waitForRebuild();
      await check(`target ${t} drained`);
    }
    const after = containerPort(c).layout(o.oid).groups[0]!;
    await pool.exclude(after.slice(2, 4));
    await check('two more excluded, before their rebuild');
    await pool.waitForRebuild();
    assert.equal(pool.rebuildStatus().lost, [], 'nothing lost');
    await check('all rebuilt');
    await c.close();
  } finally {
    await pool.close();
    rmSync(root, { recursive: true, force: true });
  }
});

t.run();
