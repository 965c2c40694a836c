/**
 * `cairn put|get|ls|rm`: files or stdin/stdout streams to and from a container, kept as named
 * files (object-files.ts: a directory KV object plus one Array object per file; replacing a file
 * is atomic and reads see one epoch). Large transfers show a progress bar on a terminal.
 */
import type { Command } from 'commander';
import { createReadStream, createWriteStream } from 'node:fs';
import { stat, unlink } from 'node:fs/promises';
import { Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { withPool, type WithPoolOptions } from './pool-commands.js';
import { poolOptions, progressBar } from './util.js';
import { UsageError, fileError } from './errors.js';
import { listFiles, openFile, putFile, removeFile } from './object-files.js';
import { MAX_KEY_SIZE } from '../vos/constants.js';

export { DIRECTORY_OBJECT } from './object-files.js';

/** `get` and `ls` only read: on a pool an application holds they open it read-only. */
const READS: WithPoolOptions = { readOnlyIfBusy: true };

/** Transfers at least this large show a progress bar (on a terminal only). */
export const PROGRESS_MIN_BYTES = 8 * 1024 * 1024;

const isStdio = (file: string | undefined) => file === undefined || file === '-';

/** A progress bar (on a terminal) for a transfer of `total` bytes, when it is large enough. */
function transferBar(total: number, label: string): { update(n: number): void; stop(): void } {
  return total >= PROGRESS_MIN_BYTES ? progressBar(total, label) : { update() {}, stop() {} };
}

/** A pass-through stream reporting the bytes it moved to a `transferBar`. */
function progressStream(total: number, label: string): { stream: Transform; stop(): void } {
  const bar = transferBar(total, label);
  let n = 0;
  const stream = new Transform({ transform(chunk: Buffer, _e, cb) { n += chunk.length; bar.update(n); cb(null, chunk); } });
  return { stream, stop: () => bar.stop() };
}

/** A file name of put/get/rm: it is a key of the directory object, 1..MAX_KEY_SIZE bytes of UTF-8. */
function fileName(name: string): string {
  const n = Buffer.byteLength(name, 'utf8');
  if (n < 1 || n > MAX_KEY_SIZE) throw new UsageError(`file name must be 1..${MAX_KEY_SIZE} bytes, got ${n}`);
  return name;
}

/** The input of `put`: the file (checked first, so a bad path is one clear line) or stdin. */
async function openSource(file: string | undefined): Promise<{ src: Readable; size?: number }> {
  if (isStdio(file)) return { src: process.stdin };
  let st;
  try { st = await stat(file!); } catch (err) { throw fileError(err, `cannot read ${file}`); }
  if (st.isDirectory()) throw new UsageError(`${file} is a directory, not a file`);
  const src = createReadStream(file!);
  return { src, ...(st.isFile() ? { size: st.size } : {}) };
}

export function registerDataCommands(program: Command): void {
  poolOptions(program.command('put <container> <name> [file]')
    .description('store a file (or stdin when no file or "-") under a name; replaces an existing one atomically'))
    .option('--oclass <class>', 'object class (default: the container\'s)')
    .action(async (label: string, name: string, file: string | undefined, o) => withPool(o, async (p) => {
      fileName(name);
      const c = await p.openContainer(label);
      const { src, size } = await openSource(file);
      const bar = transferBar(size ?? 0, `put ${name}`);
      let entry;
      try {
        entry = await putFile(c, name, src, { oclass: o.oclass, onProgress: (n) => bar.update(n) });
      } catch (err) {
        throw isStdio(file) ? err : fileError(err, `cannot read ${file}`);
      } finally { bar.stop(); }
      if (process.stdout.isTTY || !isStdio(file)) process.stderr.write(`put ${name}: ${entry.size} bytes\n`);
    }));

  poolOptions(program.command('get <container> <name> [file]')
    .description('read a file to FILE (or stdout when no file or "-")'))
    .option('--snapshot <name>', 'read the file as it was at a snapshot')
    .action(async (label: string, name: string, file: string | undefined, o) => withPool(o, async (p) => {
      const c = await p.openContainer(label);
      const f = await openFile(c, fileName(name), { snapshot: o.snapshot });
      let dst: Writable = process.stdout;
      let created = false;
      if (!isStdio(file)) {
        created = !(await stat(file!).then(() => true, () => false));
        dst = createWriteStream(file!);
      }
      const progress = progressStream(f.entry.size, `get ${name}`);
      try {
        await pipeline(f.stream(), progress.stream, dst);
      } catch (err) {
        if (created) await unlink(file!).catch(() => { /* never created */ });
        throw isStdio(file) ? err : fileError(err, `cannot write ${file}`);
      } finally { progress.stop(); }
    }, READS));

  poolOptions(program.command('ls <container>')
    .description('list the files stored with put (size, mtime, object class, name)'))
    .option('--snapshot <name>', 'list the files as they were at a snapshot')
    .option('--json', 'print a JSON array of {name, size, mtime, oclass}')
    .action(async (label: string, o) => withPool(o, async (p) => {
      const c = await p.openContainer(label);
      const files = [];
      for await (const f of listFiles(c, { snapshot: o.snapshot })) {
        if (o.json) files.push({ name: f.name, size: f.size, mtime: f.mtime, oclass: f.oclass });
        else process.stdout.write(`${String(f.size).padStart(12)}  ${f.mtime}  ${f.oclass.padEnd(10)}  ${f.name}\n`);
      }
      if (o.json) process.stdout.write(JSON.stringify(files, null, 2) + '\n');
    }, READS));

  poolOptions(program.command('rm <container> <name>')
    .description('remove a file stored with put'))
    .action(async (label: string, name: string, o) => withPool(o, async (p) => {
      await removeFile(await p.openContainer(label), fileName(name));
    }));
}
