/**
 * Which EC single values of a container were last seen striped (issue 15: connected striped
 * singles in one round trip).
 *
 * Why: a get of an EC single value reads data role 0 first, since a value of at most
 * EC_WHOLE_SINGLE_MAX_BYTES is stored whole there (one read answers it); only a striped piece
 * there sends it on to the other k - 1 data roles. Against remote stores that is two round trips
 * in series for every value larger than that. A get of an akey this context last saw striped
 * (written striped through it, or read striped) reads all k data roles at once instead: one round
 * trip. The answer is decided exactly as before from the same pieces (role 0's whole piece wins,
 * nothing on role 0 is "absent", else the k pieces are combined), so a wrong hint (another client
 * overwrote the value with a small one, or punched it) costs k - 1 reads and is then forgotten;
 * it never changes a value read.
 *
 * Hints are per I/O context (one per container's metadata record) and bounded: the oldest is
 * dropped past STRIPED_HINTS_MAX.
 */
import type { IoContext } from './io.js';

/** Most akeys remembered as striped per I/O context (oldest dropped first). */
export const STRIPED_HINTS_MAX = 4096;

const hints = new WeakMap<IoContext, Map<string, true>>();

/** The hint key of akey `akey` of dkey `dkey` of object `oid` (exact: the key bytes, length-prefixed). */
export function stripedHintKey(oid: bigint, dkey: Uint8Array, akey: Uint8Array): string {
  return `${oid} ${dkey.length} ${latin1(dkey)}${latin1(akey)}`;
}

/** Whether `ctx` last saw the value of hint key `key` striped. */
export function stripedHint(ctx: IoContext, key: string): boolean {
  return hints.get(ctx)?.has(key) === true;
}

/** Remember (`striped` true) or forget that `ctx` last saw the value of hint key `key` striped. */
export function rememberStriped(ctx: IoContext, key: string, striped: boolean): void {
  let m = hints.get(ctx);
  if (!striped) { m?.delete(key); return; }
  if (m === undefined) hints.set(ctx, m = new Map());
  if (m.has(key)) return;
  if (m.size >= STRIPED_HINTS_MAX) m.delete(m.keys().next().value as string);
  m.set(key, true);
}

function latin1(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1');
}
