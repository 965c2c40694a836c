/**
 * The CLI's read commands on a pool another process holds (issue 16): an application
 * (test/pool/readonly-writer.ts, a real process) keeps the pool open and commits; `cairn ls`,
 * `get`, `cont list`, `cont snapshot --list`, `pool query` and `fs ls|cat|stat|get` open it read-only and show every
 * commit finished before they started; commands that write still get POOL_BUSY, in one line.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { tmpDir } from '../helpers/tmp.js';
import { Writer } from '../pool/readonly-fixture.js';

const entry = new URL('../helpers/cairn-cli.ts', import.meta.url).pathname;
const pool = join(tmpDir(), 'pool');
let writer: Writer;

function cairn(args: string[], input?: string): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', entry, ...args, '--pool', pool], { input, encoding: 'utf8', maxBuffer: 16 << 20 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
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

t('once the application closed the pool, the read commands open it normally (and writes work again)', async () => {
  assert.is(await writer.stop(), 0, writer.stderr);
  let r = cairn(['put', 'c', 'after.txt'], 'written after the application closed');
  assert.is(r.code, 0, r.err);
  r = cairn(['get', 'c', 'after.txt']);
  assert.is(r.out, 'written after the application closed');
});

t.run();
