/**
 * The writing process of the read-only tests (test/pool/readonly.test.ts, test/cli/readonly.test.ts):
 * creates a pool in argv[2] (container `c`, RP_2G1 by default or argv[3]), then commits without
 * pause until told to stop, each commit one atomic KV batch on object `log`:
 * `k<n>` = `v<n>` and `last` = n; every 8th round it first rewrites the array `blob` (48 KiB,
 * bytes of generation n, so values live in the data file) and then records `blobGen` = n.
 * Every AGGREGATE_EVERY rounds it aggregates. It also keeps a CLI-format file `hello.txt` (see src/cli/object-files.ts).
 *
 * Lines on stdout: `ready`, `committed <n>` after every commit, and replies to commands read from
 * stdin: `snapshot <name>` -> `snap <name> <epoch> <last n>`; `container <label>` -> `container
 * <label>` (created, holding kv `x` key `hello` = `world`); `exclude <target>` -> `excluded <target>
 * <state> <map version>` (after the rebuild); `file <text>` -> `file <epoch>`
 * (hello.txt replaced by <text>); `stop` -> `closed` (pool closed cleanly, exit 0).
 */
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { Dfs, Pool } from '../../index.js';
import { putFile } from '../../src/cli/object-files.js';
import { commitRound } from './readonly-fixture.js';

const [dir, oclass = 'RP_2G1'] = process.argv.slice(2);
if (!dir) throw new Error('usage: readonly-writer.ts POOL_DIR [OCLASS]');

const pool = await Pool.create(dir, { nodes: 2, ranksPerNode: 2, targetsPerRank: 1, scmBytes: 16 << 20, dataBytes: 128 << 20 });
const c = await pool.createContainer('c', { oclass, redundancyFactor: 1 });
await putFile(c, 'hello.txt', Readable.from([Buffer.from('hello, first version')]));
const dfs = await Dfs.mount(c);
await dfs.mkdir('/docs');
await dfs.writeFile('/docs/posix.txt', 'hello from the POSIX namespace');
await dfs.close();
const out = (line: string) => process.stdout.write(line + '\n');
out('ready');

/** Rounds between two aggregations. */
const AGGREGATE_EVERY = 128;
/** Pause between rounds (a few hundred commits a second, not thousands). */
const PAUSE_MS = 2;

let n = 0;
let stopping = false;
const commands: string[] = [];
const rl = createInterface({ input: process.stdin });
rl.on('line', (l) => commands.push(l.trim()));
rl.on('close', () => { stopping = true; });

/** Run one command from the parent (between two commits). */
async function command(line: string): Promise<void> {
  const [cmd, arg = ''] = [line.split(' ')[0], line.slice(line.indexOf(' ') + 1)];
  if (cmd === 'snapshot') {
    const s = await c.snapshot(arg);
    out(`snap ${s.name} ${s.epoch} ${n}`);
  } else if (cmd === 'container') {
    const c2 = await pool.createContainer(arg, { oclass: 'RP_2G1' });
    await c2.kv('x').put('hello', 'world');
    out(`container ${arg}`);
  } else if (cmd === 'file') {
    await putFile(c, 'hello.txt', Readable.from([Buffer.from(arg)]));
    out(`file ${c.stableEpoch()}`);
  } else if (cmd === 'exclude') {
    await pool.exclude(Number(arg));
    await pool.waitForRebuild();
    out(`excluded ${arg} ${pool.query().targets[Number(arg)]!.state} ${pool.query().mapVersion}`);
  } else if (cmd === 'stop') {
    stopping = true;
  }
}

while (!stopping) {
  while (commands.length > 0 && !stopping) await command(commands.shift()!);
  if (stopping) break;
  n++;
  await commitRound(c, n, oclass);
  out(`committed ${n}`);
  // old versions go (so the files never fill), while the reader reads
  if (n % AGGREGATE_EVERY === 0) await c.aggregate();
  await new Promise((r) => setTimeout(r, PAUSE_MS));
}
await pool.close();
// exit once `closed` has reached the pipe: a parent busy in spawnSync stops reading, stdout then
// queues in this process, and an exit right after the write dropped the queue (the last lines,
// `closed` among them: test/cli/readonly's slow-put test failed so under load)
process.stdout.write('closed\n', () => process.exit(0));
