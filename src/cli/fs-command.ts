/**
 * `cairn fs CONTAINER ls|mkdir|put|get|cat|mv|rm|stat ...`: the container's POSIX namespace (Dfs)
 * from the shell, without a mount.
 *
 *   ls [PATH] [-l] [--json]     entries in name order (-l: type, mode, size, mtime; --json: an array of them)
 *   mkdir [--parents] PATH...   create directories
 *   put LOCAL|- PATH [-r]       copy a local file (stdin for -; -r a directory tree) in
 *   get PATH [LOCAL|-] [-r]     copy a file (or with -r a tree) out; stdout without LOCAL; into LOCAL if a directory
 *   cat PATH...                 files to stdout
 *   mv FROM TO                  rename (atomic); into TO if a directory, as mv
 *   rm [-r] [-f] PATH...        remove files (-r: directories with their contents)
 *   stat PATH [--json]          attributes
 */
import type { Command } from 'commander';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, lstat, readlink, stat, symlink } from 'node:fs/promises';
import { basename, join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Dfs, DfsError, CairnError, type DfsStats } from '../../index.js';
import { withPool } from './pool-commands.js';
import { poolOptions, sizeOpt } from './util.js';
import { UsageError, fileError } from './errors.js';
import { MIN_CHUNK_BYTES, MAX_CHUNK_BYTES } from '../dfs/layout.js';

const OPS = ['ls', 'mkdir', 'put', 'get', 'cat', 'mv', 'rm', 'stat'] as const;
type Op = (typeof OPS)[number];
/** Operations that only read: on a pool another process holds they open it read-only. */
const READ_OPS: readonly Op[] = ['ls', 'get', 'cat', 'stat'];

/** At least `n` and at most `max` paths after the operation, else the operation's usage line. */
function need(args: string[], n: number, usage: string, max = Infinity): void {
  if (args.length < n || args.length > max) throw new UsageError(`usage: cairn fs CONTAINER ${usage}${args.length > max ? ` (got ${args.length} paths)` : ''}`);
}

function modeString(st: DfsStats): string {
  const t = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : '-';
  const rwx = (b: number) => `${b & 4 ? 'r' : '-'}${b & 2 ? 'w' : '-'}${b & 1 ? 'x' : '-'}`;
  return t + rwx(st.mode >> 6) + rwx(st.mode >> 3) + rwx(st.mode);
}

const dfsJoin = (dir: string, name: string) => (dir.endsWith('/') ? dir : dir + '/') + name;

async function isDir(fs: Dfs, path: string): Promise<boolean> {
  return (await fs.stat(path).catch(() => undefined))?.isDirectory() ?? false;
}

/**
 * Copy a local tree into the namespace. Inside a tree (-r) symlinks are copied as links and
 * anything but files, directories and links (FIFOs, sockets, devices) is skipped with a word on
 * stderr: reading a FIFO would wait for a writer forever. The top-level LOCAL of a put without -r
 * is followed, as cp does: a link names the file whose bytes are wanted.
 */
async function putTree(fs: Dfs, local: string, dest: string, chunkSize?: number, top = false): Promise<number> {
  const st = await (top ? stat : lstat)(local);
  if (st.isSymbolicLink()) { await fs.symlink(await readlink(local), dest); return 0; }
  if (!top && !st.isDirectory() && !st.isFile()) {
    process.stderr.write(`cairn fs put: skipping ${local} (not a regular file, directory or symbolic link)\n`);
    return 0;
  }
  if (!st.isDirectory()) {
    await pipeline(createReadStream(local), fs.createWriteStream(dest, { mode: st.mode & 0o7777, ...(chunkSize ? { chunkSize } : {}) }));
    return 1;
  }
  if (!(await isDir(fs, dest))) await fs.mkdir(dest, { mode: st.mode & 0o7777 });
  let n = 0;
  for (const e of (await readdir(local)).sort()) n += await putTree(fs, join(local, e), dfsJoin(dest, e), chunkSize);
  return n;
}

/** Copy a namespace tree out to a local directory. */
async function getTree(fs: Dfs, src: string, local: string): Promise<number> {
  const st = await fs.lstat(src);
  if (st.isSymbolicLink()) { await symlink(await fs.readlink(src), local); return 0; }
  if (!st.isDirectory()) { await pipeline(fs.createReadStream(src), createWriteStream(local, { mode: st.mode & 0o7777 })); return 1; }
  await mkdir(local, { recursive: true, mode: st.mode & 0o7777 });
  let n = 0;
  for await (const e of await fs.opendir(src)) n += await getTree(fs, dfsJoin(src, e.name), join(local, e.name));
  return n;
}

