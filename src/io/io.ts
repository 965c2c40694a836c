/**
 * The object data path: turns object-level updates and fetches into shard I/O on the targets of a
 * layout, for the three redundancy kinds.
 *
 * - striped (S*): one shard per group holds the value.
 * - replicated (RP_n*): every shard of the group holds a full copy; reads use the first healthy one.
 * - erasure-coded (EC_kPp*): single values are split into k equal pieces plus p parity pieces, each
 *   prefixed by a 16-byte header (length, format, epoch) so a reader can check that the pieces it
 *   combines belong to one version; values of at most EC_WHOLE_SINGLE_MAX_BYTES are instead stored
 *   whole (same header, another format) on data role 0 and the p parity roles, and a read of role
 *   0 alone answers them; arrays are laid out in stripes of k cells of `cellSize` bytes
 *   (see stripe.ts). A write that covers whole stripes encodes parity directly; a partial-stripe
 *   write reads the old stripe (degraded if need be), merges, re-encodes and rewrites the touched
 *   data cells and all parity cells (read-modify-write, serialised per dkey by the caller).
 *
 * A shard whose target is down, whose files are missing or whose checksum fails counts as lost; the
 * value is rebuilt from the remaining redundancy, the bad shard is reported for repair, and if too
 * many are lost the fetch fails with `DATA_LOST` naming the object. Wrong bytes are never returned.
 *
 * Roles and positions: an EC group has k + p *positions* (its targets, in layout order; shard ids
 * and stripe locks use positions) and k + p *roles* (data cells 0..k-1, then parity 0..p-1, the
 * order the codec wants). In a container with `parityRotation: 'per-dkey'` the roles rotate with
 * the dkey (placement/parity.ts: role i on position (i + r) mod (k + p)), so the parity writes of
 * an object spread over every shard of its groups; without it every dkey has rotation 0 (role i on
 * position i), which is how data written before rotation existed reads. `roleShards` gives the
 * members of a group in role order; everything below indexes shards by role.
 *
 * Reads go straight into the caller's buffer: each data shard's range is read (one scatter read
 * per shard) into the places of the output its cells belong to and checksum-verified there, so a
 * healthy array read allocates nothing but the output (nothing at all when the caller passes one).
 */
import type { ShardStore, Recx, WriteOpts, LocatedShardRead, PreparedShardWrite, FreshFrom } from './shard-store.js';
import { unitOid } from './shard-store.js';
import { ObjectError } from './errors.js';
import { cellSpans, stripeRange } from './stripe.js';
import { CairnError, assert } from '../../core/errors.js';
import { mergeExtents } from '../../core/extents.js';
import { valueSlab } from '../../core/bytes.js';
import { dkeyParityRotation, rolePositions } from '../../placement/index.js';
import { copyBytes } from '../media/copy.js';
import { allocOutput, allocResult } from '../media/aligned.js';
import { readHashedGroup, type HashedReadSlot } from '../media/block-device.js';
import { PreparedWriteGroup } from './write-group.js';
import { deferFill, deferredFills, dropFill } from '../media/fills.js';
import { nativeAddon } from '../media/io-uring.js';
import { useNativeGf, NATIVE_GF_MIN_BYTES } from '../../ec/index.js';
import { forgetStripedSingle, hasStripedHints, rememberStriped, stripedHint, stripedHintKey } from './striped-hints.js';
export { forgetStripedSingle };

/** Set to 0 to keep EC encode and decode in the wasm kernel instead of the addon's GFNI one. */
export const NATIVE_GF_ENV = 'CAIRN_NATIVE_GF';
// EC encode/decode of shards of 4 KiB or more runs in the addon (GFNI with AVX-512, native/gfni.c)
// where it loads and the CPU has it: an EC write's parity on the JavaScript thread was 13% of the
// write's CPU in wasm. The codec's own validation, matrices and decode caching are unchanged.
{
  const addon = process.env[NATIVE_GF_ENV] === '0' ? undefined : nativeAddon();
  const gf = addon?.gfApply, gfCopy = addon?.gfApplyCopy;
  if (gf) {
    useNativeGf((matrix, rows, k, inputs, outputs, len) => gf(matrix, rows, k, inputs, outputs, len),
      gfCopy && ((matrix, rows, k, inputs, copies, outputs, len) => gfCopy(matrix, rows, k, inputs, copies, outputs, len)));
  }
}

/** Redundancy shape of an object class, as the data path needs it. */
export interface Redundancy {
  kind: 'striped' | 'replicated' | 'ec';
  /** k for EC, 1 otherwise. */
  dataShards: number;
  /** p for EC, n-1 for RP_n, 0 for striped. */
  parityShards: number;
  /** Shards per group (k+p, n, or 1). */
  groupSize: number;
}

/** Minimal codec surface used here (see ec/). */
export interface EcCodec {
  encode(shards: Uint8Array[]): unknown;
  /** shards[j] = data[j] for the k data shards, then `encode`, in one pass where the codec can (ec/ `Codec.encodeFrom`). */
  encodeFrom?(data: readonly Uint8Array[], shards: readonly Uint8Array[]): unknown;
  /** Restore missing shards in place; `present[i] === false` marks a buffer whose content is to be restored. */
  reconstruct(shards: (Uint8Array | null)[], opts?: { dataOnly?: boolean; present?: readonly boolean[] }): unknown;
  /** k+p buffers of `size` bytes inside the codec's wasm memory (encode on them copies nothing). */
  allocShards?(size: number): Uint8Array[];
  /** Return buffers from `allocShards`. */
  free?(shards: Uint8Array[]): void;
  /**
   * The (k + p) x k encoding matrix, row-major (parity rows after the k data rows), where the codec
   * is matrix-based (ec/ `MatrixCodec`): what lets a parity cell be computed elsewhere (a deferred
   * fill on the write's pool job, media/fills.ts) with the same result as `encode`.
   */
  readonly encodingMatrix?: Uint8Array;
}

/** Shard writes of one op, with a hook that frees their buffers once applied (or abandoned). */
export type ShardPlan = ShardWrite[] & { release?: () => void };

/** What the data path asks of its container. */
export interface IoContext {
  /** The store of target `id` for this container; throws when the target cannot be opened. */
  store(target: number): Promise<ShardStore>;
  /** The store of target `id` when it is open already (undefined: use `store`): no promise per I/O. */
  storeNow?(target: number): ShardStore | undefined;
  /**
   * Single-value reads may be answered synchronously by stores that can (`ShardStore.fetchSingleNow`).
   * Off for stores whose reads must go through a wrapper (read-only opens retry reads through a
   * re-read index: only their promise reads do).
   */
  syncReads?: boolean;
  /** Whether a target may serve I/O (not DOWN/DOWNOUT and not known broken). */
  available(target: number): boolean;
  /** The codec for k+p (cached by the caller). */
  codec(k: number, p: number): EcCodec;
  /** EC cell size in bytes for arrays. */
  cellSize: number;
  /** Matrix id (ec/ `matrixId`: 1 vandermonde, 2 cauchy) stamped into EC piece headers. */
  matrixId?: number;
  /** A shard read failed (checksum, missing file, I/O): remember it for scrub/repair. */
  reportBadShard(info: { target: number; oid: bigint; shard: number; dkey: Uint8Array; akey: Uint8Array; error: unknown }): void;
  /** Maximum concurrent shard I/Os of one request. */
  concurrency?: number;
  /**
   * The container's parity rotation (property `parityRotation`): `'per-dkey'` rotates the roles of
   * an EC group's shards with the dkey; absent, roles are fixed (rotation 0).
   */
  parityRotation?: 'per-dkey';
}

/** What a commit hands every shard write: its epoch and, for a transaction, its read epoch. */
export interface ApplyContext {
  epoch: bigint;
  /** Read epoch of the transaction (stores shared by several clients check conflicts with it). */
  txRead?: bigint;
}

/** One shard write of a commit, bound to its target. */
export interface ShardWrite {
  target: number;
  shard: number;
  apply(store: ShardStore, at: ApplyContext): Promise<void>;
}

/** The store options of a write made under `at`. */
export function writeOpts(at: ApplyContext): WriteOpts | undefined {
  return at.txRead !== undefined ? { txRead: at.txRead } : undefined;
}

/** Size of the header in front of each EC single-value piece. */
export const EC_PIECE_HEADER = 16;
/** Piece format of a striped EC single value: one of k data pieces or p parity pieces of ceil(length / k) bytes. */
const PIECE_FORMAT = 1;
/**
 * Piece format of an EC single value stored whole: the value itself (length bytes after the
 * header), held by data role 0 and every parity role (p + 1 copies: the fault tolerance of the
 * striped form). Byte 5 (the matrix id of striped pieces) is 0. Builds before it read such a
 * piece as damaged (its format byte is unknown to them), never as other bytes.
 */
const WHOLE_PIECE_FORMAT = 2;
/**
 * EC single values of at most this many bytes are stored whole (`WHOLE_PIECE_FORMAT`) on data
 * role 0 and the p parity roles instead of being striped over k + p shards, as DAOS stores small
 * EC single values: a put is p + 1 shard writes instead of k + p, and a healthy get reads role 0
 * alone instead of k shards (one request each on a connected pool), at the cost of p + 1 copies
 * of a small value instead of (k + p) / k.
 */
export const EC_WHOLE_SINGLE_MAX_BYTES = 4096;

/** Shard indices (global) and targets of group `g`. */
export function groupShards(groups: number[][], g: number): Array<{ shard: number; target: number }> {
  if (!(Number.isInteger(g) && g >= 0 && g < groups.length)) assert(false, 'the group is in the layout', { group: g, groups: groups.length });
  const size = groups[0]!.length;
  if (groups[g]!.length !== size) assert(false, 'every group of a layout has the same size', { group: g, size, got: groups[g]!.length });
  return groups[g]!.map((target, i) => ({ shard: g * size + i, target }));
}

/** Rotation of the roles of `dkey`'s EC group in this container (0 when roles are fixed or not EC). */
export function dkeyRotation(ctx: Pick<IoContext, 'parityRotation'>, red: Redundancy, dkey: Uint8Array): number {
  return ctx.parityRotation === 'per-dkey' && red.kind === 'ec' && red.groupSize > 1 ? dkeyParityRotation(dkey, red.groupSize) : 0;
}

/**
 * The members of group `g` in role order under `rotation`: element i is the shard (position) that
 * holds role i — data cell i for i < k, parity i - k after. Rotation 0 is layout order.
 */
