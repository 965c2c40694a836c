/**
 * xxhash64, the one checksum and key hash of Cairn (xxhash-wasm, and the core's own XXH64 for short inputs).
 * Initialise once with `await initXxhash()`; afterwards `xxh64` is synchronous.
 *
 * Inputs of up to 64 KiB (records, keys, small values: several per put) are hashed by the core's
 * own XXH64 (assembly/hash.ts, checked against xxhash-wasm in test/core/xxhash): a call of
 * xxhash-wasm's `h64Raw` spends ~85 ns outside the hash on this machine (its memory's buffer
 * looked up, the input's length read twice through generic lookups, a typed array and a BigInt
 * mask made per call), the core's ~40 ns: a copy into a buffer fixed at load, the call, the
 * answer read back unsigned. Longer inputs take xxhash-wasm, where the hash dominates.
 */
import xxhashInit from 'xxhash-wasm';
import { CairnError, assert } from './errors.js';
import { instantiate } from './wasm.js';
import { copyInto } from './typed.js';

type Api = Awaited<ReturnType<typeof xxhashInit>>;
let api: Api | undefined;
let pending: Promise<Api> | undefined;

/** Load the xxhash wasm module (idempotent). Every layer that hashes awaits this when it opens. */
export async function initXxhash(): Promise<void> {
  if (api) return;
  pending ??= xxhashInit();
  const a = await pending;
  if (!api) { preGrow(a); short = loadShort(); }
  api = a;
}

/** The core's XXH64 of short inputs: its input area and answer, views made once (its memory never grows). */
interface ShortHasher { hash: (len: number, seed: bigint) => void; input: Uint8Array; answer: DataView }
let short: ShortHasher | undefined;

function loadShort(): ShortHasher {
  const e = instantiate('hash').exports as { memory: WebAssembly.Memory; buffer(): number; inputMax(): number; inputOffset(): number; xxh64(len: number, seed: bigint): void };
  const at = e.buffer();
  return { hash: e.xxh64, input: new Uint8Array(e.memory.buffer, at + e.inputOffset(), e.inputMax()), answer: new DataView(e.memory.buffer, at, 8) };
}

/** Bytes of input the hasher's wasm memory is grown to hold at init (`preGrow`). */
const PRE_GROW_BYTES = 1 << 20;

/**
 * Grow the hasher's wasm memory once, at init. xxhash-wasm grows its memory the first time it
 * hashes an input larger than it (64 KiB at start), and that grow detaches the old ArrayBuffer. A
 * process's first detach invalidates V8's ArrayBufferDetaching protector, which deoptimises every
 * optimised function that reads a typed array at once (80-100 functions, measured half way through
 * a rebuild). Taken here, before anything hot is compiled, it costs nothing later.
 */
function preGrow(a: Api): void {
  a.h64Raw(new Uint8Array(PRE_GROW_BYTES), 0n);
}

/** xxhash64 of `data` with `seed`, as an unsigned bigint. Requires `initXxhash()` first. */
export function xxh64(data: Uint8Array, seed = 0n): bigint {
  const s = short;
  if (s === undefined) throw new CairnError('ASSERTION_FAILED', 'xxhash not initialised: await initXxhash() first');
  const n = data.length;
  if (n > s.input.length) return api!.h64Raw(data, seed);
  copyInto(s.input, data, 0);
  s.hash(n, seed);
  return s.answer.getBigUint64(0, true);
}

/**
 * xxhash64 of the concatenation of `parts` (without concatenating them: a value read scattered
 * into several buffers is checked in place). Requires `initXxhash()` first.
 */
