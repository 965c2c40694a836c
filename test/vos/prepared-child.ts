/**
 * Child process of the prepared-epoch crash test (prepared.test.ts): opens the target in argv[2]
 * and forever writes one value per epoch as a prepared write (`updateSingleNow(..., prepared)`),
 * printing `PREP <epoch>` once it resolved; settles every third epoch two epochs later
 * (`SETTLING <epoch>` before, `SETTLED <epoch>` once resolved), discards every fifth (`DISCARDING`,
 * `DISCARDED`: a kill between the two leaves either outcome), and flushes every
 * 97 epochs (`FLUSHING`, `FLUSHED`) so prepared epochs move from the log into the manifest. Lines
 * go to the ledger file argv[3] with a synchronous write (a SIGKILL loses none) and to stdout (the
 * parent times its kill on them). Killed with SIGKILL by the parent.
 */
import fs from 'node:fs';
import { VosTarget } from '../../src/vos/index.js';
import { crashValue, CRASH_OPTS } from './crash-common.js';

const [dir, ledgerPath, durableArg] = process.argv.slice(2);
const ledger = fs.openSync(ledgerPath!, 'a');
const out = (line: string) => { fs.writeSync(ledger, `${line}\n`); process.stdout.write(`${line}\n`); };
const t = await VosTarget.open(dir!, { ...CRASH_OPTS, durable: durableArg === '1' });
const dkey = new TextEncoder().encode('d'), akey = new TextEncoder().encode('a');
let epoch = t.queryMaxEpoch() + 10n;
out(`OPEN ${epoch}`);
for (;;) {
  epoch++;
  const e = epoch;
  const v = crashValue('small', 1, e);
  const p = t.updateSingleNow(e, e, dkey, akey, v, undefined, true);
  if (p) await p;
  out(`PREP ${e}`);
  if (e % 3n === 0n) { out(`SETTLING ${e - 2n}`); await t.target.settlePrepared(t.uuid, [e - 2n, e - 2n]); out(`SETTLED ${e - 2n}`); }
  if (e % 5n === 0n) { out(`DISCARDING ${e}`); await t.discard(e - 1n, e); out(`DISCARDED ${e}`); }
  if (e % 97n === 0n) { out('FLUSHING'); await t.target.flushAll(); out('FLUSHED'); }
  if (e % 16n === 0n) await new Promise((r) => setImmediate(r));
}
