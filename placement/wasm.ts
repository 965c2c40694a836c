/**
 * The placement wasm core (`build/placement.wasm`): one instance per engine, with a tiny arena on
 * top of its linear memory. Views are rebuilt after every growth (old views go length 0).
 */
import { instantiate } from '../core/wasm.js';
import { PlacementError } from './errors.js';

/** Exports of build/placement.wasm. */
interface PlacementExports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  jumpHash(key: bigint, buckets: number): number;
  jumpHashBatch(keys: number, n: number, buckets: number, out: number): void;
  layoutBatch(map: number, oids: number, n: number, out: number): number;
}

const PAGE = 65536;

/** A placement wasm instance with a bump arena: `reserve` regions, `reset` to a mark. */
export class PlacementCore {
  readonly exports: PlacementExports;
  private top: number;

  constructor() {
    this.exports = instantiate('placement').exports as unknown as PlacementExports;
    this.top = align(this.exports.heapBase(), 16);
  }

  /** Current arena position (pass to `release` to free everything reserved after it). */
  mark(): number { return this.top; }

  /** Free everything reserved after `mark`. */
  release(mark: number): void { this.top = mark; }

  /** Reserve `bytes` (16-byte aligned), growing memory if needed; returns the byte offset. */
  reserve(bytes: number): number {
    const p = this.top;
    this.top = align(p + bytes, 16);
    const mem = this.exports.memory;
    if (this.top > mem.buffer.byteLength) {
      try { mem.grow(Math.ceil((this.top - mem.buffer.byteLength) / PAGE)); }
      catch (err) {
        this.top = p;
        throw new PlacementError('OUT_OF_MEMORY', `placement core cannot grow its memory to ${this.top + bytes} bytes: use smaller batches`, { cause: String(err) });
      }
    }
    return p;
  }

  /** The current memory buffer (re-read after any `reserve`). */
  get buffer(): ArrayBuffer { return this.exports.memory.buffer; }
}

function align(x: number, a: number): number { return Math.ceil(x / a) * a; }

let shared: PlacementCore | undefined;
/** A process-wide core for the stateless calls (jump hash). */
export function sharedCore(): PlacementCore { return (shared ??= new PlacementCore()); }
