/**
 * uvu 0.5 cannot print an error whose `details` is an object (every CairnError): its reporter
 * crashes and the failure shows no message. `safe(fn)` rethrows such errors as plain Errors
 * carrying code, message and details, so failures stay readable. With CAIRN_TEST_TIMING=1 it
 * also prints how long each test took (to keep files within their time budget).
 */
export function safe<T>(fn: () => T | Promise<T>): () => Promise<T> {
  return async () => {
    const t0 = performance.now();
    try {
      return await fn();
    } catch (e) {
      const err = e as { code?: string; info?: unknown; message?: string; stack?: string; name?: string };
      if (err && typeof err === 'object' && err.info !== undefined && typeof err.info !== 'string') {
        const plain = new Error(`${err.name}: ${err.code ?? ''} ${err.message} ${JSON.stringify(err.info, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}`);
        plain.stack = `${plain.message}\n${err.stack ?? ''}`;
        throw plain;
      }
      throw e;
    } finally {
      if (process.env.CAIRN_TEST_TIMING) console.log(`\n[${Math.round(performance.now() - t0)} ms] ${fn.name || 'test'}`);
    }
  };
}
