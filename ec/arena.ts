/**
 * A first-fit allocator over a range of a wasm linear memory, for the codec's tables, scratch
 * space and caller-visible shard buffers. It only does bookkeeping; the owner grows the memory
 * through the `grow` callback when `top` must pass its end.
 */
import { assert } from '../core/errors.js';

/** One free range [start, start + size). */
interface Hole { start: number; size: number }

/** Bookkeeping of allocations in [base, top); free ranges below `top` are kept as holes. */
export class Arena {
  private top: number;
  private holes: Hole[] = [];
  private readonly live = new Map<number, number>();

  /** `ensure(end)` must make bytes up to `end` addressable (grow the memory) or throw. */
  constructor(base: number, private readonly ensure: (end: number) => void) { this.top = base; }

  /** Allocate `size` bytes aligned to `align` (a power of two); returns the address. */
  alloc(size: number, align = 64): number {
    assert(size > 0 && (align & (align - 1)) === 0, 'arena: bad size or alignment', { size, align });
    for (let i = 0; i < this.holes.length; i++) {
      const h = this.holes[i]!;
      const start = alignUp(h.start, align);
      if (start + size > h.start + h.size) continue;
      this.holes.splice(i, 1);
      if (start > h.start) this.insertHole(h.start, start - h.start);
      const end = h.start + h.size;
      if (end > start + size) this.insertHole(start + size, end - start - size);
      this.live.set(start, size);
      return start;
    }
    const start = alignUp(this.top, align);
    this.ensure(start + size);
    if (start > this.top) this.insertHole(this.top, start - this.top);
    this.top = start + size;
    this.live.set(start, size);
    return start;
  }

  /** Release an address returned by `alloc`. */
  free(addr: number): void {
    const size = this.live.get(addr);
    assert(size !== undefined, 'arena: free of an unknown address', { addr });
    this.live.delete(addr);
    this.insertHole(addr, size);
    const last = this.holes[this.holes.length - 1];
    if (last && last.start + last.size === this.top) { this.top = last.start; this.holes.pop(); }
  }

  /** Size of the live allocation at `addr`, or undefined. */
  sizeOf(addr: number): number | undefined { return this.live.get(addr); }

  /** Bytes currently allocated (for tests and leak checks). */
  get liveBytes(): number { let s = 0; for (const v of this.live.values()) s += v; return s; }

  private insertHole(start: number, size: number): void {
    let i = 0;
    while (i < this.holes.length && this.holes[i]!.start < start) i++;
    this.holes.splice(i, 0, { start, size });
    // coalesce with the next, then with the previous
    const next = this.holes[i + 1];
    if (next && start + size === next.start) { this.holes[i]!.size += next.size; this.holes.splice(i + 1, 1); }
    const prev = this.holes[i - 1];
    if (prev && prev.start + prev.size === start) { prev.size += this.holes[i]!.size; this.holes.splice(i, 1); }
  }
}

/** Round `x` up to a multiple of the power of two `a`. */
export function alignUp(x: number, a: number): number { return Math.ceil(x / a) * a; }
