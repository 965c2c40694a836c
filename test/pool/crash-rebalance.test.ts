/**
 * Crash consistency of pool map changes on an embedded pool: a process draining, reintegrating
 * or extending the pool while it writes is killed with SIGKILL at a seeded delay (before the map
 * change, during it, or during the migration it starts); after every reopen every value written
 * before and every put it acknowledged reads back, during the resumed migration and after it,
 * and the operation, run again where it did not take effect, finishes.
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

const t = suite('crash-rebalance');
const SEED = Number(process.env.CAIRN_CRASH_SEED ?? 20261206);
const SHAPE = { nodes: 4, ranksPerNode: 2, targetsPerRank: 2, scmBytes: 48 << 20, dataBytes: 64 << 20 };

t(`SIGKILL during drain, reintegrate and extend at seeded moments (seed ${SEED}): acknowledged data reads back, the operation finishes`, async () => {
  const root = tmpDir();
  const dir = join(root, 'pool');
  const rng = new Rng(SEED);
  let pool = await Pool.create(dir, SHAPE);
  let c = await pool.createContainer('c', { oclass: 'EC_4P2G1', redundancyFactor: 2, cellSize: 4096 });
  // what the migrations move: EC and replicated arrays and small values
  const arrays = new Map<string, Uint8Array>();
  for (let i = 0; i < 30; i++) {
    const name = `big-${i}`, bytes = rng.fill(new Uint8Array(96 * 1024));
    await c.array(name, { oclass: i % 3 === 2 ? 'RP_3G1' : 'EC_4P2G1' }).write(0, bytes);
    arrays.set(name, bytes);
  }
  await pool.close();
  const acked: number[] = [];
  let start = 0;
  const check = async (where: string): Promise<void> => {
    for (const [name, bytes] of arrays) {
      const got = await c.array(name, { oclass: Number(name.slice(4)) % 3 === 2 ? 'RP_3G1' : 'EC_4P2G1' }).read(0, bytes.length);
      assert.ok(Buffer.compare(Buffer.from(got), Buffer.from(bytes)) === 0, `${where}: array ${name} reads other bytes`);
    }
    for (const i of acked) {
      const v = await c.kv(`w${i}`).get('v');
      assert.ok(v !== undefined && Buffer.compare(Buffer.from(v), Buffer.from(putValue(i))) === 0, `${where}: acknowledged put ${i} ${v === undefined ? 'is missing' : 'reads other bytes'}`);
    }
  };
  const drained = [3, 9];
  const plan: Array<[string, number]> = [['drain', drained[0]!], ['reintegrate', drained[0]!], ['extend', 0], ['drain', drained[1]!], ['reintegrate', drained[1]!], ['extend', 0]];
  for (const [round, [mode, target]] of plan.entries()) {
    const delay = rng.int(3000);
    const where = `seed ${SEED}, round ${round} (${mode}${mode === 'extend' ? '' : ` ${target}`}, killed ${delay} ms after ready)`;
    const ledgerPath = join(root, `ledger-${round}`);
    const targetsBefore = await Pool.open(dir).then(async (p) => { const n = p.query().targets.length; await p.close(); return n; });
    const child = new URL('./crash-rebalance-child.ts', import.meta.url).pathname;
    const proc = spawn(process.execPath, ['--import', 'tsx', child, dir, ledgerPath, mode, String(target), String(start)], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      let out = '', timer: NodeJS.Timeout | undefined;
      proc.stdout.on('data', (d) => {
        out += d;
        if (timer === undefined && out.includes('ready\n')) timer = setTimeout(() => proc.kill('SIGKILL'), delay);
      });
      proc.on('exit', (_code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`${where}: the writer exited on its own: ${/^error .*$/m.exec(fs.readFileSync(ledgerPath, 'utf8'))?.[0] ?? 'no error recorded'}`))));
    });
    const ledger = fs.readFileSync(ledgerPath, 'utf8');
    const now = [...ledger.matchAll(/acked (\d+)/g)].map((m) => Number(m[1]));
    acked.push(...now);
    start = Math.max(start, ...now) + 100;
    pool = await Pool.open(dir);
    c = await pool.openContainer('c');
    await check(`${where}, at reopen`);
    await pool.waitForRebuild();
    await check(`${where}, after the resumed migration`);
    // run it again where it did not take effect (or finish it)
    const n = pool.query().targets.length;
    if (mode === 'extend') {
      assert.ok(n === targetsBefore || n === targetsBefore + 4, `${where}: ${n} targets (an extension is whole or absent)`);
      if (n === targetsBefore) await pool.extend({ nodes: 1 });
      assert.is(pool.query().targets.length, targetsBefore + 4, `${where}: extended`);
    } else if (mode === 'drain') {
      if (pool.query().targets[target]!.state !== 'DOWNOUT') await pool.drain(target);
    } else if (pool.query().targets[target]!.state !== 'UPIN') await pool.reintegrate(target);
    await pool.waitForRebuild();
    const states = mode === 'extend' ? pool.query().targets.slice(targetsBefore).map((x) => x.state) : [pool.query().targets[target]!.state];
    for (const s of states) assert.is(s, mode === 'drain' ? 'DOWNOUT' : 'UPIN', `${where}: the state of the target(s) it changed`);
    await check(`${where}, after the operation finished`);
    await pool.close();
    console.log(`${where}: ${/^done /m.test(ledger) ? "migration done" : /^changed /m.test(ledger) ? 'map changed, migration under way' : 'before the map change'}`);
  }
});

t.run();
