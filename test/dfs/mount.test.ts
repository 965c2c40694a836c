/**
 * `cairn mount` through FUSE, as an operator uses it: the CLI runs as a real child process
 * (`node --import tsx test/helpers/cairn-cli.ts mount ...`, the TypeScript entry, so no stale dist/)
 * and owns the pool while mounted; this test reaches the namespace only through the mount point
 * with real `cp -r`, `tar`, `diff -r` and `sha256sum`, then sends SIGTERM and checks that the
 * mount is gone and the pool holds what was written.
 *
 * NEEDS FUSE: /dev/fuse usable, libfuse.so.2 and fusermount (scripts/ensure-fuse.mjs installs
 * them as root). Where that is impossible, the tests are skipped and the reason is printed.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { Pool, Dfs } from '../../index.js';
import { fuseUnavailableReason } from '../../src/dfs/fuse.js';
import { Rng } from '../../core/rng.js';
import { tmpDir } from '../helpers/tmp.js';

/** Longest the mount may take to come up, or to go away after SIGTERM (ms). */
const MOUNT_DEADLINE_MS = 60_000;
/** Longest one shell tool may run against the mount (ms). */
const TOOL_DEADLINE_MS = 120_000;

function fuseProblem(): string | undefined {
  try {
    closeSync(openSync('/dev/fuse', 'r+'));
  } catch (err) {
    return `/dev/fuse is not usable: ${(err as Error).message}`;
  }
  if (spawnSync('which', ['fusermount']).status !== 0) return 'fusermount is not installed (Debian package fuse)';
  return fuseUnavailableReason();
}

const entry = new URL('../helpers/cairn-cli.ts', import.meta.url).pathname;
const root = new URL('../..', import.meta.url).pathname;
const dir = tmpDir('cairn-mount-');
const poolDir = join(dir, 'pool');
const mnt = join(dir, 'mnt');
const src = join(dir, 'src');
let child: ChildProcess | undefined;
let childErr = '';

const mounted = () => readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === mnt);

