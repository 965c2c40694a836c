/**
 * A pool on a read-only filesystem, and in directories this user may not write. A read-only open
 * of a healthy pool works there (reads succeed: nothing it needs writes); a read-write open and a
 * create fail with a typed error naming the path and the cause: READ_ONLY (EROFS) on a read-only
 * mount, IO_ERROR "permission denied" (EACCES) as a user without write permission. The CLI says the
 * same in one line with exit code 1, and its read commands fall back to a read-only open.
 *
 * The read-only filesystem is a real read-only bind mount of the directory the pool was created in
 * (root only); the permission case runs the same child (readonly-mount-child.ts) as `nobody`.
 * Where mounting or changing user is not permitted, that case says so and is not run.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Pool } from '../../index.js';
import { tmpDir } from '../helpers/tmp.js';

const child = new URL('./readonly-mount-child.ts', import.meta.url).pathname;
const cli = new URL('../helpers/cairn-cli.ts', import.meta.url).pathname;
/** uid and gid of `nobody`, the user without write permission on the test's directories. */
const NOBODY = 65534;
/** Bytes of the EC array the child reads back (several stripes: reads of the data files). */
const ARRAY_BYTES = 3 << 20;
const ARRAY_FILL = 7;

const base = tmpDir();
chmodSync(base, 0o755); // (mkdtemp makes it 0700: nobody could not even read the pool)
const src = join(base, 'src'), ro = join(base, 'ro');
/** Why the read-only mount could not be made (its cases are then not run), or undefined: mounted. */
let notMounted: string | undefined;

/** What the child reported for each step (see readonly-mount-child.ts). */
interface Outcome { value?: unknown; code?: string; message?: string }
interface Report { read: Outcome; readWrite: Outcome; create: Outcome; createInEmpty: Outcome }

