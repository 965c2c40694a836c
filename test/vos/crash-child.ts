/**
 * Child process of the crash test: opens the target in argv[2] and writes forever from a few
 * concurrent workers (inline values, data-file values, array extents, akey punches), printing
 * `ACK <kind> <key> <epoch>` after an update resolved, `PUNCH <kind> <key> <epoch>` before a punch
 * is issued and `PACK <kind> <key> <epoch>` after it resolved. Every so often it flushes the
 * memtables (`FLUSHING` / `FLUSHED`) or aggregates (`MERGING` / `MERGED`), so the parent can kill
 * it in the middle of either. Killed with SIGKILL by the parent.
 * Every line goes to the ledger file (argv[6]) with a synchronous write, in the page cache when the
 * call returns, so a SIGKILL loses none of it; that file is what the parent checks against. The
 * same lines go to stdout only so the parent can time its kill: on POSIX a pipe is asynchronous in
 * Node, and lines still queued in the child (the parent slow to read under load) die with it; a
 * lost PUNCH line once made a logged punch look like a lost value.
 * argv: dir seed io durable ledger
 * CAIRN_VOS_CRASH_SELFKILL=<seed>: the child kills itself at a seeded pmem write (crash-selfkill.ts).
 * CAIRN_VOS_CRASH_DELAY=<maxMs>: merge-worker answers and data-file writes held back 0..maxMs (seeded).
 * CAIRN_VOS_CRASH_COMMIT_KILL=<phase>:<n>: durable with deferSync; at that phase of its n-th manifest
 * commit (TargetStore.onCommitPhase) the child prints `KILL <phase>`, holds every later sync of the
 * pmem file (the commit stays in that phase) while its writers go on, and kills itself
 * HOLD_ACKS acknowledgements or HOLD_MS later (commit-window.test.ts).
 * CAIRN_VOS_CRASH_KILL_QUEUED=1: the child kills itself once a punch resolved whose PUNCH line was
 * still queued on stdout (the parent not reading): the case the ledger file is for.
 */
import fs from 'node:fs';
import { VosTarget } from '../../src/vos/index.js';
import { Rng } from '../../core/rng.js';
import { crashValue, CRASH_KEYS, CRASH_OPTS, CRASH_WORKERS } from './crash-common.js';
import { installDelays, installSelfKill, planSelfKill } from './crash-selfkill.js';
import { mergeWorkers } from '../../src/vos/merge-workers.js';

const [dir, seedArg, io, durableArg, ledgerPath] = process.argv.slice(2);
const ledger = fs.openSync(ledgerPath!, 'w');
const rng = new Rng(Number(seedArg));
// odd seeds merge even small runs on a worker, even seeds merge them here (MERGE_HERE_MAX_BYTES): kills land in both
const t = await VosTarget.open(dir!, { ...CRASH_OPTS, io: io as 'pread' | 'io_uring', durable: durableArg === '1', ...(process.env.CAIRN_VOS_CRASH_COMMIT_KILL ? { deferSync: true } : {}), ...(Number(seedArg) % 2 === 1 ? { mergeOnWorkerBytes: 0 } : {}) });
const delayMs = Number(process.env.CAIRN_VOS_CRASH_DELAY ?? 0);
if (delayMs > 0) installDelays(mergeWorkers(), t.target.dev, delayMs, Number(seedArg));
let epoch = t.queryMaxEpoch();
let acks = 0;
const enc = new TextEncoder();
const out = (line: string) => { fs.writeSync(ledger, `${line}\n`); process.stdout.write(`${line}\n`); };
out('READY');
const killQueued = process.env.CAIRN_VOS_CRASH_KILL_QUEUED === '1';
const selfKill = process.env.CAIRN_VOS_CRASH_SELFKILL;
if (selfKill) installSelfKill(t.target.space, planSelfKill(Number(selfKill)), Number(selfKill), out);
const commitKill = process.env.CAIRN_VOS_CRASH_COMMIT_KILL;
/** Commit-kill mode: acks at the phase; the process dies HOLD_ACKS acks (or HOLD_MS) later. */
let holdAcks = -1;
const HOLD_ACKS = 120; const HOLD_MS = 400;
const die = () => process.kill(process.pid, 'SIGKILL');
if (commitKill) {
  // from the phase on, every sync of the pmem file (with deferSync: only manifest commits sync it)
  // never completes, so the commit stays at that phase while the writers go on; then the kill
  // phase:n[:two|three]: the n-th time a commit reaches the phase (of commits taking two syncs, or three, when named)
  const [phase, nth, syncs] = commitKill.split(':');
  let seen = 0;
  const space = t.target.space;
  const real = space.persistAsync.bind(space);
  space.persistAsync = () => (holdAcks >= 0 ? new Promise<void>(() => undefined) : real());
  t.target.onCommitPhase = (p, twoSyncs) => {
    if (holdAcks >= 0 || p !== phase || (syncs !== undefined && twoSyncs !== (syncs === 'two')) || ++seen !== Number(nth)) return;
    holdAcks = acks; out(`KILL ${p} ${twoSyncs ? 'two' : 'three'}`);
    setTimeout(die, HOLD_MS);
  };
}
async function maintenance(): Promise<void> {
  if (acks % 150 === 75) { out('FLUSHING'); await t.target.flushAll(); out('FLUSHED'); }
  if (acks % 300 === 150) { out('MERGING'); await t.aggregate(epoch - 40n); out('MERGED'); }
}

async function worker(): Promise<void> {
  for (;;) {
    const e = ++epoch;
    const key = rng.int(CRASH_KEYS);
    const r = rng.float();
    const kind = r < 0.42 ? 'small' : r < 0.65 ? 'large' : r < 0.9 ? 'array' : 'punch';
    const dkey = enc.encode(`k${key}`);
    if (kind === 'punch') {
      const target = rng.pick(['small', 'large', 'array']);
      out(`PUNCH ${target} ${key} ${e}`);
      const queued = process.stdout.writableLength > 0; // the line waits in this process, not in the pipe
      await t.punchAkey(e, 1n, dkey, enc.encode(target));
      out(`PACK ${target} ${key} ${e}`);
      if (queued && killQueued) { out(`QUEUED-PUNCH ${target} ${key} ${e}`); process.kill(process.pid, 'SIGKILL'); }
    } else {
      const value = crashValue(kind, key, e);
      if (kind === 'array') await t.updateArray(e, 1n, dkey, enc.encode('array'), { index: 0, count: value.length }, value);
      else await t.updateSingle(e, 1n, dkey, enc.encode(kind), value);
      out(`ACK ${kind} ${key} ${e}`);
    }
    acks++;
    if (holdAcks >= 0 && acks - holdAcks >= HOLD_ACKS) die();
    await maintenance();
  }
}
await Promise.all(Array.from({ length: CRASH_WORKERS }, () => worker()));
