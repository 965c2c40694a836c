/**
 * Crash-test writer: commits transactions that set the same round number on keys of several
 * objects (EC and replicated), printing `ack <round>` after each commit resolves. The parent kills
 * this process with SIGKILL at random moments.
 */
import { Pool } from '../../src/pool/pool.js';

const [dir, startArg] = process.argv.slice(2);
const pool = await Pool.open(dir!);
const c = await pool.openContainer('crash');
const objects = ['ec-a', 'ec-b', 'rp-c', 'rp-d'];
const classes = ['EC_2P1G1', 'EC_2P1G1', 'RP_2G1', 'RP_2G1'];
process.stdout.write('ready\n');
for (let round = Number(startArg); ; round++) {
  const tx = c.beginTx();
  const big = new Uint8Array(20_000 + (round % 7) * 1000).fill(round & 0xff);
  for (let i = 0; i < objects.length; i++) {
    const o = tx.object(objects[i]!, { oclass: classes[i] });
    await o.update('d', 'round', String(round));
    await o.update('d', 'blob', big);
  }
  await tx.commit();
  process.stdout.write(`ack ${round}\n`);
  // Reclaim overwritten versions now and then, so the writer never fills its targets.
  if (round % 50 === 0) await c.aggregate();
}