export function roleShards(groups: number[][], g: number, rotation: number): ReadonlyArray<{ readonly shard: number; readonly target: number }> {
  // Layouts are cached with their groups array, so the role lists of a layout are too (no
  // allocation per I/O); a new layout is a new array and starts a new cache entry.
  let byKey = roleCache.get(groups);
  if (byKey === undefined) { byKey = new Map(); roleCache.set(groups, byKey); }
  const key = g * ROLE_KEY_STRIDE + rotation;
  const hit = byKey.get(key);
  if (hit !== undefined && sameMembers(hit, groups, g)) return hit;
  const members = groupShards(groups, g);
  const pos = rotation === 0 ? undefined : rolePositions(rotation, members.length);
  const roles = Object.freeze(members.map((m, role) => Object.freeze(pos === undefined ? m : members[pos[role]!]!)));
  byKey.set(key, roles);
  return roles;
}
/** Whether cached roles still name the targets of group `g` (a layout is never edited in place; checked anyway). */
function sameMembers(roles: ReadonlyArray<{ readonly shard: number; readonly target: number }>, groups: number[][], g: number): boolean {
  const group = groups[g];
  if (group === undefined || group.length !== roles.length) return false;
  const base = g * group.length;
  for (let i = 0; i < roles.length; i++) if (group[roles[i]!.shard - base] !== roles[i]!.target) return false;
  return true;
}
/** `roleShards` results per groups array, by `g * ROLE_KEY_STRIDE + rotation`. */
const roleCache = new WeakMap<number[][], Map<number, ReadonlyArray<{ readonly shard: number; readonly target: number }>>>();
/** Larger than any group size, so `g * stride + rotation` names one (group, rotation) pair. */
const ROLE_KEY_STRIDE = 1 << 16;

/**
 * The layout invariants every data-path entry point relies on: at least one group, every group
 * `red.groupSize` targets, `g` one of them; EC groups have k >= 1 data and p >= 0 parity shards.
 */
export function checkLayout(red: Redundancy, groups: number[][], g: number): void {
  // (conditions first: the details are only built for a failing assertion; this runs per I/O)
  if (!(groups.length >= 1 && Number.isInteger(g) && g >= 0 && g < groups.length)) assert(false, 'the group is in the layout', { group: g, groups: groups.length });
  for (let i = 0; i < groups.length; i++) if (groups[i]!.length !== red.groupSize) assert(false, 'every group holds groupSize targets', { groupSize: red.groupSize, sizes: groups.map((x) => x.length) });
  if (!(red.dataShards >= 1 && red.parityShards >= 0 && (red.kind !== 'ec' || red.dataShards + red.parityShards === red.groupSize))) assert(false, 'the redundancy shape is consistent', { ...red });
}

function isShardFailure(err: unknown): boolean {
  // Anything a lower layer reports about one shard (checksum, I/O, corruption, missing file) is a
  // lost shard for redundancy purposes; programming errors (TypeError...) are not swallowed.
  return err instanceof CairnError || (err as NodeJS.ErrnoException)?.code !== undefined;
}

/**
 * Whether a shard call's error is about the whole request, to be passed on rather than counted
 * as a lost shard: an abort, a closed pool, a stale pool map (the caller refreshes it and plans
 * again), a stale epoch (an engine holds a write in a read "now"'s uncertainty window: the
 * caller reads again at a newer "now"; the shard is healthy), or a transaction's read at an epoch
 * another client's aggregation passed (TX_RESTART: the transaction runs again).
 */
export function passesOn(err: unknown): boolean {
  if (!(err instanceof CairnError)) return false;
  const c = err.code;
  return c === 'ABORTED' || c === 'POOL_CLOSED' || c === 'STALE_MAP' || c === 'STALE_EPOCH' || c === 'TX_RESTART';
}

/** Whether a failed shard call counts as a lost shard (as `tryShard` decides), not an error to pass on. */
function isLostShard(err: unknown): boolean {
  if (passesOn(err)) return false;
  return isShardFailure(err);
}

async function tryShard<T>(ctx: IoContext, target: number, fn: (s: ShardStore) => Promise<T>, onFail: (err: unknown) => void): Promise<{ ok: true; value: T } | { ok: false }> {
  if (!ctx.available(target)) return { ok: false };
  try {
    return { ok: true, value: await fn(await ctx.store(target)) };
  } catch (err) {
    if (passesOn(err)) throw err;
    if (!isShardFailure(err)) throw err;
    onFail(err);
    return { ok: false };
  }
}

// ---------------------------------------------------------------- single values

/**
 * The piece an EC single value of at most EC_WHOLE_SINGLE_MAX_BYTES is stored as
 * (`WHOLE_PIECE_FORMAT`) at `epoch`: the same bytes on data role 0 and each of the p parity roles
 * (`wholeSingleRole`). Exported so that a commit path writing it like a replica set (container.ts)
 * builds it here, in one place with the format.
 */
export function wholeSinglePiece(value: Uint8Array, epoch: bigint): Uint8Array {
  const n = EC_PIECE_HEADER + value.length;
  // (a small piece is carved from the shared slab, core/bytes.ts `valueSlab`: a buffer of its own
  // cost ~0.4 us a piece, most of it the backing store; the header is written in place, no DataView)
  const piece = valueSlab.take(n);
  piece.set(value, EC_PIECE_HEADER);
  const len = value.length;
  piece[0] = len & 0xff; piece[1] = (len >>> 8) & 0xff; piece[2] = (len >>> 16) & 0xff; piece[3] = len >>> 24;
  piece[4] = WHOLE_PIECE_FORMAT;
  if (epoch !== 0n) writeU64le(piece, 8, epoch);
  return piece;
}

/** `v` (below 2^64) as 8 little-endian bytes at `at` of `b`. */
function writeU64le(b: Uint8Array, at: number, v: bigint): void {
  const lo = Number(v & 0xffffffffn), hi = Number(v >> 32n);
  b[at] = lo & 0xff; b[at + 1] = (lo >>> 8) & 0xff; b[at + 2] = (lo >>> 16) & 0xff; b[at + 3] = lo >>> 24;
  b[at + 4] = hi & 0xff; b[at + 5] = (hi >>> 8) & 0xff; b[at + 6] = (hi >>> 16) & 0xff; b[at + 7] = hi >>> 24;
}

/** Whether role `i` of a k + p group holds a whole EC single value (data role 0 and the parity roles). */
export function wholeSingleRole(i: number, k: number): boolean { return i === 0 || i >= k; }

/** Plan the shard writes of a single-value update in group `g`. */
export function planSingle(ctx: IoContext, red: Redundancy, groups: number[][], g: number, oid: bigint, dkey: Uint8Array, akey: Uint8Array, value: Uint8Array, epochHint: bigint): ShardWrite[] {
  checkLayout(red, groups, g);
  const shards = groupShards(groups, g);
  if (red.kind !== 'ec') {
    return shards.map(({ shard, target }) => ({
      target, shard, apply: (s, at) => s.updateSingle(at.epoch, unitOid(oid, shard), dkey, akey, value, writeOpts(at)),
    }));
  }
  const { dataShards: k, parityShards: p } = red;
  const roles = roleShards(groups, g, dkeyRotation(ctx, red, dkey));
  if (value.length <= EC_WHOLE_SINGLE_MAX_BYTES) {
    // (a hint that this akey is striped is stale now: a later get through this context reads role 0 alone)
    if (k > 1) forgetStripedSingle(ctx, oid, dkey, akey);
    // stored whole on role 0 and the parity roles (one piece, the same bytes for each of them)
    const piece = wholeSinglePiece(value, 0n);
    const dv = new DataView(piece.buffer, piece.byteOffset, EC_PIECE_HEADER);
    const out: ShardWrite[] = [];
    for (let i = 0; i < k + p; i++) {
      if (!wholeSingleRole(i, k)) continue;
      const { shard, target } = roles[i]!;
      out.push({
        target, shard,
        apply: (s, at) => {
          // (the same epoch for every holder of one commit: the shared header is set alike by each)
          dv.setBigUint64(8, at.epoch === 0n ? epochHint : at.epoch, true);
          return s.updateSingle(at.epoch, unitOid(oid, shard), dkey, akey, piece, writeOpts(at));
        },
      });
    }
    return out;
  }
  // (a later get through this context reads its k data roles at once: striped-hints.ts)
  if (k > 1) rememberStriped(ctx, stripedHintKey(oid, dkey, akey), akey, 'striped');
  const pieceLen = Math.max(1, Math.ceil(value.length / k));
  const pieces: Uint8Array[] = [];
  for (let i = 0; i < k + p; i++) pieces.push(new Uint8Array(EC_PIECE_HEADER + pieceLen));
  const bodies = pieces.map((b) => b.subarray(EC_PIECE_HEADER));
  for (let i = 0; i < k; i++) bodies[i]!.set(value.subarray(i * pieceLen, Math.min(value.length, (i + 1) * pieceLen)));
  ctx.codec(k, p).encode(bodies);
  assert(pieces.length === roles.length && pieceLen * k >= value.length, 'k + p pieces of ceil(length / k) bytes, one per shard', { pieces: pieces.length, shards: roles.length, pieceLen, length: value.length, k });
  return roles.map(({ shard, target }, i) => ({
    target, shard,
    apply: (s, at) => {
      const piece = pieces[i]!;
      const dv = new DataView(piece.buffer, piece.byteOffset, EC_PIECE_HEADER);
      dv.setUint32(0, value.length, true);
      dv.setUint8(4, PIECE_FORMAT);
      dv.setUint8(5, ctx.matrixId ?? 1);
      dv.setBigUint64(8, at.epoch === 0n ? epochHint : at.epoch, true);
      return s.updateSingle(at.epoch, unitOid(oid, shard), dkey, akey, piece, writeOpts(at));
    },
  }));
}

/** Fetch a single value of group `g` at `epoch`; undefined when nothing is visible. `fresh`: a read "now" (shard-store.ts `FreshFrom`). */
export function fetchSingle(ctx: IoContext, red: Redundancy, groups: number[][], g: number, oid: bigint, dkey: Uint8Array, akey: Uint8Array, epoch: bigint, fresh?: FreshFrom): Promise<Uint8Array | undefined> {
  checkLayout(red, groups, g);
  if (epoch < 0n) assert(false, 'reads are at a non-negative epoch', { epoch: String(epoch) });
  return red.kind !== 'ec' ? replicaFetch(ctx, groups, g, oid, dkey, akey, epoch, 0, fresh) : ecFetchSingle(ctx, red, groups, g, oid, dkey, akey, epoch, fresh, UNREAD);
}

