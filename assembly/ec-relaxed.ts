/**
 * The erasure-coding core built with relaxed SIMD (build/ec-relaxed.wasm): the same sources as
 * assembly/ec.ts, with `i8x16.relaxed_swizzle` in the multiply. Loaded only where the engine
 * validates relaxed SIMD (Node >= 22, or Node 20 with --experimental-wasm-relaxed-simd);
 * otherwise ec/ falls back to build/ec.wasm.
 */
export * from './ec';
