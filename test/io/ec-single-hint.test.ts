/**
 * EC single values larger than EC_WHOLE_SINGLE_MAX_BYTES through stores that answer with a
 * promise (a connected client's remote stores): a get of an akey its I/O context last saw striped
 * (src/io/striped-hints.ts) reads the k data roles at once — one wave of shard reads instead of
 * role 0 and then the others. Specification:
 *
 * - counts, as waves (a wave: shard reads issued while none is outstanding): a striped value put
 *   through a context is then read in 1 wave of k reads; a context that never saw it reads it in
 *   2 waves the first time and 1 after; a small value or an absent one is 1 wave of 1 read;
 * - a stale hint (another context overwrote the value with a small one, or punched it) reads the
 *   right answer (k reads, 1 wave), and the next get is 1 read;
 * - by akey name: after NAME_CONFIDENCE striped values of a name in a row, a first get of another
 *   object's akey of that name is 1 wave; a whole value seen forgets the name; sizes alternating
 *   under one name never make small gets cost more than one read;
 * - values: two contexts writing, punching and reading one akey in a random history of small and
 *   large values, with any p roles down at each read, always read the newest value (model).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { NAME_CONFIDENCE } from '../../src/io/striped-hints.js';
import { planSingle, fetchSingleNow, roleShards, dkeyRotation, wholeSinglePiece, wholeSingleRole, EC_WHOLE_SINGLE_MAX_BYTES, type IoContext, type Redundancy } from '../../src/io/io.js';
import { unitOid, type ShardStore } from '../../src/io/shard-store.js';
import { createCodec } from '../../ec/index.js';
import { initXxhash } from '../../core/xxhash.js';
import { Rng } from '../../core/rng.js';

import { VersionedSingles } from './versioned-singles.js';

const t = suite('io/ec-single-hint');
t.before(async () => { await initXxhash(); });
const enc = (s: string) => new TextEncoder().encode(s);
const D = enc('dkey'), A = enc('akey'), OID = 0x91n;

/** Shard reads in flight and waves of them, over every store of a world. */
const io = { outstanding: 0, waves: 0, reads: 0 };

/** An in-memory multi-version shard store whose reads answer a turn later (as a remote one). */
class SlowStore extends VersionedSingles {
  async updateSingle(epoch: bigint, oid: bigint, d: Uint8Array, a: Uint8Array, value: Uint8Array): Promise<void> { this.put(epoch, oid, d, a, value); }
  async punchAkey(epoch: bigint, oid: bigint, d: Uint8Array, a: Uint8Array): Promise<void> { this.put(epoch, oid, d, a, undefined); }
  fetchSingle(epoch: bigint, oid: bigint, d: Uint8Array, a: Uint8Array): Promise<Uint8Array | undefined> {
    if (io.outstanding === 0) io.waves++;
    io.outstanding++; io.reads++;
    const v = this.visible(epoch, oid, d, a);
    return new Promise((resolve) => setImmediate(() => { io.outstanding--; resolve(v); }));
  }
}

interface World { stores: SlowStore[]; down: Set<number>; red: Redundancy; groups: number[][] }

function world(k: number, p: number): World {
  return { stores: Array.from({ length: k + p }, () => new SlowStore()), down: new Set(), red: { kind: 'ec', dataShards: k, parityShards: p, groupSize: k + p }, groups: [Array.from({ length: k + p }, (_, i) => i)] };
}

/** A client's I/O context over the world's stores (promise reads only, as a connected client's). */
function client(w: World): IoContext {
  const codec = createCodec({ dataShards: w.red.kind === 'ec' ? w.red.dataShards : 1, parityShards: w.red.kind === 'ec' ? w.red.parityShards : 1 });
  return {
    store: async (target) => w.stores[target]! as unknown as ShardStore,
    available: (target) => !w.down.has(target),
    codec: () => codec,
    cellSize: 4096,
    reportBadShard: () => undefined,
  };
}

