/**
 * Rebuild and rebalance: move every shard whose target differs between the stable pool map (where
 * data lives) and the current one (where it should live), then make the current map stable.
 *
 * A moved shard is copied from its old target when that target is still readable (drain, extend,
 * reintegrate) and otherwise reconstructed from the rest of its group: EC pieces and cells are
 * decoded from any k healthy shards, replicas are copied from a healthy sibling. Content is
 * rebuilt at every read point that matters (each snapshot and the stable epoch when the move
 * started): a value is written at the epoch it had (EC pieces record it) or at the read point,
 * and a key that vanished between read points is punched, so reads at the current epoch and at
 * every snapshot return the same bytes before and after. Writes that arrive meanwhile go to both
 * targets (see container/plan.ts). Work is bounded: objects are processed MIGRATE_CONCURRENCY at a
 * time, arrays MIGRATE_CHUNK bytes at a time, and every write is idempotent, so a migration killed
 * half way simply runs again after reopen.
 */
import { containerPort, type ContainerCore } from '../container/container.js';
import type { ShardStore } from '../io/shard-store.js';
import { unitOid } from '../io/shard-store.js';
import { groupShards, EC_PIECE_HEADER, type IoContext } from '../io/io.js';
import { ObjectError } from '../io/errors.js';
import { objectClassOf } from '../../placement/index.js';
import { hex } from '../../core/bytes.js';
import { throwIfAborted, CairnError, assert } from '../../core/errors.js';
import { runBounded, runBoundedIter } from '../../core/semaphore.js';
import { swallowed } from '../../core/log.js';

/** Objects migrated concurrently (each object's groups sequentially). */
export const MIGRATE_CONCURRENCY = 8;
/** Largest array span read or written in one step of a migration (bytes per shard). */
export const MIGRATE_CHUNK = 4 * 1024 * 1024;

/** Progress of a migration. */
export interface MigrateProgress { objectsDone: number; objectsTotal: number; bytes: number; lost: string[] }

/** Migrate every moved shard of one container. */
export async function migrateContainer(cont: ContainerCore, opts: { signal?: AbortSignal; onObject?: (bytes: number, lost?: string) => void; sources?: Set<number>; destinations?: Set<number> }): Promise<void> {
  const points = readPoints(cont, await containerPort(cont).quiesce());
  await runBoundedIter(cont.listObjects({ signal: opts.signal }), MIGRATE_CONCURRENCY, async (oid) => {
    throwIfAborted(opts.signal);
    try {
      const bytes = await migrateObject(cont, oid, points, opts.signal, opts.sources, opts.destinations);
      opts.onObject?.(bytes);
    } catch (err) {
      if ((err as { code?: string }).code === 'DATA_LOST') opts.onObject?.(0, oid.toString(16));
      else throw err;
    }
  });
}

async function migrateObject(cont: ContainerCore, oid: bigint, points: bigint[], signal?: AbortSignal, sources?: Set<number>, destinations?: Set<number>): Promise<number> {
  const port = containerPort(cont);
  const moved = port.movedShards(oid);
  if (moved.size === 0) return 0;
  const { groups } = port.layout(oid);
  const cls = objectClassOf(oid);
  const io = port.io();
  const size = groups[0]!.length;
  let bytes = 0;
  for (let g = 0; g < groups.length; g++) {
    const members = groupShards(groups, g);
    const movers = members.filter((m) => moved.has(m.shard));
    if (movers.length === 0) continue;
    throwIfAborted(signal);
    const healthy = await openable(io, members);
    // Too few readable shards to supply the group's content: report the object lost rather than
    // "rebuild" nothing (with every replica gone, the key lists would come back empty).
    if (healthy.length < (cls.kind === 'ec' ? cls.dataShards : 1)) throw lostErr(oid);
    const ctx: ShardCtx = { cont, io, oid, cls, members, healthy, size };
    for (const mv of movers) {
      const to = moved.get(mv.shard)!;
      destinations?.add(to);
      if (io.available(mv.target)) sources?.add(mv.target);
      else for (const h of healthy) sources?.add(h.target);
      bytes += await rebuildShardOnto(ctx, mv, await io.store(to), points);
    }
  }
  return bytes;
}

/**
 * Write shard `mv` of one group onto `dst` at every read point: copied from its own old target
 * when that is readable, else rebuilt from its siblings. Returns bytes written.
 */
