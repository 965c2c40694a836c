/**
 * Group syncs of one file on a thread of their own (native/syncer.c): it runs fdatasync for as long
 * as requests are made, each sync covering every request made before it started, and is signalled
 * only when it sleeps. Why: a durable journal's group syncs complete sooner this way than through
 * io_uring's io-wq workers, and durable commits wait on them (docs/performance.md, session 48).
 */
import { nativeAddon, type NativeAddon, type SyncerHandle } from './io-uring.js';
import { mediaErrorFromErrno } from './errors.js';
import { swallowed } from '../../core/log.js';

/** Most threads (descriptors) one syncer syncs on (native/syncer.c SYNCER_MAX_THREADS). */
export const SYNCER_MAX_THREADS = 4;

/** A request waiting for its sync: its generation and its promise's settle functions. */
type Waiter = [gen: number, resolve: () => void, reject: (e: unknown) => void];

/** The syncs of one file, through a thread of their own (see the module's comment). */
export class FileSyncer {
  /** Requests not answered yet, oldest first (a few: the groups whose syncs are in flight). */
  private readonly waiting: Waiter[] = [];
  private closed = false;

  private constructor(private readonly addon: Required<Pick<NativeAddon, 'syncerRequest' | 'syncerIdle' | 'syncerSyncs' | 'syncerClose'>>, private readonly h: SyncerHandle) {}

  /**
   * A syncer of the file `fd` names (it syncs a duplicate of `fd`: the caller may close `fd` at
   * any time), or undefined where the addon has none or it could not be made (the caller syncs
   * its own way). Given several descriptors of the file (at most SYNCER_MAX_THREADS), it syncs on
   * one thread per descriptor, a request starting a sync on a free thread at once: two syncs of a
   * file side by side complete sooner than one after the other (docs/performance.md, session 49).
   * Each must then be an open file description of its own, opened when the file's bytes were
   * durable: a write-back error is reported once per description.
   */
  static open(fd: number | readonly number[]): FileSyncer | undefined {
    const a = nativeAddon();
    if (!a?.syncerOpen || !a.syncerRequest || !a.syncerIdle || !a.syncerSyncs || !a.syncerClose) return undefined;
    let self: FileSyncer | undefined;
    let h: SyncerHandle | undefined;
    const fds = typeof fd === 'number' ? [fd] : fd.slice();
    if (fds.length < 1 || fds.length > SYNCER_MAX_THREADS) return undefined;
    try { h = a.syncerOpen(fds, (gen, errno) => self?.answered(gen, errno)); } catch (e) { swallowed('media.syncer-open-failed', e); return undefined; }
    if (h === undefined) return undefined;
    self = new FileSyncer(a as Required<NativeAddon>, h);
    return self;
  }

  /** Resolves once an fdatasync that started after this call returned; rejects with its MediaError when it failed. */
  sync(): Promise<void> {
    if (this.closed) return Promise.reject(mediaErrorFromErrno(-9, 'sync', { syncer: 'closed' })); // (EBADF)
    const gen = this.addon.syncerRequest(this.h);
    return new Promise<void>((resolve, reject) => { this.waiting.push([gen, resolve, reject]); });
  }

  /** fdatasyncs run so far (fewer than `sync` calls when requests came while one ran). */
  get syncs(): number { return this.addon.syncerSyncs(this.h); }

  /** No more syncs; those asked for are still made and answered, then the thread ends. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.addon.syncerClose(this.h);
  }

  /** The thread's answer: every request up to generation `gen` is synced (errno 0) or failed. */
  private answered(gen: number, errno: number): void {
    const w = this.waiting;
    while (w.length > 0 && w[0]![0] <= gen) {
      const x = w.shift()!;
      if (errno === 0) x[1](); else x[2](mediaErrorFromErrno(-errno, 'sync'));
    }
    if (w.length === 0) this.addon.syncerIdle(this.h);
  }
}
