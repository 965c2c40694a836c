/**
 * Adversarial input to the Dfs API: every bad path, mode, offset, length or option is refused at
 * the call with a typed `DfsError` (EINVAL, or the POSIX code node:fs gives), never a raw
 * TypeError, never a hang, and never with a change made first (a refused `writeFile` leaves the
 * file as it was). Trailing slashes mean "a directory", as in POSIX.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Pool, Dfs, DfsError, type Container } from '../../index.js';
import { dfsPool } from './fixture.js';
import { tmpDir } from '../helpers/tmp.js';
import { errnoName } from '../../src/dfs/fuse.js';

const t = suite('dfs bad input');
const dir = tmpDir();
let pool: Pool;
let cont: Container;
let fs: Dfs;

t.before(async () => {
  ({ pool, cont } = await dfsPool(dir));
  fs = await Dfs.mount(cont);
});
t.after(async () => { await fs?.close(); await pool?.close(); });

/** Expect a DfsError of `code` (a typed error: never a raw TypeError). */
async function refuses(p: Promise<unknown> | (() => Promise<unknown>), code: string): Promise<void> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    assert.instance(err, DfsError, `expected a DfsError ${code}, got ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`);
    assert.is((err as DfsError).code, code, (err as Error).message);
    return;
  }
  assert.unreachable(`expected ${code}, but the call resolved`);
}

t('a refused writeFile leaves the existing file untouched (the data is checked before the file is truncated)', async () => {
  await fs.writeFile('/precious', 'keep me');
  await refuses(fs.writeFile('/precious', 123 as unknown as string), 'EINVAL');
  await refuses(fs.writeFile('/precious', { length: 3 } as unknown as string), 'EINVAL');
  await refuses(fs.writeFile('/precious', null as unknown as string), 'EINVAL');
  assert.is(await fs.readFile('/precious', 'utf8'), 'keep me');
  await refuses(fs.appendFile('/never', 5 as unknown as string), 'EINVAL');
  await refuses(fs.stat('/never'), 'ENOENT');
  // any ArrayBufferView is file data, as node:fs takes it
  await fs.writeFile('/view', new Uint16Array([0x4241, 0x4443]) as unknown as Uint8Array);
  assert.is(await fs.readFile('/view', 'utf8'), 'ABCD');
});

t('a path holding a lone surrogate is EINVAL (it would alias another name once stored as UTF-8)', async () => {
  await refuses(fs.writeFile('/s\uD800', 'x'), 'EINVAL');
  await refuses(fs.mkdir('/d\uDC00'), 'EINVAL');
  await refuses(fs.stat('/s\uD800'), 'EINVAL');
  await refuses(fs.symlink('\uD800', '/lone-target'), 'EINVAL');
  await refuses(fs.rename('/precious', '/p\uDFFF'), 'EINVAL');
  await fs.writeFile('/pair-\u{1F600}', 'ok'); // a well-formed pair is a name like any other
  assert.is(await fs.readFile('/pair-\u{1F600}', 'utf8'), 'ok');
});

t('paths: non-strings, NUL, over-long names and paths are EINVAL; empty is ENOENT; . .. // resolve', async () => {
  for (const bad of [undefined, null, 5, {}, [], Symbol('s'), 10n]) await refuses(fs.stat(bad as unknown as string), 'EINVAL');
  await refuses(fs.stat(''), 'ENOENT');
  await refuses(fs.open('/a\0b', 'w'), 'EINVAL');
  await refuses(fs.mkdir('/' + 'n'.repeat(256)), 'EINVAL');
  await refuses(fs.stat('/' + 'a/'.repeat(3000)), 'EINVAL'); // > PATH_MAX (4096 bytes)
  await refuses(fs.symlink('t'.repeat(4097), '/long-link'), 'EINVAL');
  assert.ok((await fs.stat('.')).isDirectory());
  assert.ok((await fs.stat('//./..//')).isDirectory());
  await refuses(fs.rename('/', '/x'), 'EINVAL');
  await refuses(fs.rmdir('/..'), 'EINVAL');
  await refuses(fs.unlink('.'), 'EISDIR');
});

