/**
 * Small EC single values stored whole (issue 14/15, the DAOS way): a value of at most
 * EC_WHOLE_SINGLE_MAX_BYTES is written whole to data role 0 and the p parity roles (p + 1 shard
 * writes instead of k + p) and a healthy get reads role 0 alone (1 shard read instead of k, and no
 * promise when role 0's store has it at hand). Checked on in-memory multi-version shard stores:
 *
 * - counts: shard writes per put and shard reads per get, whole and striped;
 * - values striped by older builds (piece format 1, also small ones) still read;
 * - degraded reads: any p roles down or damaged, at every epoch of a history that overwrites
 *   small -> large -> small, punches and writes again, read the model's value (a newer striped
 *   value is never hidden by an older whole one, nor the reverse), with rotation 0 and others;
 *   p + 1 holders lost is DATA_LOST;
 * - rebuild: `ecRebuildSinglePiece` gives every role what it held (a whole copy, a decoded striped
 *   piece, nothing for the other data roles of a whole value, absent when nothing is there).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { planSingle, fetchSingle, fetchSingleNow, roleShards, dkeyRotation, ecRebuildSinglePiece, EC_PIECE_HEADER, EC_WHOLE_SINGLE_MAX_BYTES, type IoContext, type Redundancy } from '../../src/io/io.js';
import { unitOid, type ShardStore } from '../../src/io/shard-store.js';
import { createCodec } from '../../ec/index.js';
import { CairnError } from '../../core/errors.js';
import { initXxhash } from '../../core/xxhash.js';
import { Rng } from '../../core/rng.js';

import { VersionedSingles } from './versioned-singles.js';

const t = suite('io/ec-single-whole');
t.before(async () => { await initXxhash(); });
const enc = (s: string) => new TextEncoder().encode(s);
const D = enc('dkey'), A = enc('akey'), OID = 0x77n;

/** An in-memory shard store keeping every version of every single value (undefined value: a punch). */
class MemStore extends VersionedSingles {
  writes = 0; reads = 0; damaged = false;
  async updateSingle(epoch: bigint, oid: bigint, d: Uint8Array, a: Uint8Array, value: Uint8Array): Promise<void> { this.writes++; this.put(epoch, oid, d, a, value); }
  async punchAkey(epoch: bigint, oid: bigint, d: Uint8Array, a: Uint8Array): Promise<void> { this.writes++; this.put(epoch, oid, d, a, undefined); }
  async fetchSingle(epoch: bigint, oid: bigint, d: Uint8Array, a: Uint8Array): Promise<Uint8Array | undefined> { return this.fetchSingleNow(epoch, oid, d, a); }
  fetchSingleNow(epoch: bigint, oid: bigint, d: Uint8Array, a: Uint8Array): Uint8Array | undefined {
    this.reads++;
    if (this.damaged) throw new CairnError('CHECKSUM_MISMATCH', 'damaged shard (test)');
    return this.visible(epoch, oid, d, a);
  }
}

interface World { ctx: IoContext; stores: MemStore[]; down: Set<number>; reported: number[]; red: Redundancy; groups: number[][] }

function world(k: number, p: number, opts: { sync?: boolean; rotation?: 'per-dkey' } = {}): World {
  const n = k + p;
  const stores = Array.from({ length: n }, () => new MemStore());
  const down = new Set<number>();
  const reported: number[] = [];
  const codec = createCodec({ dataShards: k, parityShards: p });
  const ctx: IoContext = {
    store: async (target) => stores[target]! as unknown as ShardStore,
    storeNow: opts.sync ? (target) => stores[target]! as unknown as ShardStore : undefined,
    syncReads: opts.sync === true,
    available: (target) => !down.has(target),
    codec: () => codec,
    cellSize: 4096,
    reportBadShard: (b) => { reported.push(b.target); },
    ...(opts.rotation ? { parityRotation: opts.rotation } : {}),
  };
  return { ctx, stores, down, reported, red: { kind: 'ec', dataShards: k, parityShards: p, groupSize: n }, groups: [Array.from({ length: n }, (_, i) => i)] };
}

async function put(w: World, value: Uint8Array, epoch: bigint, dkey = D): Promise<number> {
  const plan = planSingle(w.ctx, w.red, w.groups, 0, OID, dkey, A, value, epoch);
  for (const s of plan) if (!w.down.has(s.target)) await s.apply(w.stores[s.target]! as unknown as ShardStore, { epoch });
  return plan.length;
}

async function punch(w: World, epoch: bigint, dkey = D): Promise<void> {
  for (let i = 0; i < w.stores.length; i++) if (!w.down.has(i)) await w.stores[i]!.punchAkey(epoch, unitOid(OID, i), dkey, A);
}