/**
 * `fetchSingle`, answered without a promise when it can be: a replicated or striped object whose
 * first healthy copy is on an open local store holding the value in memory, in its log or inline
 * in a run (a small get: one lookup and a copy). Otherwise (a value in the data file, a store not
 * open or remote, EC) the promise of the same read. Same rules: a lost copy is reported and the
 * next one read; no healthy copy is DATA_LOST.
 */
export function fetchSingleNow(ctx: IoContext, red: Redundancy, groups: number[][], g: number, oid: bigint, dkey: Uint8Array, akey: Uint8Array, epoch: bigint, fresh?: FreshFrom): Uint8Array | undefined | Promise<Uint8Array | undefined> {
  checkLayout(red, groups, g);
  if (epoch < 0n) assert(false, 'reads are at a non-negative epoch', { epoch: String(epoch) });
  if (red.kind === 'ec') return ctx.syncReads === true ? ecFetchSingleNow(ctx, red, groups, g, oid, dkey, akey, epoch, fresh) : ecFetchSingle(ctx, red, groups, g, oid, dkey, akey, epoch, fresh, UNREAD);
  if (ctx.syncReads !== true) return replicaFetch(ctx, groups, g, oid, dkey, akey, epoch, 0, fresh);
  const group = groups[g]!, size = group.length;
  for (let i = 0; i < size; i++) {
    const target = group[i]!;
    if (!ctx.available(target)) continue;
    const s = ctx.storeNow?.(target);
    if (s === undefined || s.fetchSingleNow === undefined) return replicaFetch(ctx, groups, g, oid, dkey, akey, epoch, i, fresh);
    const shard = g * size + i;
    try {
      const v = s.fetchSingleNow(epoch, unitOid(oid, shard), dkey, akey);
      // null: the value is in the data file; this copy is read (again) with a promise
      return v !== null ? v : replicaFetch(ctx, groups, g, oid, dkey, akey, epoch, i, fresh);
    } catch (error) {
      if (!isLostShard(error)) throw error;
      ctx.reportBadShard({ target, oid, shard, dkey, akey, error });
    }
  }
  throw lost(oid, dkey, akey, 'no healthy replica');
}

/**
 * An EC single value stored whole, answered without a promise when data role 0's store is open
 * and holds it at hand (`ShardStore.fetchSingleNow`); anything else (a striped value, nothing
 * visible, a value in the data file, role 0 down or damaged) is `ecFetchSingle`, handed what
 * role 0 answered.
 */
function ecFetchSingleNow(ctx: IoContext, red: Redundancy, groups: number[][], g: number, oid: bigint, dkey: Uint8Array, akey: Uint8Array, epoch: bigint, fresh: FreshFrom): Uint8Array | undefined | Promise<Uint8Array | undefined> {
  const { shard, target } = roleShards(groups, g, dkeyRotation(ctx, red, dkey))[0]!;
  if (!ctx.available(target)) return ecFetchSingle(ctx, red, groups, g, oid, dkey, akey, epoch, fresh, null);
  const s = ctx.storeNow?.(target);
  if (s === undefined || s.fetchSingleNow === undefined) return ecFetchSingle(ctx, red, groups, g, oid, dkey, akey, epoch, fresh, UNREAD);
  let v: Uint8Array | undefined | null;
  try {
    v = s.fetchSingleNow(epoch, unitOid(oid, shard), dkey, akey);
  } catch (error) {
    if (!isLostShard(error)) throw error;
    ctx.reportBadShard({ target, oid, shard, dkey, akey, error });
    return ecFetchSingle(ctx, red, groups, g, oid, dkey, akey, epoch, fresh, null);
  }
  if (v === null) return ecFetchSingle(ctx, red, groups, g, oid, dkey, akey, epoch, fresh, UNREAD);
  if (v !== undefined && isWholePiece(v)) return wholeValue(v);
  return ecFetchSingle(ctx, red, groups, g, oid, dkey, akey, epoch, fresh, v);
}

/** A replicated / striped single value: the first healthy copy from copy `from` on (tryShard's rules, without its per-shard closures and results). */
async function replicaFetch(ctx: IoContext, groups: number[][], g: number, oid: bigint, dkey: Uint8Array, akey: Uint8Array, epoch: bigint, from: number, fresh: FreshFrom): Promise<Uint8Array | undefined> {
  const group = groups[g]!, size = group.length;
  for (let i = from; i < size; i++) {
    const target = group[i]!, shard = g * size + i;
    if (!ctx.available(target)) continue;
    try {
      const s = ctx.storeNow?.(target); // an open store: no promise to wait for
      return await (s !== undefined ? s : await ctx.store(target)).fetchSingle(epoch, unitOid(oid, shard), dkey, akey, fresh);
    } catch (error) {
      if (!isLostShard(error)) throw error;
      ctx.reportBadShard({ target, oid, shard, dkey, akey, error });
    }
  }
  throw lost(oid, dkey, akey, 'no healthy replica');
}

/** A piece as read from the shard of one role: null when not read or lost, undefined when nothing is visible there. */
type PieceRead = Uint8Array | undefined | null;
/** `ecFetchSingle`'s `first` when role 0 was not read yet. */
const UNREAD = Symbol('unread');

/** The value length a piece's header gives (bytes 0-3, little-endian). */
function pieceLength(v: Uint8Array): number {
  return (v[0]! | (v[1]! << 8) | (v[2]! << 16) | (v[3]! << 24)) >>> 0;
}

/**
 * The value of a whole piece: a view of the store's answer past its header, not a copy. A store's
 * answer belongs to its caller (a local store copies the value out for it, a remote one decodes
 * it: a replicated read hands it to the user as is), so its view does too. A copy here was 5% of
 * an embedded small EC get's CPU (--cpu-prof; per-round A/B 0.85 / 0.88 CPU per get without it).
 */
function wholeValue(v: Uint8Array): Uint8Array {
  return v.subarray(EC_PIECE_HEADER);
}

/** Whether `v` is a well-formed whole piece (`WHOLE_PIECE_FORMAT`: the value itself after the header). */
function isWholePiece(v: Uint8Array): boolean {
  return v.length >= EC_PIECE_HEADER && v[4] === WHOLE_PIECE_FORMAT && pieceLength(v) === v.length - EC_PIECE_HEADER;
}

/**
 * An EC single value: data role 0 is read first (it receives every write of the akey: a whole
 * value's copy or a striped value's first piece), and a whole piece there is the answer, nothing
 * visible there the answer "absent" (a healthy target holds every write, as a replica does). Else
 * the other data roles, then the parity roles when something is missing or inconsistent, and
 * the newest version read wins: a whole piece (on role 0 or a parity role), or a striped version
 * with at least k pieces. `first`: role 0's answer when the caller read it already, else UNREAD:
 * then an akey this context last saw striped (striped-hints.ts) has its k data roles read at once
 * (one round trip to remote stores instead of two in series), decided from the same pieces.
 */
async function ecFetchSingle(ctx: IoContext, red: Redundancy, groups: number[][], g: number, oid: bigint, dkey: Uint8Array, akey: Uint8Array, epoch: bigint, fresh: FreshFrom, first: PieceRead | typeof UNREAD): Promise<Uint8Array | undefined> {
  const fail = (shard: number, target: number) => (error: unknown) => ctx.reportBadShard({ target, oid, shard, dkey, akey, error });
  const { dataShards: k, parityShards: p } = red;
  const roles = roleShards(groups, g, dkeyRotation(ctx, red, dkey));
  const got: PieceRead[] = new Array(k + p).fill(null);
  const read = async (i: number) => {
    const { shard, target } = roles[i]!;
    const r = await tryShard(ctx, target, (s) => s.fetchSingle(epoch, unitOid(oid, shard), dkey, akey, fresh), fail(shard, target));
    got[i] = r.ok ? r.value : null;
  };
  let hint: string | undefined, all = false;
  if (first === UNREAD) {
    if (k > 1 && hasStripedHints(ctx)) { hint = stripedHintKey(oid, dkey, akey); all = stripedHint(ctx, hint, akey); }
    if (all) await Promise.all(Array.from({ length: k }, (_, i) => read(i)));
    else await read(0);
  } else got[0] = first;
  const v0 = got[0];
  if (v0 instanceof Uint8Array && isWholePiece(v0)) { if (hint !== undefined) rememberStriped(ctx, hint, akey, 'whole'); return wholeValue(v0); }
  // Nothing visible on a healthy role 0: nothing is (every write and punch of a single value
  // reaches role 0, and a target serves reads only once it holds every write: pool map states).
  if (v0 === undefined) { if (all) rememberStriped(ctx, hint!, akey, 'absent'); return undefined; }
  if (first === UNREAD && k > 1 && !all && v0 !== null) rememberStriped(ctx, hint ?? stripedHintKey(oid, dkey, akey), akey, 'striped');
  if (k > 1 && !all) await Promise.all(Array.from({ length: k - 1 }, (_, i) => read(i + 1)));
  const mid = ctx.matrixId ?? 1;
  let verdict = combinePieces(got, k, mid);
  if (verdict.kind === 'need-more') {
    await Promise.all(Array.from({ length: p }, (_, j) => read(k + j)));
    verdict = combinePieces(got, k, mid);
  }
  if (verdict.kind === 'absent') return undefined;
  if (verdict.kind !== 'ok') throw lost(oid, dkey, akey, 'too few consistent EC pieces');
  if (verdict.whole >= 0) return wholeValue(got[verdict.whole]!);
  const { length, use } = verdict;
  const pieceLen = Math.max(1, Math.ceil(length / k));
  const bodies: (Uint8Array | null)[] = got.map((v, i) => (v && use[i] ? v.subarray(EC_PIECE_HEADER) : null));
  if (bodies.slice(0, k).some((b) => b === null)) {
    if (bodies.filter((b) => b !== null).length < k) throw lost(oid, dkey, akey, 'too few EC pieces');
    ctx.codec(k, p).reconstruct(bodies, { dataOnly: true });
  }
  const out = outputBuffer(length); // (the pieces below cover every byte of it)
  for (let i = 0; i < k; i++) {
    const start = i * pieceLen;
    if (start >= length) break;
    assert(bodies[i]!.length === pieceLen, 'every combined piece body is ceil(length / k) bytes', { piece: i, got: bodies[i]!.length, pieceLen });
    out.set(bodies[i]!.subarray(0, Math.min(pieceLen, length - start)), start);
  }
  return out;
}

