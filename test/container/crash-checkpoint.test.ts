/**
 * Crash consistency of durable pools across redo checkpoints: a writer with 32 puts in flight is
 * killed with SIGKILL during a checkpoint (which flushes every store twice and rewrites the
 * journal while commits go on), at a seeded phase of it or a seeded delay after it starts; after
 * every reopen every acknowledged put of every round reads back exactly, a put in flight is there
 * exactly or not at all, and the next round's checkpoint runs on what the open left.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { Pool } from '../../src/pool/pool.js';
import { Rng } from '../../core/rng.js';
import { tmpDir } from '../helpers/tmp.js';
import { putValue } from '../helpers/crash-writer.js';

const t = suite('crash-checkpoint');
const SEED = Number(process.env.CAIRN_CRASH_SEED ?? 20261206);
const ROUNDS = 6;
/** Longest a round may take before the test gives up on the writer (it reaches a checkpoint in a few seconds). */
const ROUND_LIMIT_MS = 120_000;

t(`SIGKILL during redo checkpoints (${ROUNDS} rounds, seed ${SEED}): every acknowledged put reads back`, async () => {
  const root = tmpDir();
  const dir = join(root, 'pool');
  const p = await Pool.create(dir, { nodes: 4, ranksPerNode: 1, targetsPerRank: 2, scmBytes: 64 << 20, dataBytes: 64 << 20, durable: true });
  await p.createContainer('c', { oclass: 'RP_2G1' });
  await p.close();
  const rng = new Rng(SEED);
  const child = new URL('./crash-checkpoint-child.ts', import.meta.url).pathname;
  const acked: number[] = [];
  let start = 0, inside = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const where = `seed ${SEED}, round ${round}`;
    const ledgerPath = join(root, `ledger-${round}`);
    const step = round % 2 === 0 ? `step:${1 + rng.int(4)}` : undefined;
    const delay = rng.int(300);
    const proc = spawn(process.execPath, ['--import', 'tsx', child, dir, ledgerPath, String(start), ...(step ? [step] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
    const signal = await new Promise<NodeJS.Signals | null>((resolve) => {
      let out = '', timer: NodeJS.Timeout | undefined;
      const limit = setTimeout(() => proc.kill('SIGKILL'), ROUND_LIMIT_MS);
      proc.stdout.on('data', (d) => {
        out += d;
        if (step === undefined && timer === undefined && out.includes('cp\n')) timer = setTimeout(() => proc.kill('SIGKILL'), delay);
      });
      proc.on('exit', (_code, sig) => { clearTimeout(limit); resolve(sig); });
    });
    const ledger = fs.readFileSync(ledgerPath, 'utf8');
    assert.is(signal, 'SIGKILL', `${where}: the writer was killed (${/^error .*$/m.exec(ledger)?.[0] ?? 'no error recorded'})`);
    assert.ok(ledger.includes('cp begin'), `${where}: the writer reached a checkpoint (${ROUND_LIMIT_MS} ms)`);
    if (step !== undefined) assert.ok(ledger.includes('killed at phase'), `${where}: killed at ${step} of the checkpoint`);
    if (ledger.lastIndexOf('cp begin') > ledger.lastIndexOf('cp end')) inside++;
    const now = [...ledger.matchAll(/acked (\d+)/g)].map((m) => Number(m[1]));
    acked.push(...now);
    const top = Math.max(start, ...now);
    const pool = await Pool.open(dir, { durable: true });
    const c = await pool.openContainer('c');
    for (const i of acked) {
      const v = await c.kv(`o${i}`).get('v');
      assert.ok(v !== undefined && Buffer.compare(Buffer.from(v), Buffer.from(putValue(i))) === 0, `${where} (${step ?? `${delay} ms after a checkpoint began`}): acknowledged put ${i} ${v === undefined ? 'is missing' : 'reads other bytes'}`);
    }
    // the puts in flight at the kill: exactly there or not at all
    const seen = new Set(now);
    for (let i = start; i <= top + 32; i++) {
      if (seen.has(i)) continue;
      const v = await c.kv(`o${i}`).get('v');
      assert.ok(v === undefined || Buffer.compare(Buffer.from(v), Buffer.from(putValue(i))) === 0, `${where}: put ${i} in flight reads other bytes`);
    }
    await pool.close();
    start = top + 100;
  }
  console.log(`kills inside a checkpoint: ${inside} of ${ROUNDS}`);
  assert.ok(inside >= ROUNDS / 2, 'the seeded-phase kills landed inside checkpoints');
});

t.run();
