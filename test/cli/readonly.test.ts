/**
 * The CLI's read commands on a pool another process holds (issue 16): an application
 * (test/pool/readonly-writer.ts, a real process) keeps the pool open and commits; `cairn ls`,
 * `get`, `cont list`, `cont snapshot --list`, `pool query` and `fs ls|cat|stat|get` open it read-only and show every
 * commit finished before they started; commands that write still get POOL_BUSY, in one line.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { Rng } from '../../core/rng.js';
import { join } from 'node:path';
import { readFileSync, watch } from 'node:fs';
import { tmpDir } from '../helpers/tmp.js';
import { Writer } from '../pool/readonly-fixture.js';

const entry = new URL('../helpers/cairn-cli.ts', import.meta.url).pathname;
const pool = join(tmpDir(), 'pool');
let writer: Writer;
/** Pieces of the slow put's stdin; one `cairn get` runs between two pieces. */
const SLOW_PUT_STEPS = 3;
/** Longest a spawned `cairn put` may take to open the pool. */
const LOCK_WAIT_MS = 60_000;

function cairn(args: string[], input?: string | Uint8Array): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', entry, ...args, '--pool', pool], { input, encoding: 'utf8', maxBuffer: 16 << 20 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

/** Resolve once the pool's LOCK file names `pid` (fs.watch on the pool directory, with a deadline). */
function lockedBy(pid: number): Promise<void> {
  const holds = () => { try { return readFileSync(join(pool, 'LOCK'), 'utf8') === String(pid); } catch { return false; } };
  if (holds()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const w = watch(pool, () => { if (holds()) { clearTimeout(timer); w.close(); resolve(); } });
    const timer = setTimeout(() => { w.close(); reject(new Error(`process ${pid} did not lock the pool within ${LOCK_WAIT_MS} ms`)); }, LOCK_WAIT_MS);
    if (holds()) { clearTimeout(timer); w.close(); resolve(); }
  });
}

const t = suite('cli on a busy pool');

t.before(async () => {
  writer = new Writer(pool);
  await writer.waitFor(/^ready$/);
  await writer.waitCommitted(10);
});
t.after(async () => { await writer.kill().catch(() => undefined); });

t('ls, get, cont list, snapshot --list and pool query read the pool while the application writes', async () => {
  let r = cairn(['ls', 'c', '--json']);
  assert.is(r.code, 0, r.err);
  const files = JSON.parse(r.out) as Array<{ name: string; size: number }>;
  assert.equal(files.map((f) => [f.name, f.size]), [['hello.txt', 'hello, first version'.length]]);
  r = cairn(['get', 'c', 'hello.txt']);
  assert.is(r.code, 0, r.err);
  assert.is(r.out, 'hello, first version');
  // a newer commit of the application is seen by the next command
  writer.send('file hello, second version');
  await writer.waitFor(/^file \d+$/);
  r = cairn(['get', 'c', 'hello.txt']);
  assert.is(r.code, 0, r.err);
  assert.is(r.out, 'hello, second version');
  assert.match(cairn(['ls', 'c']).out, /^\s+21\s+\S+\s+RP_2G1\s+hello\.txt$/m);
  r = cairn(['cont', 'list', '--json']);
  assert.is(r.code, 0, r.err);
  assert.equal((JSON.parse(r.out) as Array<{ label: string }>).map((c) => c.label), ['c']);
  writer.send('snapshot cli-snap');
  await writer.waitFor(/^snap cli-snap /);
  r = cairn(['cont', 'snapshot', 'c', '--list', '--json']);
  assert.is(r.code, 0, r.err);
  assert.equal((JSON.parse(r.out) as Array<{ name: string }>).map((s) => s.name), ['cli-snap']);
  r = cairn(['get', 'c', 'hello.txt', '--snapshot', 'cli-snap']);
  assert.is(r.code, 0, r.err);
  assert.is(r.out, 'hello, second version');
  r = cairn(['pool', 'query', '--json']);
  assert.is(r.code, 0, r.err);
  assert.is((JSON.parse(r.out) as { targets: unknown[] }).targets.length, 4);
  // the POSIX namespace too: fs ls/cat/stat/get
  r = cairn(['fs', 'c', 'ls', '/docs', '--json']);
  assert.is(r.code, 0, r.err);
  assert.equal((JSON.parse(r.out) as Array<{ name: string; size: number }>).map((e) => [e.name, e.size]), [['posix.txt', 30]]);
  r = cairn(['fs', 'c', 'cat', '/docs/posix.txt']);
  assert.is(r.code, 0, r.err);
  assert.is(r.out, 'hello from the POSIX namespace');
  r = cairn(['fs', 'c', 'stat', '/docs/posix.txt', '--json']);
  assert.is(r.code, 0, r.err);
  assert.is((JSON.parse(r.out) as { size: number }).size, 30);
  r = cairn(['fs', 'c', 'mkdir', '/new']);
  assert.is(r.code, 1, r.err);
  assert.match(r.err, /^cairn: POOL_BUSY: /);
  // and a missing file is still NOT_FOUND, not a crash
  r = cairn(['get', 'c', 'no-such-file']);
  assert.is(r.code, 1);
  assert.match(r.err, /^cairn: NOT_FOUND: no file no-such-file/);
});

