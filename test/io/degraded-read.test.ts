/**
 * EC array reads with a data target known to be down (src/io/io.ts `fetchDegraded`): the read is
 * degraded from the start. Specification, on in-memory shard stores that log when each read starts:
 *
 * - one round: the data roles that are up and as many parity roles as data roles are down start
 *   together (no read starts after another has answered), k shard reads in all;
 * - every range (inside a cell, across cells and stripes, whole stripes) reads the model's bytes,
 *   with a caller buffer (`into`, returned) and without;
 * - a parity role that fails in that round is replaced by the next parity role (a second round),
 *   and the failure is reported; more roles down than parity is DATA_LOST.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { planArray, fetchArray, roleShards, dkeyRotation, type IoContext, type Redundancy } from '../../src/io/io.js';
import type { Recx, ShardStore } from '../../src/io/shard-store.js';
import { createCodec } from '../../ec/index.js';
import { CairnError } from '../../core/errors.js';
import { Rng } from '../../core/rng.js';

const t = suite('io/degraded-read');
const enc = (s: string) => new TextEncoder().encode(s);
const D = enc('dkey'), A = enc('akey'), OID = 0x5an;
const K = 4, P = 2, CELL = 4096, SIZE = 20 * K * CELL + 777;

/** What the stores saw: per shard read, how many reads had answered when it started. */
interface Log { done: number; startedAfter: number[]; reads: number }

/** An in-memory array shard store (holes read as zeros) whose reads answer on a later turn. */
class MemArrayStore {
  private bytes = new Map<bigint, Uint8Array>();
  failReads = false;
  constructor(private readonly log: Log) {}
  async updateArray(_e: bigint, oid: bigint, _d: Uint8Array, _a: Uint8Array, recx: Recx, data: Uint8Array): Promise<void> {
    let b = this.bytes.get(oid) ?? new Uint8Array(0);
    if (b.length < recx.index + recx.count) { const g = new Uint8Array(recx.index + recx.count); g.set(b); b = g; this.bytes.set(oid, b); }
    b.set(data.subarray(0, recx.count), recx.index);
  }
  async fetchArray(_e: bigint, oid: bigint, _d: Uint8Array, _a: Uint8Array, recx: Recx): Promise<{ data: Uint8Array; present: Recx[] }> {
    this.log.startedAfter.push(this.log.done);
    this.log.reads++;
    await new Promise((r) => setImmediate(r));
    this.log.done++;
    if (this.failReads) throw new CairnError('CHECKSUM_MISMATCH', 'damaged shard (test)');
    const b = this.bytes.get(oid) ?? new Uint8Array(0);
    const data = new Uint8Array(recx.count);
    if (recx.index < b.length) data.set(b.subarray(recx.index, Math.min(b.length, recx.index + recx.count)));
    return { data, present: [] };
  }
}

interface World { ctx: IoContext; stores: MemArrayStore[]; down: Set<number>; reported: number[]; log: Log; red: Redundancy; groups: number[][]; model: Uint8Array }

async function world(): Promise<World> {
  const log: Log = { done: 0, startedAfter: [], reads: 0 };
  const stores = Array.from({ length: K + P }, () => new MemArrayStore(log));
  const down = new Set<number>();
  const reported: number[] = [];
  const codec = createCodec({ dataShards: K, parityShards: P });
  const ctx: IoContext = {
    store: async (target) => stores[target]! as unknown as ShardStore,
    available: (target) => !down.has(target),
    codec: () => codec,
    cellSize: CELL,
    reportBadShard: (b) => { reported.push(b.target); },
  };
  const red: Redundancy = { kind: 'ec', dataShards: K, parityShards: P, groupSize: K + P };
  const groups = [Array.from({ length: K + P }, (_, i) => i)];
  const model = new Rng(9).bytes(SIZE);
  const plan = await planArray(ctx, red, groups, 0, OID, D, A, 0, model);
  for (const s of plan) await s.apply(stores[s.target]! as unknown as ShardStore, { epoch: 1n });
  plan.release?.();
  return { ctx, stores, down, reported, log, red, groups, model };
}

