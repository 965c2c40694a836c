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
