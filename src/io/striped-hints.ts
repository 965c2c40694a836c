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
 * dropped past STRIPED_HINTS_MAX. Besides the exact akey (object, dkey, akey), the akey's name alone
 * is remembered once values of that name were seen striped NAME_CONFIDENCE times in a row with no
 * whole one between: a first get of another object's akey of that name (a reader's first pass over
 * objects another client wrote, values of one name being of one size) then reads all k at once too.
 * Any whole value seen under the name forgets it, so names whose values mix small and large ones
 * (each small get would cost k reads) are not hinted.
 */
/**
 * The I/O context the hints belong to (io.ts `IoContext`), by identity only: any object, so this
 * module needs nothing of io.ts, which uses it.
 */
type HintContext = object;

/** Most akeys remembered as striped per I/O context (oldest dropped first). */
export const STRIPED_HINTS_MAX = 4096;

/** Striped values seen in a row under one akey name before the name alone is a hint. */
export const NAME_CONFIDENCE = 2;

/** Per context: exact keys (value 1) and akey names (value: striped values seen in a row). */
const hints = new WeakMap<HintContext, Map<string, number>>();

/** What a get or a put saw of a value: striped, stored whole, or nothing visible. */
export type SeenForm = 'striped' | 'whole' | 'absent';

/** The hint key of akey `akey` of dkey `dkey` of object `oid` (exact: the key bytes, length-prefixed). */
export function stripedHintKey(oid: bigint, dkey: Uint8Array, akey: Uint8Array): string {
  return `${oid} ${dkey.length} ${latin1(dkey)}${latin1(akey)}`;
}

/** The hint key of the akey name `akey` (any object, any dkey; no exact key starts with a space). */
function nameKey(akey: Uint8Array): string {
  return ` ${latin1(akey)}`;
}

/** Whether `ctx` last saw the value of hint key `key` striped, or values of the akey name `akey` (NAME_CONFIDENCE). */
export function stripedHint(ctx: HintContext, key: string, akey: Uint8Array): boolean {
  const m = hints.get(ctx);
  return m !== undefined && (m.has(key) || (m.get(nameKey(akey)) ?? 0) >= NAME_CONFIDENCE);
}

/**
 * Record what `ctx` saw of the value of hint key `key` (akey name `akey`): striped (remember both),
 * whole (forget both), absent (forget the exact key: nothing is known of the name's sizes).
 */
export function rememberStriped(ctx: HintContext, key: string, akey: Uint8Array, form: SeenForm): void {
  let m = hints.get(ctx);
  if (form !== 'striped') { if (m !== undefined) { m.delete(key); if (form === 'whole') m.delete(nameKey(akey)); } return; }
  if (m === undefined) hints.set(ctx, m = new Map());
  put(m, key, 1);
  const name = nameKey(akey);
  put(m, name, Math.min(NAME_CONFIDENCE, (m.get(name) ?? 0) + 1));
}

/** Whether `ctx` holds any hint (a get skips making its hint key while none is held: fresh's ask 1, session 27). */
export function hasStripedHints(ctx: HintContext): boolean {
  const m = hints.get(ctx);
  return m !== undefined && m.size > 0;
}

/**
 * A whole (small) single value of `oid`/`dkey`/`akey` was written through `ctx` (planSingle's
 * whole branch, a commit path writing `wholeSinglePiece` itself): its exact hint and its name's
 * are forgotten, as when a get sees a whole value, so the next get reads role 0 alone instead of
 * k roles once. Costs one WeakMap lookup while `ctx` holds no hint (a context of small values
 * only): the hint key is made only when there are hints to check.
 */
export function forgetStripedSingle(ctx: HintContext, oid: bigint, dkey: Uint8Array, akey: Uint8Array): void {
  const m = hints.get(ctx);
  if (m === undefined || m.size === 0) return;
  m.delete(stripedHintKey(oid, dkey, akey));
  m.delete(nameKey(akey));
}

function put(m: Map<string, number>, key: string, v: number): void {
  if (!m.has(key) && m.size >= STRIPED_HINTS_MAX) m.delete(m.keys().next().value as string);
  m.set(key, v);
}

function latin1(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1');
}
