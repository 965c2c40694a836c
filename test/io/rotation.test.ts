/**
 * Parity rotation in the data path (issue 17): in a container with `parityRotation: 'per-dkey'`
 * (the default for new containers) the roles of an EC group's shards rotate with the dkey, so
 * parity writes spread over every shard of the group; reads, degraded reads, partial-stripe
 * writes and rebuild stay right; a container without the property (as every container created
 * before it existed) keeps data on positions 0..k-1 and parity on k..k+p-1. Real pools and files.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { Pool } from '../../src/pool/pool.js';
import { containerPort } from '../../src/container/container.js';
import { unitOid } from '../../src/io/shard-store.js';
import { dkeyRotation, roleShards } from '../../src/io/io.js';
import { dkeyGroup } from '../../placement/index.js';
import { Rng } from '../../core/rng.js';
import { tmpDir } from '../helpers/tmp.js';

const t = suite('parity rotation');
const SHAPE = { nodes: 4, ranksPerNode: 2, targetsPerRank: 2, scmBytes: 16 << 20, dataBytes: 64 << 20 };
const CELL = 4096;
const K = 4, P = 2, GS = K + P;
/** Array chunk (dkey) size: 8 stripes, so shard values live in the data file (above the inline threshold). */
const CHUNK = 128 * 1024;
type Cont = Awaited<ReturnType<Pool['createContainer']>>;

/** Per layout position of the object's group: the shard-local extents each position holds for `dkey`. */
async function extentsByPosition(c: Cont, name: string, dkey: string, akey: string): Promise<Array<Array<{ index: number; count: number }>>> {
  const port = containerPort(c);
  const oid = c.object(name).oid;
  const { groups } = port.layout(oid);
  const d = new TextEncoder().encode(dkey), a = new TextEncoder().encode(akey);
  const g = dkeyGroup(d, groups.length);
  const out: Array<Array<{ index: number; count: number }>> = [];
  for (let pos = 0; pos < GS; pos++) {
    const store = await port.io().store(groups[g]![pos]!);
    const xs: Array<{ index: number; count: number }> = [];
    for await (const x of store.listRecx((1n << 64n) - 1n, unitOid(oid, g * GS + pos), d, a)) xs.push({ index: x.index, count: x.count });
    out.push(xs);
  }
  return out;
}

t('parity writes spread over every shard of a group (rotation on); fixed on the last p shards with rotation off', async () => {
  const root = tmpDir('cairn-rot-spread-');
  const pool = await Pool.create(join(root, 'pool'), SHAPE);
  try {
    const rot = await pool.createContainer('rot', { oclass: 'EC_4P2G1', cellSize: CELL });
    const fixed = await pool.createContainer('fixed', { oclass: 'EC_4P2G1', cellSize: CELL, parityRotation: 'none' });
    assert.is(rot.props.parityRotation, 'per-dkey', 'new containers rotate by default');
    assert.is(fixed.props.parityRotation, undefined, "'none' stores no property, like containers made before rotation");
    const DKEYS = 240;
    const small = new Uint8Array(100).fill(7); // touches data cell 0 of stripe 0, and every parity cell
    for (const [c, label] of [[rot, 'rot'], [fixed, 'fixed']] as const) {
      const parityAt = new Array(GS).fill(0), writesAt = new Array(GS).fill(0), dataAt = new Array(GS).fill(0);
      const obj = c.object('spread');
      for (let i = 0; i < DKEYS; i++) await obj.update(`d${i}`, 'a', { recx: { index: 0, count: small.length }, data: small });
      for (let i = 0; i < DKEYS; i++) {
        const byPos = await extentsByPosition(c, 'spread', `d${i}`, 'a');
        let parity = 0, data = 0;
        byPos.forEach((xs, pos) => {
          if (xs.length === 0) return;
          writesAt[pos]++;
          assert.is(xs.length, 1, `${label} d${i} position ${pos}: one extent`);
          if (xs[0]!.count === CELL) { parityAt[pos]++; parity++; } else { assert.is(xs[0]!.count, small.length); dataAt[pos]++; data++; }
        });
        assert.is(parity, P, `${label} d${i}: p parity shards written`);
        assert.is(data, 1, `${label} d${i}: one data shard written`);
      }
      if (label === 'fixed') {
        assert.equal(parityAt, [0, 0, 0, 0, DKEYS, DKEYS], 'fixed roles: parity on positions k..k+p-1');
        assert.equal(dataAt, [DKEYS, 0, 0, 0, 0, 0], 'fixed roles: data cell 0 on position 0');
      } else {
        // Every position takes parity writes, each near its fair share p/(k+p) of the dkeys.
        const fair = (DKEYS * P) / GS;
        for (let pos = 0; pos < GS; pos++) {
          assert.ok(parityAt[pos] > 0.6 * fair && parityAt[pos] < 1.4 * fair, `position ${pos} took ${parityAt[pos]} parity writes, fair share ${fair}: ${parityAt.join(',')}`);
          assert.ok(writesAt[pos] > 0.6 * (DKEYS * (P + 1)) / GS, `position ${pos}: ${writesAt[pos]} writes`);
        }
        // And it is exactly the documented permutation: role i on position (i + r) mod (k + p).
        const port = containerPort(c);
        const { groups } = port.layout(c.object('spread').oid);
        for (let i = 0; i < 20; i++) {
          const d = new TextEncoder().encode(`d${i}`);
          const r = dkeyRotation(port.io(), { kind: 'ec', dataShards: K, parityShards: P, groupSize: GS }, d);
          const roles = roleShards(groups, 0, r);
          const byPos = await extentsByPosition(c, 'spread', `d${i}`, 'a');
          assert.is(byPos[(0 + r) % GS]![0]!.count, small.length, `d${i}: data cell 0 at position r = ${r}`);
          assert.is(roles[0]!.shard, (0 + r) % GS);
          for (let j = 0; j < P; j++) assert.is(byPos[(K + j + r) % GS]![0]!.count, CELL, `d${i}: parity ${j} at position (k + ${j} + r) mod 6`);
        }
      }
    }
  } finally {
    await pool.close();
    rmSync(root, { recursive: true, force: true });
  }
});