async function put(w: World, c: IoContext, value: Uint8Array, epoch: bigint, oid = OID): Promise<void> {
  for (const s of planSingle(c, w.red, w.groups, 0, oid, D, A, value, epoch)) if (!w.down.has(s.target)) await s.apply(w.stores[s.target]! as unknown as ShardStore, { epoch });
}

async function punch(w: World, epoch: bigint): Promise<void> {
  for (let i = 0; i < w.stores.length; i++) if (!w.down.has(i)) await w.stores[i]!.punchAkey(epoch, unitOid(OID, i), D, A);
}

/** A get through `c` at `epoch`: its value, shard reads and waves. */
async function get(w: World, c: IoContext, epoch: bigint, oid = OID): Promise<{ v: Uint8Array | undefined; reads: number; waves: number }> {
  const r0 = io.reads, w0 = io.waves;
  const r = fetchSingleNow(c, w.red, w.groups, 0, oid, D, A, epoch);
  const v = r instanceof Promise ? await r : r;
  return { v, reads: io.reads - r0, waves: io.waves - w0 };
}

const same = (a: Uint8Array | undefined, b: Uint8Array | undefined) => (a === undefined ? b === undefined : b !== undefined && Buffer.from(a).equals(Buffer.from(b)));

t('counts: a striped value its context wrote or read before is one wave of k reads; small and absent values one read', async () => {
  for (const [k, p] of [[2, 1], [4, 2], [8, 2]] as const) {
    const w = world(k, p);
    const a = client(w), b = client(w);
    const rng = new Rng(k * 31 + p);
    const big = rng.bytes(EC_WHOLE_SINGLE_MAX_BYTES + 1 + rng.int(20000));
    await put(w, a, big, 5n);
    let g = await get(w, a, 9n);
    assert.ok(same(g.v, big), `EC_${k}P${p}: the striped value`);
    assert.equal([g.waves, g.reads], [1, k], `EC_${k}P${p}: written through this context: 1 wave of k reads`);
    g = await get(w, b, 9n);
    assert.ok(same(g.v, big));
    assert.equal([g.waves, g.reads], [2, k], `EC_${k}P${p}: another context's first get: role 0, then the others`);
    g = await get(w, b, 9n);
    assert.equal([g.waves, g.reads], [1, k], `EC_${k}P${p}: its second get: 1 wave`);
    // b overwrites it with a small value: a's hint is stale, its answer still the small value
    const small = rng.bytes(100);
    await put(w, b, small, 10n);
    g = await get(w, a, 19n);
    assert.ok(same(g.v, small), `EC_${k}P${p}: stale hint, the small value`);
    assert.equal([g.waves, g.reads], [1, k]);
    g = await get(w, a, 19n);
    assert.ok(same(g.v, small));
    assert.equal([g.waves, g.reads], [1, 1], `EC_${k}P${p}: hint forgotten: one read`);
    // large again through a, punched by b: absent, then one read
    await put(w, a, big, 20n);
    await punch(w, 21n);
    g = await get(w, a, 29n);
    assert.is(g.v, undefined, 'punched: absent');
    assert.equal([g.waves, g.reads], [1, k]);
    g = await get(w, a, 29n);
    assert.is(g.v, undefined);
    assert.equal([g.waves, g.reads], [1, 1], 'absent: one read');
  }
});

t('counts: a small value put through the context that saw the akey striped is then read with one read (its hint forgotten at the put)', async () => {
  for (const [k, p] of [[2, 1], [4, 2], [8, 2]] as const) {
    const w = world(k, p);
    const a = client(w);
    const rng = new Rng(k * 57 + p);
    const big = rng.bytes(EC_WHOLE_SINGLE_MAX_BYTES + 1 + rng.int(20000)), small = rng.bytes(1 + rng.int(EC_WHOLE_SINGLE_MAX_BYTES));
    await put(w, a, big, 5n);
    assert.equal((await get(w, a, 9n)).reads, k, `EC_${k}P${p}: striped, hinted: k reads`);
    await put(w, a, small, 10n);
    let g = await get(w, a, 19n);
    assert.ok(same(g.v, small), `EC_${k}P${p}: the small value`);
    assert.equal([g.waves, g.reads], [1, 1], `EC_${k}P${p}: a small put through the same context forgot the hint: one read`);
    // the name hint too: NAME_CONFIDENCE striped objects, then a small put under the name forgets it
    for (let i = 0; i < NAME_CONFIDENCE; i++) await put(w, a, big, 30n, OID + 1n + BigInt(i));
    await put(w, a, small, 31n, OID + 50n);
    await put(w, a, big, 32n, OID + 60n); // (written elsewhere, read below by a context that never saw it)
    g = await get(w, client(w), 39n, OID + 60n);
    assert.equal([g.waves, g.reads], [2, k], `EC_${k}P${p}: a fresh context: role 0, then the others`);
    g = await get(w, a, 39n, OID + 70n);
    assert.equal([g.waves, g.reads], [1, 1], `EC_${k}P${p}: the name hint was forgotten at the small put: an absent akey is one read`);
  }
});

