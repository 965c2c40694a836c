/**
 * Crash atomicity: a writer process is killed with SIGKILL mid-transaction, many times at random
 * moments; after every reopen, each transaction is either wholly visible or not at all, and every
 * acknowledged transaction is there.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { Pool } from '../../src/pool/pool.js';
import { Rng } from '../../core/rng.js';
import { tmpDir, text } from '../helpers/tmp.js';

const t = suite('crash');
const ROUNDS = 8;

t(`SIGKILL during commits (${ROUNDS} rounds): all-or-nothing, acknowledged commits survive`, async () => {
  const dir = join(tmpDir(), 'pool');
  const p = await Pool.create(dir, { nodes: 3, ranksPerNode: 1, targetsPerRank: 1, scmBytes: 32 << 20, dataBytes: 256 << 20 });
  await p.createContainer('crash', { oclass: 'RP_2G1', cellSize: 1024 });
  await p.close();
  const rng = new Rng(20261124);
  let next = 1, lastAck = 0;
  const child = new URL('./crash-child.ts', import.meta.url).pathname;
  for (let r = 0; r < ROUNDS; r++) {
    const proc = spawn(process.execPath, ['--import', 'tsx', child, dir, String(next)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let buf = '';
    await new Promise<void>((resolve, reject) => {
      let killTimer: NodeJS.Timeout | undefined;
      proc.stdout.on('data', (d) => {
        buf += d;
        for (const m of buf.matchAll(/ack (\d+)\n/g)) lastAck = Math.max(lastAck, Number(m[1]));
        if (!killTimer && buf.includes('ready\n')) {
          killTimer = setTimeout(() => proc.kill('SIGKILL'), 20 + rng.int(400));
        }
      });
      proc.on('exit', (_code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`writer exited on its own: ${buf.slice(-500)}`))));
    });
    const pool = await Pool.open(dir);
    const c = await pool.openContainer('crash');
    const vals: string[] = [];
    for (const [name, oclass] of [['ec-a', 'EC_2P1G1'], ['ec-b', 'EC_2P1G1'], ['rp-c', 'RP_2G1'], ['rp-d', 'RP_2G1']] as const) {
      const o = c.object(name, { oclass });
      const round = text(await o.fetch('d', 'round')) ?? '0';
      vals.push(round);
      const blob = await o.fetch('d', 'blob');
      if (round !== '0') {
        assert.ok(blob, `${name}: blob missing for round ${round}`);
        assert.is(blob!.length, 20_000 + (Number(round) % 7) * 1000);
        assert.ok(blob!.every((b) => b === (Number(round) & 0xff)), `${name}: blob bytes of another round`);
      }
    }
    assert.is(new Set(vals).size, 1, `torn transaction after crash ${r}: ${vals.join(',')}`);
    const seen = Number(vals[0]);
    assert.ok(seen >= lastAck, `acknowledged round ${lastAck} lost (saw ${seen})`);
    next = seen + 1;
    await pool.close();
  }
  assert.ok(lastAck > 0, 'the writer never committed anything');
});

t.run();
