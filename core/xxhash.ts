/**
 * xxhash64 (via xxhash-wasm), the one checksum and key hash of Cairn.
 * Initialise once with `await initXxhash()`; afterwards `xxh64` is synchronous.
 */
import xxhashInit from 'xxhash-wasm';
import { CairnError } from './errors.js';

type Api = Awaited<ReturnType<typeof xxhashInit>>;
let api: Api | undefined;
let pending: Promise<Api> | undefined;

/** Load the xxhash wasm module (idempotent). Every layer that hashes awaits this when it opens. */
export async function initXxhash(): Promise<void> {
  if (api) return;
  pending ??= xxhashInit();
  api = await pending;
}

/** xxhash64 of `data` with `seed`, as an unsigned bigint. Requires `initXxhash()` first. */
export function xxh64(data: Uint8Array, seed = 0n): bigint {
  if (!api) throw new CairnError('ASSERTION_FAILED', 'xxhash not initialised: await initXxhash() first');
  return api.h64Raw(data, seed);
}

/**
 * xxhash64 of the concatenation of `parts` (without concatenating them: a value read scattered
 * into several buffers is checked in place). Requires `initXxhash()` first.
 */
export function xxh64Parts(parts: readonly Uint8Array[], seed = 0n): bigint {
  if (!api) throw new CairnError('ASSERTION_FAILED', 'xxhash not initialised: await initXxhash() first');
  if (parts.length === 1) return api.h64Raw(parts[0]!, seed);
  const h = api.create64(seed);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** xxhash32 of `data` with `seed` (key hashing where 32 bits suffice: bloom filters). Requires `initXxhash()`. */
export function xxh32(data: Uint8Array, seed = 0): number {
  if (!api) throw new CairnError('ASSERTION_FAILED', 'xxhash not initialised: await initXxhash() first');
  return api.h32Raw(data, seed);
}
