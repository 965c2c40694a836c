/**
 * Bad invocations of the `cairn` command, found by an adversarial sweep: each one ends with one
 * `cairn: ...` line on stderr naming the problem, a non-zero exit code (2 for a command line the
 * CLI cannot run), no stack trace, and no work done: no server started, no pool left behind, no
 * argument silently ignored. Real processes (errors.test.ts covers the older cases).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpDir } from '../helpers/tmp.js';

const entry = new URL('../helpers/cairn-cli.ts', import.meta.url).pathname;
const dir = tmpDir();
const pool = join(dir, 'pool');
const aFile = join(dir, 'a-file');
/** Longest a refused command may take: it must fail fast, not serve or run a workload. */
const FAST_MS = 30_000;

function cairn(args: string[], env: Record<string, string> = {}): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', entry, ...args], {
    encoding: 'utf8', timeout: FAST_MS, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Exit `code`, exactly one `cairn: ...` line on stderr matching `re`, no stack trace. */
function refused(args: string[], code: number, re: RegExp, env?: Record<string, string>): { out: string } {
  const r = cairn(args, env);
  const what = args.join(' ');
  assert.is(r.code, code, `${what}: exit ${r.code}: ${r.err}`);
  assert.is(r.err.trimEnd().split('\n').length, 1, `${what}: one line, got ${r.err}`);
  assert.match(r.err, /^cairn: /, what);
  assert.not.match(r.err, /^\s+at /m, `${what}: stack trace`);
  assert.match(r.err, re, `${what}: ${r.err}`);
  return r;
}

const t = suite('cli bad input');

t.before(() => {
  writeFileSync(aFile, 'not a pem file, not a directory\n');
  let r = cairn(['pool', 'create', '--pool', pool, '--nodes', '2', '--ranks-per-node', '2', '--targets-per-rank', '1', '--scm-bytes', '16M', '--data-bytes', '64M']);
  assert.is(r.code, 0, r.err);
  r = cairn(['cont', 'create', 'c', '--pool', pool, '--oclass', 'RP_2G1', '--rf', '1']);
  assert.is(r.code, 0, r.err);
  r = cairn(['put', 'c', 'f', aFile, '--pool', pool]);
  assert.is(r.code, 0, r.err);
  r = cairn(['fs', 'c', 'put', aFile, '/f', '--pool', pool]);
  assert.is(r.code, 0, r.err);
});

t('help for an unknown command is one error line (exit 2), help for a nested command is its help', () => {
  for (const args of [['help', 'nosuch'], ['pool', 'help', 'nosuch'], ['help', 'pool', 'nosuch']]) refused(args, 2, /unknown command 'nosuch'/);
  const r = cairn(['help', 'pool', 'create']);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /Usage: cairn pool create/);
  assert.is(r.err, '');
});

t('an option whose value is missing does not take the next option as its value', () => {
  // before: --snapshot took "--pool", the pool path became the output file and ./cairn-pool was opened
  refused(['get', 'c', 'f', '--snapshot', '--pool', pool], 2, /option '--snapshot <name>' argument missing \(got the option --pool\)/);
  refused(['ls', 'c', '--pool', '--json'], 2, /option '-p, --pool <dir>' argument missing/);
  refused(['sim', '--fail', '--objects', '10'], 2, /option '--fail <spec>' argument missing/);
  refused(['engine', '--pool', 'p', '--etcd', 'http://127.0.0.1:1', '--targets', '--listen', '127.0.0.1:0'], 2, /option '--targets <dirs\.\.\.>' argument missing/, { CAIRN_POOL_SECRET: 'a-long-secret' });
});