/** Run the child on `dir` (the pool at dir/pool, a missing dir/new/pool, the empty dir/empty), as `uid`. */
function runChild(dir: string, uid?: number): Report {
  const r = spawnSync(process.execPath, ['--import', 'tsx', child, join(dir, 'pool'), join(dir, 'new', 'pool'), join(dir, 'empty')], {
    encoding: 'utf8', timeout: 120_000, ...(uid !== undefined ? { uid, gid: uid, env: { ...process.env, HOME: base } } : {}),
  });
  assert.is(r.status, 0, `child exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Report;
}

/**
 * Why `nobody` cannot run the child here, or undefined: it can. A checkout in a directory only its
 * owner may enter (mkdtemp's 0700, a home directory) keeps tsx and the sources from it.
 */
function nobodyCannotRun(): string | undefined {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', `require('node:fs').accessSync(${JSON.stringify(child)})`], { encoding: 'utf8', timeout: 60_000, uid: NOBODY, gid: NOBODY, env: { ...process.env, HOME: base } });
  return r.status === 0 ? undefined : `nobody cannot read the repository at ${process.cwd()} (${(r.stderr.split('\n').find((l) => /Error|EACCES/.test(l)) ?? `exit ${r.status}`).trim()})`;
}

/** Print why a case is not run (it is not counted as checked). */
function notRun(what: string, why: string): void {
  console.log(`NOT RUN: ${what}: ${why}`);
}

/** The checks common to both cases: the read-only open read everything and refused the write; nothing was created. */
function checkReadsAndNothingMade(r: Report): void {
  assert.is(r.read.code, undefined, `read-only open: ${r.read.code} ${r.read.message}`);
  const v = r.read.value as { single: string; array: { length: number; bytes: number[] }; kv: string; containers: string[]; targets: number; write: Outcome };
  assert.is(v.single, 'hello');
  assert.equal(v.array, { length: ARRAY_BYTES, bytes: [ARRAY_FILL] });
  assert.is(v.kv, 'y');
  assert.equal(v.containers, ['c', 'e']);
  assert.is(v.targets, 4);
  assert.is(v.write.code, 'READ_ONLY');
  assert.equal(readdirSync(src).sort(), ['empty', 'pool']);
  assert.equal(readdirSync(join(src, 'empty')), []);
}

const t = suite('pool on a read-only filesystem');

t.before(async () => {
  mkdirSync(join(src, 'empty'), { recursive: true });
  mkdirSync(ro);
  const p = await Pool.create(join(src, 'pool'), { nodes: 2, ranksPerNode: 1, targetsPerRank: 2, scmBytes: 8 << 20, dataBytes: 16 << 20 });
  const c = await p.createContainer('c', { oclass: 'RP_2G1' });
  await c.object('o').update('d', 'a', 'hello');
  const e = await p.createContainer('e', { oclass: 'EC_2P1G1' });
  await e.array('big').write(0, new Uint8Array(ARRAY_BYTES).fill(ARRAY_FILL));
  await e.kv('k').put('x', 'y');
  await p.close();
  chmodSync(src, 0o755);
  try {
    execFileSync('mount', ['--bind', src, ro], { stdio: 'pipe' });
    try { execFileSync('mount', ['-o', 'remount,bind,ro', ro], { stdio: 'pipe' }); } catch (err) { execFileSync('umount', [ro]); throw err; }
  } catch (err) {
    notMounted = `a read-only bind mount could not be made (${String((err as { stderr?: unknown }).stderr ?? (err as Error).message).trim()})`;
  }
});

t.after(() => {
  if (notMounted === undefined) execFileSync('umount', [ro]);
});

t('on a read-only mount: a read-only open reads everything; a read-write open and a create are READ_ONLY naming the path', () => {
  if (notMounted !== undefined) return notRun('read-only mount', notMounted);
  const r = runChild(ro);
  checkReadsAndNothingMade(r);
  for (const [step, o, path] of [['read-write open', r.readWrite, join(ro, 'pool')], ['create', r.create, join(ro, 'new', 'pool')], ['create in an empty directory', r.createInEmpty, join(ro, 'empty')]] as const) {
    assert.is(o.code, 'READ_ONLY', `${step}: ${o.code} ${o.message}`);
    assert.ok(o.message!.includes(path), `${step} names ${path}: ${o.message}`);
    assert.match(o.message!, /read-only file system/, step);
  }
});

t('the CLI on a read-only mount: read commands work, writing ones fail in one line with exit 1', () => {
  if (notMounted !== undefined) return notRun('read-only mount (CLI)', notMounted);
  const cairn = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', cli, ...args], { encoding: 'utf8', timeout: 120_000 });
  let r = cairn('pool', 'query', '--json', '--pool', join(ro, 'pool'));
  assert.is(r.status, 0, r.stderr);
  assert.is((JSON.parse(r.stdout) as { targets: unknown[] }).targets.length, 4);
  r = cairn('cont', 'list', '--json', '--pool', join(ro, 'pool'));
  assert.is(r.status, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as Array<{ label: string }>).map((c) => c.label).sort(), ['c', 'e']);
  for (const [args, path] of [[['pool', 'create', '--pool', join(ro, 'new', 'pool')], join(ro, 'new', 'pool')], [['cont', 'create', 'd', '--pool', join(ro, 'pool')], join(ro, 'pool')]] as const) {
    r = cairn(...args);
    assert.is(r.status, 1, `${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    assert.is(lines.length, 1, `one line: ${r.stderr}`);
    assert.match(lines[0]!, /^cairn: READ_ONLY: /);
    assert.ok(lines[0]!.includes(path), `names ${path}: ${lines[0]}`);
  }
  assert.equal(readdirSync(src).sort(), ['empty', 'pool']);
});

t('without write permission (as nobody): a read-only open reads everything; a read-write open and a create say permission denied', () => {
  if (process.getuid?.() !== 0) return notRun('no write permission', 'the test is not root, so it cannot run a child as nobody');
  const why = nobodyCannotRun();
  if (why !== undefined) return notRun('no write permission', why);
  const r = runChild(src, NOBODY);
  checkReadsAndNothingMade(r);
  for (const [step, o, path] of [['read-write open', r.readWrite, join(src, 'pool')], ['create', r.create, join(src, 'new')], ['create in an empty directory', r.createInEmpty, join(src, 'empty')]] as const) {
    assert.is(o.code, 'IO_ERROR', `${step}: ${o.code} ${o.message}`);
    assert.ok(o.message!.includes(path), `${step} names ${path}: ${o.message}`);
    assert.match(o.message!, /permission denied/, step);
  }
});

t.run();
