/**
 * Writer of crash-rebalance.test.ts: opens the pool in argv[2], starts `drain <id>`,
 * `reintegrate <id>` or `extend` (one node) (argv[4], argv[5]) and meanwhile puts `w<i>` from
 * i = argv[6], 4 in flight, recording `acked <i>` in the ledger file argv[3] as each resolves
 * (synchronous writes: nothing recorded dies with the process), `changed` once the map change
 * resolved and `done` once its migration finished; it writes on until the parent's SIGKILL.
 */
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Pool } from '../../src/pool/pool.js';

/** The value of put `i` (the test checks it): 1000 bytes naming i. */
export function putValue(i: number): Uint8Array {
  const v = new Uint8Array(1000).fill(i & 0xff);
  new DataView(v.buffer).setUint32(0, i, true);
  return v;
}

if (process.argv[1] !== undefined && pathToFileURL(process.argv[1]).href === import.meta.url) {
  const [dir, ledgerPath, mode, target, startArg] = process.argv.slice(2);
  const ledger = fs.openSync(ledgerPath!, 'a');
  const record = (line: string) => { fs.writeSync(ledger, `${line}\n`); };
  // (a failure is recorded for the parent, which expects only its SIGKILL)
  process.on('uncaughtException', (e) => { record(`error ${(e as { code?: string }).code ?? ''} ${e.message}`); process.exit(1); });
  process.on('unhandledRejection', (e) => { record(`error ${(e as { code?: string }).code ?? ''} ${(e as Error).message}`); process.exit(1); });
  const pool = await Pool.open(dir!);
  const c = await pool.openContainer('c');
  process.stdout.write('ready\n');
  record('ready');
  const t0 = Date.now();
  const change = mode === 'drain' ? pool.drain(Number(target)) : mode === 'reintegrate' ? pool.reintegrate(Number(target)) : pool.extend({ nodes: 1 }).then(() => undefined);
  void change.then(async () => { record(`changed ${Date.now() - t0} ms`); await pool.waitForRebuild(); record(`done ${Date.now() - t0} ms`); });
  let next = Number(startArg);
  await Promise.all(Array.from({ length: 4 }, async () => {
    for (;;) {
      const i = next++;
      await c.kv(`w${i}`).put('v', putValue(i));
      record(`acked ${i}`);
    }
  }));
}