t('a trailing slash names a directory: a file or symlink with one is ENOTDIR, creating a file with one EISDIR (as on Linux)', async () => {
  await fs.writeFile('/tf', 'data');
  await fs.mkdir('/td');
  await fs.symlink('tf', '/tlf');
  await fs.symlink('td', '/tld');
  await refuses(fs.stat('/tf/'), 'ENOTDIR');
  await refuses(fs.stat('/tf/.'), 'ENOTDIR');
  await refuses(fs.readFile('/tf/'), 'ENOTDIR');
  await refuses(fs.lstat('/tlf/'), 'ENOTDIR');
  assert.ok((await fs.lstat('/tld/')).isDirectory(), 'lstat follows a symlink named with a trailing slash');
  await refuses(fs.readlink('/tld/'), 'EINVAL');
  await refuses(fs.unlink('/tf/'), 'ENOTDIR');
  await refuses(fs.unlink('/tlf/'), 'ENOTDIR');
  await refuses(fs.rmdir('/tld/'), 'ENOTDIR');
  await refuses(fs.rename('/tf/', '/tf2'), 'ENOTDIR');
  await refuses(fs.rename('/tf', '/tf2/'), 'ENOTDIR');
  await refuses(fs.rename('/tld/', '/tld2'), 'ENOTDIR');
  await refuses(fs.writeFile('/newfile/', 'x'), 'EISDIR');
  await refuses(fs.open('/newfile/', 'w'), 'EISDIR');
  await refuses(fs.open('/tf/', 'a'), 'EISDIR');
  await refuses(fs.truncate('/tf/', 0), 'ENOTDIR');
  await refuses(fs.chmod('/tf/', 0o600), 'ENOTDIR');
  await refuses(fs.symlink('x', '/newlink/'), 'ENOENT');
  await refuses(fs.stat('/newfile'), 'ENOENT');
  assert.is(await fs.readFile('/tf', 'utf8'), 'data', 'nothing happened to the file');
  // directories take the slash as before
  await fs.mkdir('/td2/');
  await fs.rename('/td2/', '/td3/');
  assert.ok((await fs.stat('/td3/')).isDirectory());
  await fs.rmdir('/td3/');
  assert.equal(await fs.readdir('/td/'), []);
});

t('modes: NaN, negative, fractional, too large, non-octal strings are EINVAL; octal strings are modes', async () => {
  for (const mode of [NaN, -1, 1.5, 0o10000, 2 ** 53, '0x1ff', 'rwx', {}]) {
    await refuses(fs.mkdir('/m-bad', { mode: mode as number }), 'EINVAL');
    if (typeof mode !== 'object') await refuses(fs.open('/m-bad', 'w', mode as number), 'EINVAL');
    await refuses(fs.open('/m-bad', 'w', { mode: mode as number }), 'EINVAL');
    await refuses(fs.writeFile('/m-bad', 'x', { mode: mode as number }), 'EINVAL');
  }
  await refuses(fs.stat('/m-bad'), 'ENOENT');
  await fs.mkdir('/m-ok', { mode: '750' as unknown as number });
  assert.is((await fs.stat('/m-ok')).mode & 0o7777, 0o750);
  await (await fs.open('/m-file', 'w', '0640' as unknown as number)).close();
  assert.is((await fs.stat('/m-file')).mode & 0o7777, 0o640);
});

t('options: unknown names are EINVAL rather than ignored; non-objects are EINVAL; null means defaults', async () => {
  await refuses(fs.mkdir('/o/p', { recursve: true } as never), 'EINVAL');
  await refuses(fs.readdir('/', { recursive: true } as never), 'EINVAL');
  await refuses(fs.readdir('/', { encoding: 'buffer' } as never), 'EINVAL');
  await refuses(fs.rm('/precious', { recurse: true } as never), 'EINVAL');
  await refuses(fs.opendir('/', { buffersize: 3 } as never), 'EINVAL');
  await refuses(fs.readdirPage('/', { limt: 3 } as never), 'EINVAL');
  await refuses(fs.open('/o-new', 'w', { mod: 0o600 } as never), 'EINVAL');
  await refuses(fs.writeFile('/o-new', 'x', { flags: 'a' } as never), 'EINVAL');
  await refuses(fs.writeFile('/o-new', 'x', 'latin1' as never), 'EINVAL');
  await refuses(fs.readFile('/precious', { encodng: 'utf8' } as never), 'EINVAL');
  await refuses(fs.readFile('/precious', { encoding: 'klingon' } as never), 'EINVAL');
  await refuses(fs.readFile('/precious', 5 as never), 'EINVAL');
  await refuses(Dfs.mount(cont, { chunksize: 4096 } as never), 'EINVAL');
  await refuses(Dfs.mount(cont, 'x' as never), 'EINVAL');
  await refuses(Dfs.mount(cont, { create: 'no' } as never), 'EINVAL');
  assert.throws(() => fs.createReadStream('/precious', { strat: 1 } as never), (e: unknown) => (e as DfsError).code === 'EINVAL');
  assert.throws(() => fs.createWriteStream('/o-new', { flag: 'a' } as never), (e: unknown) => (e as DfsError).code === 'EINVAL');
  await refuses(fs.stat('/o-new'), 'ENOENT');
  assert.is(await fs.readFile('/precious', null as never).then(String), 'keep me');
  await fs.rm('/o-none', null as never).catch((e: DfsError) => assert.is(e.code, 'ENOENT'));
  await fs.writeFile('/o-utf8', 'é', 'utf8' as never);
  assert.is(await fs.readFile('/o-utf8', 'utf8'), 'é');
});

