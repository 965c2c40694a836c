/**
 * The `cairn` command line as an operator uses it: real processes, real files, stdin/stdout.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { writeFileSync, readFileSync } from 'node:fs';
import { Rng } from '../../core/rng.js';
import { tmpDir } from '../helpers/tmp.js';
import { PROGRESS_MIN_BYTES } from '../../src/cli/data-commands.js';

const entry = new URL('../helpers/cairn-cli.ts', import.meta.url).pathname;
const dir = tmpDir();
const pool = join(dir, 'pool');

function cairn(args: string[], input?: Uint8Array): { code: number; out: Buffer; err: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', entry, ...args], { input, maxBuffer: 64 << 20 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr.toString() };
}

const t = suite('cli');

t('pool create / query, cont create / list / snapshot', () => {
  let r = cairn(['pool', 'create', '--pool', pool, '--nodes', '3', '--ranks-per-node', '2', '--targets-per-rank', '1', '--scm-bytes', '16M', '--data-bytes', '64M']);
  assert.is(r.code, 0, r.err);
  r = cairn(['pool', 'query', '--pool', pool, '--json']);
  assert.is(r.code, 0, r.err);
  const q = JSON.parse(r.out.toString());
  assert.is(q.targets.length, 6);
  assert.equal(Object.keys(q.targets[0]).slice(0, 4), ['id', 'node', 'rank', 'state']);
  r = cairn(['cont', 'create', 'files', '--pool', pool, '--oclass', 'EC_4P2G1', '--rf', '2']);
  assert.is(r.code, 0, r.err);
  r = cairn(['cont', 'list', '--pool', pool]);
  assert.match(r.out.toString(), /^files\t.*EC_4P2G1\trf=2/m);
  r = cairn(['cont', 'snapshot', 'files', 'first', '--pool', pool]);
  assert.match(r.out.toString(), /snapshot first at epoch \d+/);
});

t('put from a file and from stdin, ls, get to a file and to stdout, rm', () => {
  const data = new Rng(9).bytes(700_000);
  const src = join(dir, 'in.bin');
  writeFileSync(src, data);
  assert.is(cairn(['put', 'files', 'a.bin', src, '--pool', pool]).code, 0);
  assert.is(cairn(['put', 'files', 'b.txt', '--pool', pool], new TextEncoder().encode('hello from stdin')).code, 0);
  const ls = cairn(['ls', 'files', '--pool', pool]).out.toString();
  assert.match(ls, /700000 .*a\.bin/);
  assert.match(ls, /16 .*b\.txt/);
  const dst = join(dir, 'out.bin');
  assert.is(cairn(['get', 'files', 'a.bin', dst, '--pool', pool]).code, 0);
  assert.equal(new Uint8Array(readFileSync(dst)), data);
  assert.is(cairn(['get', 'files', 'b.txt', '--pool', pool]).out.toString(), 'hello from stdin');
  assert.is(cairn(['rm', 'files', 'b.txt', '--pool', pool]).code, 0);
  assert.not.match(cairn(['ls', 'files', '--pool', pool]).out.toString(), /b\.txt/);
  const missing = cairn(['get', 'files', 'b.txt', '--pool', pool]);
  assert.is(missing.code, 1);
  assert.match(missing.err, /NOT_FOUND/);
});

t('get --snapshot returns exactly the bytes and size of the snapshot', () => {
  assert.is(cairn(['put', 'files', 'snap.txt', '--pool', pool], new TextEncoder().encode('hello')).code, 0);
  assert.is(cairn(['cont', 'snapshot', 'files', 'before', '--pool', pool]).code, 0);
  assert.is(cairn(['put', 'files', 'snap.txt', '--pool', pool], new TextEncoder().encode('world!')).code, 0);
  const old = cairn(['get', 'files', 'snap.txt', '--snapshot', 'before', '--pool', pool]);
  assert.is(old.code, 0, old.err);
  assert.is(old.out.toString(), 'hello'); // 5 bytes: size and bytes both from the snapshot
  assert.is(cairn(['get', 'files', 'snap.txt', '--pool', pool]).out.toString(), 'world!');
  const listed = JSON.parse(cairn(['ls', 'files', '--snapshot', 'before', '--json', '--pool', pool]).out.toString()) as Array<{ name: string; size: number }>;
  assert.is(listed.find((f) => f.name === 'snap.txt')?.size, 5);
});

t('--json on every listing: ls, cont list, cont snapshot --list, pool query', () => {
  const ls = JSON.parse(cairn(['ls', 'files', '--json', '--pool', pool]).out.toString()) as Array<{ name: string; size: number; oclass: string; mtime: string }>;
  const a = ls.find((f) => f.name === 'a.bin');
  assert.ok(a, JSON.stringify(ls));
  assert.is(a!.size, 700_000);
  assert.is(a!.oclass, 'EC_4P2G1');
  assert.ok(!Number.isNaN(Date.parse(a!.mtime)));
  const conts = JSON.parse(cairn(['cont', 'list', '--json', '--pool', pool]).out.toString()) as Array<{ label: string }>;
  assert.ok(conts.some((c) => c.label === 'files'));
  const snaps = JSON.parse(cairn(['cont', 'snapshot', 'files', '--list', '--json', '--pool', pool]).out.toString()) as Array<{ name: string; epoch: string }>;
  assert.equal(snaps.map((s) => s.name), ['first', 'before']);
  assert.match(snaps[0]!.epoch, /^\d+$/);
  assert.ok(Array.isArray(JSON.parse(cairn(['pool', 'query', '--json', '--pool', pool]).out.toString()).targets));
});

t('--version and help: on stdout, exit code 0', () => {
  const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  for (const flag of ['--version', '-V']) {
    const r = cairn([flag]);
    assert.is(r.code, 0, r.err);
    assert.is(r.out.toString().trim(), version);
  }
  for (const args of [[], ['--help'], ['help'], ['pool'], ['cont'], ['put', '--help']]) {
    const r = cairn(args);
    assert.is(r.code, 0, `${args.join(' ')}: ${r.err}`);
    assert.match(r.out.toString(), /^Usage: cairn/, args.join(' '));
    assert.is(r.err, '', args.join(' '));
  }
});

t('progress bars for large put/get on a terminal, none when piped', () => {
  const big = join(dir, 'big.bin');
  writeFileSync(big, new Rng(4).bytes(PROGRESS_MIN_BYTES + 1024));
  const piped = cairn(['put', 'files', 'big.bin', big, '--pool', pool]);
  assert.is(piped.code, 0, piped.err);
  assert.is(piped.err, `put big.bin: ${PROGRESS_MIN_BYTES + 1024} bytes\n`);
  // script(1) gives the command a pseudo-terminal; everything it writes comes back on our stdout
  const cmd = (args: string[]) => [process.execPath, '--import', 'tsx', entry, ...args].map((a) => `'${a}'`).join(' ');
  const tty = (args: string[]) => spawnSync('script', ['-qec', cmd(args), '/dev/null'], { encoding: 'utf8', env: { ...process.env, TERM: 'xterm' } });
  let r = tty(['put', 'files', 'big.bin', big, '--pool', pool]);
  assert.is(r.status, 0, r.stdout);
  assert.match(r.stdout, /put big\.bin \[.*\] 100% /);
  r = tty(['get', 'files', 'big.bin', join(dir, 'big.out'), '--pool', pool]);
  assert.is(r.status, 0, r.stdout);
  assert.match(r.stdout, /get big\.bin \[.*\] 100% /);
  assert.equal(readFileSync(join(dir, 'big.out')), readFileSync(big));
  r = tty(['put', 'files', 'small.txt', join(dir, 'in.bin'), '--pool', pool]); // below the threshold: no bar
  assert.is(r.status, 0, r.stdout);
  assert.not.match(r.stdout, /%/);
});

t('target exclude: reads continue and verify; pool query shows the state', () => {
  const data = new Uint8Array(readFileSync(join(dir, 'in.bin')));
  const r = cairn(['target', 'exclude', '2', '--pool', pool]);
  assert.is(r.code, 0, r.err);
  const q = JSON.parse(cairn(['pool', 'query', '--pool', pool, '--json']).out.toString());
  assert.ok(['DOWN', 'DOWNOUT'].includes(q.targets[2].state));
  const dst = join(dir, 'out2.bin');
  assert.is(cairn(['get', 'files', 'a.bin', dst, '--pool', pool]).code, 0);
  assert.equal(new Uint8Array(readFileSync(dst)), data);
  assert.match(cairn(['pool', 'query', '--pool', pool]).out.toString(), /rebuild (idle|blocked|running)/);
});

t('bad arguments: one line on stderr, exit code 2', () => {
  for (const args of [['pool', 'create', '--pool', join(dir, 'x'), '--nodes', 'zero'], ['cont', 'create', 'bad!', '--pool', pool], ['target', 'exclude', '-1', '--pool', pool], ['nosuchcommand']]) {
    const r = cairn(args);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.is(r.err.trim().split('\n').length, 1, r.err);
  }
});

t('demo: writes, fails targets up to the redundancy factor, verifies everything degraded', () => {
  const r = cairn(['demo', '--objects', '6', '--kv', '30', '--json']);
  assert.is(r.code, 0, r.err);
  const s = JSON.parse(r.out.toString());
  assert.is(s.excluded.length, s.redundancyFactor);
  assert.is(s.mismatches, 0);
  assert.is(s.verified, 36);
  assert.is(s.verifiedAfterRebuild, 36);
});

t.run();