async function rebuildShardOnto(ctx: ShardCtx, mv: { shard: number; target: number }, dst: ShardStore, points: bigint[]): Promise<number> {
  let bytes = 0;
  const prev = new Set<string>();
  for (const R of points) {
    const now = new Set<string>();
    for (const { dkey, akeys } of await keysAt(ctx, R)) {
      for (const akey of akeys) {
        const k = `${hex(dkey)}/${hex(akey)}`;
        now.add(k);
        bytes += await moveValue(ctx, mv, dst, R, dkey, akey);
      }
    }
    for (const k of prev) {
      if (!now.has(k)) {
        const [d, a] = k.split('/');
        await dst.punchAkey(R, unitOid(ctx.oid, mv.shard), Buffer.from(d!, 'hex'), Buffer.from(a!, 'hex'));
      }
    }
    prev.clear();
    for (const k of now) prev.add(k);
  }
  return bytes;
}

/**
 * Repair shard `shard` of `oid` in place (scrub found it bad): rebuild it from its siblings onto
 * its own target, at every read point. Throws DATA_LOST when the siblings cannot supply it.
 */
export async function repairShard(cont: ContainerCore, oid: bigint, shard: number, points: bigint[]): Promise<number> {
  const port = containerPort(cont);
  const { groups } = port.layout(oid);
  const size = groups[0]!.length;
  const g = Math.floor(shard / size);
  const io = port.io();
  const members = groupShards(groups, g);
  const me = members.find((m) => m.shard === shard)!;
  // The bad shard is neither a source nor counted healthy while it is rebuilt.
  const healthy = await openable(io, members.filter((m) => m.shard !== shard));
  const ctx: ShardCtx = { cont, io, oid, cls: objectClassOf(oid), members, healthy, size };
  return rebuildShardOnto(ctx, { shard, target: -1 }, await io.store(me.target), points);
}