t('commands that write get POOL_BUSY in one line (exit 1) and change nothing', () => {
  for (const args of [['put', 'c', 'new.txt'], ['rm', 'c', 'hello.txt'], ['cont', 'create', 'other'], ['cont', 'snapshot', 'c', 'mine'], ['target', 'exclude', '1']]) {
    const r = cairn(args, 'data');
    assert.is(r.code, 1, `${args.join(' ')}: ${r.err}`);
    assert.is(r.err.trimEnd().split('\n').length, 1, r.err);
    assert.match(r.err, /^cairn: POOL_BUSY: /, args.join(' '));
  }
  const r = cairn(['ls', 'c', '--json']);
  assert.equal((JSON.parse(r.out) as Array<{ name: string }>).map((f) => f.name), ['hello.txt']);
});

t('a put is atomic for readers in other processes: while a slow put holds the pool, get reads the old file whole', async () => {
  // the application stops, then `cairn put` of a 6 MiB file from a slow stdin holds the pool for a while
  assert.is(await writer.stop(), 0, writer.stderr);
  const old = Buffer.from(new Rng(1).bytes(3 << 20));
  const next = Buffer.from(new Rng(2).bytes(6 << 20));
  let r = cairn(['put', 'c', 'big.bin'], old);
  assert.is(r.code, 0, r.err);
  const put = spawn(process.execPath, ['--import', 'tsx', entry, 'put', 'c', 'big.bin', '--pool', pool], { stdio: ['pipe', 'ignore', 'pipe'] });
  let putErr = '';
  put.stderr.on('data', (d) => (putErr += d));
  const putDone = new Promise<number | null>((resolve) => put.on('exit', resolve));
  const reads: string[] = [];
  for (let i = 0; i < SLOW_PUT_STEPS; i++) {
    put.stdin.write(next.subarray((i * next.length) / SLOW_PUT_STEPS, ((i + 1) * next.length) / SLOW_PUT_STEPS));
    if (i === 0) await lockedBy(put.pid!); // the put has the pool open now
    assert.is(readFileSync(join(pool, 'LOCK'), 'utf8'), String(put.pid), 'the put holds the pool during the get');
    const g = spawnSync(process.execPath, ['--import', 'tsx', entry, 'get', 'c', 'big.bin', '--pool', pool], { maxBuffer: 64 << 20 });
    assert.is(g.status, 0, g.stderr.toString());
    reads.push(g.stdout.equals(old) ? 'old' : g.stdout.equals(next) ? 'new' : `${g.stdout.length} bytes`);
  }
  put.stdin.end();
  assert.is(await putDone, 0, putErr);
  assert.equal(reads, reads.map(() => 'old'), `reads during the put: ${reads.join(', ')}`);
  const after = spawnSync(process.execPath, ['--import', 'tsx', entry, 'get', 'c', 'big.bin', '--pool', pool], { maxBuffer: 64 << 20 });
  assert.ok(after.stdout.equals(next), 'the new file after the put');
});

t('once the application closed the pool, the read commands open it normally (and writes work again)', async () => {
  let r = cairn(['put', 'c', 'after.txt'], 'written after the application closed');
  assert.is(r.code, 0, r.err);
  r = cairn(['get', 'c', 'after.txt']);
  assert.is(r.out, 'written after the application closed');
});

t.run();
