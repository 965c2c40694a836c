/**
 * Bulk read replies through shared memory, for a client and an engine on one host (issue 15).
 *
 * A 512 KiB reply over a local socket costs a copy into the kernel on the engine, a copy out of it
 * on the client, and the wake-ups of the socket's buffer filling and draining on both sides. When
 * the client reaches the engine through its Unix socket, a whole-range array read (what
 * `fetchArrayInto` sends) can instead name a slot of the client's shared region: the engine's
 * hashed read (native copy + checksum on its thread pool) writes the extent straight into that
 * slot, the reply carries only its header (`shm: true`), and the client copies the slot into the
 * caller's buffers. Anything else (an engine without this code, a read the engine serves on its
 * general path) answers with the payload as before: the field is a hint, never required.
 *
 * A region is a tmpfs file the client creates (one per connection to an engine on this host), sizes, maps and unlinks at once (nothing is left
 * behind when it dies). The engine opens it through `/proc/<pid>/fd/<fd>` and maps it too. It
 * accepts only a regular file with no name left (`nlink` 0), of the announced size, whose first
 * bytes hold the region's random id (so a recycled pid or descriptor never maps the wrong region),
 * and it keeps at most `SHM_MAX_MAPPED_REGIONS` mappings. Both sides map the region with its page
 * tables filled (`MAP_POPULATE`): a page first touched through a shared mapping costs 12-18 us of
 * CPU here (FACTS.md), and the slots of one client go to every engine it reads from. A slot is the client's to hand out: it
 * is taken for one call and given back when the reply has been copied out. A call that ends
 * without a reply (timeout, abort, a broken connection) may still be written by the engine later,
 * so its slot is retired, never reused.
 */