t('integers are decimal digits: no hex, exponent or empty string; positional ids are named as such', () => {
  refused(['pool', 'create', '--pool', join(dir, 'hex'), '--nodes', '0x2'], 2, /--nodes must be an integer >= 1, got "0x2"/);
  assert.not.ok(existsSync(join(dir, 'hex')));
  refused(['cont', 'create', 'x', '--rf', '', '--pool', pool], 2, /--rf must be an integer/);
  refused(['cont', 'create', 'x', '--rf', '1e0', '--pool', pool], 2, /--rf must be an integer/);
  // checked before the pool is opened, and not called "--id"
  refused(['target', 'exclude', 'abc', '--pool', join(dir, 'no-such-pool')], 2, /^cairn: target id must be an integer >= 0, got "abc"/);
  refused(['pool', 'extend', '--nodes', 'abc', '--pool', join(dir, 'no-such-pool')], 2, /--nodes must be an integer/);
});

t('arguments a command would silently ignore are refused', () => {
  refused(['cont', 'snapshot', 'c', 'extra', '--list', '--pool', pool], 2, /--list takes no snapshot name, got "extra"/);
  refused(['fs', 'c', 'ls', '/', 'extra', '--pool', pool], 2, /usage: cairn fs CONTAINER ls .*\(got 2 paths\)/);
  refused(['fs', 'c', 'stat', '/f', 'extra', '--pool', pool], 2, /usage: cairn fs CONTAINER stat/);
  refused(['fs', 'c', 'mv', '/f', '/g', '/h', '--pool', pool], 2, /usage: cairn fs CONTAINER mv FROM TO/);
  refused(['fs', 'c', 'get', '/f', join(dir, 'out'), 'extra', '--pool', pool], 2, /usage: cairn fs CONTAINER get/);
  assert.not.ok(existsSync(join(dir, 'out')));
  // the rename did not happen
  assert.is(cairn(['fs', 'c', 'stat', '/f', '--pool', pool]).code, 0);
});

t('fs --chunk-size outside what Dfs takes is a usage error, not ignored (0) or EINVAL (too large)', () => {
  for (const v of ['0', '1T', '100', '']) refused(['fs', 'c', 'put', aFile, '/g', '--chunk-size', v, '--pool', pool], 2, v === '' ? /--chunk-size must be a size/ : /--chunk-size must be 4096 bytes\.\.64M/);
  assert.is(cairn(['fs', 'c', 'stat', '/g', '--pool', pool]).code, 1, 'a refused put created /g');
});

t('fs put of a missing local file names the reason (NOT_FOUND, exit 1)', () => {
  refused(['fs', 'c', 'put', join(dir, 'no-such-file'), '/x', '--pool', pool], 1, /NOT_FOUND: cannot read .*no-such-file: no such file or directory/);
});

t('file names of put/get/rm: 1..4096 bytes, said as such', () => {
  refused(['put', 'c', '', aFile, '--pool', pool], 2, /file name must be 1\.\.4096 bytes, got 0/);
  refused(['get', 'c', 'x'.repeat(5000), '--pool', pool], 2, /file name must be 1\.\.4096 bytes, got 5000/);
  refused(['rm', 'c', '', '--pool', pool], 2, /file name must be/);
});

t('--etcd must be URLs: an empty one is no silent fallback to a local pool', () => {
  refused(['ls', 'c', '--etcd', '', '--pool', pool], 2, /--etcd must be http\(s\):\/\/host:port/);
  refused(['pool', 'query', '--etcd', 'not a url', '--pool', 'p'], 2, /--etcd must be http\(s\):\/\/host:port/, { CAIRN_POOL_SECRET: 'a-long-secret' });
  refused(['engine', '--pool', 'p', '--etcd', 'localhost:2379', '--targets', join(dir, 'e0'), '--listen', '127.0.0.1:0'], 2, /--etcd must be/, { CAIRN_POOL_SECRET: 'a-long-secret' });
  assert.not.ok(existsSync(join(dir, 'e0')), 'the engine created a target directory');
});