/** One entry of `fs ls --json`. */
interface LsJsonEntry { name: string; type: 'file' | 'directory' | 'symlink'; size: number; mode: string; mtime: string; target?: string }

/** `ls --json`: the entries of directory `path` (or the one entry of a file), in name order. */
async function listJson(fs: Dfs, path: string, st: DfsStats): Promise<LsJsonEntry[]> {
  const entry = async (name: string, full: string, s: DfsStats): Promise<LsJsonEntry> => ({
    name, type: s.isDirectory() ? 'directory' : s.isSymbolicLink() ? 'symlink' : 'file', size: s.size,
    mode: '0' + (s.mode & 0o7777).toString(8), mtime: s.mtime.toISOString(),
    ...(s.isSymbolicLink() ? { target: await fs.readlink(full) } : {}),
  });
  if (!st.isDirectory()) return [await entry(basename(path), path, st)];
  const out: LsJsonEntry[] = [];
  for await (const e of await fs.opendir(path)) out.push(await entry(e.name, dfsJoin(path, e.name), await fs.lstat(dfsJoin(path, e.name))));
  return out;
}

/** `--chunk-size`: a size in the range Dfs accepts (checked here: a usage error, exit code 2). */
function chunkSizeOpt(v: string): number {
  const n = sizeOpt('chunk-size', v, 0);
  if (n < MIN_CHUNK_BYTES || n > MAX_CHUNK_BYTES) throw new UsageError(`--chunk-size must be ${MIN_CHUNK_BYTES} bytes..${MAX_CHUNK_BYTES / (1024 * 1024)}M, got ${JSON.stringify(v)}`);
  return n;
}

async function run(fs: Dfs, op: Op, args: string[], o: { recursive?: boolean; force?: boolean; parents?: boolean; long?: boolean; json?: boolean; chunkSize?: string }): Promise<void> {
  const out = (s: string) => process.stdout.write(s + '\n');
  const chunkSize = o.chunkSize !== undefined ? chunkSizeOpt(o.chunkSize) : undefined;
  switch (op) {
    case 'ls': {
      need(args, 0, 'ls [PATH] [-l] [--json]', 1);
      const path = args[0] ?? '/';
      const st = await fs.lstat(path);
      if (o.json) { out(JSON.stringify(await listJson(fs, path, st))); return; }
      if (!st.isDirectory()) { out(o.long ? `${modeString(st)} ${String(st.size).padStart(12)} ${st.mtime.toISOString()} ${path}` : path); return; }
      for await (const e of await fs.opendir(path)) {
        if (!o.long) { out(e.name); continue; }
        const s = await fs.lstat(dfsJoin(path, e.name));
        const link = s.isSymbolicLink() ? ` -> ${await fs.readlink(dfsJoin(path, e.name))}` : '';
        out(`${modeString(s)} ${String(s.size).padStart(12)} ${s.mtime.toISOString()} ${e.name}${link}`);
      }
      return;
    }
    case 'mkdir':
      need(args, 1, 'mkdir [--parents] PATH...');
      for (const p of args) await fs.mkdir(p, { recursive: o.parents === true });
      return;
    case 'put': {
      need(args, 2, 'put LOCAL|- PATH [-r]', 2);
      const [local, dest0] = args as [string, string];
      if (local === '-') { await pipeline(process.stdin, fs.createWriteStream(dest0, chunkSize ? { chunkSize } : {})); return; }
      const dest = (await isDir(fs, dest0)) ? dfsJoin(dest0, basename(local)) : dest0;
      const st = await (o.recursive ? lstat : stat)(local).catch((err: unknown) => { throw fileError(err, `cannot read ${local}`); });
      if (st.isDirectory() && !o.recursive) throw new UsageError(`${local} is a directory (use -r)`);
      const n = await putTree(fs, local, dest, chunkSize, !o.recursive);
      if (process.stderr.isTTY) process.stderr.write(`put ${n} file(s) to ${dest}\n`);
      return;
    }
    case 'get': {
      need(args, 1, 'get PATH [LOCAL|-] [-r]', 2);
      const [src, local] = args as [string, string | undefined];
      const st = await fs.stat(src);
      if (st.isDirectory()) {
        if (!o.recursive) throw new UsageError(`${src} is a directory (use -r)`);
        if (!local || local === '-') throw new UsageError('get -r needs a local directory');
        // an existing local directory receives the tree under its own name, as cp -r and put -r do
        // (the root, which has none, is copied into it)
        const name = basename(src);
        await getTree(fs, src, name !== '' && (await stat(local).catch(() => undefined))?.isDirectory() ? join(local, name) : local);
        return;
      }
      if (!local || local === '-') { await pipeline(fs.createReadStream(src), process.stdout); return; }
      // an existing local directory (or a link to one) receives the file under its own name, as cp does
      const dest = (await stat(local).catch(() => undefined))?.isDirectory() ? join(local, basename(src)) : local;
      await pipeline(fs.createReadStream(src), createWriteStream(dest));
      return;
    }
    case 'cat':
      need(args, 1, 'cat PATH...');
      for (const p of args) await pipeline(fs.createReadStream(p), process.stdout, { end: false });
      return;
    case 'mv':
      need(args, 2, 'mv FROM TO', 2);
      // As coreutils mv, not rename(2): an existing directory TO (or a link to one) receives FROM
      // under its own name, a directory too; only that entry is replaced, as rename replaces (a
      // file a file, a directory an empty directory; else EISDIR, ENOTDIR or ENOTEMPTY).
      const to = (await isDir(fs, args[1]!)) ? dfsJoin(args[1]!, basename(args[0]!)) : args[1]!;
      // (moving an entry onto itself, `mv /b/a /b`: refused as mv refuses it, not a silent no-op)
      if (posix.resolve('/', to) === posix.resolve('/', args[0]!)) throw new DfsError('EINVAL', 'rename', args[0]!, to, `'${args[0]}' and '${to}' are the same file`);
      await fs.rename(args[0]!, to);
      return;
    case 'rm':
      need(args, 1, 'rm [-r] [-f] PATH...');
      for (const p of args) await fs.rm(p, { recursive: o.recursive === true, force: o.force === true });
      return;
    case 'stat': {
      need(args, 1, 'stat PATH [--json]', 1);
      const st = await fs.lstat(args[0]!);
      const type = st.isDirectory() ? 'directory' : st.isSymbolicLink() ? 'symlink' : 'file';
      const info = { path: args[0], type, size: st.size, mode: '0' + (st.mode & 0o7777).toString(8), uid: st.uid, gid: st.gid, chunkSize: st.chunkSize, oid: st.oid.toString(16), atime: st.atime.toISOString(), mtime: st.mtime.toISOString(), ctime: st.ctime.toISOString() };
      if (o.json) { out(JSON.stringify(info)); return; }
      for (const [k, v] of Object.entries(info)) out(`${k.padEnd(9)} ${v}`);
      return;
    }
  }
}

