/**
 * Optimistic concurrency control: the one tracker of last-write epochs, used by a container for
 * its own commits (transactions of one process) and by every engine for the writes it serves
 * (transactions of different clients), with the same rules:
 *
 * - A key has up to three levels: object, object/dkey, object/dkey/akey (`conflictKey`).
 * - A write at key K at epoch E marks K and each of its prefixes "written at or below, at E"; a
 *   punch also marks K itself "punched at E" (a punch hides everything below it).
 * - The last write a read or write of K can conflict with (`lastWrite`) is the newest of: a write at
 *   or below K, a punch of K or of any prefix of K, and a container-wide change (a rollback).
 * - A transaction that read at R conflicts on K when `lastWrite(K) > R` (`TX_RESTART`).
 *
 * Where the two users differ they pass options: the engine starts from a floor (every key it has
 * not seen counts as written when it started, since it cannot know what came before), and both are
 * bounded by `maxKeys` per table — evicting the least recently written key raises the table's floor
 * to its epoch, so forgetting is conservative (a conflict is never missed; at worst a transaction is
 * restarted needlessly). The container also prunes entries no open transaction can conflict with.
 *
 * `ReadStamps` is the engines' table of read timestamps (the newest epoch each akey was read at),
 * on the same bounded epoch table.
 */
import { assert } from '../../core/errors.js';

/** Default bound of keys per epoch table. */
export const MAX_CONFLICT_KEYS = 1_000_000;
/** Separator of the levels of a conflict key (levels are hex, decimal or uuid text: never contain it). */
const SEP = '/';

/** A key at one of three levels: `object[/dkey[/akey]]`. */
export type ConflictKey = string;

/** The conflict key of an object, a dkey of it or an akey of that dkey (each level as hex or similar text). */
export function conflictKey(object: string, dkey?: string, akey?: string): ConflictKey {
  if (object.includes(SEP) || (dkey !== undefined && dkey.includes(SEP)) || (akey !== undefined && akey.includes(SEP))) assert(false, 'conflict key levels never contain the separator', { object });
  assert(akey === undefined || dkey !== undefined, 'an akey level needs its dkey level');
  return akey !== undefined ? `${object}${SEP}${dkey}${SEP}${akey}` : dkey !== undefined ? `${object}${SEP}${dkey}` : object;
}

/** The key and its prefixes, shortest first. */
function prefixes(k: ConflictKey): ConflictKey[] {
  const out: ConflictKey[] = [];
  for (let i = k.indexOf(SEP); i >= 0; i = k.indexOf(SEP, i + 1)) out.push(k.slice(0, i));
  out.push(k);
  return out;
}

/**
 * Newest epoch per key, bounded: past `maxKeys` the least recently raised key is forgotten and the
 * floor (what an unknown key reports) rises to its epoch. The order of raises is kept in a queue
 * beside the map (a raise appends; an entry whose key was raised again since is stale and skipped),
 * not by deleting and re-adding map entries: V8 leaves a deleted entry in place until the table is
 * rebuilt, and finding the oldest live entry by iterating the map from its start walked every
 * deleted one (measured: 55 us per 3-level record at 65,536 keys, growing with the bound; 7 us now).
 */
export class EpochTable {
  private readonly map = new Map<string, bigint>();
  /** Keys in the order they were raised, with the epoch of that raise; live from `head`. */
  private queueKeys: string[] = [];
  private queueEpochs: bigint[] = [];
  private head = 0;

  constructor(private floor = 0n, private readonly maxKeys = MAX_CONFLICT_KEYS) {
    assert(maxKeys >= 1 && floor >= 0n, 'an epoch table has room and a non-negative floor', { maxKeys, floor: String(floor) });
  }

  /** The newest epoch recorded for `key` (the floor when unknown). */
  get(key: string): bigint { return this.map.get(key) ?? this.floor; }

  /** Record `epoch` for `key` unless a newer one is recorded. */
  raise(key: string, epoch: bigint): void {
    const cur = this.map.get(key);
    if (cur !== undefined && cur >= epoch) return;
    this.map.set(key, epoch);
    this.queueKeys.push(key);
    this.queueEpochs.push(epoch);
    while (this.map.size > this.maxKeys) {
      const oldest = this.queueKeys[this.head]!, e = this.queueEpochs[this.head]!;
      this.queueKeys[this.head] = undefined as unknown as string;
      this.head++;
      if (this.map.get(oldest) !== e) continue; // raised again since (or forgotten): not its last raise
      this.map.delete(oldest);
      if (e > this.floor) this.floor = e;
    }
    const queued = this.queueKeys.length - this.head;
    if (queued > 2 * this.map.size + QUEUE_SLACK) this.compactQueue();
    else if (this.head > QUEUE_SLACK && 2 * this.head > this.queueKeys.length) {
      this.queueKeys = this.queueKeys.slice(this.head);
      this.queueEpochs = this.queueEpochs.slice(this.head);
      this.head = 0;
    }
  }

