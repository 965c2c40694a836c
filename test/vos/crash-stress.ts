/**
 * Stress harness for test/vos/crash.test.ts (not a test file: run by hand, many at once under load):
 *   node --import tsx test/vos/crash-stress.ts <seed> <rounds> [random|flush|merge|mixed|self]
 * Runs the crash test's rounds with seeded kill delays, copying each crash image before the
 * reopen (which recovers, i.e. rewrites it). On the first failed check it keeps the image and the
 * recovered directory, prints what the image holds for the key (describeKey) and exits 1.
 * `self`: the child kills itself at a seeded pmem write (crash-selfkill.ts), the parent only after
 * SELF_GUARD_MS. CAIRN_VOS_CRASH_STALL=1: the parent stops reading the child's output when it arms
 * the kill (2-8 s later), as a parent starved of CPU does, so the pipe fills and the child's last
 * lines are still queued in it when it dies. CAIRN_VOS_CRASH_CHILD_ENV='{"K":"v"}' passes more
 * settings to the child.
 */
import fs from 'node:fs';
import { Rng } from '../../core/rng.js';
import { VosTarget } from '../../src/vos/index.js';
import { CRASH_OPTS } from './crash-common.js';
import { CrashCheckFailure, checkTarget, describeKey, newLedger, record, roundLabel, runChild, type KillAt } from './crash-check.js';
import { crashImage, tmpDir } from './helpers.js';

const seed = Number(process.argv[2] ?? 1);
const rounds = Number(process.argv[3] ?? 30);
const mode = (process.argv[4] ?? 'mixed') as KillAt | 'mixed' | 'self';
/** In `self` mode the parent kills a child that did not kill itself this long after READY. */
const SELF_GUARD_MS = 4000;
const childEnv = JSON.parse(process.env.CAIRN_VOS_CRASH_CHILD_ENV ?? '{}') as Record<string, string>;
const io = (process.env.CAIRN_VOS_IO ?? 'pread') as 'pread' | 'io_uring';
const dir = tmpDir(`stress-${seed}`);
const rng = new Rng(seed);
const ledger = newLedger();
let failed = false;
try {
  for (let round = 0; round < rounds; round++) {
    const at: KillAt = mode === 'mixed' ? (['random', 'flush', 'merge'] as const)[round % 3]! : mode === 'self' ? 'random' : mode;
    const durable = round % 3 === 2;
    const stall = process.env.CAIRN_VOS_CRASH_STALL === '1';
    const delay = stall ? rng.range(2000, 8000) : mode === 'self' ? SELF_GUARD_MS : at === 'random' ? rng.range(50, 700) : at === 'flush' ? rng.range(0, 4) : rng.range(0, 25);
    const env = mode === 'self' ? { ...childEnv, CAIRN_VOS_CRASH_SELFKILL: String(seed * 1000 + round) } : childEnv;
    const { lines, inside, stderr } = await runChild(dir, seed * 1000 + round, io, durable, at, delay, env, stall);
    const selfKilled = lines.find((l) => l.startsWith('SELFKILL'));
    record(ledger, lines);
    if (stderr.trim()) console.log(`seed ${seed} round ${round} child stderr: ${stderr.slice(0, 2000)}`);
    const where = `${roundLabel(round, at, inside, io, durable)}${selfKilled ? ` [${selfKilled}]` : ''}`;
    if (process.env.CAIRN_VOS_CRASH_VERBOSE) console.log(where);
    crashImage(dir, `${dir}.image`);
    const t = await VosTarget.open(dir, { ...CRASH_OPTS, io });
    try {
      await checkTarget(t, ledger, where);
    } catch (e) {
      failed = true;
      console.log(`FAIL seed ${seed}: ${(e as Error).message}`);
      if (e instanceof CrashCheckFailure && e.id) console.log(await describeKey(`${dir}.image`, e.id, ledger));
      fs.writeFileSync(`${dir}.lines`, lines.join('\n'));
      console.log(`kept ${dir} (recovered), ${dir}.image (as killed), ${dir}.lines (last child's output)`);
      break;
    } finally {
      await t.close();
    }
  }
  if (!failed) console.log(`PASS seed ${seed}: ${rounds} rounds, ${ledger.totalAcks} acks`);
} finally {
  if (!failed) { fs.rmSync(dir, { recursive: true, force: true }); fs.rmSync(`${dir}.image`, { recursive: true, force: true }); }
}
process.exit(failed ? 1 : 0);

