/**
 * Where a container keeps its metadata, its object index and the record that makes a commit
 * atomic. Embedded pools use files (a journal and an index beside the pool); connected pools keep
 * them in etcd and let the engines' two-phase commit do the journal's job. The container only
 * sees this interface.
 */
import { join } from 'node:path';
import { mkdir, rm } from 'node:fs/promises';
import { Journal, JournalType } from './journal.js';
import { ObjectIndex } from './object-index.js';
import { writeJsonRecord } from '../../core/record-file.js';

/** One published commit: its epoch and the objects it touched. */
export interface CommitEvent { epoch: bigint; objects: bigint[] }

/** What a commit touches. */
export interface CommitInfo { targets: number[]; objects: string[] }

/** What a storage found on open. */
export interface StorageRecovery {
  /** Highest epoch already used. */
  floor: bigint;
  /** Commits that started and never finished: to be discarded from the targets they name. */
  torn: Array<{ epoch: bigint; targets: number[] }>;
  /** Retained commit history, oldest first (for `watch()`). */
  done: CommitEvent[];
}

/** A container's persistent state and commit record. */
export interface ContainerStorage {
  /** Read back what the last process left (called once, at load). */
  recover(): StorageRecovery;
  /** Before any target is written at `epoch`. */
  intent(epoch: bigint, info: CommitInfo): void | Promise<void>;
  /** After every target applied `epoch`: the commit point. Throws when the commit could not be made. */
  done(epoch: bigint, info: CommitInfo): void | Promise<void>;
  /** The commit at `epoch` was abandoned (its writes were discarded). */
  abort(epoch: bigint, info: CommitInfo & { recovered?: boolean }): void | Promise<void>;
  /** A rollback to `to` happened at `epoch`. */
  rollback(epoch: bigint, to: bigint): void;
  /** Whether the commit record has grown past its compaction threshold. */
  needsCompaction(): boolean;
  /** Rewrite the commit record down to `history`. */
  compact(history: CommitEvent[]): void;
  /** Persist the container's metadata record. */
  saveMeta(meta: unknown): Promise<void>;
  /** Record object ids before the commit that first writes them. */
  addObjects(oids: bigint[]): void | Promise<void>;
  /** Every object id recorded. */
  listObjects(): bigint[];
  /** Reload the object ids others recorded (connected pools). */
  refreshObjects?(): Promise<void>;
  /** Metadata changed by another client (connected pools): the container adopts it. */
  onMetaChange?(cb: (meta: unknown) => void): void;
  close(): void | Promise<void>;
}

/** Journal size above which the journal is rewritten down to the retained history. */
export const JOURNAL_COMPACT_BYTES = 16 * 1024 * 1024;
export const CONTAINER_META_MAGIC = 'CAIRNCNT';
export const CONTAINER_META_VERSION = 1;

/** Files in `dir`: `meta` (record file), `journal`, `objects`. */
export class LocalContainerStorage implements ContainerStorage {
  private constructor(private readonly dir: string, private readonly journal: Journal, private readonly records: ReturnType<typeof Journal.open>['records'], private readonly index: ObjectIndex) {}

  /** Open (creating when absent) the files of a container. */
  static async open(dir: string, durable: boolean): Promise<LocalContainerStorage> {
    await mkdir(dir, { recursive: true });
    const { journal, records } = Journal.open(join(dir, 'journal'), { durable });
    return new LocalContainerStorage(dir, journal, records, ObjectIndex.open(join(dir, 'objects'), durable));
  }

  /** Write the metadata of a new container. */
  static async create(dir: string, meta: unknown): Promise<void> {
    await mkdir(dir, { recursive: true });
    await writeJsonRecord(join(dir, 'meta'), CONTAINER_META_MAGIC, CONTAINER_META_VERSION, meta);
  }

  /** Remove a container's files (after close). */
  static async remove(dir: string): Promise<void> { await rm(dir, { recursive: true, force: true }); }

  recover(): StorageRecovery {
    const state = new Map<bigint, { targets: number[]; objects: string[] }>();
    let floor = 0n;
    const done: CommitEvent[] = [];
    for (const r of this.records) {
      if (r.epoch > floor) floor = r.epoch;
      if (r.type === JournalType.Intent) {
        state.set(r.epoch, { targets: (r.payload.targets as number[]) ?? [], objects: (r.payload.objects as string[]) ?? [] });
      } else if (r.type === JournalType.Done || r.type === JournalType.Abort) {
        const s = state.get(r.epoch);
        // A DONE without INTENT is retained history written by journal compaction.
        const objects = s?.objects ?? (r.payload.objects as string[] | undefined);
        if (r.type === JournalType.Done && objects) done.push({ epoch: r.epoch, objects: objects.map((o) => BigInt('0x' + o)) });
        state.delete(r.epoch);
      }
    }
    this.records.length = 0;
    return { floor, torn: [...state].map(([epoch, s]) => ({ epoch, targets: s.targets })), done };
  }

  intent(epoch: bigint, info: CommitInfo): void { this.journal.append(JournalType.Intent, epoch, { targets: info.targets, objects: info.objects }); }
  done(epoch: bigint): void { this.journal.append(JournalType.Done, epoch); }
  abort(epoch: bigint, info: { recovered?: boolean }): void { this.journal.append(JournalType.Abort, epoch, info.recovered ? { recovered: true } : {}); }
  rollback(epoch: bigint, to: bigint): void { this.journal.append(JournalType.Rollback, epoch, { to: to.toString() }); }
  needsCompaction(): boolean { return this.journal.bytes > JOURNAL_COMPACT_BYTES; }
  compact(history: CommitEvent[]): void {
    this.journal.rewrite(history.map((ev) => ({ epoch: ev.epoch, objects: ev.objects.map((o) => o.toString(16)) })));
  }
  async saveMeta(meta: unknown): Promise<void> { await writeJsonRecord(join(this.dir, 'meta'), CONTAINER_META_MAGIC, CONTAINER_META_VERSION, meta); }
  addObjects(oids: bigint[]): void { this.index.addAll(oids); }
  listObjects(): bigint[] { return this.index.list(); }
  close(): void { this.journal.close(); this.index.close(); }
}