type Verdict =
  /** `whole`: the role of the whole piece that is the value (-1: striped, the pieces of `use`). */
  | { kind: 'ok'; length: number; epochOf: bigint; use: boolean[]; whole: number }
  | { kind: 'absent' }
  | { kind: 'need-more' }
  | { kind: 'lost' };

/**
 * The newest complete version among `got` (`complete`: also a striped version with fewer than k
 * pieces when false, as a reader takes the newest version read or none), its length, epoch, and
 * pieces. Pieces that are not well formed (unknown format, another matrix when `matrixId` is
 * given, a length their header does not give) are not versions.
 */
function newestVersion(got: ReadonlyArray<PieceRead>, k: number, matrixId: number | undefined, complete: boolean): { epoch: bigint; length: number; whole: number; idx: number[] } | undefined {
  let best: { epoch: bigint; length: number; whole: number; idx: number[] } | undefined;
  for (let i = 0; i < got.length; i++) {
    const v = got[i];
    if (!(v instanceof Uint8Array) || v.length < EC_PIECE_HEADER) continue;
    const length = pieceLength(v);
    const whole = isWholePiece(v);
    if (!whole && (v[4] !== PIECE_FORMAT || (matrixId !== undefined && v[5] !== matrixId) || v.length !== EC_PIECE_HEADER + Math.max(1, Math.ceil(length / k)))) continue;
    const epoch = new DataView(v.buffer, v.byteOffset, EC_PIECE_HEADER).getBigUint64(8, true);
    if (best !== undefined && epoch < best.epoch) continue;
    if (best !== undefined && epoch === best.epoch) {
      // (one write per akey per epoch: the same version, or damage a checksum did not catch)
      // (a complete version counted its pieces already)
      if (!complete && best.whole < 0 && !whole && length === best.length) best.idx.push(i);
      continue;
    }
    if (!complete || whole) { best = { epoch, length, whole: whole ? i : -1, idx: [i] }; continue; }
    // (complete versions only: count this striped version's pieces first)
    let n = 0;
    const idx: number[] = [];
    for (let j = i; j < got.length; j++) {
      const w = got[j];
      if (!(w instanceof Uint8Array) || w.length !== v.length || w[4] !== PIECE_FORMAT || (matrixId !== undefined && w[5] !== matrixId) || pieceLength(w) !== length) continue;
      if (new DataView(w.buffer, w.byteOffset, EC_PIECE_HEADER).getBigUint64(8, true) !== epoch) continue;
      idx.push(j); n++;
    }
    if (n >= k) best = { epoch, length, whole: -1, idx };
  }
  return best;
}

/** Decide from the pieces read so far whether a consistent version can be assembled. */
function combinePieces(got: ReadonlyArray<PieceRead>, k: number, matrixId: number): Verdict {
  // The newest version read wins: a whole piece alone, a striped version with >= k pieces.
  const best = newestVersion(got, k, matrixId, false);
  if (best !== undefined && (best.whole >= 0 || best.idx.length >= k)) {
    const use = got.map((_, i) => best.idx.includes(i));
    return { kind: 'ok', length: best.length, epochOf: best.epoch, use, whole: best.whole };
  }
  let absent = 0;
  for (let i = 0; i < got.length; i++) if (got[i] === undefined) absent++;
  if (best === undefined && absent > 0 && absent >= k) return { kind: 'absent' };
  return { kind: 'need-more' };
}

/** What a rebuilt shard of an EC single value holds (`ecRebuildSinglePiece`). */
export type EcSingleRebuild =
  /** Write `piece` (header and body) at the version's `epoch`. */
  | { kind: 'piece'; piece: Uint8Array; epoch: bigint }
  /** The newest version is stored whole and this role (a data role other than 0) holds no copy of it: write nothing. */
  | { kind: 'none' }
  /** No piece was read at all: nothing is visible (punch the akey on the rebuilt shard). */
  | { kind: 'absent' }
  /** No complete version among the pieces: the value cannot be rebuilt. */
  | { kind: 'lost' };

/**
 * The piece of role `role` of an EC single value, rebuilt from the pieces read from the other
 * shards at one read point (`pieces[r]`: role r's answer, undefined when absent, lost or not
 * read). The newest complete version wins: a whole piece (`WHOLE_PIECE_FORMAT`, any one copy) is
 * copied to role 0 and the parity roles (no decode), a striped version with at least k pieces is
 * decoded. Owned here with the piece formats, for rebuild (src/pool/migrate.ts) to call.
 * `matrixId`: the container's (pieces of another matrix are not versions); undefined: not checked.
 */
export function ecRebuildSinglePiece(codec: Pick<EcCodec, 'reconstruct'>, pieces: ReadonlyArray<Uint8Array | undefined>, k: number, p: number, role: number, matrixId?: number): EcSingleRebuild {
  if (!(Number.isInteger(role) && role >= 0 && role < k + p && pieces.length === k + p)) assert(false, 'a rebuilt role of a group of k + p pieces', { role, k, p, pieces: pieces.length });
  const best = newestVersion(pieces, k, matrixId, true);
  if (best === undefined) return pieces.every((v) => v === undefined) ? { kind: 'absent' } : { kind: 'lost' };
  if (best.whole >= 0) {
    if (role !== 0 && role < k) return { kind: 'none' };
    return { kind: 'piece', piece: Uint8Array.prototype.slice.call(pieces[best.whole]!), epoch: best.epoch };
  }
  const bodies: (Uint8Array | null)[] = pieces.map((v, i) => (v && best.idx.includes(i) && i !== role ? v.subarray(EC_PIECE_HEADER) : null));
  let present = 0;
  for (const b of bodies) if (b !== null) present++;
  if (present < k) return { kind: 'lost' };
  codec.reconstruct(bodies, { dataOnly: role < k });
  const src = pieces[best.idx[0]!]!;
  const out = new Uint8Array(src.length);
  out.set(src.subarray(0, EC_PIECE_HEADER));
  assert(bodies[role]!.length === src.length - EC_PIECE_HEADER, 'a rebuilt piece is as long as its siblings', { rebuilt: bodies[role]!.length, sibling: src.length - EC_PIECE_HEADER });
  out.set(bodies[role]!, EC_PIECE_HEADER);
  return { kind: 'piece', piece: out, epoch: best.epoch };
}

// ---------------------------------------------------------------- arrays

/** Whether writing `length` bytes at `offset` of an EC array rewrites only part of some stripe (read-modify-write). */
export function isPartialStripe(red: Redundancy, cell: number, offset: number, length: number): boolean {
  if (red.kind !== 'ec' || length === 0) return false;
  const { first, last } = stripeRange(offset, length, red.dataShards, cell);
  const stripeBytes = red.dataShards * cell;
  return !(offset === first * stripeBytes && offset + length === (last + 1) * stripeBytes);
}

/**
 * How an erasure-coded array write of a commit meets the other ops of that commit on its akey
 * (container/commit-waves.ts `orderOps`): `pieces`, the commit's writes of the akey in order, when
 * they leave gaps (the write's `offset` and `data` then span them; its stripes are read once, each
 * piece laid over them in turn, and each data cell rewritten from its first to its last byte
 * touched); `zeroBase`, when the commit punched the akey (or above it) before: the old stripes are
 * not read but taken as holes, which is what the punch leaves.
 */
export interface ArrayWriteShape {
  pieces?: ReadonlyArray<{ readonly offset: number; readonly data: Uint8Array }>;
  zeroBase?: boolean;
}