/** What the container should hold: arrays (by name) and single values (by `name/dkey`). */
interface Expect { arrays: Map<string, Uint8Array>; singles: Map<string, Uint8Array> }

async function writeMix(c: Cont, m: Expect, rng: Rng, rounds: number): Promise<void> {
  for (let r = 0; r < rounds; r++) {
    for (const name of ['a0', 'a1']) {
      // Unaligned spans crossing cells, stripes and chunks: partial-stripe read-modify-write.
      const off = rng.int(200 * 1024), len = 1 + rng.int(100 * 1024);
      const data = rng.bytes(len);
      await c.array(name, { chunkSize: CHUNK }).write(off, data);
      const cur = m.arrays.get(name) ?? new Uint8Array(0);
      const next = new Uint8Array(Math.max(cur.length, off + len));
      next.set(cur); next.set(data, off);
      m.arrays.set(name, next);
    }
    for (let i = 0; i < 6; i++) {
      const v = rng.bytes(1 + rng.int(20_000));
      await c.object('s').update(`d${i}`, 'v', v);
      m.singles.set(`s/d${i}`, v);
    }
  }
}

async function verifyMix(c: Cont, m: Expect, what: string): Promise<void> {
  for (const [name, want] of m.arrays) {
    const got = await c.array(name, { chunkSize: CHUNK }).read(0, want.length);
    assert.ok(Buffer.compare(Buffer.from(got), Buffer.from(want)) === 0, `${what}: array ${name} reads back`);
    // Reads of sub-ranges land straight in their place of the output too.
    const off = 5000, len = Math.min(150_000, want.length - off);
    const part = await c.array(name, { chunkSize: CHUNK }).read(off, len);
    assert.ok(Buffer.compare(Buffer.from(part), Buffer.from(want.subarray(off, off + len))) === 0, `${what}: array ${name} sub-range`);
  }
  for (const [k, want] of m.singles) {
    const [obj, dkey] = k.split('/');
    const got = await c.object(obj!).fetch(dkey!, 'v');
    assert.ok(got && Buffer.compare(Buffer.from(got), Buffer.from(want)) === 0, `${what}: ${k} reads back`);
  }
}