t('read streams: a bad start, end or highWaterMark is EINVAL at the call, never an empty stream', async () => {
  for (const o of [{ start: NaN }, { start: -5 }, { start: 1.5 }, { end: -1 }, { start: 4, end: 2 }, { highWaterMark: 0 }, { highWaterMark: -1 }, { end: 'x' }]) {
    assert.throws(() => fs.createReadStream('/precious', o as never), (e: unknown) => e instanceof DfsError && e.code === 'EINVAL', JSON.stringify(o));
  }
  const read = async (o: object) => { const out: Buffer[] = []; for await (const c of fs.createReadStream('/precious', o)) out.push(c as Buffer); return Buffer.concat(out).toString(); };
  assert.is(await read({ start: 5 }), 'me');
  assert.is(await read({ start: 1, end: 3, highWaterMark: 1 }), 'eep');
  assert.is(await read({ end: Infinity }), 'keep me');
  for (const start of [NaN, -1, 0.5]) assert.throws(() => fs.createWriteStream('/o-ws', { start }), (e: unknown) => e instanceof DfsError && e.code === 'EINVAL', String(start));
});

t('handles: read() without a buffer is EINVAL (not a TypeError); a write ending past 2^53 - 1 is EINVAL, not a rounded size', async () => {
  const h = await fs.open('/h', 'w+');
  await refuses((h.read as unknown as () => Promise<unknown>)(), 'EINVAL');
  await refuses(h.read(undefined as unknown as Buffer, 0, 1, 0), 'EINVAL');
  await refuses(h.read(Buffer.alloc(4), NaN, 1, 0), 'EINVAL');
  await refuses(h.read(Buffer.alloc(4), 0, 1, 2 ** 53), 'EINVAL');
  await refuses(h.write(Buffer.from('xyz'), 0, 3, Number.MAX_SAFE_INTEGER - 1), 'EINVAL');
  await refuses(h.write('xyz', Number.MAX_SAFE_INTEGER), 'EINVAL');
  await refuses(h.write(Buffer.alloc(4), -1, 2, 0), 'EINVAL');
  await refuses(h.write(Buffer.alloc(4), 0, 5, 0), 'EINVAL');
  await refuses(h.truncate(NaN), 'EINVAL');
  await refuses(h.truncate(2 ** 53), 'EINVAL');
  assert.is((await h.stat()).size, 0);
  // the largest offset itself works: a sparse file of 2^53 - 1 bytes reads zeros, then its byte
  await h.write(Buffer.from('z'), 0, 1, Number.MAX_SAFE_INTEGER - 1);
  assert.is((await h.stat()).size, Number.MAX_SAFE_INTEGER);
  const b = Buffer.alloc(4, 0xff);
  assert.is((await h.read(b, 0, 4, Number.MAX_SAFE_INTEGER - 3)).bytesRead, 3);
  assert.equal([...b], [0, 0, 0x7a, 0xff]);
  await refuses(h.readFile(), 'EINVAL'); // more than a Buffer holds: typed, not a RangeError
  await refuses(fs.readFile('/h'), 'EINVAL');
  await h.truncate(3);
  assert.is((await h.stat()).size, 3);
  await h.close();
});

t('handles after Dfs.close() refuse I/O with EBADF (nothing is buffered that no sync will commit); close still releases them', async () => {
  const other = await Dfs.mount(cont);
  const h = await other.open('/late', 'w+');
  await h.write('before');
  await other.close();
  await refuses(h.write('after'), 'EBADF');
  await refuses(h.read(Buffer.alloc(4), 0, 4, 0), 'EBADF');
  await refuses(h.truncate(0), 'EBADF');
  await h.close();
  assert.is(await fs.readFile('/late', 'utf8'), 'before');
  await refuses(other.readdir('/'), 'EBADF');
});