t('counts: after NAME_CONFIDENCE striped values of an akey name, a first get of another object\'s akey of that name is one wave; a whole one forgets the name', async () => {
  const [k, p] = [4, 2];
  const w = world(k, p);
  const a = client(w), b = client(w);
  const rng = new Rng(77);
  const big = () => rng.bytes(EC_WHOLE_SINGLE_MAX_BYTES + 1 + rng.int(9000));
  const vs = Array.from({ length: 6 }, big);
  for (let i = 0; i < vs.length; i++) await put(w, a, vs[i]!, 5n, 0x100n + BigInt(i));
  // b never saw the name: its first NAME_CONFIDENCE gets of new objects are two waves each
  for (let i = 0; i < NAME_CONFIDENCE; i++) {
    const g = await get(w, b, 9n, 0x100n + BigInt(i));
    assert.ok(same(g.v, vs[i]));
    assert.equal([g.waves, g.reads], [2, k], `b's get ${i} of the name: role 0, then the others`);
  }
  let g = await get(w, b, 9n, 0x100n + BigInt(NAME_CONFIDENCE));
  assert.ok(same(g.v, vs[NAME_CONFIDENCE]));
  assert.equal([g.waves, g.reads], [1, k], 'another object, same akey name: 1 wave');
  // a small value under that name on another object: read right (k reads), and the name is forgotten
  const small = rng.bytes(50);
  await put(w, a, small, 6n, 0x200n);
  g = await get(w, b, 9n, 0x200n);
  assert.ok(same(g.v, small));
  assert.equal([g.waves, g.reads], [1, k]);
  await put(w, a, small, 6n, 0x201n);
  g = await get(w, b, 9n, 0x201n);
  assert.equal([g.waves, g.reads], [1, 1], 'name forgotten: a small value is one read');
  g = await get(w, b, 9n, 0x100n + BigInt(NAME_CONFIDENCE + 1));
  assert.ok(same(g.v, vs[NAME_CONFIDENCE + 1]));
  assert.equal([g.waves, g.reads], [2, k], 'name forgotten: a large one of a new object is two waves again');
  // sizes that alternate under one name never make it a hint: each small get stays one read
  for (let i = 0; i < 6; i++) {
    const o = 0x300n + BigInt(i), v = i % 2 ? big() : small;
    await put(w, a, v, 7n, o);
    g = await get(w, b, 9n, o);
    assert.ok(same(g.v, v));
    if (i % 2 === 0) assert.equal([g.waves, g.reads], [1, 1], `alternating sizes, small get ${i}: one read`);
  }
});