export function xxh64Parts(parts: readonly Uint8Array[], seed = 0n): bigint {
  if (!api) throw new CairnError('ASSERTION_FAILED', 'xxhash not initialised: await initXxhash() first');
  if (parts.length === 1) return xxh64(parts[0]!, seed);
  const h = api.create64(seed);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** Inputs up to this many bytes are hashed by `xxh32` in JS (keys: no copy into wasm memory, no call across). */
export const XXH32_JS_MAX_BYTES = 64;

/** xxhash32 of `data` with `seed` (key hashing where 32 bits suffice: bloom filters). Requires `initXxhash()`. */
export function xxh32(data: Uint8Array, seed = 0): number {
  if (data.length <= XXH32_JS_MAX_BYTES) return xxh32js(data, seed);
  if (!api) throw new CairnError('ASSERTION_FAILED', 'xxhash not initialised: await initXxhash() first');
  return api.h32Raw(data, seed);
}

const P32_1 = 0x9e3779b1; const P32_2 = 0x85ebca77; const P32_3 = 0xc2b2ae3d; const P32_4 = 0x27d4eb2f; const P32_5 = 0x165667b1;
const rotl32 = (x: number, r: number): number => (x << r) | (x >>> (32 - r));
const lane32 = (b: Uint8Array, i: number): number => b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
const round32 = (acc: number, lane: number): number => Math.imul(rotl32((acc + Math.imul(lane, P32_2)) | 0, 13), P32_1);

/**
 * XXH32 written from its specification (github.com/Cyan4973/xxHash, doc/xxhash_spec.md); equal to
 * the wasm one (test/core/xxhash). Hashes the first `n` bytes of `b` (all of it by default), so a
 * key's prefix is hashed without making a view of it.
 */
export function xxh32js(b: Uint8Array, seed = 0, n = b.length): number {
  if (!(n >= 0 && n <= b.length)) assert(false, 'xxh32js: length beyond the buffer', { n, length: b.length }); // (no info object built per call: this hashes every key a merge writes)
  let i = 0;
  let acc: number;
  if (n >= 16) {
    let v1 = (seed + P32_1 + P32_2) | 0; let v2 = (seed + P32_2) | 0; let v3 = seed | 0; let v4 = (seed - P32_1) | 0;
    for (; i + 16 <= n; i += 16) {
      v1 = round32(v1, lane32(b, i)); v2 = round32(v2, lane32(b, i + 4)); v3 = round32(v3, lane32(b, i + 8)); v4 = round32(v4, lane32(b, i + 12));
    }
    acc = (rotl32(v1, 1) + rotl32(v2, 7) + rotl32(v3, 12) + rotl32(v4, 18)) | 0;
  } else {
    acc = (seed + P32_5) | 0;
  }
  acc = (acc + n) | 0;
  for (; i + 4 <= n; i += 4) acc = Math.imul(rotl32((acc + Math.imul(lane32(b, i), P32_3)) | 0, 17), P32_4);
  for (; i < n; i++) acc = Math.imul(rotl32((acc + Math.imul(b[i]!, P32_5)) | 0, 11), P32_1);
  acc ^= acc >>> 15; acc = Math.imul(acc, P32_2);
  acc ^= acc >>> 13; acc = Math.imul(acc, P32_3);
  acc ^= acc >>> 16;
  return acc >>> 0;
}

/**
 * `xxh32js` of the first `n` bytes of `b` under two seeds at once, into `out.h1` (`seed1`) and
 * `out.h2` (`seed2`): each input word is read once for both (a bloom probe is two hashes of the
 * same key prefix). Equal to two `xxh32js` calls (test/core/xxhash).
 */
export function xxh32jsPair(b: Uint8Array, n: number, seed1: number, seed2: number, out: { h1: number; h2: number }): void {
  if (!(n >= 0 && n <= b.length)) assert(false, 'xxh32jsPair: length beyond the buffer', { n, length: b.length });
  let i = 0;
  let a: number; let c: number;
  if (n >= 16) {
    let v1 = (seed1 + P32_1 + P32_2) | 0; let v2 = (seed1 + P32_2) | 0; let v3 = seed1 | 0; let v4 = (seed1 - P32_1) | 0;
    let w1 = (seed2 + P32_1 + P32_2) | 0; let w2 = (seed2 + P32_2) | 0; let w3 = seed2 | 0; let w4 = (seed2 - P32_1) | 0;
    for (; i + 16 <= n; i += 16) {
      const l1 = Math.imul(lane32(b, i), P32_2); const l2 = Math.imul(lane32(b, i + 4), P32_2);
      const l3 = Math.imul(lane32(b, i + 8), P32_2); const l4 = Math.imul(lane32(b, i + 12), P32_2);
      v1 = Math.imul(rotl32((v1 + l1) | 0, 13), P32_1); w1 = Math.imul(rotl32((w1 + l1) | 0, 13), P32_1);
      v2 = Math.imul(rotl32((v2 + l2) | 0, 13), P32_1); w2 = Math.imul(rotl32((w2 + l2) | 0, 13), P32_1);
      v3 = Math.imul(rotl32((v3 + l3) | 0, 13), P32_1); w3 = Math.imul(rotl32((w3 + l3) | 0, 13), P32_1);
      v4 = Math.imul(rotl32((v4 + l4) | 0, 13), P32_1); w4 = Math.imul(rotl32((w4 + l4) | 0, 13), P32_1);
    }
    a = (rotl32(v1, 1) + rotl32(v2, 7) + rotl32(v3, 12) + rotl32(v4, 18)) | 0;
    c = (rotl32(w1, 1) + rotl32(w2, 7) + rotl32(w3, 12) + rotl32(w4, 18)) | 0;
  } else {
    a = (seed1 + P32_5) | 0; c = (seed2 + P32_5) | 0;
  }
  a = (a + n) | 0; c = (c + n) | 0;
  for (; i + 4 <= n; i += 4) {
    const l = Math.imul(lane32(b, i), P32_3);
    a = Math.imul(rotl32((a + l) | 0, 17), P32_4); c = Math.imul(rotl32((c + l) | 0, 17), P32_4);
  }
  for (; i < n; i++) {
    const l = Math.imul(b[i]!, P32_5);
    a = Math.imul(rotl32((a + l) | 0, 11), P32_1); c = Math.imul(rotl32((c + l) | 0, 11), P32_1);
  }
  a ^= a >>> 15; a = Math.imul(a, P32_2); a ^= a >>> 13; a = Math.imul(a, P32_3); a ^= a >>> 16;
  c ^= c >>> 15; c = Math.imul(c, P32_2); c ^= c >>> 13; c = Math.imul(c, P32_3); c ^= c >>> 16;
  out.h1 = a >>> 0; out.h2 = c >>> 0;
}