/** Plan the shard writes of an array update at byte `offset` in group `g` (may read for RMW). */
export async function planArray(ctx: IoContext, red: Redundancy, groups: number[][], g: number, oid: bigint, dkey: Uint8Array, akey: Uint8Array, offset: number, data: Uint8Array, shape?: ArrayWriteShape): Promise<ShardPlan> {
  checkLayout(red, groups, g);
  if (!(Number.isSafeInteger(offset) && offset >= 0 && Number.isSafeInteger(offset + data.length))) assert(false, 'an array write is at a non-negative safe offset', { offset, length: data.length });
  if (data.length === 0) return [];
  const pieces = red.kind === 'ec' ? shape?.pieces : undefined;
  if (red.kind !== 'ec') {
    return groupShards(groups, g).map(({ shard, target }) => ({
      target, shard, apply: (s, at) => s.updateArray(at.epoch, unitOid(oid, shard), dkey, akey, { index: offset, count: data.length }, data, writeOpts(at)),
    }));
  }
  const { dataShards: k, parityShards: p } = red;
  const roles = roleShards(groups, g, dkeyRotation(ctx, red, dkey));
  const cell = ctx.cellSize;
  const { first, last } = stripeRange(offset, data.length, k, cell);
  const nStripes = last - first + 1;
  const stripeBytes = k * cell;
  const spanStart = first * stripeBytes, spanEnd = (last + 1) * stripeBytes;
  const fullCover = pieces === undefined && offset === spanStart && offset + data.length === spanEnd;
  // Per-role buffers covering the touched stripes (shard-local bytes [first*cell, (last+1)*cell)),
  // allocated in the codec's wasm memory: the caller's bytes are copied once into them (the old
  // stripes of a partial write are read straight into them), parity is encoded in place, and the
  // target stores write straight from these views.
  const codec = ctx.codec(k, p);
  // Whole stripes of cells the native kernel takes, every data shard's store taking views: parity
  // is computed from the caller's bytes, on the pool job that writes it when the stores allow
  // (`deferrableParity`): then only the p parity buffers are needed, plain recycled ones.
  const whole = fullCover && cell >= NATIVE_GF_MIN_BYTES;
  const gather = whole && nStripes * cell > GATHER_MIN_SHARD_BYTES && gatherStores(ctx, roles, k);
  const matrix = gather ? deferrableParity(ctx, codec, roles, k, p) : undefined;
  const bufs = matrix !== undefined ? parityBuffers(k, p, nStripes * cell) : stripeBuffers(codec, k + p, nStripes * cell);
  let released = false;
  // (deferred parity fills are dropped before their buffers go back to the codec)
  let deferred: Uint8Array[] | undefined;
  const release = () => { if (!released) { released = true; if (deferred !== undefined) for (const v of deferred) dropFill(v); bufs.release(); } };
  if (!fullCover && shape?.zeroBase === true) {
    // the commit punched what this write lands on: the old stripes are holes
    for (const b of bufs.shards) b.fill(0);
  } else if (!fullCover) {
    // Read-modify-write: the old stripes, degraded if need be (holes read as zeros).
    try {
      await readStripes(ctx, red, roles, oid, dkey, akey, first, last, 'latest', bufs.shards);
    } catch (err) {
      release();
      throw err;
    }
  }
  let touchedRange: Array<[number, number] | undefined>;
  // Whole stripes of cells the native kernel takes: parity is encoded from the caller's bytes, and
  // the data cells are either written from them too (every data shard's store takes views:
  // `updateArrayParts`, a gather write) or copied into the stripe buffers in the encode's own pass
  // (`encodeFrom`). Smaller cells: one copy, then one encode over the whole buffers (fewer calls).
  let parts: Uint8Array[][] | undefined;
  if (gather) {
    if (matrix !== undefined) {
      // The parity cells are computed on the pool job that hashes and writes them (media/fills.ts):
      // each parity buffer is registered with its row of the encoding matrix and the caller's bytes.
      parts = stripeViews(data, k, cell, nStripes);
      deferred = [];
      for (let i = k; i < k + p; i++) {
        deferFill(bufs.shards[i]!, matrix.subarray(i * k, (i + 1) * k), cell, data);
        deferred.push(bufs.shards[i]!);
      }
    } else {
      parts = encodeStripesInPlace(codec, bufs.shards, data, k, cell, nStripes);
    }
    touchedRange = Array.from({ length: k }, (): [number, number] => [0, nStripes * cell]);
  } else if (whole && codec.encodeFrom !== undefined) {
    touchedRange = encodeStripesFrom(codec as EcCodec & Required<Pick<EcCodec, 'encodeFrom'>>, bufs.shards, data, k, cell, nStripes);
  } else if (pieces !== undefined) {
    touchedRange = new Array(k).fill(undefined);
    for (const piece of pieces) {
      const t = copyIntoStripes(bufs.shards, piece.data, piece.offset, k, cell, first);
      for (let i = 0; i < k; i++) {
        const a = touchedRange[i], b = t[i];
        if (b !== undefined) touchedRange[i] = a === undefined ? b : [Math.min(a[0], b[0]), Math.max(a[1], b[1])];
      }
    }
    codec.encode(bufs.shards);
  } else {
    touchedRange = copyIntoStripes(bufs.shards, data, offset, k, cell, first);
    codec.encode(bufs.shards);
  }
  const base = first * cell;
  const writes: ShardPlan = [];
  writes.release = release;
  // Fused: each whole-buffer shard write a local store prepares joins the plan's open group, sent
  // as one hashed group write when this run of JavaScript ends (`PreparedWriteGroup`).
  const fused: { open: PreparedWriteGroup | undefined } | undefined = fusedWritesOn && (parts !== undefined || deferred !== undefined) ? { open: undefined } : undefined;
  let dataBytes = 0;
  roles.forEach(({ shard, target }, i) => {
    if (i < k && touchedRange[i] === undefined) return;
    // Data shards write exactly the bytes the caller wrote (holes stay holes); parity whole cells.
    const [lo, hi] = i < k ? touchedRange[i]! : [0, nStripes * cell];
    if (i < k) dataBytes += hi - lo;
    if (!(lo >= 0 && hi <= nStripes * cell && hi > lo)) assert(false, 'a shard writes a non-empty range of its stripe buffer', { shard, lo, hi, bytes: nStripes * cell });
    const from = parts !== undefined && i < k ? parts[i]! : undefined;
    const fill = deferred !== undefined && i >= k ? bufs.shards[i]! : undefined;
    writes.push({
      target, shard,
      apply: from !== undefined
        ? (s, at) => {
          const recx = { index: base + lo, count: hi - lo };
          return (fused !== undefined ? joinGroup(fused, s, at, unitOid(oid, shard), dkey, akey, recx, from) : undefined)
            ?? writeParts(s, at.epoch, unitOid(oid, shard), dkey, akey, recx, from, writeOpts(at));
        }
        : fill !== undefined
          // a deferred parity buffer goes whole (the registered view itself) to a local store, whose
          // data-file write carries the fill to the pool; any other store gets it computed first
          ? (s, at) => {
            const recx = { index: base, count: fill.length };
            const joined = fused !== undefined ? joinGroup(fused, s, at, unitOid(oid, shard), dkey, akey, recx, [fill]) : undefined;
            if (joined !== undefined) return joined;
            if (s.updateArrayParts === undefined) dropFill(fill, true);
            return s.updateArray(at.epoch, unitOid(oid, shard), dkey, akey, recx, fill, writeOpts(at));
          }
          : (s, at) => s.updateArray(at.epoch, unitOid(oid, shard), dkey, akey, { index: base + lo, count: hi - lo }, bufs.shards[i]!.subarray(lo, hi), writeOpts(at)),
    });
  });
  // Every parity shard is rewritten, and the data bytes written add up to the caller's bytes.
  // (pieces: each data cell from its first to its last byte touched, gaps between pieces included)
  if (!(writes.length >= p && writes.length <= k + p && (pieces === undefined ? dataBytes === data.length : dataBytes <= nStripes * stripeBytes))) assert(false, 'an EC array write rewrites every parity shard and exactly the bytes given', { writes: writes.length, k, p, dataBytes, length: data.length });
  return writes;
}

/** Set to 0 to write EC cells through `updateArrayParts` only (no prepared group writes: `joinGroup`). */
export const FUSED_WRITES_ENV = 'CAIRN_EC_FUSED_WRITES';
let fusedWritesOn = process.env[FUSED_WRITES_ENV] !== '0';

/**
 * Whether whole-stripe EC writes prepare their shard writes and send them as one group
 * (`joinGroup`); `on` switches it (tests and benches compare both ways in one process). Starts
 * from FUSED_WRITES_ENV. Plans made while it is off stay unfused.
 */
export function fusedWrites(on?: boolean): boolean {
  if (on !== undefined) fusedWritesOn = on;
  return fusedWritesOn;
}

/**
 * A shard write of whole views joined to its plan's open group (`PreparedWriteGroup`) when the store
 * prepares it (`ShardStore.prepareArrayWriteNow`); undefined when it does not (or cannot: a bad
 * argument, which the checked path then reports), so the caller writes it the checked way.
 */
function joinGroup(groups: { open: PreparedWriteGroup | undefined }, s: ShardStore, at: ApplyContext, uoid: bigint, dkey: Uint8Array, akey: Uint8Array, recx: Recx, parts: readonly Uint8Array[]): Promise<void> | undefined {
  if (s.prepareArrayWriteNow === undefined) return undefined;
  let w: PreparedShardWrite | null;
  try { w = s.prepareArrayWriteNow(at.epoch, uoid, dkey, akey, recx, parts); } catch { w = null; }
  if (w === null) return undefined;
  let g = groups.open;
  if (g === undefined || g.sent) g = groups.open = new PreparedWriteGroup('group');
  return g.add(w);
}

/**
 * k + p buffers of `bytes` for a codec: views of its wasm memory when it has an allocator (encode
 * and reconstruct on them copy nothing), else plain arrays; `release` returns them.
 */
export function stripeBuffers(codec: EcCodec, n: number, bytes: number): { shards: Uint8Array[]; release(): void } {
  const pooled = codec.allocShards !== undefined && codec.free !== undefined;
  const shards = pooled ? codec.allocShards!(bytes) : Array.from({ length: n }, () => new Uint8Array(bytes));
  if (!(shards.length === n && shards.every((b) => b.length === bytes))) assert(false, 'k + p stripe buffers of the touched stripes', { buffers: shards.length, n, bytes });
  return { shards, release: () => { if (pooled) codec.free!(shards); } };
}

/**
 * The parity buffers of a write whose parity is deferred (`deferrableParity`): `shards` holds k
 * empty views (the data roles write views of the caller's bytes) and p buffers of `bytes` from a
 * free list (plain memory: the fill runs in the addon; recycled, because a new buffer this large
 * is fresh pages whose first touch faults, 7-15 us each here; a miss takes `allocOutput`'s). `release` gives them back. Why not
 * the codec's `allocShards`: it carves k + p buffers out of its wasm memory for the p used, and
 * that (with its free) was ~3% of an EC write's JavaScript thread.
 */
function parityBuffers(k: number, p: number, bytes: number): { shards: Uint8Array[]; release(): void } {
  const list = parityFree.get(bytes);
  const shards = new Array<Uint8Array>(k + p);
  for (let i = 0; i < k; i++) shards[i] = NO_BYTES;
  for (let i = k; i < k + p; i++) {
    const b = list?.pop();
    if (b !== undefined) parityFreeBytes -= bytes;
    shards[i] = b ?? allocOutput(bytes); // (the fill writes every byte: no zeroing)
  }
  return {
    shards,
    release: () => {
      let l = parityFree.get(bytes);
      for (let i = k; i < k + p; i++) {
        if (parityFreeBytes + bytes > PARITY_FREE_MAX_BYTES) break;
        if (l === undefined) parityFree.set(bytes, l = []);
        l.push(shards[i]!);
        parityFreeBytes += bytes;
      }
    },
  };
}
/** Free parity buffers by size (`parityBuffers`), and their total bytes. */
const parityFree = new Map<number, Uint8Array[]>();
let parityFreeBytes = 0;
/** Most bytes of parity buffers kept for reuse: 8 writes of 1 MiB in flight use 4 MiB of EC_4P2 parity. */
const PARITY_FREE_MAX_BYTES = 16 * 1024 * 1024;
const NO_BYTES = new Uint8Array(0);

/** Bytes of parity buffers kept for reuse (tests: every buffer of a released plan comes back once). */
export function parityFreeBytesNow(): number { return parityFreeBytes; }

/**
 * Copy the caller's bytes (object bytes at `offset`) into the per-role stripe buffers (whose
 * first byte is stripe `first`); returns, per data role, the shard-local range written (a
 * contiguous range: one cell of each consecutive stripe), undefined for cells not touched.
 */
function copyIntoStripes(bufs: Uint8Array[], data: Uint8Array, offset: number, k: number, cell: number, first: number): Array<[number, number] | undefined> {
  const touched: Array<[number, number] | undefined> = new Array(k).fill(undefined);
  for (const span of cellSpans(offset, data.length, k, cell)) {
    const local = (span.stripe - first) * cell + span.cellOffset;
    copyBytes(bufs[span.cell]!, data.subarray(span.requestOffset, span.requestOffset + span.length), local);
    const r = touched[span.cell];
    touched[span.cell] = r ? [Math.min(r[0], local), Math.max(r[1], local + span.length)] : [local, local + span.length];
  }
  return touched;
}

