/**
 * Parts of the writer processes the crash sweeps kill with SIGKILL (test/container/crash-*-child.ts,
 * test/pool/crash-rebalance-child.ts): the ledger each records what was acknowledged in, the
 * values it puts, and its endless put loop. One copy, so every sweep's writer and checker agree.
 */
import fs from 'node:fs';
import type { Container } from '../../src/index.js';

/**
 * Open the ledger file `path` for appending and return its `record`: one line per call, written
 * synchronously (nothing recorded dies with the process). An uncaught error or rejection is
 * recorded as `error <code> <message>` and ends the process with 1: the parent expects only its
 * SIGKILL, and says what happened instead.
 */
export function openLedger(path: string): (line: string) => void {
  const fd = fs.openSync(path, 'a');
  const record = (line: string): void => { fs.writeSync(fd, `${line}\n`); };
  const fail = (e: unknown): never => { record(`error ${(e as { code?: string }).code ?? ''} ${(e as Error)?.message ?? String(e)}`); process.exit(1); };
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
  return record;
}

/** The value of put `i` (the checker compares it): 1000 bytes naming i. */
export function putValue(i: number): Uint8Array {
  const v = new Uint8Array(1000).fill(i & 0xff);
  new DataView(v.buffer).setUint32(0, i, true);
  return v;
}

/** Put `<prefix><i>` = `putValue(i)` from i = `start` on, `inFlight` at a time, recording `acked <i>` as each resolves, until the process is killed. */
export async function putForever(c: Container, prefix: string, inFlight: number, start: number, record: (line: string) => void): Promise<void> {
  let next = start;
  await Promise.all(Array.from({ length: inFlight }, async () => {
    for (;;) {
      const i = next++;
      await c.kv(`${prefix}${i}`).put('v', putValue(i));
      record(`acked ${i}`);
    }
  }));
}