import { closeSync, fstatSync, ftruncateSync, openSync, unlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { swallowed } from '../../core/log.js';
import { NetError } from './errors.js';

/** Bytes of one slot: the largest reply read through shared memory (an RP read asks 1 MiB per request). */
export const SHM_SLOT_BYTES = 1024 * 1024;
/**
 * Slots of one connection's region (its calls in flight that can use one; the rest read over the
 * socket). Each connection (one engine) has its own region, so an engine only ever touches the
 * pages of the slots its own reads used; freed slots are reused first, keeping that set small.
 */
export const SHM_SLOTS = 8;
/** Bytes before the first slot: the region's id. */
export const SHM_HEADER_BYTES = 4096;
/** Smallest reply worth a slot (below, the socket's copies cost less than the bookkeeping). */
export const SHM_MIN_BYTES = 64 * 1024;
/** Largest region an engine maps. */
export const SHM_MAX_REGION_BYTES = SHM_HEADER_BYTES + 64 * SHM_SLOT_BYTES;
/** Client regions one engine keeps mapped (least recently used dropped first). */
export const SHM_MAX_MAPPED_REGIONS = 64;
/** Bytes of a region's random id. */
const ID_BYTES = 16;
/** Where regions are made (tmpfs). */
const SHM_DIR = '/dev/shm';

/** What a request names: the client's region (pid, descriptor, size, id) and the slot's offset in it. */
export interface ShmRef { pid: number; fd: number; size: number; id: string; at: number }

/** The subset of the mmap-io binding used here. */
interface MmapBinding {
  map(size: number, protection: number, flags: number, fd: number, offset?: number): Buffer;
  readonly PROT_READ: number; readonly PROT_WRITE: number; readonly MAP_SHARED: number; readonly MAP_POPULATE: number;
}

let mmap: MmapBinding | null | undefined;
/** The mmap binding (the optional package the stores map files with), or null without it. */
function mmapBinding(): MmapBinding | null {
  if (mmap !== undefined) return mmap;
  try { mmap = createRequire(import.meta.url)('@riaskov/mmap-io') as MmapBinding; } catch (err) { swallowed('shm.no-mmap-binding-reads-use-the-socket', err); mmap = null; }
  return mmap;
}

/** Whether shared-memory replies are on for this process's clients (`CAIRN_RPC_SHM=0`: off). */
export function shmEnabled(): boolean { return process.env.CAIRN_RPC_SHM !== '0' && process.platform === 'linux'; }

/** A slot taken for one call. */
export interface ShmSlot { ref: ShmRef; view: Buffer; index: number }

/** Client side: one connection's region and its free slots. */
export class ShmRegion {
  /** Free slot indexes, most recently freed last (reused first: its pages are mapped already). */
  private readonly free: number[] = [];
  private closed = false;
  private constructor(private readonly map: Buffer, private readonly fd: number, private readonly id: string, private readonly size: number) {
    for (let i = SHM_SLOTS - 1; i >= 0; i--) this.free.push(i);
  }

  /** Make a region: a tmpfs file, mapped, unlinked; undefined when the platform has no way to. */
  static create(): ShmRegion | undefined {
    const m = mmapBinding();
    if (!m) return undefined;
    const size = SHM_HEADER_BYTES + SHM_SLOTS * SHM_SLOT_BYTES;
    const id = randomBytes(ID_BYTES);
    const path = `${SHM_DIR}/cairn-shm-${process.pid}-${id.toString('hex')}`;
    let fd: number;
    try { fd = openSync(path, 'wx+', 0o600); } catch (err) { swallowed('shm.cannot-create-region', err); return undefined; }
    try {
      unlinkSync(path);
      ftruncateSync(fd, size);
      const map = m.map(size, m.PROT_READ | m.PROT_WRITE, m.MAP_SHARED | m.MAP_POPULATE, fd, 0);
      id.copy(map, 0);
      return new ShmRegion(map, fd, id.toString('hex'), size);
    } catch (err) {
      swallowed('shm.cannot-map-region', err);
      closeSync(fd);
      return undefined;
    }
  }

  /** A free slot for a reply of `bytes`, or undefined (too small, too large, none free). */
  take(bytes: number): ShmSlot | undefined {
    if (bytes < SHM_MIN_BYTES || bytes > SHM_SLOT_BYTES) return undefined;
    const index = this.free.pop();
    if (index === undefined) return undefined;
    const at = SHM_HEADER_BYTES + index * SHM_SLOT_BYTES;
    return { ref: { pid: process.pid, fd: this.fd, size: this.size, id: this.id, at }, view: this.map.subarray(at, at + bytes), index };
  }

  /** The reply was read: the slot may serve another call. */
  give(s: ShmSlot): void { if (!this.closed) this.free.push(s.index); }

  /**
   * Close the region's descriptor (the client is closing; no slot is taken any more). The mapping
   * goes with its buffer; an engine still writing a slot writes pages its own mapping holds.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.free.length = 0;
    try { closeSync(this.fd); } catch (err) { swallowed('shm.close-region', err); }
  }

  /** Free slots now (tests). */
  get freeSlots(): number { return this.free.length; }
}


/**
 * Client side: copy a reply that came through `slot` into `into` (the slot's bytes, in order).
 * Throws NET_PROTOCOL when the reply announces another length.
 */
export function copyFromSlot(slot: ShmSlot, into: readonly Uint8Array[]): void {
  let at = 0;
  for (const b of into) { b.set(slot.view.subarray(at, at + b.length)); at += b.length; }
  if (at !== slot.view.length) throw new NetError('NET_PROTOCOL', `shared-memory reply of ${slot.view.length} bytes for ${at} asked`);
}

/** Engine side: client regions mapped, by pid, descriptor and id, least recently used first. */
const mapped = new Map<string, Buffer>();
/** Engine side: regions that could not be mapped or checked (not tried again), oldest first. */
const refused = new Set<string>();

/**
 * Engine side: the `bytes` of the slot `ref` names, mapped (the region is opened and checked on
 * first use); undefined when the reference is malformed or the region cannot be mapped or
 * checked: the caller then answers over the socket.
 */
export function slotView(ref: unknown, bytes: number): Buffer | undefined {
  const r = ref as Partial<ShmRef> | null;
  if (typeof r !== 'object' || r === null || !Number.isSafeInteger(r.pid) || !Number.isSafeInteger(r.fd) || !Number.isSafeInteger(r.size) || !Number.isSafeInteger(r.at)
    || typeof r.id !== 'string' || r.id.length !== 2 * ID_BYTES || !/^[0-9a-f]+$/.test(r.id)) return undefined;
  const size = r.size!, at = r.at!;
  if (size > SHM_MAX_REGION_BYTES || at < SHM_HEADER_BYTES || bytes > SHM_SLOT_BYTES || at + bytes > size) return undefined;
  const key = `${r.pid}/${r.fd}/${r.id}`;
  let map = mapped.get(key);
  if (map !== undefined) { mapped.delete(key); mapped.set(key, map); }
  else {
    if (refused.has(key)) return undefined;
    map = mapRegion(r.pid!, r.fd!, size, r.id);
    if (map === undefined) {
      refused.add(key);
      if (refused.size > SHM_MAX_MAPPED_REGIONS) refused.delete(refused.values().next().value as string);
      return undefined;
    }
    mapped.set(key, map);
    while (mapped.size > SHM_MAX_MAPPED_REGIONS) mapped.delete(mapped.keys().next().value as string);
  }
  if (map.length !== size) return undefined;
  return map.subarray(at, at + bytes);
}

/** Open and map a client's region; undefined unless it is an unlinked regular file of `size` bytes holding `id`. */
function mapRegion(pid: number, fd: number, size: number, id: string): Buffer | undefined {
  const m = mmapBinding();
  if (!m || pid <= 0 || fd < 0) return undefined;
  let own: number;
  try { own = openSync(`/proc/${pid}/fd/${fd}`, 'r+'); } catch (err) { swallowed('shm.region-not-openable-reply-over-socket', err); return undefined; }
  try {
    const st = fstatSync(own);
    if (!st.isFile() || st.nlink !== 0 || st.size !== size) return undefined;
    const map = m.map(size, m.PROT_READ | m.PROT_WRITE, m.MAP_SHARED | m.MAP_POPULATE, own, 0);
    if (map.toString('hex', 0, ID_BYTES) !== id) return undefined;
    return map;
  } catch (err) {
    swallowed('shm.region-not-mappable-reply-over-socket', err);
    return undefined;
  } finally {
    closeSync(own); // (the mapping stays)
  }
}
