// `ArrayObject.read` (src/object/array.ts): bad arguments come back as rejections with their typed
// codes, never as a throw from the call; a read into the caller's buffer returns that very buffer,
// filled (holes as zeros), within one chunk and across chunks.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { poolUnderTest } from '../helpers/pool-under-test.js';

const put = await poolUnderTest(6, { scmBytes: 32 << 20, dataBytes: 64 << 20 });
const cont = await put.pool.createContainer('array-read', { oclass: 'RP_2G1' });
const t = suite('object/array-read');
const CHUNK = 64 * 1024;

/** The code `p` rejects with, asserting that calling `f` did not throw. */
async function rejection(f: () => Promise<unknown>): Promise<string | undefined> {
  let p: Promise<unknown>;
  try { p = f(); } catch (err) { assert.unreachable(`threw at the call: ${(err as Error).message}`); return undefined; }
  try { await p; } catch (err) { return (err as { code?: string }).code; }
  assert.unreachable('resolved');
  return undefined;
}

t('bad arguments reject with their codes', async () => {
  const a = cont.array('bad', { chunkSize: CHUNK });
  assert.is(await rejection(() => a.read(0, 100, { into: new Uint8Array(99) })), 'INVALID_ARGUMENT', 'into of the wrong length');
  assert.is(await rejection(() => a.read(-1, 10)), 'INVALID_ARGUMENT', 'a negative offset');
  assert.is(await rejection(() => a.read(0, 10, 'x' as never)), 'INVALID_ARGUMENT', 'options that are not an object');
});

t('a read into the caller\'s buffer returns it filled, holes as zeros, in one chunk and across chunks', async () => {
  const a = cont.array('into', { chunkSize: CHUNK });
  const model = new Uint8Array(3 * CHUNK);
  model.fill(7, 100, 5000);
  model.fill(9, CHUNK + 10, 2 * CHUNK + 20);
  await a.write(100, model.subarray(100, 5000));
  await a.write(CHUNK + 10, model.subarray(CHUNK + 10, 2 * CHUNK + 20));
  for (const [off, len] of [[0, CHUNK], [50, 6000], [CHUNK - 10, CHUNK + 40], [0, 3 * CHUNK]] as const) {
    const into = new Uint8Array(len).fill(0xee);
    const got = await a.read(off, len, { into });
    assert.is(got, into, `read(${off}, ${len}) returns the caller's buffer`);
    assert.ok(Buffer.from(got).equals(Buffer.from(model.subarray(off, off + len))), `read(${off}, ${len}) bytes`);
  }
});

t.after(async () => { await put.close(); });
t.run();
