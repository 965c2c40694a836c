/**
 * Child process of integrity-space.test.ts (a SIGBUS kills only this process, and the parent sees
 * it): works on a pool in argv[2], which lies on a small filesystem, and prints one line
 * `RESULT <json>`.
 *   create16 — `Pool.create` with 16 targets of scmBytes 64 MiB: what it gave, and what it left.
 *   fill <kind> — a 2-target RP_2G1 pool that fits at create; writes (kind `small`: inline single
 *     values, filling the metadata files; `large`: 48 KiB array extents, filling vos.data) until
 *     the filesystem is full; then reads every acknowledged write back, closes, reopens and reads
 *     them again.
 */
import fs from 'node:fs';
import { Pool } from '../../src/pool/pool.js';
import { Rng } from '../../core/rng.js';
import { CairnError } from '../../core/errors.js';

const [dir, mode, kind] = process.argv.slice(2);
/** Writes before the test gives up waiting for the filesystem to fill. */
const MAX_WRITES = 20_000;
/** Bytes of the filesystem held back by a filler file (a target grows with headroom: several 1 MiB segments at once). */
const FILLER_BYTES = 4 << 20;

/** `CODE: message` of a CairnError; anything else with its class and stack, so the test names it. */
const codeOf = (err: unknown) => err instanceof CairnError
  ? `${err.code}: ${err.message}`.slice(0, 300)
  : `raw ${(err as Error)?.constructor?.name} ${(err as { code?: string }).code ?? ''}: ${(err as Error)?.stack ?? String(err)}`.slice(0, 1500);
const out: Record<string, unknown> = {};

if (mode === 'create16') {
  try {
    const pool = await Pool.create(dir!, { nodes: 4, ranksPerNode: 2, targetsPerRank: 2, scmBytes: 64 << 20, dataBytes: 64 << 20 });
    out.create = 'ok';
    // it fitted after all: then writing must end in NO_SPACE, never a signal
    const c = await pool.createContainer('c', { oclass: 'RP_3G1', redundancyFactor: 2 });
    const rng = new Rng(5);
    let i = 0;
    try { for (; i < MAX_WRITES; i++) await c.object(`o${i % 64}`).update(`d${i}`, 'v', rng.bytes(3000)); out.write = 'never full'; } catch (err) { out.write = codeOf(err); }
    out.writes = i;
    await pool.close();
  } catch (err) {
    out.create = codeOf(err);
  }
  out.left = fs.existsSync(dir!) ? fs.readdirSync(dir!) : null;
} else if (mode === 'fill') {
  // 1 MiB segments, each target capped at 12 MiB (together more than the filesystem holds)
  const pool = await Pool.create(dir!, { nodes: 1, ranksPerNode: 1, targetsPerRank: 2, scmBytes: 12 << 20, dataBytes: 64 << 20 });
  // held back, freed once the pool is full: then writes must work again
  const filler = `${dir}.filler`;
  fs.writeFileSync(filler, new Uint8Array(FILLER_BYTES).fill(1));
  const c = await pool.createContainer('c', { oclass: 'RP_2G1', redundancyFactor: 1 });
  const rng = new Rng(kind === 'small' ? 11 : 12);
  const acked: Array<{ i: number; value: Uint8Array }> = [];
  const put = (i: number, value: Uint8Array) => kind === 'small'
    ? c.object(`o${i % 16}`).update(`d${i}`, 'v', value)
    : c.object(`o${i % 16}`).update(`d${i}`, 'ar', { recx: { index: 0, count: value.length }, data: value });
  let i = 0;
  try {
    for (; i < MAX_WRITES; i++) {
      const value = rng.bytes(kind === 'small' ? 1500 + rng.int(1000) : 48 << 10);
      await put(i, value);
      acked.push({ i, value });
    }
    out.fill = 'never full';
  } catch (err) { out.fill = codeOf(err); }
  out.acked = acked.length;
  // still refused, not crashed, on the next writes
  out.again = [];
  for (let j = 0; j < 3; j++) {
    try { await put(i + 1 + j, rng.bytes(kind === 'small' ? 2000 : 48 << 10)); (out.again as string[]).push('ok'); } catch (err) { (out.again as string[]).push(codeOf(err)); }
  }
  fs.rmSync(filler);
  try {
    for (let j = 0; j < 3; j++) {
      const value = rng.bytes(kind === 'small' ? 2000 : 48 << 10);
      await put(i + 10 + j, value);
      acked.push({ i: i + 10 + j, value });
    }
    out.afterFree = 'ok';
  } catch (err) { out.afterFree = codeOf(err); }
  const readBack = async (p: Pool): Promise<number> => {
    const cc = await p.openContainer('c');
    let bad = 0;
    for (const { i: k, value } of acked) {
      const o = cc.object(`o${k % 16}`);
      const got = kind === 'small' ? await o.fetch(`d${k}`, 'v') : await o.fetch(`d${k}`, 'ar', { recx: { index: 0, count: value.length } });
      if (!got || !Buffer.from(got).equals(Buffer.from(value))) bad++;
    }
    return bad;
  };
  try { out.badReads = await readBack(pool); } catch (err) { out.badReads = codeOf(err); }
  try { await pool.close(); out.close = 'ok'; } catch (err) { out.close = codeOf(err); }
  try {
    const again = await Pool.open(dir!);
    try { out.badReadsAfterReopen = await readBack(again); } finally { await again.close(); }
    out.reopen = 'ok';
  } catch (err) { out.reopen = codeOf(err); }
} else {
  throw new Error(`unknown mode ${mode}`);
}
process.stdout.write(`RESULT ${JSON.stringify(out)}\n`);
