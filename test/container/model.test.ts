/**
 * Model-based test of the object layer: thousands of random updates, array writes, punches,
 * transactions (committed and aborted), snapshots, rollbacks, aggregation and pool reopens over
 * many objects of different classes, checked against a plain in-memory model after every step:
 * values, and the dkey and akey listings (now and at snapshots). Some steps run several updates
 * at once on different objects, or on different dkeys of one object, which commute, so the model
 * applies them in any order. A second run does the same on a durable pool.
 *
 * With `CAIRN_TEST_CONNECTED=1` (test/engine/model-connected.test.ts) the same steps run against
 * a connected pool of six `cairn engine` processes and a real etcd, through two clients (every
 * step through either, so a read must see the other client's commits acknowledged before it
 * began, a write land above them, and aggregation keep its snapshots; `CAIRN_MODEL_CLIENTS=1`: one);
 * a reopen connects a new client, and some steps SIGKILL an engine and restart it on its directories.
 *
 * Seeded: `CAIRN_MODEL_SEED` replaces the default seed (the durable run takes seed + 1; the
 * connected run, a file of its own, the seed itself), so a failure replays its steps exactly (their
 * timing may differ) and a sweep over seeds covers new ground.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { Pool } from '../../src/pool/pool.js';
import type { Container } from '../../src/object/handles.js';
import { Rng } from '../../core/rng.js';
import { tmpDir } from '../helpers/tmp.js';
import { CONNECTED } from '../helpers/pool-under-test.js';
import { Cluster } from '../helpers/cluster.js';

const STEPS = Number(process.env.CAIRN_MODEL_STEPS ?? 3000);
const SEED = Number(process.env.CAIRN_MODEL_SEED ?? 424242);
/** Steps of the durable run (its group syncs make each step dearer). */
const DURABLE_STEPS = Math.ceil(STEPS / 2);
/** Steps of the connected run (each a round trip or more to the engines). */
const CONNECTED_STEPS = Math.ceil(STEPS / 2);
const SIZES = { scmBytes: 32 << 20, dataBytes: 64 << 20 };
/** Share of the connected run's steps that SIGKILL an engine and start it again. */
const RESTART_SHARE = 0.003;
/**
 * Clients of the connected run (`CAIRN_MODEL_CLIENTS`, 1 or 2, default 2): with two, every step
 * (updates, transactions, reads, snapshots, rollbacks, aggregation) goes through either, so the
 * steps check what one client sees of the other's: freshness, snapshots, rollbacks
 * (the faults it found: a snapshot that missed the other client's commit, a write that landed
 * below the other client's acknowledged write; docs/scale.md, "Freshness").
 */
const CLIENTS = Number(process.env.CAIRN_MODEL_CLIENTS ?? 2);
/** Events a failure message shows (`CAIRN_MODEL_TRAIL`). */
const TRAIL = Number(process.env.CAIRN_MODEL_TRAIL ?? 16);
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

const AKEYS = ['arr', 'v', 'w']; // (byte order)
const text = (k: Uint8Array) => Buffer.from(k).toString('utf8');
async function collect(it: AsyncIterable<Uint8Array>): Promise<string[]> {
  const out: string[] = [];
  for await (const k of it) out.push(text(k));
  return out;
}

const t = suite('model');

/** The pool a run works on: how it is reopened, and (connected) how an engine is killed and restarted. */
interface Harness {
  label: string;
  pool: Pool;
  /** A second client of the same pool (connected): updates, transactions and reads "now" go through either. */
  other?: Pool;
  reopen(): Promise<Pool>;
  restart?(i: number): Promise<void>;
  close(): Promise<void>;
}

/** Six ranks of one target each, embedded (`durable` at create and at every reopen). */
async function embedded(durable: boolean): Promise<Harness> {
  const dir = join(tmpDir(), 'pool');
  const h: Harness = {
    label: durable ? 'durable' : 'embedded',
    pool: await Pool.create(dir, { nodes: 3, ranksPerNode: 2, targetsPerRank: 1, ...SIZES, durable }),
    reopen: async () => { await h.pool.close(); h.pool = await Pool.open(dir, { durable }); return h.pool; },
    close: () => h.pool.close(),
  };
  return h;
}

