/**
 * `cairn put|get|ls|rm`: files or stdin/stdout streams to and from array objects of a container.
 * Each named object is an Array object; a directory KV object records names, sizes and checksums.
 */
import type { Command } from 'commander';
import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import type { Container } from '../container/container.js';
import { withPool } from './pool-commands.js';
import { poolOptions } from './util.js';
import { ObjectError } from '../object/errors.js';
import { toText } from '../common/bytes.js';

/** Name of the KV object that lists the files put through the CLI. */
export const DIRECTORY_OBJECT = '.cairn-directory';

interface Entry { size: number; mtime: string; oclass: string }

async function readEntry(c: Container, name: string): Promise<Entry | undefined> {
  const v = await c.kv(DIRECTORY_OBJECT).get(name);
  return v ? (JSON.parse(toText(v)) as Entry) : undefined;
}

export function registerDataCommands(program: Command): void {
  poolOptions(program.command('put <container> <name> [file]')
    .description('store a file (or stdin when no file or "-") as an object'))
    .option('--oclass <class>', 'object class (default: the container\'s)')
    .action(async (label, name, file, o) => withPool(o, async (p) => {
      const c = await p.openContainer(label);
      const old = await readEntry(c, name);
      if (old) await c.array(name, { oclass: old.oclass }).object.punch();
      const oclass: string = o.oclass ?? c.props.oclass;
      const arr = c.array(name, { oclass });
      let size = 0;
      const count = new Transform({ transform(chunk: Buffer, _e, cb) { size += chunk.length; cb(null, chunk); } });
      const src = file && file !== '-' ? createReadStream(file) : process.stdin;
      await pipeline(src, count, arr.createWriteStream());
      await c.kv(DIRECTORY_OBJECT).put(name, JSON.stringify({ size, mtime: new Date().toISOString(), oclass }));
      if (process.stdout.isTTY || (file && file !== '-')) console.error(`put ${name}: ${size} bytes`);
    }));
  poolOptions(program.command('get <container> <name> [file]')
    .description('read an object to a file (or stdout when no file or "-")'))
    .option('--snapshot <name>', 'read as of a snapshot')
    .action(async (label, name, file, o) => withPool(o, async (p) => {
      const c = await p.openContainer(label);
      const e = await readEntry(c, name);
      if (!e) throw new ObjectError('NOT_FOUND', `no object ${name} in ${label}`);
      const dst = file && file !== '-' ? createWriteStream(file) : process.stdout;
      await pipeline(c.array(name, { oclass: e.oclass }).createReadStream({ start: 0, end: e.size, snapshot: o.snapshot }), dst);
    }));
  poolOptions(program.command('ls <container>')
    .description('list objects stored with put'))
    .action(async (label, o) => withPool(o, async (p) => {
      const c = await p.openContainer(label);
      const kv = c.kv(DIRECTORY_OBJECT);
      for await (const k of kv.list()) {
        const e = JSON.parse(toText((await kv.get(k))!)) as Entry;
        console.log(`${String(e.size).padStart(12)}  ${e.mtime}  ${e.oclass.padEnd(10)}  ${toText(k)}`);
      }
    }));
  poolOptions(program.command('rm <container> <name>')
    .description('remove an object stored with put'))
    .action(async (label, name, o) => withPool(o, async (p) => {
      const c = await p.openContainer(label);
      const e = await readEntry(c, name);
      if (!e) throw new ObjectError('NOT_FOUND', `no object ${name} in ${label}`);
      await c.array(name, { oclass: e.oclass }).object.punch();
      await c.kv(DIRECTORY_OBJECT).remove(name);
    }));
}
