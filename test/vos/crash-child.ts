/**
 * Child process of the crash test: opens the target in argv[2] and writes forever from a few
 * concurrent workers, printing `ACK <kind> <key> <epoch>` on stdout after each write resolved.
 * Values embed their epoch and are otherwise derived from (kind, key, epoch), so the parent can
 * check any value it reads back. Killed with SIGKILL by the parent at a random moment.
 * argv: dir seed io durable
 */
import { VosTarget } from '../../src/vos/index.js';
import { Rng } from '../../core/rng.js';
import { crashValue, CRASH_KEYS, CRASH_WORKERS } from './crash-common.js';

const [dir, seedArg, io, durableArg] = process.argv.slice(2);
const rng = new Rng(Number(seedArg));
const t = await VosTarget.open(dir!, { scmBytes: 512 * 1024, dataBytes: 32 * 1024 * 1024, io: io as 'pread' | 'io_uring', durable: durableArg === '1' });
let epoch = t.queryMaxEpoch();
const enc = new TextEncoder();
process.stdout.write('READY\n');

async function worker(): Promise<void> {
  for (;;) {
    const e = ++epoch;
    const key = rng.int(CRASH_KEYS);
    const r = rng.float();
    const kind = r < 0.45 ? 'small' : r < 0.7 ? 'large' : 'array';
    const value = crashValue(kind, key, e);
    const dkey = enc.encode(`k${key}`);
    if (kind === 'array') await t.updateArray(e, 1n, dkey, enc.encode('arr'), { index: 0, count: value.length }, value);
    else await t.updateSingle(e, 1n, dkey, enc.encode(kind), value);
    process.stdout.write(`ACK ${kind} ${key} ${e}\n`);
    if (e % 97n === 0n) await t.aggregate(e - 20n);
  }
}
await Promise.all(Array.from({ length: CRASH_WORKERS }, () => worker()));