/**
 * Shard writes of up to this many bytes stay in the stripe buffers rather than going out as views
 * of the caller's bytes: a local store writes values up to its synchronous-write size (the vos
 * SYNC_WRITE_MAX_BYTES, 64 KiB) from one buffer, so `updateArrayParts` would join the views into a
 * new one — an allocation and a copy where the stripe buffer is already there.
 */
const GATHER_MIN_SHARD_BYTES = 64 * 1024;

/** Whether the stores of all k data roles are open and take gather writes (`updateArrayParts`). */
function gatherStores(ctx: IoContext, roles: ReadonlyArray<{ readonly target: number }>, k: number): boolean {
  if (ctx.storeNow === undefined) return false;
  for (let i = 0; i < k; i++) if (ctx.storeNow(roles[i]!.target)?.updateArrayParts === undefined) return false;
  return true;
}

/**
 * The encoding matrix when this write's parity can be deferred to the pool jobs that write it
 * (media/fills.ts): the addon computes fills, the codec is matrix-based, and every parity role's
 * store is open and local (`updateArrayParts`: a VOS store, which writes a value of this size to its
 * data file with one hashed batch write, reading none of its bytes on this thread). Else undefined.
 */
function deferrableParity(ctx: IoContext, codec: EcCodec, roles: ReadonlyArray<{ readonly target: number }>, k: number, p: number): Uint8Array | undefined {
  const m = codec.encodingMatrix;
  if (!(m instanceof Uint8Array) || m.length !== (k + p) * k || ctx.storeNow === undefined || !deferredFills()) return undefined;
  for (let i = k; i < k + p; i++) if (ctx.storeNow(roles[i]!.target)?.updateArrayParts === undefined) return undefined;
  return m;
}

/** Each data role's cells of whole stripes of the caller's bytes, as views, in stripe order (`encodeStripesInPlace` without the encode). */
export function stripeViews(data: Uint8Array, k: number, cell: number, nStripes: number): Uint8Array[][] {
  if (!(data.length === nStripes * k * cell)) assert(false, 'whole stripes', { length: data.length, nStripes, k, cell });
  const parts = Array.from({ length: k }, () => new Array<Uint8Array>(nStripes));
  for (let s = 0; s < nStripes; s++) {
    const at = s * k * cell;
    for (let j = 0; j < k; j++) parts[j]![s] = data.subarray(at + j * cell, at + (j + 1) * cell);
  }
  return parts;
}

/**
 * Parity of whole stripes of the caller's bytes (`data` is exactly `nStripes` stripes) encoded
 * straight from them into the parity buffers (bufs[k..]), stripe by stripe; returns each data
 * role's cells as views of `data`, in stripe order (what its shard writes: nothing is copied).
 */
function encodeStripesInPlace(codec: EcCodec, bufs: readonly Uint8Array[], data: Uint8Array, k: number, cell: number, nStripes: number): Uint8Array[][] {
  if (!(data.length === nStripes * k * cell && bufs.length > k && bufs.every((b) => b.length === nStripes * cell))) assert(false, 'whole stripes and parity buffers of nStripes cells', { length: data.length, nStripes, k, cell });
  const parts = Array.from({ length: k }, () => new Array<Uint8Array>(nStripes));
  const shards = new Array<Uint8Array>(bufs.length);
  for (let s = 0; s < nStripes; s++) {
    const at = s * k * cell, local = s * cell;
    for (let j = 0; j < k; j++) shards[j] = parts[j]![s] = data.subarray(at + j * cell, at + (j + 1) * cell);
    for (let i = k; i < bufs.length; i++) shards[i] = bufs[i]!.subarray(local, local + cell);
    codec.encode(shards);
  }
  return parts;
}

/**
 * A data shard's write from views of the caller's bytes: a gather write where the store takes one
 * (`updateArrayParts`), else joined into one buffer (a store reopened since the plan chose views).
 */
function writeParts(s: ShardStore, epoch: bigint, uoid: bigint, dkey: Uint8Array, akey: Uint8Array, recx: Recx, parts: readonly Uint8Array[], opts: WriteOpts | undefined): Promise<void> {
  if (s.updateArrayParts !== undefined) return s.updateArrayParts(epoch, uoid, dkey, akey, recx, parts, opts);
  const joined = new Uint8Array(recx.count);
  let at = 0;
  for (const v of parts) { joined.set(v, at); at += v.length; }
  return s.updateArray(epoch, uoid, dkey, akey, recx, joined, opts);
}

/**
 * Whole stripes of the caller's bytes (`data` is exactly `nStripes` stripes) into the per-role
 * stripe buffers, data cells copied and parity encoded stripe by stripe in one pass
 * (`encodeFrom`: with the native kernel the copy is the encode's own loads stored, not a memmove
 * the encode then reads back). Returns every data role's touched range: all of its buffer.
 */
function encodeStripesFrom(codec: Required<Pick<EcCodec, 'encodeFrom'>>, bufs: readonly Uint8Array[], data: Uint8Array, k: number, cell: number, nStripes: number): Array<[number, number]> {
  if (!(data.length === nStripes * k * cell && bufs.length > k && bufs.every((b) => b.length === nStripes * cell))) assert(false, 'whole stripes into stripe buffers of nStripes cells', { length: data.length, nStripes, k, cell });
  const src = new Array<Uint8Array>(k), dst = new Array<Uint8Array>(bufs.length);
  for (let s = 0; s < nStripes; s++) {
    const at = s * k * cell, local = s * cell;
    for (let j = 0; j < k; j++) src[j] = data.subarray(at + j * cell, at + (j + 1) * cell);
    for (let i = 0; i < bufs.length; i++) dst[i] = bufs[i]!.subarray(local, local + cell);
    codec.encodeFrom(src, dst);
  }
  return Array.from({ length: k }, (): [number, number] => [0, nStripes * cell]);
}

/**
 * Read shard-local array bytes `recx` of one shard straight into `into` (in order), holes as
 * zeros: `fetchArrayInto` where the store has it (local stores: no intermediate buffer), else a
 * `fetchArray` and a copy (remote stores).
 */
export async function readShardInto(s: ShardStore, epoch: bigint, uoid: bigint, dkey: Uint8Array, akey: Uint8Array, recx: Recx, into: readonly Uint8Array[], fresh?: FreshFrom): Promise<void> {
  if (s.fetchArrayInto) return s.fetchArrayInto(epoch, uoid, dkey, akey, recx, into, fresh);
  const { data } = await s.fetchArray(epoch, uoid, dkey, akey, recx, { holesAsZero: true }, fresh);
  if (!(data.length === recx.count)) assert(false, 'a shard read returns the bytes asked for (holes as zeros)', { want: recx.count, got: data.length });
  let at = 0;
  for (const b of into) { b.set(data.subarray(at, at + b.length)); at += b.length; }
}

/**
 * Read whole stripes [first, last] into `bufs` (k + p buffers of the stripe range, role order; holes
 * as zeros): the k data roles, and when some fail, the parity roles too, reconstructing the lost data
 * cells in place. `epoch` 'latest' reads everything applied so far (used under the dkey lock).
 * `have[i]`: role i is already in `bufs` (not read again). Parity buffers hold unspecified bytes
 * afterwards.
 */
async function readStripes(ctx: IoContext, red: Redundancy, roles: ReadonlyArray<{ readonly shard: number; readonly target: number }>, oid: bigint, dkey: Uint8Array, akey: Uint8Array, first: number, last: number, epoch: bigint | 'latest', bufs: Uint8Array[], have?: readonly boolean[], fresh?: FreshFrom): Promise<void> {
  const { dataShards: k, parityShards: p } = red;
  const cell = ctx.cellSize;
  const n = (last - first + 1) * cell;
  if (!(bufs.length === k + p && bufs.every((b) => b.length === n))) assert(false, 'stripe reads fill k + p buffers of the stripe range', { k, p, bytes: n, got: bufs.map((b) => b.length) });
  const recx: Recx = { index: first * cell, count: n };
  const e = epoch === 'latest' ? (1n << 64n) - 1n : epoch;
  const present: boolean[] = Array.from({ length: k + p }, (_, i) => have?.[i] === true);
  const tried: boolean[] = present.slice();
  const read = async (i: number) => {
    tried[i] = true;
    const { shard, target } = roles[i]!;
    const r = await tryShard(ctx, target, (s) => readShardInto(s, e, unitOid(oid, shard), dkey, akey, recx, [bufs[i]!], fresh),
      (error) => ctx.reportBadShard({ target, oid, shard, dkey, akey, error }));
    present[i] = r.ok;
  };
  // The first round: every data role not in hand whose target is up, and as many parity roles as
  // data roles whose target is known down (one round trip for a degraded stripe, not two).
  const round: number[] = [];
  let down = 0;
  for (let i = 0; i < k; i++) {
    if (tried[i]) continue;
    if (ctx.available(roles[i]!.target)) round.push(i);
    else { tried[i] = true; down++; }
  }
  for (let i = k; i < k + p && down > 0; i++) if (ctx.available(roles[i]!.target)) { round.push(i); down--; }
  await Promise.all(round.map(read));
  if (present.slice(0, k).every(Boolean)) return;
  // Then parity roles not tried yet, as many as pieces are still missing (more only when some of those fail too).
  for (;;) {
    const want = k - present.filter(Boolean).length;
    if (want <= 0) break;
    const batch: number[] = [];
    for (let i = k; i < k + p && batch.length < want; i++) if (!tried[i]) batch.push(i);
    if (batch.length === 0) break;
    await Promise.all(batch.map(read));
  }
  if (present.filter(Boolean).length < k) throw lost(oid, dkey, akey, 'too few EC shards for the stripe');
  ctx.codec(k, p).reconstruct(bufs, { dataOnly: true, present });
}

/** An output buffer of `length` bytes that every byte of will be written (media `allocResult`). */
function outputBuffer(length: number): Uint8Array { return allocResult(length); }

/**
 * Fetch `length` bytes at byte `offset` of an array akey in group `g`; holes read as zeros. The
 * bytes land in `into` when given (exactly `length` bytes), else in a new buffer: every data
 * shard's range is read straight into the places of the output its cells belong to.
 */