/** The striped pieces an older build wrote (piece format 1, any size), applied to every shard. */
async function putStriped(w: World, value: Uint8Array, epoch: bigint, dkey = D): Promise<void> {
  const { dataShards: k, parityShards: p } = w.red;
  const len = Math.max(1, Math.ceil(value.length / k));
  const bodies = Array.from({ length: k + p }, () => new Uint8Array(len));
  for (let i = 0; i < k; i++) bodies[i]!.set(value.subarray(i * len, Math.min(value.length, (i + 1) * len)));
  createCodec({ dataShards: k, parityShards: p }).encode(bodies);
  const roles = roleShards(w.groups, 0, dkeyRotation(w.ctx, w.red, dkey));
  for (let r = 0; r < k + p; r++) {
    const piece = new Uint8Array(EC_PIECE_HEADER + len);
    const dv = new DataView(piece.buffer);
    dv.setUint32(0, value.length, true); dv.setUint8(4, 1); dv.setUint8(5, 1); dv.setBigUint64(8, epoch, true);
    piece.set(bodies[r]!, EC_PIECE_HEADER);
    await w.stores[roles[r]!.target]!.updateSingle(epoch, unitOid(OID, roles[r]!.shard), dkey, A, piece);
  }
}

async function get(w: World, epoch: bigint, dkey = D): Promise<Uint8Array | undefined> {
  const r = fetchSingleNow(w.ctx, w.red, w.groups, 0, OID, dkey, A, epoch);
  return r instanceof Promise ? await r : r;
}

const reads = (w: World) => w.stores.reduce((n, s) => n + s.reads, 0);
const writes = (w: World) => w.stores.reduce((n, s) => n + s.writes, 0);
const same = (a: Uint8Array | undefined, b: Uint8Array | undefined) => (a === undefined ? b === undefined : b !== undefined && Buffer.from(a).equals(Buffer.from(b)));

/** Every subset of `n` roles with at most `max` members. */
function subsets(n: number, max: number): number[][] {
  const out: number[][] = [];
  for (let m = 0; m < 1 << n; m++) {
    const s: number[] = [];
    for (let i = 0; i < n; i++) if (m & (1 << i)) s.push(i);
    if (s.length <= max) out.push(s);
  }
  return out;
}

t('counts: a small value is p + 1 shard writes and one shard read (no promise when role 0 is at hand); a larger one k + p and k', async () => {
  for (const [k, p] of [[2, 1], [4, 2], [8, 2], [3, 3]] as const) {
    const w = world(k, p, { sync: true });
    const rng = new Rng(k * 10 + p);
    const small = rng.bytes(100);
    assert.is(await put(w, small, 5n), p + 1, `EC_${k}P${p}: a 100 B put plans p + 1 shard writes`);
    assert.is(writes(w), p + 1);
    // the holders are role 0 and the parity roles
    for (let r = 0; r < k + p; r++) assert.is(w.stores[r]!.writes, r === 0 || r >= k ? 1 : 0, `EC_${k}P${p} role ${r}`);
    const got = fetchSingleNow(w.ctx, w.red, w.groups, 0, OID, D, A, 9n);
    assert.not.ok(got instanceof Promise, 'answered without a promise');
    assert.ok(same(got as Uint8Array, small), 'the value');
    assert.is(reads(w), 1, 'one shard read');
    const before = reads(w);
    assert.ok(same(await fetchSingle(w.ctx, w.red, w.groups, 0, OID, D, A, 9n), small));
    assert.is(reads(w) - before, 1, 'the promise read: one shard read too');
    // the threshold: its own size is whole, one more byte striped
    const edge = rng.bytes(EC_WHOLE_SINGLE_MAX_BYTES);
    assert.is(await put(w, edge, 6n), p + 1, 'EC_WHOLE_SINGLE_MAX_BYTES bytes: whole');
    const big = rng.bytes(EC_WHOLE_SINGLE_MAX_BYTES + 1);
    assert.is(await put(w, big, 7n), k + p, 'one byte more: striped over k + p');
    const r0 = reads(w);
    assert.ok(same(await get(w, 9n), big));
    assert.is(reads(w) - r0, k, 'a striped value: k shard reads');
    assert.ok(same(await get(w, 6n), edge), 'the whole value at its epoch');
    // nothing visible (never written, or before the first write): role 0 alone says so
    const r1 = reads(w);
    assert.is(await get(w, 9n, enc('never')), undefined);
    assert.is(await get(w, 4n), undefined);
    assert.is(reads(w) - r1, 2, 'an absent value: one shard read each');
    // an empty value
    assert.is(await put(w, new Uint8Array(0), 8n), p + 1);
    const e = await get(w, 8n);
    assert.ok(e !== undefined && e.length === 0, 'an empty value reads as empty, not absent');
  }
});

t('values striped by older builds (format 1, small ones too) still read, healthy and degraded', async () => {
  const rng = new Rng(3);
  for (const [k, p] of [[2, 1], [4, 2]] as const) {
    for (const n of [0, 1, 100, 4096, 5000]) {
      const w = world(k, p, { sync: n % 2 === 0 });
      const v = rng.bytes(n);
      await putStriped(w, v, 4n);
      for (const lost of subsets(k + p, p)) {
        w.down.clear();
        for (const r of lost) w.down.add(r);
        const got = await get(w, 10n);
        assert.ok(same(got, v), `EC_${k}P${p} ${n} B striped, roles ${lost} down`);
      }
    }
  }
});