/**
 * A DfsError's message starts with its code, as node:fs messages do ("ENOENT: no such file ...");
 * the CLI prints `code: message`, so the same error without the prefix reads "cairn: ENOENT: no
 * such file or directory, open '/x'" instead of naming the code twice.
 */
function withoutCodePrefix(err: unknown): unknown {
  if (!(err instanceof DfsError) || !err.message.startsWith(`${err.code}: `)) return err;
  return new CairnError(err.code, err.message.slice(err.code.length + 2), err.info, { cause: err });
}

export function registerFs(program: Command): void {
  poolOptions(program.command('fs <container> <op> [args...]')
    .description(`POSIX namespace of a container: ${OPS.join('|')} (see docs/dfs.md)`))
    .option('-r, --recursive', 'put/get/rm: whole directory trees')
    .option('-f, --force', 'rm: a missing path is no error')
    .option('--parents', 'mkdir: create missing parents too')
    .option('-l, --long', 'ls: type, mode, size and mtime')
    .option('--json', 'ls, stat: print JSON')
    .option('--chunk-size <size>', 'put: bytes per chunk of new files (default 1M)')
    .action(async (label: string, op: string, args: string[], o) => {
      if (!(OPS as readonly string[]).includes(op)) throw new UsageError(`unknown fs operation ${JSON.stringify(op)}; one of ${OPS.join(', ')}`);
      // the read operations open a pool another process holds read-only (and create no namespace there)
      const reads = READ_OPS.includes(op as Op);
      await withPool(o, async (p) => {
        const fs = await Dfs.mount(await p.openContainer(label), p.readOnly ? { create: false } : {});
        try { await run(fs, op as Op, args, o); } catch (err) { throw withoutCodePrefix(err); } finally { await fs.close(); }
      }, reads ? { readOnlyIfBusy: true } : {});
    });
}
