/**
 * Writer of crash-checkpoint.test.ts: puts `o<i>` (`putValue(i)`, 1000 bytes naming i) into
 * container `c` of the durable pool in argv[2], 32 in flight, from i = argv[4], recording
 * `acked <i>` in the ledger file argv[3] as each put resolves (synchronous writes: nothing
 * recorded dies with the process), and `cp begin` / `cp end` around each pool checkpoint (the
 * first also as `cp` on stdout, for a parent that kills at a delay after it). argv[5] `step:k`
 * instead kills this process at the k-th phase (1..4) of the first checkpoint: as it starts, as
 * each of its two store flushes ends, as its first journal rewrite starts. Commits go on
 * meanwhile: puts are in flight at every kill.
 */
import { pathToFileURL } from 'node:url';
import { Pool } from '../../src/pool/pool.js';
import { LocalBackend } from '../../src/pool/local-backend.js';
import { LocalContainerStorage } from '../../src/container/storage.js';
import { openLedger, putForever } from '../helpers/crash-writer.js';

if (process.argv[1] !== undefined && pathToFileURL(process.argv[1]).href === import.meta.url) {
  const [dir, ledgerPath, startArg, stepArg] = process.argv.slice(2);
  const record = openLedger(ledgerPath!);
  const step = /^step:(\d)$/.exec(stepArg ?? '');
  const killAt = step ? Number(step[1]) : 0;
  let phase = 0, inCheckpoint = false;
  const reached = (): void => {
    if (++phase === killAt) { record(`killed at phase ${phase}`); process.kill(process.pid, 'SIGKILL'); }
  };
  const proto = Pool.prototype as unknown as { checkpoint: () => Promise<void> };
  const checkpoint = proto.checkpoint;
  proto.checkpoint = function (this: Pool) {
    if (!inCheckpoint) {
      inCheckpoint = true;
      record('cp begin');
      if (phase === 0) process.stdout.write('cp\n');
      reached();
    }
    return checkpoint.call(this).finally(() => { if (inCheckpoint) { inCheckpoint = false; record('cp end'); } });
  };
  const flush = LocalBackend.prototype.flushTargets;
  LocalBackend.prototype.flushTargets = async function (this: LocalBackend, ...a: Parameters<typeof flush>) {
    await flush.apply(this, a);
    if (inCheckpoint && phase < 3) reached();
  };
  const drop = LocalContainerStorage.prototype.dropRedo;
  LocalContainerStorage.prototype.dropRedo = function (this: LocalContainerStorage, ...a: Parameters<typeof drop>) {
    if (inCheckpoint && phase === 3) reached();
    return drop.apply(this, a);
  };

  const pool = await Pool.open(dir!, { durable: true });
  const c = await pool.openContainer('c');
  await c.openTargets(); // (every put takes the small-put path: its INTENT carries its value)
  process.stdout.write('ready\n');
  await putForever(c, 'o', 32, Number(startArg), record);
}
