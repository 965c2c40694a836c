/**
 * Model-based test of the object layer: thousands of random updates, array writes, punches,
 * transactions (committed and aborted), snapshots, rollbacks, aggregation and pool reopens over
 * many objects of different classes, checked against a plain in-memory model after every step.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { Pool } from '../../src/pool/pool.js';
import type { Container } from '../../src/object/handles.js';
import { Rng } from '../../core/rng.js';
import { tmpDir } from '../helpers/tmp.js';

const STEPS = Number(process.env.CAIRN_MODEL_STEPS ?? 3000);
const ARR = 6000;
const OBJECTS: Array<[string, string]> = [['s1', 'S1'], ['s2', 'S2'], ['rp2', 'RP_2G1'], ['rp3', 'RP_3G1'], ['ec21', 'EC_2P1G1'], ['ec42', 'EC_4P2G1']];
const DKEYS = ['d0', 'd1', 'd2', 'd3'];

type Val = { kind: 'single'; value: Uint8Array } | { kind: 'array'; bytes: Uint8Array };
type State = Map<string, Val>;

function cloneState(s: State): State {
  const out: State = new Map();
  for (const [k, v] of s) out.set(k, v.kind === 'single' ? v : { kind: 'array', bytes: v.bytes.slice() });
  return out;
}

const t = suite('model');

t(`${STEPS} random steps match the model (seeded)`, async () => {
  const dir = join(tmpDir(), 'pool');
  let pool = await Pool.create(dir, { nodes: 3, ranksPerNode: 2, targetsPerRank: 1, scmBytes: 32 << 20, dataBytes: 64 << 20 });
  let c: Container = await pool.createContainer('model', { oclass: 'RP_2G1', cellSize: 512 });
  const rng = new Rng(424242);
  let state: State = new Map();
  const snaps: Array<{ name: string; state: State }> = [];
  const obj = (i: number) => c.object(OBJECTS[i]![0], { oclass: OBJECTS[i]![1] });
  const key = (o: number, d: string, a: string) => `${o}|${d}|${a}`;

  type Handle = { update: Function; punchAkey: Function; punchDkey: Function; punch: Function };
  const randomOp = (s: State): { o: number; run: (h: Handle) => Promise<unknown> } => {
    const o = rng.int(OBJECTS.length), d = rng.pick(DKEYS);
    const op = pickOp(s, o, d);
    return { o, run: op };
  };
  const pickOp = (s: State, o: number, d: string): ((h: Handle) => Promise<unknown>) => {
    const r = rng.float();
    if (r < 0.4) {
      const a = rng.pick(['v', 'w']);
      const value = rng.bytes(rng.chance(0.2) ? 5000 + rng.int(20_000) : rng.int(200));
      s.set(key(o, d, a), { kind: 'single', value });
      return async (h: Handle) => h.update(d, a, value);
    }
    if (r < 0.8) {
      const off = rng.int(ARR - 1), len = 1 + rng.int(Math.min(1500, ARR - off));
      const data = rng.bytes(len);
      const k = key(o, d, 'arr');
      const cur = s.get(k);
      const bytes = cur?.kind === 'array' ? cur.bytes : new Uint8Array(ARR);
      bytes.set(data, off);
      s.set(k, { kind: 'array', bytes });
      return async (h: Handle) => h.update(d, 'arr', { recx: { index: off, count: len }, data });
    }
    if (r < 0.9) {
      const a = rng.pick(['v', 'w', 'arr']);
      s.delete(key(o, d, a));
      return async (h: Handle) => h.punchAkey(d, a);
    }
    if (r < 0.97) {
      for (const k of [...s.keys()]) if (k.startsWith(`${o}|${d}|`)) s.delete(k);
      return async (h: Handle) => h.punchDkey(d);
    }
    for (const k of [...s.keys()]) if (k.startsWith(`${o}|`)) s.delete(k);
    return async (h: Handle) => h.punch();
  };

  const check = async (s: State, read: { epoch?: bigint; snapshot?: string }, samples: number) => {
    for (let i = 0; i < samples; i++) {
      const o = rng.int(OBJECTS.length), d = rng.pick(DKEYS), a = rng.pick(['v', 'w', 'arr']);
      const m = s.get(key(o, d, a));
      if (a === 'arr') {
        const got = await obj(o).fetch(d, a, { ...read, recx: { index: 0, count: ARR } });
        assert.equal(got, m?.kind === 'array' ? m.bytes : new Uint8Array(ARR), `array ${key(o, d, a)}`);
      } else {
        const got = await obj(o).fetch(d, a, read);
        assert.equal(got, m?.kind === 'single' ? m.value : undefined, `single ${key(o, d, a)}`);
      }
    }
  };

  for (let step = 0; step < STEPS; step++) {
    const r = rng.float();
    if (r < 0.55) {
      const { o, run } = randomOp(state);
      await run(obj(o) as unknown as Handle);
    } else if (r < 0.7) {
      const tx = c.beginTx();
      const scratch = cloneState(state);
      const n = 1 + rng.int(4);
      for (let i = 0; i < n; i++) {
        const { o, run } = randomOp(scratch);
        await run(tx.object(OBJECTS[o]![0], { oclass: OBJECTS[o]![1] }) as unknown as Handle);
      }
      if (rng.chance(0.2)) await tx.abort();
      else { await tx.commit(); state = scratch; }
    } else if (r < 0.74) {
      const name = `s${step}`;
      await c.snapshot(name);
      snaps.push({ name, state: cloneState(state) });
    } else if (r < 0.76 && snaps.length) {
      const s = rng.pick(snaps);
      await check(s.state, { snapshot: s.name }, 4);
    } else if (r < 0.765 && snaps.length) {
      const i = rng.int(snaps.length);
      await c.rollback(snaps[i]!.name);
      state = cloneState(snaps[i]!.state);
      snaps.splice(i + 1);
    } else if (r < 0.78) {
      await c.aggregate();
    } else if (r < 0.79) {
      await pool.close();
      pool = await Pool.open(dir);
      c = await pool.openContainer('model');
    } else {
      await check(state, {}, 3);
    }
  }
  // Final full check, including every snapshot.
  for (let o = 0; o < OBJECTS.length; o++) for (const d of DKEYS) for (const a of ['v', 'w', 'arr']) {
    const m = state.get(key(o, d, a));
    if (a === 'arr') assert.equal(await obj(o).fetch(d, a, { recx: { index: 0, count: ARR } }), m?.kind === 'array' ? m.bytes : new Uint8Array(ARR));
    else assert.equal(await obj(o).fetch(d, a), m?.kind === 'single' ? m.value : undefined);
  }
  for (const s of snaps) await check(s.state, { snapshot: s.name }, 10);
  await pool.close();
});

t.run();
