/**
 * The `cairn` command never prints a stack trace: every bad input or I/O failure is one line on
 * stderr with exit code 2 (command line) or 1 (anything else); a reader closing the pipe
 * (`cairn get ... | head`) ends it silently; `bench` refuses runs that do not fit on disk and
 * removes its files on exit and on SIGTERM. Real processes, real files, real pipes.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../../core/rng.js';
import { tmpDir } from '../helpers/tmp.js';

const entry = new URL('../helpers/cairn-cli.ts', import.meta.url).pathname;
const dir = tmpDir();
const pool = join(dir, 'pool');
/** Longest a bench may take to create its files or to stop after SIGTERM. */
const BENCH_WAIT_MS = 120_000;

function cairn(args: string[], input?: Uint8Array): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', entry, ...args], { input, maxBuffer: 64 << 20, encoding: 'utf8' });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

/** stderr is exactly one `cairn: ...` line: no stack trace, no second line. */
function assertOneLine(err: string, what: string): void {
  assert.is(err.trimEnd().split('\n').length, 1, `${what}: ${err}`);
  assert.match(err, /^cairn: /, what);
  assert.not.match(err, /^\s+at /m, `${what}: stack trace`);
}

const t = suite('cli errors');

t.before(() => {
  let r = cairn(['pool', 'create', '--pool', pool, '--nodes', '2', '--ranks-per-node', '2', '--targets-per-rank', '1', '--scm-bytes', '16M', '--data-bytes', '64M']);
  assert.is(r.code, 0, r.err);
  r = cairn(['cont', 'create', 'c', '--pool', pool, '--oclass', 'RP_2G1', '--rf', '1']);
  assert.is(r.code, 0, r.err);
  writeFileSync(join(dir, 'big.bin'), new Rng(5).bytes(4 << 20));
  r = cairn(['put', 'c', 'big', join(dir, 'big.bin'), '--pool', pool]);
  assert.is(r.code, 0, r.err);
});

t('command-line errors: one line, exit code 2', () => {
  writeFileSync(join(dir, 'a-file'), 'x');
  mkdirSync(join(dir, 'a-dir'), { recursive: true });
  const cases: string[][] = [
    ['pool', 'create', '--pool', join(dir, 'a-file')], // a file where the pool directory should be
    ['ls', 'c', '--jsn', '--pool', pool], // unknown option with a suggestion (commander prints it on a second line)
    ['nosuchcommand'],
    ['get', 'c'], // missing argument
    ['put', 'c', 'x', join(dir, 'a-dir'), '--pool', pool], // a directory is not a file
    ['bench', '--bytes', '99999999999999T'],
    ['bench', '--bytes', 'lots'],
    ['cont', 'snapshot', 'c', '--json', '--pool', pool], // --json without --list
  ];
  for (const args of cases) {
    const r = cairn(args);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assertOneLine(r.err, args.join(' '));
  }
  assert.not.ok(existsSync(join(dir, 'a-file', 'targets')));
});

t('failures: one line naming the code, exit code 1', () => {
  const cases: Array<[string[], RegExp]> = [
    [['put', 'c', 'x', join(dir, 'no-such-input'), '--pool', pool], /NOT_FOUND: cannot read .*no-such-input: no such file or directory/],
    [['get', 'c', 'no-such-object', '--pool', pool], /NOT_FOUND: no file no-such-object/],
    [['get', 'c', 'big', '--snapshot', 'no-such-snapshot', '--pool', pool], /NOT_FOUND: no snapshot named no-such-snapshot/],
    [['get', 'c', 'big', join(dir, 'no-such-dir', 'out.bin'), '--pool', pool], /NOT_FOUND: cannot write .*out\.bin: no such file or directory/],
    [['ls', 'c', '--pool', join(dir, 'no-such-pool')], /NOT_FOUND: no pool in/],
    [['ls', 'no-such-container', '--pool', pool], /NOT_FOUND/],
    [['bench', '--bytes', '100T', '--dir', dir], /NO_SPACE: --bytes 100\.0 TiB needs about/],
  ];
  for (const [args, re] of cases) {
    const r = cairn(args);
    assert.is(r.code, 1, `${args.join(' ')}: ${r.err}`);
    assertOneLine(r.err, args.join(' '));
    assert.match(r.err, re, args.join(' '));
  }
  assert.not.ok(existsSync(join(dir, 'no-such-dir')));
  assert.not.ok(readdirSync(dir).some((f) => f.startsWith('cairn-bench-')), 'a refused bench left files');
});

t('a reader closing the pipe (get | head) ends get silently with exit code 0', () => {
  const errFile = join(dir, 'pipe.err');
  const q = (a: string) => `'${a}'`;
  const cmd = `${[process.execPath, '--import', 'tsx', entry, 'get', 'c', 'big', '--pool', pool].map(q).join(' ')} 2>${q(errFile)} | head -c 100 >/dev/null; echo "\${PIPESTATUS[0]}"`;
  const r = spawnSync('bash', ['-c', cmd], { encoding: 'utf8' });
  assert.is(r.stdout.trim(), '0', r.stderr);
  assert.is(readFileSync(errFile, 'utf8'), '');
  // the pool was closed properly: the next command can open it
  assert.is(cairn(['ls', 'c', '--pool', pool]).code, 0);
});

t('bench removes its files when stopped by SIGTERM', async () => {
  const benchDir = join(dir, 'bench');
  mkdirSync(benchDir);
  const child = spawn(process.execPath, ['--import', 'tsx', entry, 'bench', '--bytes', '256M', '--kv-ops', '2000', '--dir', benchDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  // wait until the bench has files (its pool directory) on disk, then stop it
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { w.close(); reject(new Error('bench created no files in time')); }, BENCH_WAIT_MS);
    const w = watch(benchDir, { recursive: true }, (_ev, f) => {
      if (f && /\/pool$|baseline\.bin$/.test(String(f))) { clearTimeout(timer); w.close(); resolve(); }
    });
    exited.then(() => { clearTimeout(timer); w.close(); reject(new Error(`bench exited early: ${err}`)); });
  });
  assert.ok(readdirSync(benchDir).length > 0);
  child.kill('SIGTERM');
  const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('timeout'), BENCH_WAIT_MS))]);
  assert.is(code, 128 + 15, err);
  assert.equal(readdirSync(benchDir), [], 'the bench left files behind');
  assert.not.match(err, /^\s+at /m);
});

t('bench removes its files after a normal run', () => {
  const benchDir = join(dir, 'bench-ok');
  mkdirSync(benchDir);
  const r = cairn(['bench', '--bytes', '4M', '--kv-ops', '100', '--dir', benchDir, '--json']);
  assert.is(r.code, 0, r.err);
  const rows = JSON.parse(r.out) as Array<{ name: string }>;
  assert.ok(rows.some((x) => /^ior write/.test(x.name)));
  assert.equal(readdirSync(benchDir), []);
});

t.run();