export async function fetchArray(ctx: IoContext, red: Redundancy, groups: number[][], g: number, oid: bigint, dkey: Uint8Array, akey: Uint8Array, offset: number, length: number, epoch: bigint, into?: Uint8Array, fresh?: FreshFrom): Promise<Uint8Array> {
  checkLayout(red, groups, g);
  // (conditions first: the details, a BigInt's string among them, are built only for a failing assertion; this runs per read)
  if (!(Number.isSafeInteger(offset) && offset >= 0 && Number.isSafeInteger(length) && length >= 0 && epoch >= 0n)) assert(false, 'an array read is a non-negative range at a non-negative epoch', { offset, length, epoch: String(epoch) });
  if (!(into === undefined || into.length === length)) assert(false, 'a caller buffer holds exactly the bytes asked for', { length, into: into?.length });
  if (length === 0) return into ?? new Uint8Array(0);
  if (red.kind !== 'ec') {
    const out = into ?? outputBuffer(length);
    // Replicas are tried from one chosen by the dkey's hash (as EC rotates parity), so the chunks
    // of one array are read from every replica of its group, not all from the first.
    const shards = groupShards(groups, g);
    const from = shards.length > 1 ? dkeyParityRotation(dkey, shards.length) : 0;
    for (let j = 0; j < shards.length; j++) {
      const { shard, target } = shards[(from + j) % shards.length]!;
      const r = await tryShard(ctx, target, (s) => readShardInto(s, epoch, unitOid(oid, shard), dkey, akey, { index: offset, count: length }, [out], fresh),
        (error) => ctx.reportBadShard({ target, oid, shard, dkey, akey, error }));
      if (r.ok) return out;
    }
    throw lost(oid, dkey, akey, 'no healthy replica');
  }
  const { dataShards: k, parityShards: p } = red;
  const roles = roleShards(groups, g, dkeyRotation(ctx, red, dkey));
  const cell = ctx.cellSize;
  if (knownDegraded(ctx, roles, k, cell, offset, length)) {
    return fusedDegraded(ctx, red, roles, oid, dkey, akey, offset, length, epoch, into, fresh)
      ?? fetchDegraded(ctx, red, roles, oid, dkey, akey, offset, length, epoch, into, fresh);
  }
  const out = into ?? outputBuffer(length);
  // Per data role c: the shard-local range [lo[c], hi[c]) covering its spans (contiguous on the
  // shard) and the places of the output those bytes go to, in shard order (-1: role not touched).
  const lo: number[] = new Array(k).fill(-1), hi: number[] = new Array(k).fill(-1);
  const pieces: Uint8Array[][] = new Array(k);
  const stripeBytes = k * cell, end = offset + length;
  // Role c has a piece in every stripe of [sFirst, sLast] the range covers cell c of: all of them
  // but the first when c is before the first cell, and the last when c is past the last one. Its
  // places array is made at that length (grown by push, each took a second backing store).
  const sFirst = Math.floor(offset / stripeBytes), sLast = Math.floor((end - 1) / stripeBytes);
  const cFirst = Math.floor((offset - sFirst * stripeBytes) / cell), cLast = Math.floor((end - 1 - sLast * stripeBytes) / cell);
  for (let pos = offset; pos < end;) {
    const stripe = Math.floor(pos / stripeBytes);
    const inStripe = pos - stripe * stripeBytes;
    const c = Math.floor(inStripe / cell);
    const cellOffset = inStripe - c * cell;
    const len = Math.min(cell - cellOffset, end - pos);
    const at = stripe * cell + cellOffset;
    const piece = out.subarray(pos - offset, pos - offset + len);
    const i = stripe - sFirst - (c < cFirst ? 1 : 0); // (this piece's place among role c's)
    if (lo[c]! < 0) {
      lo[c] = at;
      pieces[c] = new Array<Uint8Array>(sFirst === sLast ? 1 : sLast - sFirst + 1 - (c < cFirst ? 1 : 0) - (c > cLast ? 1 : 0));
    } else if (hi[c] !== at) assert(false, 'the spans of one cell are contiguous on its shard', { cell: c, hi: hi[c], lo: at });
    if (!(i >= 0 && i < pieces[c]!.length)) assert(false, 'a role\'s pieces fill the places counted for it', { cell: c, stripe, first: sFirst, last: sLast, i, places: pieces[c]!.length });
    pieces[c]![i] = piece;
    hi[c] = at + len;
    pos += len;
  }
  // One read per touched data role, straight into its places (tryShard's rules, without its
  // per-shard closures and result objects).
  const readRole = async (c: number): Promise<boolean> => {
    const { shard, target } = roles[c]!;
    if (!ctx.available(target)) return false;
    try {
      const s = ctx.storeNow?.(target) ?? await ctx.store(target);
      const recx = { index: lo[c]!, count: hi[c]! - lo[c]! };
      // a local store reads straight into the places (no `readShardInto` frame in between)
      if (s.fetchArrayInto) await s.fetchArrayInto(epoch, unitOid(oid, shard), dkey, akey, recx, pieces[c]!, fresh);
      else await readShardInto(s, epoch, unitOid(oid, shard), dkey, akey, recx, pieces[c]!, fresh);
      return true;
    } catch (error) {
      if (!isLostShard(error)) throw error;
      ctx.reportBadShard({ target, oid, shard, dkey, akey, error });
      return false;
    }
  };
  const ok: boolean[] = new Array(k + p).fill(false);
  const group = ctx.syncReads !== false && ctx.storeNow !== undefined && fusedReadsOn ? locateRoles(ctx, roles, oid, dkey, akey, epoch, lo, hi, pieces) : undefined;
  if (group === undefined) {
    const jobs: Promise<boolean>[] = [];
    for (let c = 0; c < k; c++) if (lo[c]! >= 0) jobs.push(readRole(c));
    const done = await Promise.all(jobs);
    for (let c = 0, j = 0; c < k; c++) if (lo[c]! >= 0) ok[c] = done[j++]!;
    if (!done.includes(false)) return out;
  } else {
    // The located roles as one hashed group (one promise), the others beside it (`readRole`;
    // their promise has a handler at once: one that fails while the group is out is not unhandled).
    const slow = group.slow;
    let slowDone: Promise<boolean[]> | undefined;
    if (slow !== undefined) {
      const jobs: Promise<boolean>[] = [];
      for (const c of slow) jobs.push(readRole(c));
      slowDone = Promise.all(jobs);
      slowDone.catch(() => undefined);
    }
    let results: Array<bigint | Error>;
    try {
      results = await readHashedGroup(group.reads);
    } catch (e) {
      // (readHashedGroup never rejects; a throw before it sent anything leaves the holds to drop)
      for (const l of group.located) l.finish(undefined);
      throw e;
    }
    let retry: number[] | undefined;
    for (let i = 0; i < group.located.length; i++) {
      const c = group.roles[i]!;
      if (group.located[i]!.finish(results[i])) ok[c] = true;
      else (retry ??= []).push(c); // failed or mismatched: read again the checked way, which reports it
    }
    if (slowDone === undefined && retry === undefined) return out;
    let all = true;
    const retried = retry !== undefined ? Promise.all(retry.map((c) => readRole(c))) : undefined;
    retried?.catch(() => undefined); // (awaited below, maybe after slowDone has thrown)
    if (slowDone !== undefined) { const done = await slowDone; for (let i = 0; i < slow!.length; i++) { ok[slow![i]!] = done[i]!; if (!done[i]) all = false; } }
    if (retried !== undefined) { const done = await retried; for (let i = 0; i < retry!.length; i++) { ok[retry![i]!] = done[i]!; if (!done[i]) all = false; } }
    if (all) return out;
  }
  // Degraded after all (a cell failed or mismatched): cells read whole stripes long are already in
  // `out` and verified, so they are not read again.
  return fetchDegraded(ctx, red, roles, oid, dkey, akey, offset, length, epoch, out, fresh, { ok, lo, hi, pieces });
}

/**
 * Whether a data role that [offset, offset + length) touches is on a target known to be down
 * (`ctx.available`): the read is then degraded from the start (`fetchDegraded`).
 */
function knownDegraded(ctx: IoContext, roles: ReadonlyArray<{ readonly target: number }>, k: number, cell: number, offset: number, length: number): boolean {
  const stripeBytes = k * cell, end = offset + length;
  const sFirst = Math.floor(offset / stripeBytes), sLast = Math.floor((end - 1) / stripeBytes);
  const cFirst = Math.floor((offset - sFirst * stripeBytes) / cell), cLast = Math.floor((end - 1 - sLast * stripeBytes) / cell);
  for (let c = 0; c < k; c++) {
    // role c is touched when its cell lies in the range of some stripe [sFirst, sLast] covers
    const touched = sFirst === sLast ? c >= cFirst && c <= cLast : sLast - sFirst > 1 || c >= cFirst || c <= cLast;
    if (touched && !ctx.available(roles[c]!.target)) return true;
  }
  return false;
}

/** What a read that turned degraded part-way already has (`fetchArray`): per data role, whether it was read into `out`, its shard range and places. */
interface DegradedStart { ok: readonly boolean[]; lo: readonly number[]; hi: readonly number[]; pieces: readonly Uint8Array[][] }

/**
 * A degraded read of whole stripes as one located group (`locateRoles`' way): the data roles that
 * are up read straight into their places in the output, as many parity roles as data roles are down
 * read into parity buffers, all in one hashed group (one promise, one round), and each stripe's
 * lost cells are decoded straight into their places (the codec takes views: no copy in or out).
 * Undefined when it does not apply (ranges that are not whole stripes, a store that cannot locate
 * its read, reads not fused, not enough parity roles up): `fetchDegraded` reads it then. A located
 * read that fails or mismatches its checksum is not used: the read is made again by
 * `fetchDegraded`, which reports the shard.
 */
