/**
 * Writer of the snapshot / rollback / aggregation crash tests (crash-snapshots.test.ts,
 * crash-aggregate.test.ts): runs seeded operations on container `c` of the pool in argv[2] until
 * the parent kills it with SIGKILL, recording each one in the ledger file argv[3] before it starts
 * (`begin <op>`) and once it resolved (`ack <op>`), with synchronous writes, so nothing recorded
 * dies with the process. Operations (each one's number `n` counts up from argv[4], never reused):
 * `put n` (one transaction writing round n on the objects `touched(n)` names), `snap n <epoch>`
 * (snapshot `s<n>`), `destroy <name>`, `rollback <name>`, `aggregate`. argv[5] weights them
 * (`snapshots` or `aggregate`), argv[6] seeds the choice, argv[7] `durable` opens the pool durable.
 *
 * Also the model the parents check against: what each operation does to the objects' rounds.
 */
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { Pool } from '../../src/pool/pool.js';
import type { Container } from '../../src/object/handles.js';
import { ContainerStore } from '../../src/vos/container-store.js';
import { Rng } from '../../core/rng.js';
import { tmpDir, text } from '../helpers/tmp.js';
import { openLedger } from '../helpers/crash-writer.js';

/** Objects of the container, with their classes (replicated and EC, spread over the targets). */
export const OBJECTS: ReadonlyArray<readonly [string, string]> = Array.from({ length: 8 }, (_, i) => [`o${i}`, i % 2 === 0 ? 'RP_2G1' : 'EC_2P1G1'] as const);

/** Whether put `n` writes object `i`. */
export function touched(n: number, i: number): boolean { return (n + i) % 3 !== 0 || i === n % OBJECTS.length; }

/** The blob of round `n`: its length and every byte name the round. */
export function blobOf(n: number): Uint8Array {
  const v = new Uint8Array(1500 + (n % 5) * 700).fill(n & 0xff);
  new DataView(v.buffer).setUint32(0, n, true);
  return v;
}

/** Weights of put, snap, destroy, rollback, aggregate per mode. */
const WEIGHTS = { snapshots: [40, 20, 10, 20, 10], aggregate: [55, 10, 10, 0, 25] } as const;

/** The model: each object's round (0: never written) now and at each snapshot (with its epoch, once known). */
interface Model { state: number[]; snaps: Map<string, { epoch: bigint | undefined; state: number[] }> }

function cloneModel(m: Model): Model {
  return { state: [...m.state], snaps: new Map([...m.snaps].map(([k, v]) => [k, { epoch: v.epoch, state: [...v.state] }])) };
}

/** Apply a ledger operation (`put n`, `snap n [epoch]`, `destroy s`, `rollback s`, `aggregate`) to `m`. */
function apply(m: Model, op: string): void {
  const [kind, a, b] = op.split(' ');
  if (kind === 'put') { const n = Number(a); for (let i = 0; i < OBJECTS.length; i++) if (touched(n, i)) m.state[i] = n; }
  else if (kind === 'snap') m.snaps.set(`s${a}`, { epoch: b === undefined ? undefined : BigInt(b), state: [...m.state] });
  else if (kind === 'destroy') m.snaps.delete(a!);
  else if (kind === 'rollback') {
    const to = m.snaps.get(a!)!;
    m.state = [...to.state];
    for (const [k, v] of m.snaps) if (v.epoch! > to.epoch!) m.snaps.delete(k);
  } else if (kind !== 'aggregate') throw new Error(`unknown ledger op ${op}`);
}

/** Each object's round as read (at `snapshot`, or now); -1 marks a blob that is not its round's. */
async function readRounds(c: Container, snapshot?: string): Promise<number[]> {
  const out: number[] = [];
  for (const [name, oclass] of OBJECTS) {
    const o = c.object(name, { oclass });
    const opts = snapshot === undefined ? {} : { snapshot };
    const r = text(await o.fetch('d', 'round', opts));
    const blob = await o.fetch('d', 'blob', opts);
    if (r === undefined) { out.push(blob === undefined ? 0 : -1); continue; }
    const n = Number(r);
    out.push(blob !== undefined && Buffer.compare(Buffer.from(blob), Buffer.from(blobOf(n))) === 0 ? n : -1);
  }
  return out;
}

/** What differs between the container and `m` (empty: it is exactly `m`). */
async function differences(c: Container, m: Model): Promise<string[]> {
  const diffs: string[] = [];
  const now = await readRounds(c);
  if (now.join() !== m.state.join()) diffs.push(`now [${now}] expected [${m.state}]`);
  const listed = c.listSnapshots();
  const names = listed.map((s) => s.name).sort(), want = [...m.snaps.keys()].sort();
  if (names.join() !== want.join()) diffs.push(`snapshots [${names}] expected [${want}]`);
  for (const s of listed) {
    const w = m.snaps.get(s.name);
    if (w === undefined) continue;
    if (w.epoch !== undefined && w.epoch !== s.epoch) diffs.push(`snapshot ${s.name} at epoch ${s.epoch}, acknowledged at ${w.epoch}`);
    const got = await readRounds(c, s.name);
    if (got.join() !== w.state.join()) diffs.push(`snapshot ${s.name} reads [${got}] expected [${w.state}]`);
  }
  return diffs;
}

