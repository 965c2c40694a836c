/**
 * Erasure-coding core of Cairn (compiled to build/ec.wasm): GF(2^8) tables, split-nibble table
 * construction and the matrix-times-shards kernels (SIMD and scalar). Memory is imported and
 * shared (`env.memory`), so views the host hands out survive `memory.grow`. The host owns
 * allocation above `heapBase()`; this module keeps only its static tables below it.
 */
import { gfInit, gfMul } from './ec/gf';
export { buildTables } from './ec/tables';
export { applySimd, applyScalar } from './ec/kernels';

/** First free byte after the static data; the host allocates from here on. */
export function heapBase(): usize { return __heap_base; }

/** Fill the GF tables; call once after instantiation. */
export function init(): void { gfInit(); }

/** a * b in GF(2^8) (exported for tests). */
export function mul(a: i32, b: i32): i32 { return gfMul(a, b); }