t('times and chmod strings: an invalid Date, times past the 64-bit nanosecond range and non-octal mode strings are EINVAL (they were a RangeError, or stored wrapped to 0, or mode 000)', async () => {
  await fs.writeFile('/times', 'x');
  const before = await fs.stat('/times');
  await refuses(fs.utimes('/times', new Date(NaN), new Date()), 'EINVAL');
  await refuses(fs.utimes('/times', 1e300, 0), 'EINVAL');
  await refuses(fs.utimes('/times', 0, -1e300), 'EINVAL');
  await refuses(fs.utimes('/times', 2n ** 70n, 0n), 'EINVAL');
  await refuses(fs.lutimes('/times', 0, Infinity), 'EINVAL');
  await refuses(fs.chmod('/times', '0o755'), 'EINVAL');
  await refuses(fs.chmod('/times', '7778'), 'EINVAL');
  const after = await fs.stat('/times');
  assert.is(after.mode, before.mode);
  assert.is(after.mtimeNs, before.mtimeNs);
  await fs.utimes('/times', -1e9, 2n ** 62n); // before 1970 and far ahead are times like any other
  assert.is((await fs.stat('/times')).mtimeNs, 2n ** 62n);
  await fs.chmod('/times', '640');
  assert.is((await fs.stat('/times')).mode & 0o7777, 0o640);
  await refuses(fs.readdirPage('/', { after: '\uD800' }), 'EINVAL');
});

t('numeric open flags: NaN, negative, fractional and O_ACCMODE 3 are EINVAL (-1 opened with every flag: O_CREAT, O_EXCL, O_TRUNC)', async () => {
  await fs.writeFile('/flags', 'keep');
  for (const f of [NaN, -1, 1.5, 3, 2 ** 40]) await refuses(fs.open('/flags', f), 'EINVAL');
  assert.is(await fs.readFile('/flags', 'utf8'), 'keep');
  const h = await fs.open('/flags', 2 /* O_RDWR */);
  assert.is((await h.read(Buffer.alloc(4), 0, 4, 0)).bytesRead, 4);
  await h.close();
});

t('rm -r of the root or of a path ending in .. is EINVAL before anything is removed (it emptied the namespace, then failed)', async () => {
  await fs.mkdir('/rm-probe/inner', { recursive: true });
  await refuses(fs.rm('/', { recursive: true }), 'EINVAL');
  await refuses(fs.rm('/rm-probe/inner/..', { recursive: true, force: true }), 'EINVAL');
  await refuses(fs.rm('.', { recursive: true }), 'EINVAL');
  assert.ok((await fs.stat('/rm-probe/inner')).isDirectory());
  assert.ok((await fs.readdir('/')).includes('precious'));
});

t('FUSE: every code answers a sensible errno (POSIX codes as themselves, EIO only for real I/O failures and bugs)', () => {
  const want: Record<string, string> = {
    ENOENT: 'ENOENT', EEXIST: 'EEXIST', ENOTDIR: 'ENOTDIR', EISDIR: 'EISDIR', ENOTEMPTY: 'ENOTEMPTY', EINVAL: 'EINVAL', ELOOP: 'ELOOP', EBADF: 'EBADF',
    NO_SPACE: 'ENOSPC', INVALID_ARGUMENT: 'EINVAL', KEY_TOO_LARGE: 'EINVAL', VALUE_TOO_LARGE: 'EINVAL', READ_ONLY: 'EROFS',
    TIMEOUT: 'ETIMEDOUT', NET_TIMEOUT: 'ETIMEDOUT', OVERLOADED: 'EAGAIN', TX_RESTART: 'EAGAIN', ABORTED: 'EINTR',
    UNSUPPORTED: 'EOPNOTSUPP', OUT_OF_MEMORY: 'ENOMEM', NOT_FOUND: 'ENOENT', EXISTS: 'EEXIST',
    DATA_LOST: 'EIO', CORRUPTED: 'EIO', CHECKSUM_MISMATCH: 'EIO', IO_ERROR: 'EIO', ASSERTION_FAILED: 'EIO', '': 'EIO',
  };
  for (const [code, errno] of Object.entries(want)) assert.is(errnoName(code), errno, code || '(no code: a raw error)');
});

t.run();