t('engine: a --targets file and unusable TLS files are refused before the engine starts', () => {
  const env = { CAIRN_POOL_SECRET: 'a-long-secret' };
  const base = ['engine', '--pool', 'p', '--etcd', 'http://127.0.0.1:1', '--listen', '127.0.0.1:0'];
  refused([...base, '--targets', aFile], 2, /--targets .*a-file exists and is not a directory/, env);
  refused([...base, '--targets', join(dir, 'e1'), '--tls-cert', aFile, '--tls-key', aFile, '--tls-ca', aFile], 2, /--tls-cert\/--tls-key\/--tls-ca: not a usable PEM/, env);
  assert.not.ok(existsSync(join(dir, 'e1')), 'the engine created a target directory');
});

t('s3: bad bucket defaults and unusable TLS files are refused before it serves', () => {
  const env = { CAIRN_S3_ACCESS_KEY: 'ak', CAIRN_S3_SECRET_KEY: 'sk' };
  const base = ['s3', '--pool', pool, '--listen', '127.0.0.1:0'];
  for (const [args, code, re] of [
    [['--oclass', 'NOPE'], 2, /unknown object class "NOPE"/],
    [['--redundancy-factor', '99'], 2, /--redundancy-factor must be an integer in 0\.\.16/],
    [['--oclass', 'RP_2G1', '--redundancy-factor', '2'], 1, /RF_VIOLATION: --oclass RP_2G1 survives 1/],
    [['--tls-cert', aFile, '--tls-key', aFile], 2, /--tls-cert\/--tls-key: not a usable PEM/],
  ] as Array<[string[], number, RegExp]>) {
    const r = refused([...base, ...args], code, re, env);
    assert.is(r.out, '', 'it served');
  }
});

t('bench: --transfer above --bytes or too large for a buffer is refused, nothing runs', () => {
  const benchDir = join(dir, 'bench');
  mkdirSync(benchDir);
  refused(['bench', '--transfer', '1T', '--bytes', '1M', '--kv-ops', '1', '--dir', benchDir], 2, /--transfer must be at most 64\.0 MiB/);
  refused(['bench', '--bytes', '0', '--kv-ops', '1', '--dir', benchDir], 2, /--bytes \(0 B\) must be at least --transfer \(1\.0 MiB\)/);
  refused(['bench', '--bytes', '3', '--transfer', '4K', '--kv-ops', '1', '--dir', benchDir], 2, /must be at least --transfer/);
  assert.equal(readdirSync(benchDir), []);
});

t('demo: out-of-range counts fail fast; a class the demo pool cannot hold leaves no pool in --dir', () => {
  refused(['demo', '--objects', '99999999999'], 2, /--objects must be an integer in 0\.\.10000/);
  refused(['demo', '--kv', '99999999999'], 2, /--kv must be an integer in 0\.\.1000000/);
  const demoDir = join(dir, 'demo');
  mkdirSync(demoDir);
  refused(['demo', '--oclass', 'EC_16P2G1', '--objects', '1', '--kv', '1', '--dir', demoDir], 2, /--oclass EC_16P2G1 needs 18 targets, the demo pool has 16/);
  assert.equal(readdirSync(demoDir), [], 'the demo left a pool behind');
});

t('pool create stopped by SIGINT leaves no half-written pool (nor the parents it made)', async () => {
  const top = join(dir, 'interrupted');
  const target = join(top, 'sub', 'pool');
  const child = spawn(process.execPath, ['--import', 'tsx', entry, 'pool', 'create', '--pool', target, '--nodes', '8', '--ranks-per-node', '4', '--targets-per-rank', '8', '--scm-bytes', '16M', '--data-bytes', '64M'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  // as soon as it has written something, stop it
  const started = Date.now();
  while (!existsSync(join(target, 'targets')) && Date.now() - started < FAST_MS) await new Promise((r) => setTimeout(r, 5));
  assert.ok(existsSync(join(target, 'targets')), `pool create wrote nothing: ${err}`);
  child.kill('SIGINT');
  const code = await exited;
  assert.is(code, 130, `exit ${code}: ${out}${err}`);
  assert.is(out, '', 'it claimed success');
  assert.not.match(err, /^\s+at /m);
  assert.not.ok(existsSync(top), `left behind: ${existsSync(top) ? readdirSync(top) : ''}`);
});

t.run();
