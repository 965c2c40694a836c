/**
 * `cairn fs CONTAINER ls|mkdir|put|get|cat|mv|rm|stat` as an operator uses it: real processes,
 * real local files, stdin and stdout.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, readdirSync, symlinkSync } from 'node:fs';
import { Pool } from '../../index.js';
import { Rng } from '../../core/rng.js';
import { tmpDir } from '../helpers/tmp.js';

const entry = new URL('../helpers/cairn-cli.ts', import.meta.url).pathname;
const dir = tmpDir();
const pool = join(dir, 'pool');

function cairn(args: string[], input?: Uint8Array): { code: number; out: Buffer; err: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', entry, 'fs', 'files', ...args, '--pool', pool], { input, maxBuffer: 64 << 20, timeout: 120_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr.toString() };
}

const t = suite('cairn fs');

t.before(async () => {
  const p = await Pool.create(pool, { nodes: 3, ranksPerNode: 2, targetsPerRank: 1, scmBytes: 32 << 20, dataBytes: 256 << 20 });
  await p.createContainer('files', { oclass: 'EC_4P1G1', redundancyFactor: 1 });
  await p.close();
});

t('mkdir --parents, put a file and stdin, ls, ls -l, cat, get, stat --json', () => {
  let r = cairn(['mkdir', '--parents', '/docs/2024']);
  assert.is(r.code, 0, r.err);
  const local = join(dir, 'report.bin');
  const data = new Rng(3).bytes(2_200_000);
  writeFileSync(local, data);
  r = cairn(['put', local, '/docs/2024']);
  assert.is(r.code, 0, r.err);
  r = cairn(['put', '-', '/docs/note.txt'], Buffer.from('from stdin\n'));
  assert.is(r.code, 0, r.err);
  r = cairn(['ls', '/docs']);
  assert.equal(r.out.toString().trim().split('\n'), ['2024', 'note.txt']);
  r = cairn(['ls', '-l', '/docs/2024']);
  assert.match(r.out.toString(), /^-rw-r--r-- +2200000 \d{4}-\d\d-\d\dT[\d:.]+Z report\.bin$/m);
  r = cairn(['ls', '/docs', '--json']); // --json on every listing (issue 16)
  assert.is(r.code, 0, r.err);
  const listed = JSON.parse(r.out.toString()) as Array<{ name: string; type: string; size: number; mode: string; mtime: string }>;
  assert.equal(listed.map((e) => [e.name, e.type, e.mode]), [['2024', 'directory', '0755'], ['note.txt', 'file', '0644']]);
  assert.is(listed[1]!.size, 'from stdin\n'.length);
  assert.ok(!Number.isNaN(Date.parse(listed[1]!.mtime)));
  assert.equal((JSON.parse(cairn(['ls', '/docs/note.txt', '--json']).out.toString()) as Array<{ name: string }>).map((e) => e.name), ['note.txt']);
  r = cairn(['cat', '/docs/note.txt']);
  assert.is(r.out.toString(), 'from stdin\n');
  r = cairn(['get', '/docs/2024/report.bin']);
  assert.ok(Buffer.from(data).equals(r.out), 'get to stdout');
  r = cairn(['get', '/docs/2024/report.bin', join(dir, 'back.bin')]);
  assert.is(r.code, 0, r.err);
  assert.ok(readFileSync(join(dir, 'back.bin')).equals(Buffer.from(data)));
  r = cairn(['stat', '/docs/2024/report.bin', '--json']);
  const st = JSON.parse(r.out.toString());
  assert.is(st.type, 'file');
  assert.is(st.size, 2_200_000);
  assert.is(st.chunkSize, 1 << 20);
});

t('put -r and get -r copy trees; mv renames; rm -r removes', () => {
  const tree = join(dir, 'tree');
  mkdirSync(join(tree, 'x/y'), { recursive: true });
  writeFileSync(join(tree, 'x/y/deep.txt'), 'deep');
  writeFileSync(join(tree, 'top.txt'), 'top');
  let r = cairn(['put', '-r', tree, '/t']);
  assert.is(r.code, 0, r.err);
  r = cairn(['mv', '/t/x', '/moved']);
  assert.is(r.code, 0, r.err);
  r = cairn(['ls', '/t']);
  assert.equal(r.out.toString().trim().split('\n'), ['top.txt']);
  r = cairn(['get', '-r', '/moved', join(dir, 'out')]);
  assert.is(r.code, 0, r.err);
  assert.equal(readdirSync(join(dir, 'out')), ['y']);
  assert.is(readFileSync(join(dir, 'out/y/deep.txt'), 'utf8'), 'deep');
  // into an existing local directory: the tree under its own name, as cp -r (and put -r above)
  r = cairn(['get', '-r', '/moved', join(dir, 'out')]);
  assert.is(r.code, 0, r.err);
  assert.equal(readdirSync(join(dir, 'out')).sort(), ['moved', 'y']);
  assert.is(readFileSync(join(dir, 'out/moved/y/deep.txt'), 'utf8'), 'deep');
  r = cairn(['rm', '-r', '/moved', '/t']);
  assert.is(r.code, 0, r.err);
  r = cairn(['ls', '/']);
  assert.equal(r.out.toString().trim().split('\n'), ['docs']);
});

t('errors: a missing path exits 1 naming ENOENT; a directory without -r and bad usage exit 2', () => {
  let r = cairn(['cat', '/nope']);
  assert.is(r.code, 1);
  assert.is(r.err, "cairn: ENOENT: no such file or directory, open '/nope'\n", 'one line naming the code once');
  r = cairn(['rm', '/docs']);
  assert.is(r.code, 1);
  assert.match(r.err, /^cairn: EISDIR: [^\n]*\n$/);
  assert.not.match(r.err, /EISDIR: EISDIR/);
  r = cairn(['frobnicate']);
  assert.is(r.code, 2);
  assert.match(r.err, /unknown fs operation/);
  r = cairn(['mv', '/only-one']);
  assert.is(r.code, 2);
  assert.match(r.err, /usage: cairn fs CONTAINER mv FROM TO/);
});

t('mv into an existing directory moves under the same name, a directory too (coreutils mv, not rename(2)); get of a file into a local directory keeps its name', () => {
  const ok = (args: string[], input?: string) => { const r = cairn(args, input === undefined ? undefined : Buffer.from(input)); assert.is(r.code, 0, `${args.join(' ')}: ${r.err}`); return r; };
  const ls = (p: string) => ok(['ls', p]).out.toString().trim().split('\n').filter((x) => x !== '');
  ok(['mkdir', '--parents', '/m/a', '/m/b', '/m/c/a', '/m/c/d', '/m/e']);
  ok(['put', '-', '/m/a/f.txt'], 'f');
  // a directory into an existing empty directory: moved into it, not over it
  ok(['mv', '/m/a', '/m/b']);
  assert.equal(ls('/m/b'), ['a']);
  assert.is(ok(['cat', '/m/b/a/f.txt']).out.toString(), 'f');
  // ... where an entry of its name is a non-empty directory: ENOTEMPTY, nothing moved
  ok(['mkdir', '/m/a']);
  ok(['put', '-', '/m/a/g.txt'], 'g');
  let r = cairn(['mv', '/m/b/a', '/m']);
  assert.is(r.code, 1);
  assert.match(r.err, /^cairn: ENOTEMPTY: /);
  assert.equal(ls('/m/b/a'), ['f.txt']);
  assert.equal(ls('/m/a'), ['g.txt']);
  // ... where it is an empty directory: replaced, as rename replaces it
  ok(['mv', '/m/b/a', '/m/c']);
  assert.equal(ls('/m/c/a'), ['f.txt']);
  assert.equal(ls('/m/b'), []);
  // a file over a file of its name in the directory: replaced
  ok(['put', '-', '/m/c/x.txt'], 'old');
  ok(['put', '-', '/m/x.txt'], 'new');
  ok(['mv', '/m/x.txt', '/m/c']);
  assert.is(ok(['cat', '/m/c/x.txt']).out.toString(), 'new');
  // a file over a directory, a directory over a file: refused, nothing moved
  ok(['put', '-', '/m/d'], 'file d');
  r = cairn(['mv', '/m/d', '/m/c']);
  assert.is(r.code, 1);
  assert.match(r.err, /^cairn: EISDIR: /);
  ok(['put', '-', '/m/c/e'], 'file e');
  r = cairn(['mv', '/m/e', '/m/c']);
  assert.is(r.code, 1);
  assert.match(r.err, /^cairn: ENOTDIR: /);
  assert.equal(ls('/m'), ['a', 'b', 'c', 'd', 'e']);
  // into the directory it is already in: refused as mv refuses it, nothing moved
  r = cairn(['mv', '/m/d', '/m']);
  assert.is(r.code, 1);
  assert.match(r.err, /^cairn: EINVAL: '\/m\/d' and '\/m\/d' are the same file/);
  assert.is(ok(['cat', '/m/d']).out.toString(), 'file d');
  // a path that is no directory is still a rename
  ok(['mv', '/m/d', '/m/renamed']);
  assert.is(ok(['cat', '/m/renamed']).out.toString(), 'file d');
  // get of a file into an existing local directory: LOCALDIR/NAME, as cp
  const local = join(dir, 'got');
  mkdirSync(local);
  ok(['get', '/m/c/x.txt', local]);
  assert.is(readFileSync(join(local, 'x.txt'), 'utf8'), 'new');
  ok(['rm', '-r', '/m']);
});

t('put of a symlink without -r copies the file it names; put -r copies symlinks as links and skips FIFOs instead of hanging on them', () => {
  const real = join(dir, 'real.txt');
  writeFileSync(real, 'content');
  symlinkSync(real, join(dir, 'link.txt'));
  let r = cairn(['put', join(dir, 'link.txt'), '/linked.txt']);
  assert.is(r.code, 0, r.err);
  r = cairn(['stat', '/linked.txt', '--json']);
  assert.is(JSON.parse(r.out.toString()).type, 'file', 'the content, not a link to a path outside the container');
  assert.is(cairn(['cat', '/linked.txt']).out.toString(), 'content');
  const tree = join(dir, 'special');
  mkdirSync(tree);
  writeFileSync(join(tree, 'a.txt'), 'a');
  symlinkSync('a.txt', join(tree, 'b.lnk'));
  assert.is(spawnSync('mkfifo', [join(tree, 'pipe')]).status, 0);
  r = cairn(['put', '-r', tree, '/special']);
  assert.is(r.code, 0, `put -r of a tree with a FIFO: ${r.err}`);
  assert.match(r.err, /skipping .*pipe/);
  assert.equal(cairn(['ls', '/special']).out.toString().trim().split('\n'), ['a.txt', 'b.lnk']);
  assert.is(JSON.parse(cairn(['stat', '/special/b.lnk', '--json']).out.toString()).type, 'symlink');
  assert.is(cairn(['rm', '-r', '/special', '/linked.txt']).code, 0);
});

t.run();