t('values: two contexts, a random history of small, large and punched values, any p roles down at each read', async () => {
  for (const [k, p] of [[2, 1], [4, 2]] as const) {
    const rng = new Rng(0x4e1 + k);
    const w = world(k, p);
    const cs = [client(w), client(w)];
    const model: Array<{ epoch: bigint; v: Uint8Array | undefined }> = [];
    let epoch = 1n;
    const at = (e: bigint) => { let v: Uint8Array | undefined; for (const m of model) if (m.epoch <= e) v = m.v; return v; };
    for (let step = 0; step < 120; step++) {
      const c = cs[rng.int(2)]!;
      const op = rng.int(10);
      if (op < 4) {
        const v = rng.bytes(rng.int(3) === 0 ? rng.int(EC_WHOLE_SINGLE_MAX_BYTES + 1) : EC_WHOLE_SINGLE_MAX_BYTES + 1 + rng.int(12000));
        w.down.clear();
        await put(w, c, v, ++epoch);
        model.push({ epoch, v });
      } else if (op < 5) {
        w.down.clear();
        await punch(w, ++epoch);
        model.push({ epoch, v: undefined });
      } else {
        w.down.clear();
        const nDown = rng.int(p + 1);
        while (w.down.size < nDown) w.down.add(rng.int(k + p));
        const e = rng.int(4) === 0 ? BigInt(1 + rng.int(Number(epoch))) : epoch;
        const g = await get(w, c, e);
        assert.ok(same(g.v, at(e)), `EC_${k}P${p} step ${step}: read at ${e} with roles ${[...w.down]} down`);
      }
    }
  }
});

t('wholeSinglePiece written to the wholeSingleRole roles by hand (a replica-set-like commit path) is read as planSingle\'s whole value, with any p roles down', async () => {
  for (const [k, p] of [[2, 1], [4, 2]] as const) {
    const w = world(k, p);
    const c = client(w);
    const v = new Rng(k + p).bytes(EC_WHOLE_SINGLE_MAX_BYTES);
    const piece = wholeSinglePiece(v, 7n);
    const roles = roleShards(w.groups, 0, dkeyRotation(c, w.red, D));
    let holders = 0;
    for (let i = 0; i < k + p; i++) if (wholeSingleRole(i, k)) { holders++; await w.stores[roles[i]!.target]!.updateSingle(7n, unitOid(OID, roles[i]!.shard), D, A, piece); }
    assert.is(holders, p + 1, 'p + 1 holders');
    // the same bytes planSingle writes for that value at that epoch
    const planned = planSingle(c, w.red, w.groups, 0, OID, D, A, v, 7n);
    assert.is(planned.length, p + 1);
    for (const lost of [[], [roles[0]!.target], [roles[k]!.target]]) {
      w.down.clear();
      for (const r of lost) w.down.add(r);
      const g = await get(w, c, 9n);
      assert.ok(same(g.v, v), `EC_${k}P${p}: roles ${lost} down`);
    }
    w.down.clear();
    assert.is(await get(w, c, 6n).then((g) => g.v), undefined, 'before its epoch: absent');
  }
});

t('wholeSinglePiece: header [length u32][format][0 0 0][epoch u64] little-endian, then the value; small pieces share a slab and never overlap', () => {
  const rng = new Rng(11);
  const epochs = [0n, 7n, 0xffffffffn, 0x1_0000_0000n, (1n << 63n) + 12345n, (1n << 64n) - 1n];
  const pieces: Array<{ piece: Uint8Array; want: Uint8Array }> = [];
  for (let i = 0; i < 400; i++) {
    // value lengths on both sides of the slab's largest piece and of a slab's end
    const len = [0, 1, 7, 8, 100, 1008, 1009, 2000][i % 8]! + (i % 3);
    const v = rng.bytes(len);
    const epoch = epochs[i % epochs.length]!;
    const want = new Uint8Array(16 + len);
    const dv = new DataView(want.buffer);
    dv.setUint32(0, len, true); dv.setUint8(4, 2); dv.setBigUint64(8, epoch, true);
    want.set(v, 16);
    pieces.push({ piece: wholeSinglePiece(v, epoch), want });
  }
  for (const [i, x] of pieces.entries()) assert.ok(same(x.piece, x.want), `piece ${i}`);
  // writing into each piece leaves every other as it was
  for (const x of pieces) x.piece.fill(0xee);
  for (const [i, x] of pieces.entries()) assert.ok(x.piece.every((b) => b === 0xee), `piece ${i} is its own range`);
  const shared = pieces.filter((x) => x.piece.buffer.byteLength > x.piece.length);
  assert.ok(shared.length > 100, 'small pieces are carved from a shared slab');
});

t.run();