/** The read points of a container: every snapshot at or below `stable`, and `stable`. */
export function readPoints(cont: ContainerCore, stable: bigint): bigint[] {
  return [...new Set([...cont.listSnapshots().map((s) => s.epoch).filter((e) => e <= stable), stable])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

interface ShardCtx {
  cont: ContainerCore; io: IoContext; oid: bigint; cls: ReturnType<typeof objectClassOf>;
  members: Array<{ shard: number; target: number }>;
  healthy: Array<{ shard: number; target: number }>;
  size: number;
}

/** Union of (dkey, akeys) at epoch R over the healthy shards of the group. */
async function keysAt(ctx: ShardCtx, R: bigint): Promise<Array<{ dkey: Uint8Array; akeys: Uint8Array[] }>> {
  const dk = new Map<string, { dkey: Uint8Array; akeys: Map<string, Uint8Array> }>();
  for (const m of ctx.healthy) {
    try {
      const s = await ctx.io.store(m.target);
      const u = unitOid(ctx.oid, m.shard);
      for await (const d of s.listDkeys(R, u)) {
        const e = dk.get(hex(d)) ?? { dkey: d, akeys: new Map() };
        for await (const a of s.listAkeys(R, u, d)) e.akeys.set(hex(a), a);
        dk.set(hex(d), e);
      }
    } catch (err) {
      // A sibling that fails (missing files, corruption) counts as lost; the others supply the keys.
      if (!isShardFailure(err)) throw err;
      continue;
    }
    if (ctx.cls.kind !== 'ec') break; // every replica holds every key
  }
  return [...dk.values()].map((e) => ({ dkey: e.dkey, akeys: [...e.akeys.values()] }));
}

/** Copy or rebuild one akey of shard `mv` at read point R onto `dst`; returns bytes written. */
async function moveValue(ctx: ShardCtx, mv: { shard: number; target: number }, dst: ShardStore, R: bigint, dkey: Uint8Array, akey: Uint8Array): Promise<number> {
  const { oid, io } = ctx;
  const dstOid = unitOid(oid, mv.shard);
  // A readable old copy of the same shard (drain / extend / reintegrate): copy it as it is.
  // Copy sources, best first: the shard's own readable old copy, then (replicas) any healthy sibling.
  const sources: Array<{ shard: number; target: number }> = [];
  if (ctx.healthy.some((m) => m.shard === mv.shard)) sources.push(mv);
  if (ctx.cls.kind !== 'ec') sources.push(...ctx.healthy.filter((m) => m.shard !== mv.shard));
  let kind: 'single' | 'array' | undefined;
  for (const m of ctx.healthy) {
    try {
      kind = await (await io.store(m.target)).akeyKind(R, unitOid(oid, m.shard), dkey, akey);
    } catch (err) {
      if (!isShardFailure(err)) throw err;
    }
    if (kind) break;
  }
  if (!kind) return 0;
  for (const source of sources) {
    try {
      return await copyValue(ctx, source, kind, dst, dstOid, R, dkey, akey);
    } catch (err) {
      // A source that fails half way (checksum, I/O) is skipped; writes are idempotent, so the
      // next source simply rewrites the same bytes.
      if (!isShardFailure(err)) throw err;
    }
  }
  if (ctx.cls.kind !== 'ec') throw lostErr(oid);
  return kind === 'single' ? rebuildPiece(ctx, mv, dst, R, dkey, akey) : rebuildCells(ctx, mv, dst, R, dkey, akey);
}

/** Copy one akey of `source` (a readable copy of the same content) onto `dst` at read point R. */
async function copyValue(ctx: ShardCtx, source: { shard: number; target: number }, kind: 'single' | 'array', dst: ShardStore, dstOid: bigint, R: bigint, dkey: Uint8Array, akey: Uint8Array): Promise<number> {
  const src = await ctx.io.store(source.target);
  const srcOid = unitOid(ctx.oid, source.shard);
  if (kind === 'single') {
    const v = await src.fetchSingle(R, srcOid, dkey, akey);
    if (v === undefined) { await dst.punchAkey(R, dstOid, dkey, akey); return 0; }
    const at = ctx.cls.kind === 'ec' && v.length >= EC_PIECE_HEADER ? new DataView(v.buffer, v.byteOffset).getBigUint64(8, true) : R;
    await dst.updateSingle(at <= R && at > 0n ? at : R, dstOid, dkey, akey, v);
    return v.length;
  }
  let n = 0;
  const extents: Array<{ index: number; count: number }> = [];
  for await (const x of src.listRecx(R, srcOid, dkey, akey)) extents.push({ index: x.index, count: x.count });
  for (const x of extents) {
    for (let off = x.index; off < x.index + x.count; off += MIGRATE_CHUNK) {
      const len = Math.min(MIGRATE_CHUNK, x.index + x.count - off);
      const { data, present } = await src.fetchArray(R, srcOid, dkey, akey, { index: off, count: len });
      for (const p of present) {
        await dst.updateArray(R, dstOid, dkey, akey, p, data.subarray(p.index - off, p.index - off + p.count));
        n += p.count;
      }
    }
  }
  return n;
}

/** EC single value: decode the lost piece from k consistent pieces. */
async function rebuildPiece(ctx: ShardCtx, mv: { shard: number }, dst: ShardStore, R: bigint, dkey: Uint8Array, akey: Uint8Array): Promise<number> {
  const { dataShards: k, parityShards: p } = ctx.cls;
  const base = ctx.members[0]!.shard;
  assert(ctx.members.length === k + p && mv.shard >= base && mv.shard < base + k + p, 'the rebuilt piece belongs to a group of k + p shards', { shard: mv.shard, base, k, p, members: ctx.members.length });
  const pieces: Array<Uint8Array | undefined> = new Array(k + p).fill(undefined);
  await Promise.all(ctx.healthy.map(async (m) => {
    try {
      pieces[m.shard - base] = await (await ctx.io.store(m.target)).fetchSingle(R, unitOid(ctx.oid, m.shard), dkey, akey);
    } catch (err) {
      if (!isShardFailure(err)) throw err;
      swallowed('migrate.piece-unreadable-counts-missing', err); // the other pieces decode it
    }
  }));
  // Choose the newest (epoch, length) version held by at least k pieces.
  const versions = new Map<string, number[]>();
  pieces.forEach((v, i) => {
    if (!v || v.length < EC_PIECE_HEADER) return;
    const dv = new DataView(v.buffer, v.byteOffset, EC_PIECE_HEADER);
    const key = `${dv.getBigUint64(8, true)}:${dv.getUint32(0, true)}:${v.length}`;
    versions.set(key, [...(versions.get(key) ?? []), i]);
  });
  const best = [...versions.entries()].filter(([, idx]) => idx.length >= k).sort((a, b) => (BigInt(a[0].split(':')[0]!) > BigInt(b[0].split(':')[0]!) ? -1 : 1))[0];
  if (!best) {
    if (pieces.every((v) => v === undefined)) { await dst.punchAkey(R, unitOid(ctx.oid, mv.shard), dkey, akey); return 0; }
    throw lostErr(ctx.oid);
  }
  const [vkey, idx] = best;
  const bodies: (Uint8Array | null)[] = pieces.map((v, i) => (v && idx.includes(i) ? v.subarray(EC_PIECE_HEADER) : null));
  ctx.io.codec(k, p).reconstruct(bodies);
  const header = pieces[idx[0]!]!.subarray(0, EC_PIECE_HEADER);
  const out = new Uint8Array(EC_PIECE_HEADER + bodies[mv.shard - base]!.length);
  assert(out.length === pieces[idx[0]!]!.length, 'a rebuilt piece is as long as its siblings', { rebuilt: out.length, sibling: pieces[idx[0]!]!.length });
  out.set(header); out.set(bodies[mv.shard - base]!, EC_PIECE_HEADER);
  const at = BigInt(vkey.split(':')[0]!);
  await dst.updateSingle(at > 0n && at <= R ? at : R, unitOid(ctx.oid, mv.shard), dkey, akey, out);
  return out.length;
}

/** EC array: decode the lost shard's cells stripe range by stripe range. */
async function rebuildCells(ctx: ShardCtx, mv: { shard: number }, dst: ShardStore, R: bigint, dkey: Uint8Array, akey: Uint8Array): Promise<number> {
  const { dataShards: k, parityShards: p } = ctx.cls;
  const base = ctx.members[0]!.shard;
  const cell = ctx.io.cellSize;
  assert(ctx.members.length === k + p && cell > 0, 'cells are rebuilt in a group of k + p shards', { k, p, members: ctx.members.length, cell });
  // The shard-local extent of the lost shard is at most the largest extent end of any healthy shard.
  let end = 0;
  for (const m of ctx.healthy) {
    try {
      for await (const x of (await ctx.io.store(m.target)).listRecx(R, unitOid(ctx.oid, m.shard), dkey, akey)) end = Math.max(end, x.index + x.count);
    } catch (err) {
      if (!isShardFailure(err)) throw err;
    }
  }
  if (end === 0) return 0;
  const stripesPerStep = Math.max(1, Math.floor(MIGRATE_CHUNK / cell));
  let n = 0;
  for (let first = 0; first * cell < end; first += stripesPerStep) {
    const lo = first * cell, hi = Math.min(end, (first + stripesPerStep) * cell);
    const recx = { index: lo, count: Math.ceil((hi - lo) / cell) * cell };
    const got: (Uint8Array | null)[] = new Array(k + p).fill(null);
    await Promise.all(ctx.healthy.map(async (m) => {
      try {
        got[m.shard - base] = (await (await ctx.io.store(m.target)).fetchArray(R, unitOid(ctx.oid, m.shard), dkey, akey, recx, { holesAsZero: true })).data;
      } catch (err) {
        if (!isShardFailure(err)) throw err;
        swallowed('migrate.cells-unreadable-count-missing', err); // the other shards decode them
      }
    }));
    if (got.filter((x) => x !== null).length < k) throw lostErr(ctx.oid);
    got[mv.shard - base] = null;
    ctx.io.codec(k, p).reconstruct(got);
    assert(got[mv.shard - base]!.length === recx.count, 'a decoded cell range is as long as its siblings', { got: got[mv.shard - base]!.length, want: recx.count });
    const data = got[mv.shard - base]!.subarray(0, hi - lo);
    await dst.updateArray(R, unitOid(ctx.oid, mv.shard), dkey, akey, { index: lo, count: data.length }, data);
    n += data.length;
  }
  return n;
}

/**
 * Members of a group that can serve reads: in service and with a store that opens (a target whose
 * directory vanished before it was excluded counts as lost, so the rebuild reads around it).
 */
async function openable(io: IoContext, members: Array<{ shard: number; target: number }>): Promise<Array<{ shard: number; target: number }>> {
  const out: Array<{ shard: number; target: number }> = [];
  for (const m of members) {
    if (!io.available(m.target)) continue;
    try { await io.store(m.target); out.push(m); } catch (err) { if (!isShardFailure(err)) throw err; }
  }
  return out;
}

/** A failure of one shard's store (missing files, checksum, I/O), as opposed to a programming error. */
function isShardFailure(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  if (code === 'ABORTED' || code === 'POOL_CLOSED') return false;
  return err instanceof CairnError || code !== undefined;
}

function lostErr(oid: bigint): ObjectError {
  return new ObjectError('DATA_LOST', `object ${oid.toString(16)}: not enough healthy shards to rebuild`, { oid: oid.toString(16) });
}
