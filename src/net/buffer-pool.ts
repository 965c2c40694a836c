/**
 * Reused buffers for bulk RPC payloads (`BufferPool`): the request payloads an engine receives and
 * the read replies it sends. Without it every 512 KiB shard payload was a fresh buffer: its pages
 * faulted in on first touch, and V8 counts it as external memory, so a stream of them set off a
 * major GC every few dozen MiB (measured: about half of an engine's CPU while serving 1 MiB
 * writes went to V8's marking and sweeping, its heap holding the memtables). A pooled buffer is
 * taken for one request or reply and given back once nothing refers to it any more (the handler
 * settled, or the socket took the reply's bytes).
 *
 * Buffers come in power-of-two size classes from `POOL_MIN_BYTES` to `POOL_MAX_BYTES`; a lease is
 * a view of exactly the length asked for. At most `POOL_KEEP_BYTES` wait in the pool (the rest
 * are left to the GC), so the pool never holds more than that while idle.
 */

/** Payloads from this many bytes are pooled (smaller ones are cheap, or views of a received chunk). */
export const POOL_MIN_BYTES = 64 * 1024;
/** Largest pooled buffer (larger payloads get a buffer of their own). */
export const POOL_MAX_BYTES = 16 * 1024 * 1024;
/** Most bytes of free buffers a pool keeps. */
export const POOL_KEEP_BYTES = 64 * 1024 * 1024;

/** A buffer taken from a pool: `bytes` (exactly the length asked for) until `release()`. */
export interface Lease {
  readonly bytes: Buffer;
  /** Give the buffer back (once; later calls do nothing). Nothing may use `bytes` afterwards. */
  release(): void;
}

/** A pool of reusable payload buffers (one per process is enough; not shared between threads). */
export class BufferPool {
  private readonly free = new Map<number, Buffer[]>();
  private kept = 0;

  constructor(private readonly keepBytes = POOL_KEEP_BYTES) {}

  /** Whether a payload of `n` bytes is taken from the pool. */
  static pools(n: number): boolean { return n >= POOL_MIN_BYTES && n <= POOL_MAX_BYTES; }

  /** A buffer of `n` bytes (contents unspecified); pooled when `BufferPool.pools(n)`. */
  take(n: number): Lease {
    if (!BufferPool.pools(n)) return { bytes: Buffer.allocUnsafeSlow(n), release: noop };
    let size = POOL_MIN_BYTES;
    while (size < n) size *= 2;
    const list = this.free.get(size);
    const whole = list?.pop();
    if (whole) this.kept -= size;
    const buf = whole ?? Buffer.allocUnsafeSlow(size);
    let released = false;
    return {
      bytes: buf.subarray(0, n),
      release: () => {
        if (released) return;
        released = true;
        if (this.kept + size > this.keepBytes) return;
        this.kept += size;
        const l = this.free.get(size);
        if (l) l.push(buf); else this.free.set(size, [buf]);
      },
    };
  }

  /** Bytes of free buffers waiting in the pool (for tests and stats). */
  get keptBytes(): number { return this.kept; }
}

function noop(): void { /* not pooled: the GC frees it */ }

/** The process's pool of RPC payload buffers. */
export const payloadPool = new BufferPool();