function fusedDegraded(ctx: IoContext, red: Redundancy, roles: ReadonlyArray<{ readonly shard: number; readonly target: number }>, oid: bigint, dkey: Uint8Array, akey: Uint8Array,
  offset: number, length: number, epoch: bigint, into: Uint8Array | undefined, fresh: FreshFrom | undefined): Promise<Uint8Array> | undefined {
  if (red.kind !== 'ec') assert(false, 'a degraded stripe read is of an EC object', { kind: red.kind });
  const { dataShards: k, parityShards: p } = red;
  const cell = ctx.cellSize;
  const stripeBytes = k * cell;
  if (!fusedReadsOn || ctx.syncReads === false || ctx.storeNow === undefined || offset % stripeBytes !== 0 || length % stripeBytes !== 0) return undefined;
  const nStripes = length / stripeBytes, n = nStripes * cell;
  // The roles read: data roles up, then the first parity roles up, as many as data roles are down.
  const read: number[] = [];
  let down = 0;
  for (let c = 0; c < k; c++) if (ctx.available(roles[c]!.target)) read.push(c); else down++;
  for (let i = k; i < k + p && down > 0; i++) if (ctx.available(roles[i]!.target)) { read.push(i); down--; }
  if (down > 0) return undefined;
  const out = into ?? outputBuffer(length);
  const parity = parityBuffers(k, p, n);
  const located: LocatedShardRead[] = [];
  const reads: HashedReadSlot[] = [];
  const drop = () => { for (const l of located) l.finish(undefined); };
  for (const i of read) {
    const { shard, target } = roles[i]!;
    const views = i < k ? Array.from({ length: nStripes }, (_, st) => out.subarray(st * stripeBytes + i * cell, st * stripeBytes + (i + 1) * cell)) : [parity.shards[i]!];
    const s = ctx.storeNow(target);
    let l: LocatedShardRead | null = null;
    if (s?.locateArrayNow !== undefined) {
      try { l = s.locateArrayNow(epoch, unitOid(oid, shard), dkey, akey, { index: (offset / stripeBytes) * cell, count: n }, views); } catch { l = null; }
    }
    if (l === null) { drop(); parity.release(); return undefined; }
    located.push(l); reads.push(l.read);
  }
  return (async () => {
    let all = true;
    try {
      const results = await readHashedGroup(reads);
      for (let j = 0; j < located.length; j++) if (!located[j]!.finish(results[j])) all = false;
    } catch (e) {
      drop();
      parity.release();
      throw e;
    }
    if (!all) { parity.release(); return undefined; }
    try {
      const codec = ctx.codec(k, p);
      const present: boolean[] = new Array<boolean>(k + p).fill(false);
      for (const i of read) present[i] = true;
      for (let st = 0; st < nStripes; st++) {
        const shards: (Uint8Array | null)[] = new Array<Uint8Array | null>(k + p).fill(null);
        for (let c = 0; c < k; c++) shards[c] = out.subarray(st * stripeBytes + c * cell, st * stripeBytes + (c + 1) * cell);
        for (const i of read) if (i >= k) shards[i] = parity.shards[i]!.subarray(st * cell, (st + 1) * cell);
        codec.reconstruct(shards, { dataOnly: true, present });
      }
      return out;
    } finally {
      parity.release();
    }
  })().then((r) => r ?? fetchDegraded(ctx, red, roles, oid, dkey, akey, offset, length, epoch, out, fresh));
}

/**
 * An EC array read whose data roles include one on a target known to be down: whole stripes read
 * in one round (the data roles up and as many parity roles as are down, `readStripes`) into the
 * codec's memory, the lost cells decoded there, and the output taken only then, every span copied
 * into it (`done`: a read that turned degraded part-way, its verified cells copied in, not read
 * again, and left in place in `into`). Why the output last: a degraded read waits longer than a healthy one, and an output
 * held through more scavenges is more likely to be promoted, its pages then back only after a
 * full collection.
 */
async function fetchDegraded(ctx: IoContext, red: Redundancy, roles: ReadonlyArray<{ readonly shard: number; readonly target: number }>, oid: bigint, dkey: Uint8Array, akey: Uint8Array,
  offset: number, length: number, epoch: bigint, into: Uint8Array | undefined, fresh: FreshFrom | undefined, done?: DegradedStart): Promise<Uint8Array> {
  if (red.kind !== 'ec') assert(false, 'a degraded stripe read is of an EC object', { kind: red.kind });
  const { dataShards: k, parityShards: p } = red;
  const cell = ctx.cellSize;
  const { first, last } = stripeRange(offset, length, k, cell);
  const bufs = stripeBuffers(ctx.codec(k, p), k + p, (last - first + 1) * cell);
  try {
    // Roles already read (and verified) into `into` for whole stripes: copied in, not read again.
    const have: boolean[] = new Array(k + p).fill(false);
    if (done !== undefined) {
      for (let c = 0; c < k; c++) {
        if (!done.ok[c] || done.lo[c] !== first * cell || done.hi[c] !== (last + 1) * cell) continue;
        let at = 0;
        for (const piece of done.pieces[c]!) { copyBytes(bufs.shards[c]!, piece, at); at += piece.length; }
        have[c] = true;
      }
    }
    await readStripes(ctx, red, roles, oid, dkey, akey, first, last, epoch, bufs.shards, have, fresh);
    const out = into ?? outputBuffer(length);
    for (const s of cellSpans(offset, length, k, cell)) {
      if (done?.ok[s.cell]) continue; // (already in place)
      const at = (s.stripe - first) * cell + s.cellOffset;
      copyBytes(out, bufs.shards[s.cell]!.subarray(at, at + s.length), s.requestOffset);
    }
    return out;
  } finally {
    bufs.release();
  }
}

/** Set to 0 to read EC cells through `fetchArrayInto` only (no located reads: `locateRoles`). */
export const FUSED_READS_ENV = 'CAIRN_EC_FUSED_READS';
let fusedReadsOn = process.env[FUSED_READS_ENV] !== '0';

/**
 * Whether EC reads locate their cells and send them as one group (`locateRoles`); `on` switches it
 * (tests and benches compare both ways in one process). Starts from FUSED_READS_ENV.
 */
export function fusedReads(on?: boolean): boolean {
  if (on !== undefined) fusedReadsOn = on;
  return fusedReadsOn;
}

/** The located reads of an EC read (`locateRoles`): the requests, their reads and roles in the same order, and the roles not located. */
interface LocatedRoles { reads: HashedReadSlot[]; located: LocatedShardRead[]; roles: number[]; slow: number[] | undefined }

/**
 * The fused EC read's synchronous half (`fetchArray`: data role c reads shard range [lo[c], hi[c])
 * into pieces[c]; lo[c] < 0 when untouched): each touched role's open store locates its read
 * (`ShardStore.locateArrayNow`), so the caller sends them as one hashed group (one promise) and
 * checks each hash against its extent's checksum (`finish`) before the role counts as read. Roles
 * not located (a remote store, a value not in the data file, a range that is not one extent, an
 * unavailable target) are listed in `slow`, for `fetchArrayInto` (its error reports and notes).
 * Undefined when none was located (the caller reads as before).
 */
function locateRoles(ctx: IoContext, roles: ReadonlyArray<{ readonly shard: number; readonly target: number }>, oid: bigint, dkey: Uint8Array, akey: Uint8Array, epoch: bigint,
  lo: readonly number[], hi: readonly number[], pieces: readonly Uint8Array[][]): LocatedRoles | undefined {
  let got: LocatedRoles | undefined;
  let slow: number[] | undefined;
  let touched = 0, n = 0;
  for (let c = 0; c < lo.length; c++) if (lo[c]! >= 0) touched++;
  for (let c = 0; c < lo.length; c++) {
    if (lo[c]! < 0) continue;
    const { shard, target } = roles[c]!;
    const s = ctx.available(target) ? ctx.storeNow!(target) : undefined;
    let l: LocatedShardRead | null = null;
    if (s?.locateArrayNow !== undefined) {
      try { l = s.locateArrayNow(epoch, unitOid(oid, shard), dkey, akey, { index: lo[c]!, count: hi[c]! - lo[c]! }, pieces[c]!); } catch { l = null; }
    }
    if (l === null) { (slow ??= []).push(c); continue; }
    // (arrays at the touched roles' count, cut to the located ones: grown by push, each took a second backing store)
    got ??= { reads: new Array<HashedReadSlot>(touched), located: new Array<LocatedShardRead>(touched), roles: new Array<number>(touched), slow: undefined };
    got.reads[n] = l.read; got.located[n] = l; got.roles[n] = c;
    n++;
  }
  if (got !== undefined) {
    got.slow = slow;
    if (n < touched) { got.reads.length = n; got.located.length = n; got.roles.length = n; }
  }
  return got;
}

/** Object-level extents of an array akey (bytes), merged and sorted. */
export async function listExtents(ctx: IoContext, red: Redundancy, groups: number[][], g: number, oid: bigint, dkey: Uint8Array, akey: Uint8Array, epoch: bigint, fresh?: FreshFrom): Promise<Recx[]> {
  checkLayout(red, groups, g);
  const shards = roleShards(groups, g, dkeyRotation(ctx, red, dkey));
  const raw: Recx[] = [];
  const collect = async (i: number, map: (r: Recx) => Recx[]): Promise<boolean> => {
    const { shard, target } = shards[i]!;
    const r = await tryShard(ctx, target, async (s) => {
      const xs: Recx[] = [];
      for await (const x of s.listRecx(epoch, unitOid(oid, shard), dkey, akey, fresh)) xs.push({ index: x.index, count: x.count });
      return xs;
    }, (error) => ctx.reportBadShard({ target, oid, shard, dkey, akey, error }));
    if (!r.ok) return false;
    for (const x of r.value) raw.push(...map(x));
    return true;
  };
  if (red.kind !== 'ec') {
    let ok = false;
    for (let i = 0; i < shards.length && !ok; i++) ok = await collect(i, (x) => [x]);
    if (!ok) throw lost(oid, dkey, akey, 'no healthy replica to enumerate');
    return mergeExtents(raw);
  }
  const { dataShards: k } = red;
  const cell = ctx.cellSize;
  for (let c = 0; c < k; c++) {
    const ok = await collect(c, (x) => toObjectExtents(x, c, k, cell));
    if (!ok) {
      // A lost data shard: its extents are unknown; report the cells as written where parity exists.
      const parityOk = await collect(k, (x) => toObjectExtents(x, c, k, cell));
      if (!parityOk) throw lost(oid, dkey, akey, 'cannot enumerate extents');
    }
  }
  return mergeExtents(raw);
}

function toObjectExtents(x: Recx, c: number, k: number, cell: number): Recx[] {
  const out: Recx[] = [];
  let pos = x.index;
  const end = x.index + x.count;
  while (pos < end) {
    const stripe = Math.floor(pos / cell);
    const inCell = pos - stripe * cell;
    const len = Math.min(cell - inCell, end - pos);
    out.push({ index: stripe * k * cell + c * cell + inCell, count: len });
    pos += len;
  }
  return out;
}

/** The `DATA_LOST` error for an object/key whose redundancy is exhausted. */
export function lost(oid: bigint, dkey: Uint8Array, akey: Uint8Array, why: string): ObjectError {
  return new ObjectError('DATA_LOST', `object ${oid.toString(16)}: ${why}`, {
    oid: oid.toString(16), dkey: Buffer.from(dkey).toString('hex'), akey: Buffer.from(akey).toString('hex'),
  });
}
