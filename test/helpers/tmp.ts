/** Helpers of tests: temporary directories (shared with the benchmarks), text, collection, expected errors. */
export { tmpDir } from '../../bench/tmp-dir.js';

/** UTF-8 text of a fetched value (undefined stays undefined). */
export function text(v: Uint8Array | undefined): string | undefined {
  return v === undefined ? undefined : new TextDecoder().decode(v);
}

/** Collect an async iterable. */
export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** Expect a promise to reject with a CairnError of `code`. */
export async function rejectsWith(p: Promise<unknown> | (() => Promise<unknown>), code: string): Promise<void> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    const c = (err as { code?: string }).code;
    if (c !== code) throw new Error(`expected error code ${code}, got ${c}: ${(err as Error).message}`);
    return;
  }
  throw new Error(`expected rejection with ${code}, but it resolved`);
}
