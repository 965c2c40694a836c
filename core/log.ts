/**
 * Errors Cairn deliberately does not propagate — best-effort cleanup of a handle that is closing
 * anyway, a peer engine that is gone, a malformed record its owner rewrites — are never dropped
 * silently: each goes through `swallowed(reason, err)`, which counts it under its reason and, when
 * `CAIRN_DEBUG` is set, logs it on stderr. A reason is a short static dotted name (`pool.close-store`)
 * that says where and why the error is not propagated; tests and operators read the counts.
 *
 * `CAIRN_DEBUG=1` (or `*`) logs every reason; `CAIRN_DEBUG=net,engine.` logs reasons starting with
 * one of the comma-separated prefixes.
 */

/** Most distinct reasons counted; further ones are counted under `OTHER_REASON`. */
export const MAX_SWALLOW_REASONS = 1024;
/** The reason under which reasons past `MAX_SWALLOW_REASONS` are counted. */
export const OTHER_REASON = 'other';

const counts = new Map<string, number>();

/** Whether `CAIRN_DEBUG` asks for messages about `topic` (read on every call: tests set it late). */
export function debugEnabled(topic: string): boolean {
  const v = process.env.CAIRN_DEBUG;
  if (!v || v === '0') return false;
  if (v === '1' || v === '*' || v === 'true') return true;
  return v.split(',').some((p) => p.length > 0 && topic.startsWith(p.trim()));
}

/** Log `message` (and `err`) on stderr when `CAIRN_DEBUG` covers `topic`. */
export function debugLog(topic: string, message: string, err?: unknown): void {
  if (!debugEnabled(topic)) return;
  const detail = err === undefined ? '' : `: ${describe(err)}`;
  process.stderr.write(`[cairn ${topic}] ${message}${detail}\n`);
}

/**
 * Record an error that is deliberately not propagated: count it under `reason` and log it when
 * `CAIRN_DEBUG` covers the reason. Returns nothing, so it fits `catch (err) { swallowed(...) }`.
 */
export function swallowed(reason: string, err: unknown): void {
  const key = counts.has(reason) || counts.size < MAX_SWALLOW_REASONS ? reason : OTHER_REASON;
  counts.set(key, (counts.get(key) ?? 0) + 1);
  debugLog(reason, 'error not propagated', err);
}

/** A rejection handler that records the error under `reason`: `p.catch(swallow('net.close'))`. */
export function swallow(reason: string): (err: unknown) => void {
  return (err: unknown) => swallowed(reason, err);
}

/** How many errors were swallowed under each reason since the process started. */
export function swallowedCounts(): Record<string, number> {
  return Object.fromEntries(counts);
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return `${code !== undefined ? `${String(code)} ` : ''}${err.message}`;
  }
  return String(err);
}
