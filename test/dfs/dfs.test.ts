/**
 * The POSIX namespace through the `Dfs` API, on a real embedded pool (EC 4+1 files and
 * directories): the "done when" list (mkdir -p, a 10 MiB file patched at an offset
 * through a handle, 1,000 files listed in order, rename of a directory with its files and ENOENT
 * after it, unlink and rm -r) and the node:fs behaviours around them.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable, Writable } from 'node:stream';
import { Pool, Dfs, DfsError, CairnError, type Container } from '../../index.js';
import { Rng } from '../../core/rng.js';
import { tmpDir, rejectsWith } from '../helpers/tmp.js';

const t = suite('dfs');
const dir = tmpDir();
let pool: Pool;
let cont: Container;
let fs: Dfs;

t.before(async () => {
  pool = await Pool.create(join(dir, 'pool'), { nodes: 3, ranksPerNode: 2, targetsPerRank: 1, scmBytes: 64 << 20, dataBytes: 1 << 30 });
  cont = await pool.createContainer('fs', { oclass: 'EC_4P1G1', redundancyFactor: 1 });
  fs = await Dfs.mount(cont);
});
t.after(async () => { await fs?.close(); await pool?.close(); });

t('mkdir -p creates every missing parent; mkdir without it needs the parent; EEXIST and ENOTDIR', async () => {
  assert.is(await fs.mkdir('/a/b/c/d', { recursive: true }), '/a');
  assert.is(await fs.mkdir('/a/b/c/d', { recursive: true }), undefined, 'nothing new to create');
  assert.is(await fs.mkdir('a/b/x', { recursive: true }), '/a/b/x');
  assert.ok((await fs.stat('/a/b/c/d')).isDirectory());
  await rejectsWith(fs.mkdir('/nope/x'), 'ENOENT');
  await rejectsWith(fs.mkdir('/a/b'), 'EEXIST');
  await fs.writeFile('/a/file', 'x');
  await rejectsWith(fs.mkdir('/a/file/sub', { recursive: true }), 'ENOTDIR');
  await rejectsWith(fs.mkdir('/a/file', { recursive: true }), 'EEXIST');
  await rejectsWith(fs.readdir('/a/file'), 'ENOTDIR');
  try {
    await fs.stat('/a/missing');
    assert.unreachable('stat of a missing path resolved');
  } catch (err) {
    assert.instance(err, DfsError);
    assert.instance(err, CairnError);
    assert.is((err as DfsError).code, 'ENOENT');
    assert.is((err as DfsError).syscall, 'stat');
    assert.is((err as DfsError).path, '/a/missing');
  }
});

t('a 10 MiB file patched at an offset through a handle reads back exactly', async () => {
  const ref = Buffer.from(new Rng(1).bytes(10 << 20));
  await fs.writeFile('/ten', ref);
  assert.is((await fs.stat('/ten')).size, 10 << 20);
  const patch = Buffer.from(new Rng(2).bytes(300_000));
  const at = 3_000_000 - 1234; // crosses the 1 MiB chunk boundaries at 2 MiB and 3 MiB
  const h = await fs.open('/ten', 'r+');
  const { bytesWritten } = await h.write(patch, 0, patch.length, at);
  assert.is(bytesWritten, patch.length);
  patch.copy(ref, at);
  // Positional reads through the same handle see the patch before close (write-back buffer).
  const probe = Buffer.alloc(5000);
  const { bytesRead } = await h.read(probe, 0, probe.length, at - 2000);
  assert.is(bytesRead, 5000);
  assert.ok(probe.equals(ref.subarray(at - 2000, at + 3000)));
  // A read at the end returns what is left, then 0.
  assert.is((await h.read(Buffer.alloc(100), 0, 100, (10 << 20) - 40)).bytesRead, 40);
  assert.is((await h.read(Buffer.alloc(100), 0, 100, 10 << 20)).bytesRead, 0);
  assert.is((await h.stat()).size, 10 << 20);
  await h.close();
  await rejectsWith(h.read(Buffer.alloc(1)), 'EBADF');
  const back = (await fs.readFile('/ten')) as Buffer;
  assert.is(back.length, ref.length);
  assert.ok(back.equals(ref), 'whole file after the patch');
  // Data is chunked across dkeys of the file's object: 10 chunks of 1 MiB plus the inode.
  const keys: Uint8Array[] = [];
  for await (const k of cont.object((await fs.stat('/ten')).oid).listDkeys()) keys.push(k);
  assert.is(keys.filter((k) => k.length === 8).length, 10);
  assert.is(keys.length, 11);
});

t('a directory of 1,000 files lists in name order, with file types, and lazily through opendir', async () => {
  await fs.mkdir('/many');
  const names = Array.from({ length: 1000 }, (_, i) => `f-${new Rng(i).int(1e9).toString(36)}-${i}`);
  const shuffled = [...names].sort(() => 0.5 - Math.random());
  for (const n of shuffled) await fs.writeFile(`/many/${n}`, n);
  await fs.mkdir('/many/zz-sub');
  await fs.symlink('f-link-target', '/many/aa-link');
  const expect = [...names, 'zz-sub', 'aa-link'].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  assert.equal(await fs.readdir('/many'), expect);
  const typed = await fs.readdir('/many', { withFileTypes: true });
  assert.equal(typed.map((e) => e.name), expect);
  assert.ok(typed.find((e) => e.name === 'zz-sub')!.isDirectory());
  assert.ok(typed.find((e) => e.name === 'aa-link')!.isSymbolicLink());
  assert.is(typed.filter((e) => e.isFile()).length, 1000);
  const d = await fs.opendir('/many', { bufferSize: 7 });
  const first3 = [(await d.read())!.name, (await d.read())!.name, (await d.read())!.name];
  await d.close();
  assert.equal(first3, expect.slice(0, 3));
  // Pages by cursor (a range scan after the last name of the previous page).
  const paged: string[] = [];
  let after: string | undefined;
  let pages = 0;
  do {
    const page = await fs.readdirPage('/many', { after, limit: 300 });
    paged.push(...(page.entries as string[]));
    after = page.next;
    pages++;
  } while (after !== undefined);
  assert.equal(paged, expect);
  assert.is(pages, 4);
  const typedPage = await fs.readdirPage('/many', { after: expect[997], limit: 10, withFileTypes: true });
  assert.equal(typedPage.entries.map((e) => (e as { name: string }).name), expect.slice(998));
  assert.is(typedPage.next, undefined);
  assert.is(await fs.readFile(`/many/${names[500]}`, 'utf8'), names[500]);
});

t('rename moves a directory with its files across directories atomically; ENOENT after it', async () => {
  await fs.mkdir('/src/proj/lib', { recursive: true });
  await fs.mkdir('/dst');
  for (let i = 0; i < 20; i++) await fs.writeFile(`/src/proj/lib/m${i}.js`, `module ${i}`);
  await fs.writeFile('/src/proj/README', 'read me');
  await fs.rename('/src/proj', '/dst/moved');
  await rejectsWith(fs.stat('/src/proj'), 'ENOENT');
  await rejectsWith(fs.readFile('/src/proj/README'), 'ENOENT');
  assert.equal(await fs.readdir('/src'), []);
  assert.is(await fs.readFile('/dst/moved/README', 'utf8'), 'read me');
  assert.is((await fs.readdir('/dst/moved/lib')).length, 20);
  assert.is(await fs.readFile('/dst/moved/lib/m7.js', 'utf8'), 'module 7');
  // Rename over an existing file replaces it; a directory cannot go inside itself.
  await fs.writeFile('/dst/x', 'old');
  await fs.writeFile('/dst/y', 'new');
  await fs.rename('/dst/y', '/dst/x');
  assert.is(await fs.readFile('/dst/x', 'utf8'), 'new');
  await rejectsWith(fs.stat('/dst/y'), 'ENOENT');
  await rejectsWith(fs.rename('/dst/moved', '/dst/moved/lib/inside'), 'EINVAL');
  await rejectsWith(fs.rename('/dst/x', '/dst/moved'), 'EISDIR');
  await rejectsWith(fs.rename('/dst/moved', '/dst/x'), 'ENOTDIR');
  await fs.mkdir('/full/a', { recursive: true });
  await rejectsWith(fs.rename('/dst/moved', '/full'), 'ENOTEMPTY');
  await fs.mkdir('/empty');
  await fs.rename('/dst/moved', '/empty');
  assert.is(await fs.readFile('/empty/README', 'utf8'), 'read me');
  await rejectsWith(fs.rename('/no/such', '/dst/z'), 'ENOENT');
  await rejectsWith(fs.rename('/dst/x', '/no/such/z'), 'ENOENT');
});

t('unlink, rmdir and rm -r', async () => {
  await fs.mkdir('/rm/a/b', { recursive: true });
  await fs.writeFile('/rm/a/b/f', 'f');
  await fs.writeFile('/rm/top', 't');
  await fs.symlink('/rm/top', '/rm/ln');
  await rejectsWith(fs.unlink('/rm/a'), 'EISDIR');
  await rejectsWith(fs.rmdir('/rm/a'), 'ENOTEMPTY');
  await rejectsWith(fs.rmdir('/rm/top'), 'ENOTDIR');
  await fs.unlink('/rm/ln');
  assert.is(await fs.readFile('/rm/top', 'utf8'), 't', 'unlinking a symlink keeps its target');
  await fs.unlink('/rm/top');
  await rejectsWith(fs.stat('/rm/top'), 'ENOENT');
  await rejectsWith(fs.unlink('/rm/top'), 'ENOENT');
  await rejectsWith(fs.rm('/rm/a'), 'EISDIR');
  const fileOid = (await fs.stat('/rm/a/b/f')).oid;
  await fs.rm('/rm/a', { recursive: true });
  await rejectsWith(fs.stat('/rm/a'), 'ENOENT');
  assert.equal(await fs.readdir('/rm'), []);
  await fs.rm('/rm/a', { recursive: true, force: true });
  await rejectsWith(fs.rm('/rm/a'), 'ENOENT');
  // The removed file's object is punched: no dkeys left.
  const left: Uint8Array[] = [];
  for await (const k of cont.object(fileOid).listDkeys()) left.push(k);
  assert.is(left.length, 0);
  await fs.rmdir('/rm');
  await rejectsWith(fs.stat('/rm'), 'ENOENT');
});

t('an unlinked file stays readable through an open handle until it is closed', async () => {
  await fs.writeFile('/open-unlink', 'still here');
  const h = await fs.open('/open-unlink', 'r');
  const oid = (await h.stat()).oid;
  await fs.unlink('/open-unlink');
  await rejectsWith(fs.stat('/open-unlink'), 'ENOENT');
  assert.is((await h.readFile()).toString(), 'still here');
  await h.close();
  const left: Uint8Array[] = [];
  for await (const k of cont.object(oid).listDkeys()) left.push(k);
  assert.is(left.length, 0, 'object punched at the last close');
});

t('symlinks: readlink, lstat vs stat, relative and absolute targets, ELOOP', async () => {
  await fs.mkdir('/s/real', { recursive: true });
  await fs.writeFile('/s/real/f', 'through links');
  await fs.symlink('real', '/s/rel');
  await fs.symlink('/s/real/f', '/s/abs');
  await fs.symlink('../rel/f', '/s/real/up');
  assert.is(await fs.readlink('/s/rel'), 'real');
  assert.is(await fs.readFile('/s/rel/f', 'utf8'), 'through links');
  assert.is(await fs.readFile('/s/abs', 'utf8'), 'through links');
  assert.is(await fs.readFile('/s/real/up', 'utf8'), 'through links');
  const l = await fs.lstat('/s/abs');
  assert.ok(l.isSymbolicLink());
  assert.is(l.size, '/s/real/f'.length);
  assert.ok((await fs.stat('/s/abs')).isFile());
  await rejectsWith(fs.readlink('/s/real/f'), 'EINVAL');
  await fs.symlink('loop2', '/s/loop1');
  await fs.symlink('loop1', '/s/loop2');
  await rejectsWith(fs.stat('/s/loop1'), 'ELOOP');
  await rejectsWith(fs.symlink('x', '/s/rel'), 'EEXIST');
  // Writing through a dangling symlink creates its target.
  await fs.symlink('made-by-link', '/s/dangling');
  await fs.writeFile('/s/dangling', 'created');
  assert.is(await fs.readFile('/s/made-by-link', 'utf8'), 'created');
});

t('stat fields, chmod, chown, utimes; lutimes on a symlink', async () => {
  const before = Date.now();
  await fs.writeFile('/attrs', 'abc', { mode: 0o640 });
  const st = await fs.stat('/attrs');
  assert.ok(st.isFile() && !st.isDirectory() && !st.isSymbolicLink());
  assert.is(st.size, 3);
  assert.is(st.mode & 0o7777, 0o640);
  assert.is(st.uid, process.getuid!());
  assert.ok(st.mtimeMs >= before - 5 && st.mtimeMs <= Date.now() + 5, `mtime ${st.mtimeMs}`);
  assert.is(st.chunkSize, 1 << 20);
  await fs.chmod('/attrs', 0o604);
  assert.is((await fs.stat('/attrs')).mode & 0o7777, 0o604);
  await fs.chown('/attrs', 1234, 5678);
  assert.is((await fs.stat('/attrs')).uid, 1234);
  assert.is((await fs.stat('/attrs')).gid, 5678);
  await fs.utimes('/attrs', 1_000_000, new Date('2001-02-03T04:05:06.789Z'));
  const u = await fs.stat('/attrs');
  assert.is(u.atimeMs, 1_000_000_000);
  assert.is(u.mtime.toISOString(), '2001-02-03T04:05:06.789Z');
  assert.ok(u.ctimeMs >= before);
  await fs.symlink('attrs', '/attrs-link');
  await fs.lutimes('/attrs-link', 5, 6);
  assert.is((await fs.lstat('/attrs-link')).mtimeMs, 6000);
  assert.is((await fs.stat('/attrs-link')).mtime.toISOString(), '2001-02-03T04:05:06.789Z');
  const d = await fs.stat('/');
  assert.ok(d.isDirectory());
  await rejectsWith(fs.chmod('/attrs', 0o100000), 'EINVAL');
});

t('appendFile, truncate shrink and grow (zeros past the old end), open flags', async () => {
  await fs.appendFile('/log', 'one\n');
  await fs.appendFile('/log', 'two\n');
  assert.is(await fs.readFile('/log', 'utf8'), 'one\ntwo\n');
  const h = await fs.open('/log', 'a');
  await h.write('three\n', 0); // position is ignored when appending
  await h.close();
  assert.is(await fs.readFile('/log', 'utf8'), 'one\ntwo\nthree\n');
  await rejectsWith(fs.open('/log', 'wx'), 'EEXIST');
  await rejectsWith(fs.open('/nope', 'r'), 'ENOENT');
  await rejectsWith(fs.open('/', 'r'), 'EISDIR');
  await rejectsWith(fs.open('/log', 'bogus'), 'EINVAL');
  const ro = await fs.open('/log', 'r');
  await rejectsWith(ro.write('x'), 'EBADF');
  await ro.close();

  const data = Buffer.from(new Rng(5).bytes(3 * 65536 + 100));
  await fs.writeFile('/trunc', data, { chunkSize: 65536 });
  assert.is((await fs.stat('/trunc')).chunkSize, 65536);
  await fs.truncate('/trunc', 65536 + 10);
  assert.is((await fs.stat('/trunc')).size, 65546);
  await fs.truncate('/trunc', 3 * 65536);
  const grown = (await fs.readFile('/trunc')) as Buffer;
  assert.is(grown.length, 3 * 65536);
  assert.ok(grown.subarray(0, 65546).equals(data.subarray(0, 65546)));
  assert.ok(grown.subarray(65546).every((b) => b === 0), 'bytes past the truncation read as zeros');
  await fs.writeFile('/trunc', 'short');
  assert.is(await fs.readFile('/trunc', 'utf8'), 'short', "'w' truncates");
  const rw = await fs.open('/trunc', 'r+');
  await rw.truncate(2);
  await rw.write('XY', 4); // a hole at 2..3
  await rw.close();
  assert.equal([...((await fs.readFile('/trunc')) as Buffer)], [0x73, 0x68, 0, 0, 0x58, 0x59]);
});

t('createReadStream / createWriteStream move a file larger than one chunk', async () => {
  const data = Buffer.from(new Rng(7).bytes(2_500_000));
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += 99_991) parts.push(data.subarray(i, i + 99_991));
  await pipeline(Readable.from(parts), fs.createWriteStream('/stream.bin'));
  const got: Buffer[] = [];
  await pipeline(fs.createReadStream('/stream.bin'), new Writable({ write(c: Buffer, _e, cb) { got.push(c); cb(); } }));
  assert.ok(Buffer.concat(got).equals(data));
  const mid: Buffer[] = [];
  for await (const c of fs.createReadStream('/stream.bin', { start: 1_000_000, end: 1_000_009 })) mid.push(c as Buffer);
  assert.ok(Buffer.concat(mid).equals(data.subarray(1_000_000, 1_000_010)));
});

t('a second Dfs on the same container sees closed files (close-to-open) and the same tree', async () => {
  const other = await Dfs.mount(cont);
  assert.is(other.rootOid, fs.rootOid);
  const h = await fs.open('/shared', 'w');
  await h.write('v1');
  await h.sync();
  assert.is(await other.readFile('/shared', 'utf8'), 'v1');
  await h.write('+v2');
  await h.close();
  assert.is(await other.readFile('/shared', 'utf8'), 'v1+v2');
  await other.rename('/shared', '/shared2');
  await rejectsWith(fs.stat('/shared'), 'ENOENT');
  assert.is(await fs.readFile('/shared2', 'utf8'), 'v1+v2');
  await other.close();
  await rejectsWith(other.stat('/'), 'EBADF');
});

t('bad arguments are EINVAL, never a raw TypeError', async () => {
  await rejectsWith(fs.stat(42 as unknown as string), 'EINVAL');
  await rejectsWith(fs.stat(''), 'ENOENT');
  await rejectsWith(fs.mkdir('/x'.repeat(1) + '/' + 'n'.repeat(300)), 'EINVAL');
  await rejectsWith(fs.symlink('', '/empty-link'), 'EINVAL');
  await rejectsWith(fs.open('/cs', 'w', { chunkSize: 100 }), 'EINVAL');
  await rejectsWith(fs.utimes('/', 'soon', 0), 'EINVAL');
  await rejectsWith(Dfs.mount(cont, { chunkSize: 3 }), 'EINVAL');
  const h = await fs.open('/args', 'w+');
  await rejectsWith(h.read(Buffer.alloc(4), 2, 10, 0), 'EINVAL');
  await rejectsWith(h.write(Buffer.alloc(4), 0, 4, 1.5), 'EINVAL');
  await rejectsWith(h.truncate(-1), 'EINVAL');
  await h.close();
});

t('the namespace survives closing and reopening the pool', async () => {
  await fs.writeFile('/persist/deep/file', 'x', {}).catch(() => undefined);
  await fs.mkdir('/persist/deep', { recursive: true });
  const data = Buffer.from(new Rng(11).bytes(1_500_000));
  await fs.writeFile('/persist/deep/file', data);
  await fs.close();
  await pool.close();
  pool = await Pool.open(join(dir, 'pool'));
  cont = await pool.openContainer('fs');
  fs = await Dfs.mount(cont, { create: false });
  assert.ok(((await fs.readFile('/persist/deep/file')) as Buffer).equals(data));
  assert.is((await fs.readdir('/many')).length, 1002);
});

t('a namespace in a GX container is found again after the pool grows', async () => {
  const gdir = join(dir, 'grow');
  let p = await Pool.create(gdir, { nodes: 3, ranksPerNode: 2, targetsPerRank: 1, scmBytes: 16 << 20, dataBytes: 256 << 20 });
  let g = await Dfs.mount(await p.createContainer('gx', { oclass: 'EC_2P1GX', redundancyFactor: 1 }));
  await g.mkdir('/kept/dir', { recursive: true });
  await g.writeFile('/kept/dir/f', 'before growth');
  await g.close();
  await p.extend({ nodes: 2 });
  await p.waitForRebuild();
  await p.close();
  p = await Pool.open(gdir);
  try {
    g = await Dfs.mount(await p.openContainer('gx'), { create: false });
    assert.is(await g.readFile('/kept/dir/f', 'utf8'), 'before growth');
    await g.close();
  } finally {
    await p.close();
  }
});

t.run();