/** Six engines of one target each and etcd; a reopen is a new client. */
async function connected(): Promise<Harness> {
  const cluster = await Cluster.start({ engines: 6, targetsPerEngine: 1, leaseTtl: 5, excludeDelayMs: 60_000, scmBytes: `${SIZES.scmBytes >> 20}M`, dataBytes: `${SIZES.dataBytes >> 20}M` });
  const h: Harness = {
    label: 'connected',
    pool: await cluster.connect(),
    ...(CLIENTS > 1 ? { other: await cluster.connect() } : {}),
    reopen: async () => { await h.pool.close(); h.pool = await cluster.connect(); return h.pool; },
    restart: async (i) => { await cluster.kill(i); await cluster.startEngine(i); },
    close: async () => { await h.pool.close(); await h.other?.close(); await cluster.stop(); },
  };
  return h;
}

async function run(seed: number, steps: number, h: Harness): Promise<void> {
  let pool = h.pool;
  let c: Container = await pool.createContainer('model', { oclass: 'RP_2G1', cellSize: 512 });
  const c2: Container | undefined = h.other ? await h.other.openContainer('model') : undefined;
  const rng = new Rng(seed);
  /** The client a step goes through: either, when there are two. */
  const client = (): Container => (c2 !== undefined && rng.chance(0.5) ? c2 : c);
  /** How a step's note names the client it went through (nothing for the first). */
  const by = (on: Container) => (on === c ? '' : ' (other client)');
  // (the seed to rerun with: the durable run's is CAIRN_MODEL_SEED + 1)
  const where = (step: number) => `seed ${seed} (CAIRN_MODEL_SEED=${SEED}) ${h.label} step ${step}`;
  let step = 0;
  let state: State = new Map();
  const snaps: Array<{ name: string; state: State }> = [];
  const obj = (i: number, on: Container = c) => on.object(OBJECTS[i]![0], { oclass: OBJECTS[i]![1] });
  const key = (o: number, d: string, a: string) => `${o}|${d}|${a}`;
  /** What the run did, for a failure's message: `[step, what, key prefix it touched ('' for all)]`. */
  const events: Array<[number, string, string]> = [];
  let via = '';
  const note = (what: string, prefix = '') => { events.push([step, via + what, prefix]); if (events.length > 4096) events.splice(0, 2048); };
  /** The last events that touched `k` (or every key). */
  const trail = (k: string) => '\n    ' + events.filter(([, , p]) => k.startsWith(p)).slice(-TRAIL).map(([s, w, p]) => `${s} ${w} ${p}`).join('\n    ');

  type Handle = { update: Function; punchAkey: Function; punchDkey: Function; punch: Function };
  const randomOp = (s: State): { o: number; run: (h: Handle) => Promise<unknown> } => {
    const o = rng.int(OBJECTS.length), d = rng.pick(DKEYS);
    const op = pickOp(s, o, d, true);
    return { o, run: op };
  };
  /** A random update of `o`/`d` applied to `s`; `wholeObject`: it may punch all of `o`. */
  const pickOp = (s: State, o: number, d: string, wholeObject: boolean): ((h: Handle) => Promise<unknown>) => {
    const r = rng.float();
    if (r < 0.4) {
      const a = rng.pick(['v', 'w']);
      const value = rng.bytes(rng.chance(0.2) ? 5000 + rng.int(20_000) : rng.int(200));
      s.set(key(o, d, a), { kind: 'single', value });
      note(`update ${value.length} B`, key(o, d, a));
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
      note(`write [${off}, ${off + len})`, k);
      return async (h: Handle) => h.update(d, 'arr', { recx: { index: off, count: len }, data });
    }
    if (r < 0.9) {
      const a = rng.pick(['v', 'w', 'arr']);
      s.delete(key(o, d, a));
      note('punch akey', key(o, d, a));
      return async (h: Handle) => h.punchAkey(d, a);
    }
    if (r < 0.97 || !wholeObject) {
      for (const k of [...s.keys()]) if (k.startsWith(`${o}|${d}|`)) s.delete(k);
      note('punch dkey', `${o}|${d}|`);
      return async (h: Handle) => h.punchDkey(d);
    }
    for (const k of [...s.keys()]) if (k.startsWith(`${o}|`)) s.delete(k);
    note('punch object', `${o}|`);
    return async (h: Handle) => h.punch();
  };

  const check = async (s: State, read: { epoch?: bigint; snapshot?: string }, samples: number) => {
    for (let i = 0; i < samples; i++) {
      const o = rng.int(OBJECTS.length), d = rng.pick(DKEYS), a = rng.pick(['v', 'w', 'arr']);
      // (either client: one reads at a snapshot the other took as soon as it is named)
      const on = client();
      const m = s.get(key(o, d, a));
      if (a === 'arr') {
        const got = await obj(o, on).fetch(d, a, { ...read, recx: { index: 0, count: ARR } });
        assert.equal(got, m?.kind === 'array' ? m.bytes : new Uint8Array(ARR), `${where(step)} ${JSON.stringify(read)}: array ${key(o, d, a)}${trail(key(o, d, a))}`);
      } else {
        const got = await obj(o, on).fetch(d, a, read);
        assert.equal(got, m?.kind === 'single' ? m.value : undefined, `${where(step)} ${JSON.stringify(read)}: single ${key(o, d, a)}${trail(key(o, d, a))}`);
      }
    }
  };
  /** The dkeys of `o` (those with an akey) and the akeys of `d` the model holds, in byte order. */
  const modelDkeys = (s: State, o: number) => DKEYS.filter((d) => AKEYS.some((a) => s.has(key(o, d, a))));
  const modelAkeys = (s: State, o: number, d: string) => AKEYS.filter((a) => s.has(key(o, d, a)));
  const checkLists = async (s: State, read: { snapshot?: string }, label: string) => {
    const o = rng.int(OBJECTS.length), d = rng.pick(DKEYS);
    const on = client();
    assert.equal(await collect(obj(o, on).listDkeys(read)), modelDkeys(s, o), `${where(step)} ${label}: dkeys of ${OBJECTS[o]![0]}`);
    assert.equal(await collect(obj(o, on).listAkeys(d, read)), modelAkeys(s, o, d), `${where(step)} ${label}: akeys of ${OBJECTS[o]![0]}/${d}`);
  };
  /**
   * Updates that commute, issued at once: on different objects, or on different dkeys of one
   * object (no whole-object punch then), each applied to the model as it is drawn.
   */
  const concurrentOps = async () => {
    const n = 2 + rng.int(3);
    const runs: Array<Promise<unknown>> = [];
    if (rng.chance(0.5)) {
      const os = [...OBJECTS.keys()].sort(() => rng.float() - 0.5).slice(0, n);
      for (const o of os) { const op = pickOp(state, o, rng.pick(DKEYS), true); runs.push(op(obj(o, client()) as unknown as Handle)); }
    } else {
      const o = rng.int(OBJECTS.length);
      for (const d of DKEYS.slice().sort(() => rng.float() - 0.5).slice(0, n)) { const op = pickOp(state, o, d, false); runs.push(op(obj(o, client()) as unknown as Handle)); }
    }
    await Promise.all(runs);
  };

  for (; step < steps; step++) {
    try {
      await oneStep();
    } catch (err) {
      // (an error of the library, not an assertion: where it happened and what came before; an
      // assertion (uvu's carry a `code` too) keeps its expected and actual values)
      if ((err as { code?: string }).code === undefined || err instanceof assert.Assertion) throw err;
      throw new Error(`${where(step)}: ${(err as Error).message}; snapshots ${snaps.map((x) => x.name).join(' ')}${trail('')}`, { cause: err });
    }
  }
  async function oneStep(): Promise<void> {
    const r = rng.float();
    if (r < 0.08) {
      via = 'at once: ';
      await concurrentOps();
      via = '';
    } else if (r < 0.55) {
      const { o, run } = randomOp(state);
      await run(obj(o, client()) as unknown as Handle);
    } else if (r < 0.7) {
      const on = client();
      const scratch = cloneState(state);
      const n = 1 + rng.int(4);
      const abort = rng.chance(0.2);
      via = abort ? 'tx aborted: ' : 'tx: ';
      const ops = Array.from({ length: n }, () => randomOp(scratch));
      via = '';
      // (TX_RESTART is an optimistic transaction's answer to a conflict, also a seeming one: with
      // two clients, a commit of the other's whose epoch is above this one's read epoch; run again)
      for (let attempt = 1; ; attempt++) {
        const tx = on.beginTx();
        try {
          for (const { o, run } of ops) await run(tx.object(OBJECTS[o]![0], { oclass: OBJECTS[o]![1] }) as unknown as Handle);
          if (abort) await tx.abort();
          else { await tx.commit(); state = scratch; }
          break;
        } catch (err) {
          if ((err as { code?: string }).code !== 'TX_RESTART' || attempt >= 5) throw err;
          note(`tx restarted (${attempt})`);
        }
      }
    } else if (r < 0.74) {
      const name = `s${step}`, on = client();
      const { epoch } = await on.snapshot(name);
      note(`snapshot ${name} at ${epoch}${by(on)}`);
      snaps.push({ name, state: cloneState(state) });
    } else if (r < 0.76 && snaps.length) {
      const s = rng.pick(snaps);
      await check(s.state, { snapshot: s.name }, 4);
      await checkLists(s.state, { snapshot: s.name }, `snapshot ${s.name}`);
    } else if (r < 0.765 && snaps.length) {
      const i = rng.int(snaps.length), on = client();
      await on.rollback(snaps[i]!.name);
      note(`rollback to ${snaps[i]!.name}${by(on)}`);
      state = cloneState(snaps[i]!.state);
      snaps.splice(i + 1);
    } else if (r < 0.78) {
      const on = client();
      await on.aggregate();
      note(`aggregate${by(on)}`);
    } else if (r < 0.79) {
      pool = await h.reopen();
      c = await pool.openContainer('model');
      note('reopen');
    } else if (r < 0.79 + RESTART_SHARE && h.restart) {
      const i = rng.int(6);
      await h.restart(i);
      note(`engine ${i} killed and restarted`);
    } else if (r < 0.83) {
      await checkLists(state, {}, 'now');
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
  for (let o = 0; o < OBJECTS.length; o++) {
    assert.equal(await collect(obj(o).listDkeys()), modelDkeys(state, o), `${where(step)} final: dkeys of ${OBJECTS[o]![0]}`);
    for (const d of DKEYS) assert.equal(await collect(obj(o).listAkeys(d)), modelAkeys(state, o, d), `${where(step)} final: akeys of ${OBJECTS[o]![0]}/${d}`);
  }
  for (const s of snaps) { await check(s.state, { snapshot: s.name }, 10); await checkLists(s.state, { snapshot: s.name }, `final snapshot ${s.name}`); }
}

/** `run` on the harness `make` gives, closed afterwards whatever happens. */
async function runOn(make: () => Promise<Harness>, seed: number, steps: number): Promise<void> {
  const h = await make();
  try { await run(seed, steps, h); } finally { await h.close(); }
}

if (CONNECTED) {
  t(`${CONNECTED_STEPS} random steps on a connected pool, engines killed and restarted, match the model (seed ${SEED})`, () => runOn(connected, SEED, CONNECTED_STEPS));
} else {
  t(`${STEPS} random steps match the model (seed ${SEED})`, () => runOn(() => embedded(false), SEED, STEPS));
  t(`${DURABLE_STEPS} random steps on a durable pool match the model (seed ${SEED + 1})`, () => runOn(() => embedded(true), SEED + 1, DURABLE_STEPS));
}

t.run();
