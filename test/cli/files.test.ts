/**
 * Named files as `cairn put|get|ls|rm` keep them (src/cli/object-files.ts), on a real embedded
 * pool: a replacing put is atomic for concurrent readers, snapshots read the size and bytes of
 * their epoch, failed puts change nothing, and entries of the first format stay readable.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Readable } from 'node:stream';
import { setImmediate as turn } from 'node:timers/promises';
import { join } from 'node:path';
import { Pool, type Container } from '../../index.js';
import { Rng } from '../../core/rng.js';
import { tmpDir, rejectsWith } from '../helpers/tmp.js';
import { DIRECTORY_OBJECT, listFiles, openFile, putFile, removeFile } from '../../src/cli/object-files.js';

const dir = tmpDir();
let pool: Pool;
let c: Container;

/** Everything a readable yields, as one buffer. */
async function drain(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of r) parts.push(p as Buffer);
  return Buffer.concat(parts);
}

/** The current bytes of `name`. */
async function content(name: string, snapshot?: string): Promise<Buffer> {
  return drain((await openFile(c, name, { snapshot })).stream());
}

/** A source yielding `data` in `chunk`-byte pieces, one event-loop turn apart (readers interleave). */
function slowSource(data: Uint8Array, chunk: number, failAfter?: number): Readable {
  return Readable.from((async function* () {
    for (let pos = 0; pos < data.length; pos += chunk) {
      if (failAfter !== undefined && pos >= failAfter) throw new Error('source failed on purpose');
      await turn();
      yield Buffer.from(data.subarray(pos, pos + chunk));
    }
  })());
}

const t = suite('cli files');

t.before(async () => {
  pool = await Pool.create(join(dir, 'pool'), { nodes: 3, ranksPerNode: 2, targetsPerRank: 1, scmBytes: 32 << 20, dataBytes: 256 << 20 });
  c = await pool.createContainer('files', { oclass: 'RP_2G1', redundancyFactor: 1 });
});
t.after(async () => { await pool.close(); });

t('a replacing put is atomic: concurrent readers see the old file or the new one, never a prefix', async () => {
  const old = new Rng(1).bytes(3 << 20);
  const next = new Rng(2).bytes(15 << 20);
  await putFile(c, 'x', Readable.from([Buffer.from(old)]));
  let done = false;
  const putting = putFile(c, 'x', slowSource(next, 256 << 10)).finally(() => { done = true; });
  let sawOld = 0, sawNew = 0;
  const bad: string[] = [];
  while (!done) {
    const b = await content('x');
    if (b.equals(old)) sawOld++;
    else if (b.equals(next)) sawNew++;
    else bad.push(`${b.length} bytes`);
  }
  await putting;
  assert.equal(bad, [], `readers saw neither version: ${bad.join(', ')}`);
  assert.ok(sawOld > 0, 'no read overlapped the put (the test proves nothing then)');
  assert.ok((await content('x')).equals(next));
  const listed = [];
  for await (const f of listFiles(c)) listed.push(f);
  assert.equal(listed.map((f) => [f.name, f.size]), [['x', next.length]]);
  console.log(`  reads during the put: ${sawOld} old, ${sawNew} new, ${bad.length} torn`);
});

t('get at a snapshot reads the size and bytes of that epoch', async () => {
  await putFile(c, 's', Readable.from([Buffer.from('hello')]));
  await c.snapshot('five');
  await putFile(c, 's', Readable.from([Buffer.from('world!')]));
  assert.is((await content('s', 'five')).toString(), 'hello');
  assert.is((await openFile(c, 's', { snapshot: 'five' })).entry.size, 5);
  assert.is((await content('s')).toString(), 'world!');
  await removeFile(c, 's');
  await rejectsWith(openFile(c, 's'), 'NOT_FOUND');
  assert.is((await content('s', 'five')).toString(), 'hello', 'a removed file stays readable at older snapshots');
  await rejectsWith(openFile(c, 's', { snapshot: 'no-such' }), 'NOT_FOUND');
});

t('a put that fails midway changes nothing and leaves no data behind', async () => {
  const old = new Rng(3).bytes(1 << 20);
  await putFile(c, 'f', Readable.from([Buffer.from(old)]));
  const before = await openFile(c, 'f');
  let written = 0;
  const failing = slowSource(new Rng(4).bytes(4 << 20), 512 << 10, 2 << 20);
  try {
    await putFile(c, 'f', failing, { dataObject: '.cairn-data/failed-put', onProgress: (n) => { written = n; } });
    assert.unreachable('put should fail');
  } catch (err) {
    assert.match((err as Error).message, /source failed on purpose/);
  }
  assert.ok(written >= 2 << 20, `the put failed before writing anything (${written} bytes)`);
  const after = await openFile(c, 'f');
  assert.equal(after.entry, before.entry);
  assert.ok((await drain(after.stream())).equals(Buffer.from(old)));
  assert.is(await c.array('.cairn-data/failed-put', { oclass: 'RP_2G1' }).getSize(), 0, 'the partial data object was punched');
});

t('entries of format 1 (bytes in the object named like the file) are read, replaced and removed', async () => {
  const legacy = new Rng(6).bytes(300_000);
  await c.array('legacy', { oclass: 'RP_2G1' }).write(0, legacy);
  await c.kv(DIRECTORY_OBJECT).put('legacy', JSON.stringify({ size: legacy.length, mtime: new Date().toISOString(), oclass: 'RP_2G1' }));
  assert.ok((await content('legacy')).equals(Buffer.from(legacy)));
  await c.snapshot('legacy-v1');
  await putFile(c, 'legacy', Readable.from([Buffer.from('v2')]));
  assert.is((await content('legacy')).toString(), 'v2');
  assert.is((await openFile(c, 'legacy')).entry.v, 2);
  assert.ok((await content('legacy', 'legacy-v1')).equals(Buffer.from(legacy)), 'the format-1 bytes stay readable at the snapshot');
  assert.is(await c.array('legacy', { oclass: 'RP_2G1' }).getSize(), 0, 'the replaced format-1 object was punched');
  await removeFile(c, 'legacy');
  await rejectsWith(openFile(c, 'legacy'), 'NOT_FOUND');
});

t('an entry of a newer format is refused with FORMAT_VERSION, a malformed one with CORRUPTED', async () => {
  await c.kv(DIRECTORY_OBJECT).put('future', JSON.stringify({ v: 3, size: 1, mtime: new Date().toISOString(), oclass: 'RP_2G1', data: 'elsewhere' }));
  await rejectsWith(openFile(c, 'future'), 'FORMAT_VERSION');
  await c.kv(DIRECTORY_OBJECT).put('broken', '{"size":');
  await rejectsWith(openFile(c, 'broken'), 'CORRUPTED');
  await c.kv(DIRECTORY_OBJECT).remove('future');
  await c.kv(DIRECTORY_OBJECT).remove('broken');
});

t.run();
