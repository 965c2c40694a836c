/**
 * The API tests' refusal check: a call (or, for an async iterator it returns, its first step) fails
 * with a CairnError of the expected registry code, never a raw error and never success.
 */
import * as assert from 'uvu/assert';
import { CairnError } from '../../index.js';

/** `call` is refused with a CairnError whose code is `code` (or one of them); returns the error. */
export async function refused(what: string, call: () => unknown, code: string | readonly string[] = 'INVALID_ARGUMENT'): Promise<CairnError> {
  const codes = typeof code === 'string' ? [code] : code;
  let v: unknown;
  try {
    v = await call();
    // an async iterator (listings, watch) reports on its first step
    if (v && typeof (v as AsyncIterator<unknown>).next === 'function') v = await (v as AsyncIterator<unknown>).next();
  } catch (err) {
    assert.instance(err, CairnError, `${what}: a CairnError, not ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`);
    assert.ok(codes.includes((err as CairnError).code), `${what}: code ${(err as CairnError).code} (${(err as Error).message}), expected ${codes.join(' or ')}`);
    return err as CairnError;
  }
  assert.unreachable(`${what}: accepted (${String(v)})`);
  throw new Error('unreachable');
}