t('rotation on: reads, degraded reads (two targets gone, bit flips), partial-stripe writes while degraded, then rebuild', async () => {
  const root = tmpDir('cairn-rot-degraded-');
  const dir = join(root, 'pool');
  let pool = await Pool.create(dir, SHAPE);
  try {
    let c = await pool.createContainer('c', { oclass: 'EC_4P2G1', redundancyFactor: 2, cellSize: CELL });
    const m: Expect = { arrays: new Map(), singles: new Map() };
    const rng = new Rng(17);
    await writeMix(c, m, rng, 4);
    await verifyMix(c, m, 'healthy');
    // Flip bits in one target of the arrays' group: the scatter reads must catch them (checksum) and decode.
    const group = containerPort(c).layout(c.object('a0').oid).groups[0]!;
    await pool.close();
    const { openSync, readSync, writeSync, closeSync, statSync } = await import('node:fs');
    const f = join(dir, 'targets', String(group[1]), 'vos.data');
    const fd = openSync(f, 'r+');
    const buf = Buffer.alloc(4096);
    let flipped = 0;
    for (let off = 0; off + 4096 <= Math.min(statSync(f).size, 32 << 20); off += 4096) {
      readSync(fd, buf, 0, 4096, off);
      if (buf.every((b) => b === 0)) continue;
      buf[rng.int(4096)]! ^= 0x10;
      writeSync(fd, buf, 0, 4096, off);
      flipped++;
    }
    closeSync(fd);
    assert.ok(flipped > 0, 'some data blocks were flipped');
    pool = await Pool.open(dir);
    c = await pool.openContainer('c');
    await verifyMix(c, m, 'one target corrupted');
    // Two targets of the group gone entirely (p = 2): reads decode, partial writes read-modify-write degraded.
    await pool.close();
    for (const tg of [group[1]!, group[4]!]) rmSync(join(dir, 'targets', String(tg)), { recursive: true, force: true });
    pool = await Pool.open(dir);
    c = await pool.openContainer('c');
    await verifyMix(c, m, 'two targets gone');
    // Exclude them (writes then skip them; the rebuild onto spares decodes with rotated roles)
    // and write at once: partial-stripe writes read their old stripes degraded.
    await pool.exclude(group[1]!);
    await pool.exclude(group[4]!);
    await writeMix(c, m, rng, 2);
    await verifyMix(c, m, 'written while degraded');
    await pool.waitForRebuild();
    assert.is(pool.rebuildStatus().lost.length, 0);
    await verifyMix(c, m, 'after rebuild');
    await pool.close();
    pool = await Pool.open(dir);
    c = await pool.openContainer('c');
    await verifyMix(c, m, 'after rebuild and reopen');
  } finally {
    await pool.close();
    rmSync(root, { recursive: true, force: true });
  }
});

t('a container without the property (made before rotation) reads as before: fixed roles, after reopen too', async () => {
  const root = tmpDir('cairn-rot-old-');
  const dir = join(root, 'pool');
  let pool = await Pool.create(dir, SHAPE);
  try {
    let c = await pool.createContainer('old', { oclass: 'EC_4P2G1', cellSize: CELL, parityRotation: 'none' });
    assert.ok(!('parityRotation' in c.props), 'no property recorded');
    const m: Expect = { arrays: new Map(), singles: new Map() };
    await writeMix(c, m, new Rng(5), 3);
    await pool.close();
    pool = await Pool.open(dir);
    c = await pool.openContainer('old');
    assert.ok(!('parityRotation' in c.props), 'still none after reopen');
    await verifyMix(c, m, 'old container');
    // Whole stripes of chunk 0: data cell c on position c, parity on k..k+p-1, for every dkey.
    for (let chunk = 0; chunk < 3; chunk++) {
      const dkey = new Uint8Array(8);
      new DataView(dkey.buffer).setBigUint64(0, BigInt(chunk), false);
      const port = containerPort(c);
      const oid = c.array('a0', { chunkSize: CHUNK }).object.oid;
      const { groups } = port.layout(oid);
      for (let pos = 0; pos < GS; pos++) {
        const store = await port.io().store(groups[0]![pos]!);
        const xs: number[] = [];
        for await (const x of store.listRecx((1n << 64n) - 1n, unitOid(oid, pos), dkey, new Uint8Array([0x30]))) xs.push(x.count);
        if (pos >= K && xs.length) assert.ok(xs.every((n) => n % CELL === 0), `chunk ${chunk}: position ${pos} holds parity (whole cells)`);
      }
    }
    // Rebuild of an old container keeps fixed roles.
    const group = containerPort(c).layout(c.object('s').oid).groups[0]!;
    await pool.exclude(group[2]!);
    await pool.waitForRebuild();
    await verifyMix(c, m, 'old container after rebuild');
  } finally {
    await pool.close();
    rmSync(root, { recursive: true, force: true });
  }
});

t("createContainer refuses a parityRotation other than 'per-dkey' or 'none'", async () => {
  const root = tmpDir('cairn-rot-arg-');
  const pool = await Pool.create(join(root, 'pool'), SHAPE);
  try {
    try {
      await pool.createContainer('x', { oclass: 'EC_4P2G1', parityRotation: 'sideways' as never });
      assert.unreachable('accepted a bad parityRotation');
    } catch (err) {
      assert.is((err as { code?: string }).code, 'INVALID_ARGUMENT');
    }
  } finally {
    await pool.close();
    rmSync(root, { recursive: true, force: true });
  }
});

t.run();