/** Most operations a writer begins before the one its kill is aimed at (a seeded 1..KILL_OP_MAX). */
const KILL_OP_MAX = 12;

/**
 * The sweep: a pool with container `c`, the writer killed with SIGKILL `rounds` times, each time
 * a seeded delay (at most `maxDelayMs`) after it began a seeded k-th operation (k <= KILL_OP_MAX),
 * or with `steps`, by itself at a seeded k-th store's discard / aggregation (CAIRN_CRASH_TRACE=1
 * prints how long each writer ran). Aimed at an operation, not at a time after the writer is
 * ready: timed from ready, the kills landed where the wall time goes, and on a loaded machine
 * that was aggregations alone (10 of 10 kills in one fresh-clone run). After each kill the pool is opened
 * here and must be exactly the model with the operation in flight either wholly done or not at
 * all; then a rollback to a snapshot and an aggregation here (acknowledged) must leave it
 * exactly the model again. A failure names the seed and round.
 */
export async function sweep(opts: { mode: 'snapshots' | 'aggregate'; seed: number; rounds: number; maxDelayMs: number; durable?: boolean; steps?: 'discard' | 'aggregate' }): Promise<{ kinds: Map<string, number> }> {
  const root = tmpDir();
  const dir = join(root, 'pool');
  const open = opts.durable === true ? { durable: true } : {};
  const p = await Pool.create(dir, { nodes: 4, ranksPerNode: 1, targetsPerRank: 2, scmBytes: 32 << 20, dataBytes: 128 << 20, ...open });
  await p.createContainer('c', { oclass: 'RP_2G1', cellSize: 1024 });
  await p.close();
  const rng = new Rng(opts.seed);
  const self = new URL(import.meta.url).pathname;
  let model: Model = { state: OBJECTS.map(() => 0), snaps: new Map() };
  let next = 1;
  const kinds = new Map<string, number>(); // (the kind of op each kill landed in)
  for (let round = 0; round < opts.rounds; round++) {
    const where = `seed ${opts.seed}${opts.steps ? ` (kills at a ${opts.steps} step)` : ''}, round ${round}`;
    const ledgerPath = join(root, `ledger-${round}`);
    const began = Date.now();
    const proc = spawn(process.execPath, ['--import', 'tsx', self, dir, ledgerPath, String(next), opts.mode, String(rng.u32()), opts.durable === true ? 'durable' : 'plain', ...(opts.steps ? [`${opts.steps}:${1 + rng.int(8)}`] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
    // (with `steps` the writer kills itself: the parent's kill, after maxDelayMs, only ends a writer that never got there)
    const drawn = rng.int(opts.maxDelayMs), delay = opts.steps ? opts.maxDelayMs : drawn;
    const aimOp = opts.steps ? 0 : 1 + rng.int(KILL_OP_MAX); // (0: timed from ready)
    await new Promise<void>((resolve, reject) => {
      // the writer prints `ready`, then `op` as it begins each operation
      let partial = '', ops = 0, timer: NodeJS.Timeout | undefined;
      proc.stdout.on('data', (d) => {
        if (timer !== undefined) return;
        partial += d;
        for (let nl = partial.indexOf('\n'); nl >= 0 && timer === undefined; nl = partial.indexOf('\n')) {
          const line = partial.slice(0, nl);
          partial = partial.slice(nl + 1);
          if (aimOp === 0 ? line === 'ready' : line === 'op' && ++ops === aimOp) timer = setTimeout(() => proc.kill('SIGKILL'), delay);
        }
      });
      // (the parent's kill is cleared once the writer is gone: a pending one kept this process alive for maxDelayMs after the last round)
      proc.on('exit', (_code, signal) => (clearTimeout(timer), signal === 'SIGKILL' ? resolve() : reject(new Error(`${where}: the writer exited on its own: ${/^error .*$/m.exec(fs.readFileSync(ledgerPath, 'utf8'))?.[0] ?? 'no error recorded'}`))));
    });
    if (process.env.CAIRN_CRASH_TRACE) console.log(`${where}: killed after ${Date.now() - began} ms`);
    // the ledger: every acknowledged op, and the one in flight
    let inflight: string | undefined;
    for (const line of fs.readFileSync(ledgerPath, 'utf8').split('\n')) {
      const m = /^(begin|ack) (.*)$/.exec(line);
      if (!m) continue;
      const nums = [...m[2]!.matchAll(/\b(\d+)\b/g)].map((x) => Number(x[1]));
      if (/^(put|snap) /.test(m[2]!)) next = Math.max(next, nums[0]! + 1);
      if (m[1] === 'begin') inflight = m[2];
      else { apply(model, m[2]!); inflight = undefined; }
    }
    kinds.set(inflight?.split(' ')[0] ?? 'none', (kinds.get(inflight?.split(' ')[0] ?? 'none') ?? 0) + 1);
    const pool = await Pool.open(dir, open);
    const c = await pool.openContainer('c');
    const candidates = [model];
    if (inflight !== undefined) {
      const done = cloneModel(model);
      const snapEpoch = /^snap (\d+)$/.exec(inflight) ? c.listSnapshots().find((s) => s.name === `s${inflight!.split(' ')[1]}`)?.epoch : undefined;
      apply(done, snapEpoch === undefined ? inflight : `${inflight} ${snapEpoch}`);
      candidates.push(done);
    }
    const found: string[] = [];
    let matched: Model | undefined;
    for (const cand of candidates) {
      const d = await differences(c, cand);
      if (d.length === 0) { matched = cand; break; }
      found.push(`${cand === model ? 'not done' : 'done'}: ${d.join('; ')}`);
    }
    assert.ok(matched, `${where}: after a kill in '${inflight ?? 'nothing'}', the container is neither state:\n  ${found.join('\n  ')}`);
    model = matched!;
    // the container goes on: a rollback and an aggregation here, then exactly the model again
    const names = [...model.snaps.keys()];
    if (names.length > 0) {
      const to = names[rng.int(names.length)]!;
      await c.rollback(to);
      apply(model, `rollback ${to}`);
    }
    await c.aggregate();
    const d = await differences(c, model);
    assert.is(d.join('; '), '', `${where}: after a rollback and an aggregation on reopen`);
    await pool.close();
  }
  return { kinds };
}

if (process.argv[2]) {
  const [dir, ledgerPath, startArg, mode, seedArg, durable] = process.argv.slice(2);
  const record = openLedger(ledgerPath!);
  // argv[8] `discard:k` / `aggregate:k`: kill this process as the k-th target store (k >= 1) starts
  // its discard / aggregation once ready, i.e. in the middle of a rollback / an aggregation
  const step = /^(discard|aggregate):(\d+)$/.exec(process.argv[8] ?? '');
  let armed = false;
  if (step) {
    const method = step[1] as 'discard' | 'aggregate', k = Number(step[2]);
    const inner = ContainerStore.prototype[method] as (...a: unknown[]) => Promise<unknown>;
    let calls = 0;
    (ContainerStore.prototype as unknown as Record<string, unknown>)[method] = function (this: ContainerStore, ...a: unknown[]) {
      if (armed && ++calls === k) { record(`step ${method} ${k}`); process.kill(process.pid, 'SIGKILL'); }
      return inner.apply(this, a);
    };
  }
  const pool = await Pool.open(dir!, durable === 'durable' ? { durable: true } : {});
  const c = await pool.openContainer('c');
  const rng = new Rng(Number(seedArg));
  const weights = WEIGHTS[mode as keyof typeof WEIGHTS];
  record('ready');
  armed = true;
  process.stdout.write('ready\n');
  for (let n = Number(startArg); ; n++) {
    const snaps = c.listSnapshots();
    let w = rng.int(100), kind = 0;
    while (w >= weights[kind]!) { w -= weights[kind]!; kind++; }
    if ((kind === 2 && snaps.length < 2) || (kind === 3 && snaps.length === 0)) kind = 0;
    if (snaps.length > 6) kind = 2;
    process.stdout.write('op\n'); // (the parent aims its kill at a seeded k-th operation; a pipe write is synchronous on Linux)
    if (kind === 0) {
      record(`begin put ${n}`);
      const tx = c.beginTx();
      for (let i = 0; i < OBJECTS.length; i++) {
        if (!touched(n, i)) continue;
        const o = tx.object(OBJECTS[i]![0], { oclass: OBJECTS[i]![1] });
        await o.update('d', 'round', String(n));
        await o.update('d', 'blob', blobOf(n));
      }
      await tx.commit();
      record(`ack put ${n}`);
    } else if (kind === 1) {
      record(`begin snap ${n}`);
      const s = await c.snapshot(`s${n}`);
      record(`ack snap ${n} ${s.epoch}`);
    } else if (kind === 2) {
      const name = snaps[rng.int(snaps.length)]!.name;
      record(`begin destroy ${name}`);
      await c.destroySnapshot(name);
      record(`ack destroy ${name}`);
    } else if (kind === 3) {
      const name = snaps[rng.int(snaps.length)]!.name;
      record(`begin rollback ${name}`);
      await c.rollback(name);
      record(`ack rollback ${name}`);
    } else {
      record('begin aggregate');
      await c.aggregate();
      record('ack aggregate');
    }
  }
}