function sh(cmd: string, args: string[], cwd = dir): { code: number; out: string; err: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: TOOL_DEADLINE_MS, maxBuffer: 64 << 20 });
  return { code: r.status ?? -1, out: r.stdout ?? '', err: `${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

/** sha256 of every file under `base`, as `sha256sum` prints it for `find -type f | sort`. */
function sums(base: string): string {
  const files = sh('find', ['.', '-type', 'f'], base).out.trim().split('\n').filter(Boolean).sort();
  const r = sh('sha256sum', files, base);
  assert.is(r.code, 0, r.err);
  return r.out;
}

/** Start `cairn mount` and resolve once it prints its ready line. */
function startMount(): Promise<void> {
  return new Promise((resolve, reject) => {
    child = spawn(process.execPath, ['--import', 'tsx', entry, 'mount', 'fs', mnt, '--pool', poolDir], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => reject(new Error(`cairn mount did not come up in ${MOUNT_DEADLINE_MS} ms: ${childErr}`)), MOUNT_DEADLINE_MS);
    child.stdout!.on('data', (d) => { out += d; if (out.includes(`mounted fs at ${mnt}`)) { clearTimeout(timer); resolve(); } });
    child.stderr!.on('data', (d) => { childErr += d; });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`cairn mount exited with ${code} before mounting: ${childErr}`)); });
  });
}

/** SIGTERM the mount and resolve to its exit code. */
function stopMount(): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const c = child!;
    if (c.exitCode !== null) { resolve(c.exitCode); return; }
    const timer = setTimeout(() => reject(new Error(`cairn mount did not exit ${MOUNT_DEADLINE_MS} ms after SIGTERM: ${childErr}`)), MOUNT_DEADLINE_MS);
    c.removeAllListeners('exit');
    c.on('exit', (code) => { clearTimeout(timer); resolve(code); });
    c.kill('SIGTERM');
  });
}

const problem = fuseProblem();
const t = suite('mount (needs FUSE)');

if (problem) {
  process.stderr.write(`SKIPPED: cairn mount tests need FUSE: ${problem}\n`);
  t.skip('cairn mount: cp -r, tar, diff -r, sha256sum through FUSE', () => {});
} else {
  t.before(async () => {
    mkdirSync(mnt);
    // A namespace with content written through the API before the mount.
    const pool = await Pool.create(poolDir, { nodes: 3, ranksPerNode: 2, targetsPerRank: 1, scmBytes: 64 << 20, dataBytes: 1 << 30 });
    const fs = await Dfs.mount(await pool.createContainer('fs', { oclass: 'EC_4P1G1', redundancyFactor: 1 }));
    await fs.mkdir('/pre/made', { recursive: true });
    await fs.writeFile('/pre/made/by-api.txt', 'written through Dfs\n');
    await fs.close();
    await pool.close();
    // The local tree to copy: nested directories, empty and tiny files, files across chunk
    // boundaries, odd names, a symlink.
    const rng = new Rng(19);
    mkdirSync(join(src, 'a/b/c'), { recursive: true });
    mkdirSync(join(src, 'empty-dir'));
    mkdirSync(join(src, 'names with spaces/ünïcödé'), { recursive: true });
    writeFileSync(join(src, 'zero'), '');
    writeFileSync(join(src, 'one'), 'x');
    writeFileSync(join(src, 'a/three-mib.bin'), rng.bytes(3 * 1024 * 1024 + 777));
    writeFileSync(join(src, 'a/b/ten-mib.bin'), rng.bytes(10 * 1024 * 1024));
    writeFileSync(join(src, 'names with spaces/ünïcödé/file name.txt'), 'odd names\n');
    for (let i = 0; i < 120; i++) writeFileSync(join(src, `a/b/c/small-${i}.dat`), rng.bytes(rng.int(9000)));
    symlinkSync('three-mib.bin', join(src, 'a/link-to-three'));
    await startMount();
  });

  t.after(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    if (existsSync(mnt) && mounted()) spawnSync('fusermount', ['-uz', mnt]);
  });

  t('the mount shows what Dfs wrote before', () => {
    assert.ok(mounted(), 'mount point listed in /proc/mounts');
    assert.is(readFileSync(join(mnt, 'pre/made/by-api.txt'), 'utf8'), 'written through Dfs\n');
  });

  t('cp -r into the mount; diff -r and sha256sum agree with the originals', () => {
    let r = sh('cp', ['-r', src, join(mnt, 'copy')]);
    assert.is(r.code, 0, `cp -r: ${r.err}`);
    r = sh('diff', ['-r', src, join(mnt, 'copy')]);
    assert.is(r.code, 0, `diff -r: ${r.out}${r.err}`);
    const a = sums(src), b = sums(join(mnt, 'copy'));
    assert.is(a.split('\n').length, 126);
    assert.is(b, a);
    assert.is(sh('readlink', [join(mnt, 'copy/a/link-to-three')]).out.trim(), 'three-mib.bin');
    assert.is(sh('stat', ['-c', '%s', join(mnt, 'copy/a/b/ten-mib.bin')]).out.trim(), String(10 * 1024 * 1024));
  });

  t('tar out of the mount and into it; both trees diff clean against the originals', () => {
    let r = sh('tar', ['-C', join(mnt, 'copy'), '-cf', join(dir, 'from-mount.tar'), '.']);
    assert.is(r.code, 0, `tar -c: ${r.err}`);
    mkdirSync(join(dir, 'extracted'));
    r = sh('tar', ['-C', join(dir, 'extracted'), '-xf', join(dir, 'from-mount.tar')]);
    assert.is(r.code, 0, r.err);
    r = sh('diff', ['-r', src, join(dir, 'extracted')]);
    assert.is(r.code, 0, `diff -r after tar out: ${r.out}${r.err}`);
    r = sh('tar', ['-C', src, '-cf', join(dir, 'src.tar'), '.']);
    assert.is(r.code, 0, r.err);
    mkdirSync(join(mnt, 'untarred'));
    r = sh('tar', ['-C', join(mnt, 'untarred'), '-xf', join(dir, 'src.tar')]);
    assert.is(r.code, 0, `tar -x into the mount: ${r.err}`);
    r = sh('diff', ['-r', src, join(mnt, 'untarred')]);
    assert.is(r.code, 0, `diff -r after tar in: ${r.out}${r.err}`);
    assert.is(sums(join(mnt, 'untarred')), sums(src));
  });

  t('mv and rm -r through the mount; appending and overwriting through shell redirection', () => {
    let r = sh('mv', [join(mnt, 'copy/a'), join(mnt, 'moved-a')]);
    assert.is(r.code, 0, r.err);
    assert.not.ok(existsSync(join(mnt, 'copy/a')));
    r = sh('diff', ['-r', join(src, 'a'), join(mnt, 'moved-a')]);
    assert.is(r.code, 0, r.out + r.err);
    r = sh('rm', ['-r', join(mnt, 'untarred')]);
    assert.is(r.code, 0, r.err);
    assert.not.ok(existsSync(join(mnt, 'untarred')));
    r = sh('sh', ['-c', `printf 'one\\n' > '${mnt}/log' && printf 'two\\n' >> '${mnt}/log' && printf 'x' > '${mnt}/copy/one'`]);
    assert.is(r.code, 0, r.err);
    assert.is(readFileSync(join(mnt, 'log'), 'utf8'), 'one\ntwo\n');
    assert.is(readFileSync(join(mnt, 'copy/one'), 'utf8'), 'x');
    assert.equal(sh('ls', [mnt]).out.trim().split('\n'), ['copy', 'log', 'moved-a', 'pre']);
  });

  t('SIGTERM unmounts cleanly; the pool holds what was written through the mount', async () => {
    const code = await stopMount();
    assert.is(code, 0, childErr);
    assert.not.ok(mounted(), 'mount point gone from /proc/mounts');
    assert.match(childErr, /SIGTERM: unmounting/);
    const pool = await Pool.open(poolDir);
    try {
      const fs = await Dfs.mount(await pool.openContainer('fs'), { create: false });
      const ten = (await fs.readFile('/moved-a/b/ten-mib.bin')) as Buffer;
      const want = readFileSync(join(src, 'a/b/ten-mib.bin'));
      assert.is(createHash('sha256').update(ten).digest('hex'), createHash('sha256').update(want).digest('hex'));
      assert.is((await fs.readdir('/moved-a/b/c')).length, 120);
      assert.is(await fs.readlink('/moved-a/link-to-three'), 'three-mib.bin');
      await fs.close();
    } finally {
      await pool.close();
    }
  });
}

t.run();
