/**
 * Writer of crash-rebalance.test.ts: opens the pool in argv[2], starts `drain <id>`,
 * `reintegrate <id>` or `extend` (one node) (argv[4], argv[5]) and meanwhile puts `w<i>` from
 * i = argv[6], 4 in flight, recording `acked <i>` in the ledger file argv[3] as each resolves
 * (synchronous writes: nothing recorded dies with the process), `changed` once the map change
 * resolved and `done` once its migration finished; it writes on until the parent's SIGKILL.
 */
import { pathToFileURL } from 'node:url';
import { Pool } from '../../src/pool/pool.js';
import { openLedger, putForever } from '../helpers/crash-writer.js';

if (process.argv[1] !== undefined && pathToFileURL(process.argv[1]).href === import.meta.url) {
  const [dir, ledgerPath, mode, target, startArg] = process.argv.slice(2);
  const record = openLedger(ledgerPath!);
  const pool = await Pool.open(dir!);
  const c = await pool.openContainer('c');
  process.stdout.write('ready\n');
  record('ready');
  const t0 = Date.now();
  const change = mode === 'drain' ? pool.drain(Number(target)) : mode === 'reintegrate' ? pool.reintegrate(Number(target)) : pool.extend({ nodes: 1 }).then(() => undefined);
  void change.then(async () => { record(`changed ${Date.now() - t0} ms`); await pool.waitForRebuild(); record(`done ${Date.now() - t0} ms`); });
  await putForever(c, 'w', 4, Number(startArg), record);
}