/** Target of each role (data roles first) for the test's dkey. */
function targetsOfRoles(w: World): number[] {
  return roleShards(w.groups, 0, dkeyRotation(w.ctx, w.red, D)).map((r) => r.target);
}

function read(w: World, offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
  w.log.done = 0; w.log.startedAfter = []; w.log.reads = 0;
  return fetchArray(w.ctx, w.red, w.groups, 0, OID, D, A, offset, length, 5n, into);
}

t('a data target down: whole stripes read in one round of k shard reads, byte for byte', async () => {
  const w = await world();
  const roles = targetsOfRoles(w);
  for (let dataRole = 0; dataRole < K; dataRole++) {
    w.down.clear();
    w.down.add(roles[dataRole]!);
    const got = await read(w, 2 * K * CELL, 3 * K * CELL);
    assert.ok(Buffer.from(got).equals(Buffer.from(w.model.subarray(2 * K * CELL, 5 * K * CELL))), `data role ${dataRole} down`);
    assert.is(w.log.reads, K, 'k shard reads: the data roles up and one parity role');
    assert.ok(w.log.startedAfter.every((n) => n === 0), `one round (started after: ${w.log.startedAfter.join(',')})`);
  }
});

t('two data targets down (p = 2): one round, both parity roles read beside the data roles', async () => {
  const w = await world();
  const roles = targetsOfRoles(w);
  w.down.add(roles[0]!); w.down.add(roles[3]!);
  const got = await read(w, 0, 4 * K * CELL);
  assert.ok(Buffer.from(got).equals(Buffer.from(w.model.subarray(0, 4 * K * CELL))));
  assert.is(w.log.reads, K);
  assert.ok(w.log.startedAfter.every((n) => n === 0), 'one round');
});

t('random ranges read the model with a data target down, into a caller buffer and not', async () => {
  const w = await world();
  const roles = targetsOfRoles(w);
  const rng = new Rng(4);
  for (let i = 0; i < 120; i++) {
    w.down.clear();
    w.down.add(roles[rng.int(K)]!);
    const off = rng.int(SIZE - 1);
    const len = 1 + rng.int(Math.min(SIZE - off, i % 2 === 0 ? CELL : 6 * K * CELL) - 1 || 1);
    const want = Buffer.from(w.model.subarray(off, off + len));
    assert.ok(Buffer.from(await read(w, off, len)).equals(want), `[${off}, +${len})`);
    const into = new Uint8Array(len).fill(0xa5);
    const back = await read(w, off, len, into);
    assert.is(back, into, 'the caller buffer is the result');
    assert.ok(Buffer.from(into).equals(want), `into [${off}, +${len})`);
  }
});

t('a parity role failing in the first round is replaced by the next one, and reported', async () => {
  const w = await world();
  const roles = targetsOfRoles(w);
  w.down.add(roles[1]!);
  w.stores[roles[K]!]!.failReads = true; // the first parity role: read in the first round, fails
  const got = await read(w, K * CELL, K * CELL);
  assert.ok(Buffer.from(got).equals(Buffer.from(w.model.subarray(K * CELL, 2 * K * CELL))));
  assert.is(w.log.reads, K + 1, 'one more read: the second parity role');
  assert.is(w.log.startedAfter.filter((n) => n > 0).length, 1, 'the second parity role starts after the first round answered');
  assert.equal(w.reported, [roles[K]!], 'the failed parity shard is reported');
});

t('more data and parity roles down than parity: DATA_LOST', async () => {
  const w = await world();
  const roles = targetsOfRoles(w);
  w.down.add(roles[0]!); w.down.add(roles[1]!); w.down.add(roles[K]!);
  try {
    await read(w, 0, K * CELL);
    assert.unreachable('a read with k - 1 pieces left must fail');
  } catch (e) {
    assert.is((e as CairnError).code, 'DATA_LOST');
  }
});

t.run();