  /** Forget every entry at or below `oldest` (callers guarantee nobody asks about epochs that old). */
  prune(oldest: bigint): void {
    for (const [k, e] of this.map) if (e <= oldest) this.map.delete(k);
    this.compactQueue();
  }

  /** Forget everything (the floor stays). */
  clear(): void {
    this.map.clear();
    this.queueKeys = [];
    this.queueEpochs = [];
    this.head = 0;
  }

  get size(): number { return this.map.size; }

  /** Drop the queue's stale entries (keys raised again since, or forgotten): it holds at most one per key after. */
  private compactQueue(): void {
    const keys: string[] = [], epochs: bigint[] = [];
    for (let i = this.head; i < this.queueKeys.length; i++) {
      const k = this.queueKeys[i]!, e = this.queueEpochs[i]!;
      if (this.map.get(k) === e) { keys.push(k); epochs.push(e); }
    }
    this.queueKeys = keys;
    this.queueEpochs = epochs;
    this.head = 0;
  }
}

/** Stale queue entries an epoch table tolerates beyond one per key before it compacts its queue. */
const QUEUE_SLACK = 1024;

/** Options of a `ConflictTracker`. */
export interface ConflictTrackerOptions {
  /** Epoch every key not seen counts as written at (default 0: nothing before). */
  floor?: bigint;
  /** Most keys per table (default `MAX_CONFLICT_KEYS`). */
  maxKeys?: number;
}

/** Last-writer epochs per key, with the rules described above. */
export class ConflictTracker {
  /** Any write at or below the key. */
  private readonly below: EpochTable;
  /** Punches exactly at the key (they hide everything below). */
  private readonly punches: EpochTable;
  /** Epoch of the last container-wide change (rollback): every older transaction conflicts. */
  private global = 0n;

  constructor(opts: ConflictTrackerOptions = {}) {
    this.below = new EpochTable(opts.floor ?? 0n, opts.maxKeys ?? MAX_CONFLICT_KEYS);
    this.punches = new EpochTable(opts.floor ?? 0n, opts.maxKeys ?? MAX_CONFLICT_KEYS);
  }

  /** Record a container-wide change at `epoch` (a rollback). */
  recordGlobal(epoch: bigint): void { if (epoch > this.global) this.global = epoch; }

  /** Record a committed write (`punch` for punches) at `epoch`. */
  record(key: ConflictKey, epoch: bigint, punch: boolean): void {
    for (const p of prefixes(key)) this.below.raise(p, epoch);
    if (punch) this.punches.raise(key, epoch);
  }

  /** The newest epoch of a write a read or write of `key` conflicts with. */
  lastWrite(key: ConflictKey): bigint {
    let last = this.global;
    const b = this.below.get(key);
    if (b > last) last = b;
    for (const p of prefixes(key)) {
      const e = this.punches.get(p);
      if (e > last) last = e;
    }
    return last;
  }

  /** True when a commit after `since` touched `key`: a write at/below it, or a punch above it. */
  conflicts(key: ConflictKey, since: bigint): boolean { return this.lastWrite(key) > since; }

  /** Forget entries that no transaction reading at or after `oldest` can conflict with (all when undefined). */
  prune(oldest: bigint | undefined): void {
    for (const t of [this.below, this.punches]) {
      if (oldest === undefined) t.clear(); else t.prune(oldest);
    }
  }

  /** Number of remembered keys (for tests and stats). */
  get size(): number { return this.below.size + this.punches.size; }
}

/**
 * Read timestamps: the newest epoch each key was read at, so that a write arriving later at or
 * below it (which would change what the reader saw) can be refused. Bounded like the tracker.
 */
export class ReadStamps {
  private readonly table: EpochTable;

  constructor(maxKeys = MAX_CONFLICT_KEYS) { this.table = new EpochTable(0n, maxKeys); }

  /** A read of `key` at `epoch` was served. */
  record(key: ConflictKey, epoch: bigint): void { this.table.raise(key, epoch); }

  /** The newest epoch `key` was read at (0, or the floor after evictions, when unknown). */
  last(key: ConflictKey): bigint { return this.table.get(key); }
}