t('degraded reads over a history (small -> large -> small, punch, small): any p roles down or damaged read the model at every epoch; p + 1 holders lost is DATA_LOST', async () => {
  const rng = new Rng(15);
  for (const [k, p] of [[2, 1], [4, 2], [3, 1]] as const) {
    for (const rotation of [undefined, 'per-dkey'] as const) {
      for (const sync of [false, true]) {
        const w = world(k, p, { sync, rotation });
        const dkey = enc(`d-${k}-${p}-${rotation ?? 0}`);
        const model: Array<[bigint, Uint8Array | undefined]> = [];
        const steps: Array<[bigint, 'put' | 'legacy' | 'punch', number]> = [
          [10n, 'put', 100], [20n, 'put', 9000], [30n, 'put', 7], [40n, 'legacy', 50], [50n, 'put', 3000],
          [60n, 'punch', 0], [70n, 'put', 1], [80n, 'put', 4097], [90n, 'put', 4096],
        ];
        for (const [e, kind, n] of steps) {
          if (kind === 'punch') { await punch(w, e, dkey); model.push([e, undefined]); continue; }
          const v = rng.bytes(n);
          if (kind === 'legacy') await putStriped(w, v, e, dkey); else await put(w, v, e, dkey);
          model.push([e, v]);
        }
        const want = (e: bigint) => { let v: Uint8Array | undefined; for (const [at, x] of model) if (at <= e) v = x; return v; };
        const roles = roleShards(w.groups, 0, dkeyRotation(w.ctx, w.red, dkey));
        for (const how of ['down', 'damaged'] as const) {
          for (const lost of subsets(k + p, p)) {
            for (const s of w.stores) s.damaged = false;
            w.down.clear();
            for (const r of lost) { const tg = roles[r]!.target; if (how === 'down') w.down.add(tg); else w.stores[tg]!.damaged = true; }
            for (let e = 5n; e <= 95n; e += 5n) {
              const got = await get(w, e, dkey);
              assert.ok(same(got, want(e)), `EC_${k}P${p} rot ${rotation ?? 0} sync ${sync}: roles ${lost} ${how}, epoch ${e}: ${got?.length} bytes, want ${want(e)?.length}`);
            }
          }
        }
        // the holders of the last (whole) value: role 0 and every parity role lost
        for (const s of w.stores) s.damaged = false;
        w.down.clear();
        w.down.add(roles[0]!.target);
        for (let j = 0; j < p; j++) w.down.add(roles[k + j]!.target);
        let err: unknown;
        try { await get(w, 95n, dkey); } catch (e) { err = e; }
        assert.ok(err instanceof CairnError && err.code === 'DATA_LOST', `p + 1 holders lost: DATA_LOST (${String(err)})`);
      }
    }
  }
});

t('rebuild: ecRebuildSinglePiece gives each lost role what it held, at the version\'s epoch', async () => {
  const rng = new Rng(21);
  for (const [k, p] of [[2, 1], [4, 2]] as const) {
    const codec = createCodec({ dataShards: k, parityShards: p });
    for (const [kind, n] of [['whole', 100], ['whole', 0], ['striped', 5000], ['legacy', 60]] as const) {
      const w = world(k, p);
      await put(w, rng.bytes(30), 3n); // an older version under it
      const v = rng.bytes(n);
      if (kind === 'legacy') await putStriped(w, v, 7n); else await put(w, v, 7n);
      const held = w.stores.map((s, r) => s.visible(9n, unitOid(OID, r), D, A));
      for (const lost of subsets(k + p, p).filter((s) => s.length > 0)) {
        const pieces = held.map((x, r) => (lost.includes(r) ? undefined : x));
        for (const role of lost) {
          const r = ecRebuildSinglePiece(codec, pieces, k, p, role, 1);
          const whole = kind === 'whole';
          if (whole && role !== 0 && role < k) {
            assert.is(r.kind, 'none', `${kind} EC_${k}P${p} lost ${lost}: role ${role} holds nothing of a whole value`);
            continue;
          }
          assert.is(r.kind, 'piece', `${kind} EC_${k}P${p} lost ${lost}: role ${role}`);
          if (r.kind !== 'piece') continue;
          assert.is(r.epoch, 7n);
          assert.ok(same(r.piece, held[role]), `${kind} EC_${k}P${p} lost ${lost}: role ${role} rebuilt as it was`);
        }
      }
    }
    assert.is(ecRebuildSinglePiece(codec, new Array(k + p).fill(undefined), k, p, 0, 1).kind, 'absent');
    // too few pieces of a striped version: lost (a whole value needs one copy)
    const w = world(k, p);
    await put(w, rng.bytes(6000), 7n);
    const held = w.stores.map((s, r) => s.visible(9n, unitOid(OID, r), D, A));
    assert.is(ecRebuildSinglePiece(codec, held.map((x, r) => (r < p + 1 ? undefined : x)), k, p, 0, 1).kind, 'lost');
  }
});

t.run();
